# The board's profile of the decoder (mule flash): common_template.py, then this, then the
# tables: decoding and what the firmware reads at start-up, no names, units, value tables or
# scales (the host has the DBC). docs/decoder.md.


def decode(can_id, ext, data, lanes, selected):  # bytecode: the firmware calls DECODERS' functions
    return table_decode(can_id | _EXT_KEY if ext else can_id, data, lanes, selected, len(data))


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
