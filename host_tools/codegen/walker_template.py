# The table decoder: one viper routine walks the signal descriptors in _TAB for every message
# that has no function of its own (most of a vehicle DBC), so a message costs a few bytes of
# table instead of its own machine code (docs/decoder.md).
#
# _TAB, per message at _TAT[mi]: length, padded length, signal count (u16 LE), then 4 bytes a
# signal in signal-index order: start bit low byte; start bit high bit | 2 if big-endian;
# length (1..64); 1 if signed | 2 if IEEE float. Lanes follow signal order: one per signal,
# two for one wider than 32 bits.
# A multiplexed message (its count's high byte | 0x80) follows its descriptors with its signal
# tree, walked by _walk_tree (walker_tree_template.py, in the module only when a message needs it).


@micropython.viper
def _walk(d: ptr8, o: ptr32, s: ptr16, n: int, t: ptr8, at: int) -> int:
    if n != t[at] and n != t[at + 1]:
        return -2  # ERR_LENGTH
    ns = t[at + 2] | (t[at + 3] << 8)
    p = at + 4
    lane = 0
    si = 0
    while si < ns:
        start = t[p] | ((t[p + 1] & 1) << 8)
        big = t[p + 1] & 2
        length = t[p + 2]
        signed = t[p + 3] & 1
        p += 4
        # MSB first; the next bit towards the LSB is one lower, or for big-endian the sawtooth
        pos = start if big else start + length - 1
        top = length - 32 if length > 32 else length  # bits in the top lane
        lanes = 2 if length > 32 else 1
        k = 0
        while k < lanes:
            w = top if k == 0 else 32
            v = 0
            j = 0
            while j < w:
                v = (v << 1) | ((d[pos >> 3] >> (pos & 7)) & 1)
                if big and (pos & 7) == 0:
                    pos += 15
                else:
                    pos -= 1
                j += 1
            if k == 0 and signed and w < 32:
                v = v - ((v >> (w - 1)) << w)
            o[lane + lanes - 1 - k] = v
            k += 1
        lane += lanes
        si += 1
        s[si] = si - 1
    s[0] = ns
    return 0


@micropython.native
def table_decode(key, data, lanes, selected, n):
    """Decode a frame of a message without a function of its own, by its DECODERS key:
    returns what decode() returns. Allocates nothing."""
    mi = _INDEX.get(key, -1)
    if mi < 0:
        return ERR_UNKNOWN_ID
    fn = DECODERS.get(key)
    if fn is not None:
        return fn(data, lanes, selected, n)
    at = _TAT[mi]
    if _TAB[at + 3] & 0x80:  # a signal tree (multiplexers): _walk_tree is in the module then
        r = _walk_tree(data, lanes, selected, n, _TAB, at)  # type: ignore[arg-type]  # bytes as ptr8: read only
    else:
        r = _walk(data, lanes, selected, n, _TAB, at)  # type: ignore[arg-type]
    return mi if r == 0 else r


def keys():
    """Every frame key the decoder knows (its own functions and its table)."""
    return list(_INDEX.keys())
