# The board profile's start-up readers when every message has a function of its own (no table
# walker, so no _TAB): _KINDS holds one byte a signal, length - 1 | 0x40 if signed | 0x80 if an
# IEEE float; message mi's signals are _KINDS[_KAT[mi]:_KAT[mi + 1]]. docs/decoder.md.


def signal_count(mi):
    return _KAT[mi + 1] - _KAT[mi]


def kind_of(mi, si):
    """Length and KIND_SIGNED / KIND_FLOAT (the board profile has no other flags)."""
    b = _KINDS[_KAT[mi] + si]
    return ((b & 0x3F) + 1) | (KIND_SIGNED if b & 0x40 else 0) | (KIND_FLOAT if b & 0x80 else 0)


def lane_of(mi, si):
    lane = 0
    p = _KAT[mi]
    for p in range(p, p + si):
        lane += 2 if _KINDS[p] & 0x3F >= 32 else 1  # wider than 32 bits: two lanes
    return lane
