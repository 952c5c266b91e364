# The table walker's second routine (walker_template.py): a multiplexed message's signal tree,
# after its descriptors in _TAB as a program, offsets from the message's start: 0 si lane
# (u16 each): a signal; 1 si lane nb, then nb x (lo u32, hi u32, target u16): a multiplexer
# and where its value goes (none: ERR_MUX); 2 target: jump; 3: ERR_MUX (cantools cannot
# unpack that level); 4: the end. Signals in tree order, as a function of its own has them.


@micropython.viper
def _walk_tree(d: ptr8, o: ptr32, s: ptr16, n: int, t: ptr8, at: int) -> int:
    if n != t[at] and n != t[at + 1]:
        return -2  # ERR_LENGTH
    ns = t[at + 2] | ((t[at + 3] & 0x7F) << 8)
    p = at + 4 + 4 * ns
    c = 1
    while True:
        op = t[p]
        if op == 4:
            break
        if op == 3:
            return -3  # ERR_MUX
        if op == 2:
            p = at + (t[p + 1] | (t[p + 2] << 8))
            continue
        si = t[p + 1] | (t[p + 2] << 8)
        lane = t[p + 3] | (t[p + 4] << 8)
        p += 5
        q = at + 4 + 4 * si
        start = t[q] | ((t[q + 1] & 1) << 8)
        big = t[q + 1] & 2
        length = t[q + 2]
        signed = t[q + 3] & 1
        pos = start if big else start + length - 1
        top = length - 32 if length > 32 else length
        lanes = 2 if length > 32 else 1
        k = 0
        m = 0
        while k < lanes:
            _LANE_BITS  # lane k's bits into v: emit.py puts _walk's lines here (walker_template.py)
            if k == 0:
                m = v
            o[lane + lanes - 1 - k] = v
            k += 1
        s[c] = si
        c += 1
        if op == 1:  # the multiplexer m: the branch its value takes
            nb = t[p] | (t[p + 1] << 8)
            p += 2
            target = 0
            while nb > 0:
                lo = t[p] | (t[p + 1] << 8) | (t[p + 2] << 16) | (t[p + 3] << 24)
                hi = t[p + 4] | (t[p + 5] << 8) | (t[p + 6] << 16) | (t[p + 7] << 24)
                if target == 0 and lo <= m and m <= hi:
                    target = t[p + 8] | (t[p + 9] << 8)
                p += 10
                nb -= 1
            if target == 0:
                return -3  # ERR_MUX: a value the DBC does not define
            p = at + target
    s[0] = c - 1
    return 0
