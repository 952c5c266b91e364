# The bytecode twins of firmware/link.py's viper routines: the reference they are tested
# against (link.FrameReader(viper=False), link.Writer(dbc, viper=False); tests/firmware/
# link_vectors_mp.py). Not imported on the board's normal path, so its RAM holds none of
# this. The constants are link.py's private ones, by the same names.
import binascii

from micropython import const

MAX_ENCODED = const(515)
HEADER = const(3)
CAN_BATCH_HEADER = const(5)
CAN_RECORD_HEADER = const(9)
CAN_MAX_DATA = const(64)
_TM_LIMIT = const(508)
_POS = const(0)
_END = const(1)
_RUN = const(2)
_OUT = const(3)
_LEFT = const(4)
_CODE = const(5)
_LEN = const(6)
_SINCE = const(7)
_NONE = const(0)
_FRAME = const(1)
_BAD = const(2)
_TM_AT = const(0)
_TM_COUNT = const(1)
_TM_NO = const(2)
_TM_RESULT = const(3)
_TM_K = const(4)


def _put(buf, at, v, size):
    for k in range(size):
        buf[at + k] = (v >> (8 * k)) & 0xFF
    return at + size


def _feed_plain(_pos, _c, st, out, src):
    """_feed in bytecode: the reference the viper code is tested against (the first two
    parameters, link._feed's registers, are unused here)."""
    pos = st[_POS]
    end = st[_END]
    run = st[_RUN]
    olen = st[_OUT]
    left = st[_LEFT]
    code = st[_CODE]
    start = pos
    result = _NONE
    while pos < end:
        c = src[pos]
        pos += 1
        if c == 0:
            if run != 0 and run <= MAX_ENCODED:
                result = _FRAME if left == 0 else _BAD
                st[_LEN] = olen
            run = olen = left = 0
            code = 0xFF
            if result != _NONE:
                break
        elif run <= MAX_ENCODED:
            run += 1
            if run > MAX_ENCODED:
                result = _BAD
                break
            if left == 0:
                if code != 0xFF:
                    out[olen] = 0
                    olen += 1
                code = c
                left = c - 1
            else:
                out[olen] = c
                olen += 1
                left -= 1
    st[_POS] = pos
    st[_RUN] = run
    st[_OUT] = olen
    st[_LEFT] = left
    st[_CODE] = code
    st[_SINCE] += pos - start
    return result



def _crc_plain(_c, _i, table, buf, n, put):
    c = binascii.crc32(memoryview(buf)[:n])  # may allocate: a heap int when ≥ 2**30
    for k in range(4):
        v = (c >> (8 * k)) & 0xFF
        if put:
            buf[n + k] = v
        elif buf[n + k] != v:
            return 0
    return 1



def _encode_plain(_i, _c, dst, src, n):
    dst[0] = 0
    code_at = 1
    w = 2
    code = 1
    for i in range(n):
        c = src[i]
        if c == 0:
            dst[code_at] = code
            code_at = w
            w += 1
            code = 1
        else:
            dst[w] = c
            w += 1
            code += 1
            if code == 0xFF:
                dst[code_at] = code
                code = 1
                if i + 1 < n:
                    code_at = w
                    w += 1
                else:
                    code_at = -1
    if code_at >= 0:
        dst[code_at] = code
    dst[w] = 0
    return w + 1



def _can_index_plain(_i, _top, p, blen, offs):
    if blen < CAN_BATCH_HEADER or p[HEADER + 3] & 0xC0:
        return -1
    end = HEADER + blen
    count = p[HEADER + 4]
    i = HEADER + CAN_BATCH_HEADER
    for k in range(count):
        if i + CAN_RECORD_HEADER > end:
            return -1
        top = p[i + 7]
        if top & 0x60:
            return -1
        if not top & 0x80 and (top or p[i + 6] or p[i + 5] & 0xF8):
            return -1
        n = p[i + 8]
        if n > CAN_MAX_DATA:
            return -1
        offs[k] = i
        i += CAN_RECORD_HEADER + n
    return count if i == end else -1



def _can_get_plain(p, at, rec, data):
    rec[0] = p[at] | (p[at + 1] << 8) | (p[at + 2] << 16) | ((p[at + 3] & 0x3F) << 24)
    rec[1] = p[at + 4] | (p[at + 5] << 8) | (p[at + 6] << 16) | ((p[at + 7] & 0x1F) << 24)
    rec[2] = p[at + 7] >> 7
    n = p[at + 8]
    rec[3] = n
    for j in range(n):
        data[j] = p[at + CAN_RECORD_HEADER + j]
    return n



def _tm_add_plain(out, ps, lanes, table, selected):
    at = h = ps[_TM_AT]
    k = k0 = ps[_TM_K]
    result = ps[_TM_RESULT]
    if ps[_TM_COUNT] == 255 or h + 8 > _TM_LIMIT:
        return k0
    n = selected[0] if result < 0x8000 else 0
    if result >= 0x8000:
        k = k0 = 0
    base = table[2 * result] | (table[2 * result + 1] << 8) if result < 0x8000 else 0
    at += 8
    while k < n:
        si = selected[k + 1]
        e = table[base + 2 * si] | (table[base + 2 * si + 1] << 8)
        size = 10 if e & 0x8000 else 6
        if at + size > _TM_LIMIT:
            break
        _put(out, at, si, 2)
        _put(out, at + 2, lanes[e & 0x7FFF], 4)
        if size == 10:
            _put(out, at + 6, lanes[(e & 0x7FFF) + 1], 4)
        at += size
        k += 1
    if k < n and (ps[_TM_COUNT] or k == k0):
        return k0
    _put(out, h, ps[_TM_NO], 4)
    _put(out, h + 4, result, 2)
    _put(out, h + 6, k - k0, 2)
    ps[_TM_AT] = at
    ps[_TM_COUNT] += 1
    return k if k < n else -1



def plain_reader(r):
    """link.FrameReader(viper=False): these twins in its viper routines' places."""
    r._feed, r._crc, r._can_index = _feed_plain, _crc_plain, _can_index_plain
    r.can_record = lambda i, rec, data: _can_get_plain(r.payload, r._offs[i], rec, data)


def plain_writer(w):
    """link.Writer(dbc, viper=False)."""
    w._crc, w._encode, w._tm_add = _crc_plain, _encode_plain, _tm_add_plain
