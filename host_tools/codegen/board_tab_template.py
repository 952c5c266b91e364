# The board profile's start-up readers when the module has the table walker: they read its
# _TAB (format in walker_template.py). board_kinds_template.py: without the walker. docs/decoder.md.


def signal_count(mi):
    at = _TAT[mi]
    return _TAB[at + 2] | ((_TAB[at + 3] & 0x7F) << 8)  # 0x80: a signal tree follows


def kind_of(mi, si):
    """Length and KIND_SIGNED / KIND_FLOAT (the board profile has no other flags)."""
    p = _TAT[mi] + 4 + 4 * si
    flags = _TAB[p + 3]
    return _TAB[p + 2] | (KIND_SIGNED if flags & 1 else 0) | (KIND_FLOAT if flags & 2 else 0)


def lane_of(mi, si):
    lane = 0
    p = _TAT[mi] + 4
    for _ in range(si):
        lane += 2 if _TAB[p + 2] > 32 else 1
        p += 4
    return lane
