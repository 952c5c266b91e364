# The board's side of the serial link (docs/protocol.md): host frames in (SYNC, STOP,
# PING, CAN batches), board frames out (HELLO, TELEMETRY, ALERT, STATS, LOG, CREDIT).
"""Usage (buffers are allocated once; the receive path allocates nothing per frame):

    import link
    reader = link.FrameReader()
    writer = link.Writer(dbc)              # dbc: the generated decoder module
    rx = bytearray(256); rec = array("i", bytes(16)); data = bytearray(64)
    port.write(writer.wire, writer.hello(boot_id, 1, caps, RX_WINDOW, sha, "0.1", "pyb"))
    port.write(writer.wire, writer.credit(reader, RX_WINDOW))
    while True:
        reader.feed(rx, port.readinto(rx))
        t = reader.next()                  # call until -1 before the next feed()
        while t >= 0:
            if t == link.CAN:
                for i in range(reader.count):
                    n = reader.can_record(i, rec, data)     # rec: t_us mod 2**30, id, ext, len
                    fn = dbc.DECODERS.get(dbc.key(rec[1], rec[2]))  # docs/decoder.md
                    mi = fn(data, lanes, selected, n) if fn else dbc.ERR_UNKNOWN_ID
                    k = writer.telemetry(reader.can_frame_no(i), mi, lanes, selected)
                    while k >= 0:          # the frame is full: send it, go on with signal k
                        port.write(writer.wire, writer.telemetry_flush())
                        k = writer.telemetry(reader.can_frame_no(i), mi, lanes, selected, k)
            elif t == link.SYNC:
                reader.new_session()
                ... HELLO, then CREDIT
            elif t == link.PING:           # the host waits for an answer: CREDIT at once
                ping = True
            t = reader.next()
        if ping or reader.since_credit() >= RX_WINDOW // 4:
            port.write(writer.wire, writer.credit(reader, RX_WINDOW))  # acks reader.last_seq()

Every packer returns the frame's length on the wire, in writer.wire[0:n]: write it with
stream.write(writer.wire, n) (MicroPython streams take a length: no slice, no allocation).
While streaming, micropython.kbd_intr(-1): 0x03 is a data byte. Deploy link.mpy
(mpy-cross -march=armv7emsp): compiling this source takes more heap than running it
(over 80 KB on the 64-bit unix port; the .mpy imports into ~11 KB).
"""
import micropython
from array import array
from micropython import const

_PROTO_VERSION = const(2)

_HELLO = const(0x01)
SYNC = const(0x02)
STOP = const(0x03)
PING = const(0x04)
CAN = const(0x10)
_TELEMETRY = const(0x11)
_ALERT = const(0x12)
_STATS = const(0x13)
_LOG = const(0x14)
_CREDIT = const(0x15)
_TOW_RANGE = const(0x16)

_MAX_PAYLOAD = const(512)
_MAX_BODY = const(505)
_MAX_ENCODED = const(515)  # MAX_PAYLOAD + ceil(MAX_PAYLOAD / 254): the longest COBS run
_MAX_WIRE = const(517)
_HEADER = const(3)
_CRC_SIZE = const(4)
_CAN_BATCH_HEADER = const(5)
_CAN_RECORD_HEADER = const(9)
_CAN_MAX_DATA = const(64)
_STATS_COUNT = const(18)  # u32 fields of STATS before can_state, in docs/protocol.md's order
_FRAME_NO_MASK = const(0x3FFFFFFF)  # frame numbers count mod 2**30: small ints on a 32-bit board

# HELLO
MODE_LIVE = const(0)
MODE_REPLAY = const(1)
# its caps bits: app_start.py's (the one board module that reads them)

_TM_LIMIT = const(508)  # HEADER + MAX_BODY: where a TELEMETRY body must end
_HELLO_STR = const(200)  # fw_version and board, each: HELLO must fit MAX_BODY
_MAX_RECORDS = const(56)  # CAN records a batch can hold: (MAX_BODY - 5) // 9 + 1

# FrameReader state, an array('i') shared with the viper code
_POS = const(0)  # next byte of the fed buffer
_END = const(1)
_RUN = const(2)  # bytes of the current COBS run (> MAX_ENCODED: dropping an oversize run)
_OUT = const(3)  # link_plain: decoded bytes so far
_LEFT = const(4)  # link_plain: bytes left in the current COBS block
_CODE = const(5)  # the run's first code (link_plain: the current block's code)
_LEN = const(6)  # payload length of the completed frame
_SINCE = const(7)  # bytes taken since the last CREDIT
_SLOTS = const(8)

_NONE = const(0)  # _feed results
_FRAME = const(1)
_BAD = const(2)


def _make_table():
    table = array("I", bytes(1024))
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ ((0xEDB8 << 16) | 0x8320) if c & 1 else c >> 1  # start-up only
        table[i] = c
    return table


_CRC_TABLE = _make_table()  # CRC-32/ISO-HDLC, reflected
del _make_table  # start-up only: its bytecode goes with it


# The byte loops below take their two busiest variables as their first two parameters
# (callers pass 0, 0): viper on Thumb-2 keeps only a .mpy function's first two locals in
# registers, the rest on the stack (~10 instructions per operation there). A loop index
# runs from -n up to 0 over pointers moved past the end, so `while i:` is its only test.


@micropython.viper
def _feed(pos: int, c: int, st, out, src) -> int:
    """Take src[st[_POS]:st[_END]] until a COBS run ends (docs/protocol.md, Receiving):
    _FRAME with the decoded payload in out[0:st[_LEN]], _BAD (invalid or oversize), or
    _NONE. link_plain._feed_plain's verdicts. A run's bytes after its first (the first
    code, kept in st[_CODE]) are copied to out as they come, one test and one store a
    byte; at its 0x00 the run is decoded in place: each code byte becomes the 0x00 it
    stands for, walking from code to code (a block at a time, not a byte)."""
    s = ptr32(st)
    b = ptr8(src)
    p = ptr8(out)
    pos = s[_POS]
    end = s[_END]
    run = s[_RUN]  # bytes of the current run (> MAX_ENCODED: dropping an oversize run)
    start = pos
    result = _NONE
    while pos < end:
        if run > _MAX_ENCODED:  # dropping an oversize run up to the next 0x00
            c = 1
            while pos < end:
                c = b[pos]
                pos += 1
                if c == 0:
                    break
            if c != 0:
                break
            run = 0
            continue
        if run == 0:  # a run's first byte: its first code
            c = b[pos]
            pos += 1
            if c != 0:
                s[_CODE] = c
                run = 1
            continue
        lim = pos + _MAX_ENCODED - run
        if lim > end:
            lim = end
        first = pos
        bb = ptr8(int(b) + lim)  # bb[pos] for pos = first - lim .. -1: src[lim + pos]
        o = ptr8(int(p) - 1 + run - first + lim)  # o[pos]: where bb[pos] goes (run byte k at out[k - 1])
        pos -= lim
        c = 1
        while pos:
            c = bb[pos]
            if c:
                o[pos] = c
                pos += 1
                continue
            break
        pos += lim
        run += pos - first
        if pos == end:
            break
        if c != 0:  # the run holds MAX_ENCODED bytes and goes on: oversize
            c = b[pos]
            if c != 0:
                pos += 1
                run += 1
                result = _BAD  # counted once, then dropped up to the next 0x00
                break
        s[_POS] = pos + 1  # the 0x00 that ends the run
        last = run - 1  # out[k] holds run byte k + 1: a code at out[last] would be past the run
        c = s[_CODE]  # walking from code to code: c the code, pos where the next one is
        pos = c - 1
        while pos < last:
            if c == 0xFF:
                break
            c = p[pos]
            p[pos] = 0
            pos += c
        code = c
        j = pos
        pos = s[_POS]
        w = last
        if j < last:  # after a full block (code 0xFF) the next code stands for nothing: compact
            w = j
            while j < last:
                c = p[j]
                if code != 0xFF:
                    p[w] = 0
                    w += 1
                code = c
                c += j  # where the next code is
                if c > last:
                    j = c
                    break
                j += 1
                while j < c:
                    p[w] = p[j]
                    w += 1
                    j += 1
        s[_LEN] = w
        result = _FRAME if j == last else _BAD  # past the run: a code announced too many bytes
        run = 0
        break
    s[_POS] = pos
    s[_RUN] = run
    s[_SINCE] = s[_SINCE] + pos - start
    return result


@micropython.viper
def _crc(c: uint, i: int, table, buf, n: int, put: int) -> int:
    """CRC-32 of buf[0:n]: written to buf[n:n+4] when put, else compared with it (1: equal).
    No int object is made, so nothing is allocated even for CRCs >= 2**30. Four bytes at a
    time (buf is a bytearray: its data is word-aligned; the CRC is reflected, so a
    little-endian word's bytes go in from its low end)."""
    t = ptr32(table)
    q = n >> 2
    w = ptr32(int(ptr8(buf)) + (q << 2))  # w[i] for i = -q .. -1: the words before byte 4q
    ones = uint(0xFFFF) | (uint(0xFFFF) << 16)
    c = ones
    i = 0 - q
    while i:
        c = c ^ uint(w[i])
        c = uint(t[int(c & 0xFF)]) ^ (c >> 8)
        c = uint(t[int(c & 0xFF)]) ^ (c >> 8)
        c = uint(t[int(c & 0xFF)]) ^ (c >> 8)
        c = uint(t[int(c & 0xFF)]) ^ (c >> 8)
        i += 1
    b = ptr8(buf)
    i = q << 2
    while i < n:
        c = uint(t[int((c ^ uint(b[i])) & 0xFF)]) ^ (c >> 8)
        i += 1
    c = c ^ ones
    i = 0
    while i < 4:
        q = int(c >> (8 * i)) & 0xFF
        if put:
            b[n + i] = q
        elif b[n + i] != q:
            return 0
        i += 1
    return 1


@micropython.viper
def _encode(i: int, c: int, dst, src, n: int) -> int:
    """dst = 0x00, COBS(src[0:n]), 0x00 (canonical COBS); returns its length. Each byte is
    copied two places on (one store, one test a byte), each 0x00's place then takes the
    code of the block before it; a block of 254 non-zero bytes (a code 0xFF, rare: never
    in TELEMETRY, whose signal numbers' high byte is 0) goes to _encode_long."""
    d = ptr8(dst)
    d[0] = 0
    s = ptr8(int(ptr8(src)) + n)  # s[i] for i = -n .. -1: src[n + i]
    dd = ptr8(int(d) + 2 + n)  # dd[i]: where s[i] goes
    dc = ptr8(int(d) + 1 + n)  # dc[k]: the code of the block that starts at s[k]
    k = 0 - n
    i = k
    while i:
        c = s[i]
        dd[i] = c
        i += 1
        if c:
            continue
        c = i - k
        if c > 254:
            break
        dc[k] = c
        k = i
    c = i - k
    if c > 254:
        return int(_encode_long(dst, src, n))
    dc[k] = c + 1
    dd[0] = 0
    return n + 3


def _encode_long(dst, src, n):
    """_encode with blocks of 254 non-zero bytes: bytecode (cold), no allocation."""
    dst[0] = 0
    at = 1  # the current block's code
    w = 2
    for i in range(n):
        c = src[i]
        if c:
            dst[w] = c
            w += 1
            if w - at < 255:
                continue
            dst[at] = 0xFF
            if i + 1 == n:  # a final full block is not followed by an empty one
                dst[w] = 0
                return w + 1
        else:
            dst[at] = w - at
        at = w
        w += 1
    dst[at] = w - at
    dst[w] = 0
    return w + 1


@micropython.viper
def _can_index(i: int, top: int, p, blen: int, offs) -> int:
    """Check the CAN batch body p[3:3+blen] and note each record's offset in offs;
    returns the record count, or -1 when the body does not parse exactly. (i, top: the
    register locals; callers pass 0, 0.)"""
    b = ptr8(p)
    if blen < _CAN_BATCH_HEADER or b[_HEADER + 3] & 0xC0:  # first_no: a frame number < 2**30
        return -1
    last = _HEADER + blen - _CAN_RECORD_HEADER  # where the last record's header may start
    count = b[_HEADER + 4]
    o = ptr16(int(ptr16(offs)) + 2 * count)  # o[k] for k = -count .. -1: offs[count + k]
    k = 0 - count
    i = _HEADER + _CAN_BATCH_HEADER
    while k:
        if i > last:
            return -1
        top = b[i + 7]  # the key's high byte: ext flag, then 0, 0, id bits 28..24
        if top & 0x80:
            if top & 0x60:
                return -1
        elif top | b[i + 6] | (b[i + 5] & 0xF8):
            return -1  # a standard id above 0x7FF
        top = b[i + 8]  # len
        if top > _CAN_MAX_DATA:
            return -1
        o[k] = i
        i += _CAN_RECORD_HEADER + top
        k += 1
    if i != last + _CAN_RECORD_HEADER:
        return -1
    return count


# TELEMETRY state, an array('i') shared with _tm_add: where the next record goes, the
# records in the frame, and the call's arguments (frame_no < 2**30, result, first signal)
_TM_AT = const(0)
_TM_COUNT = const(1)
_TM_NO = const(2)
_TM_RESULT = const(3)
_TM_K = const(4)
TM_NO = const(_TM_NO)  # for app.Board._records, which fills them itself
TM_RESULT = const(_TM_RESULT)
TM_K = const(_TM_K)


@micropython.viper
def _tm_add(out: ptr8, ps: ptr32, lanes, table, selected) -> int:
    """Writer.telemetry's record appended at out[ps[_TM_AT]] (docs/protocol.md), signals
    from selected[1 + ps[_TM_K]] while they fit; each lane's value stored a byte at a time,
    no int objects. table: Writer._tables. Returns -1 when in, else the k to go on from.
    `out`, a register (the first two locals are), moves along the record as the cursor:
    each store is at a constant offset from it."""
    h = ps[_TM_AT]
    k0 = ps[_TM_K]
    result = ps[_TM_RESULT]
    if ps[_TM_COUNT] == 255 or h + 8 > _TM_LIMIT:
        return k0
    head = int(out) + h
    stop = int(out) + _TM_LIMIT - 10  # beyond it, the record's end is checked per signal
    out = ptr8(head + 8)
    t = ptr16(table)
    s = ptr16(selected)
    lv = ptr32(lanes)
    k = k0
    n = 0
    base = 0
    if result < 0x8000:  # a message index (result is its i16 as u16: a ptr32 load on a
        n = s[0]          # 64-bit unix port does not sign-extend)
        base = t[result] >> 1  # table: byte offsets, u16 entries
    else:
        k = 0
        k0 = 0
    while k < n:
        si = s[k + 1]
        e = t[base + si]
        if int(out) > stop and int(out) + (4 if e & 0x8000 else 0) > stop + 4:
            break  # does not fit
        v = lv[e & 0x7FFF]
        out[0] = si
        out[1] = si >> 8
        out[2] = v
        out[3] = v >> 8
        out[4] = v >> 16
        out[5] = v >> 24
        if e & 0x8000:
            v = lv[(e & 0x7FFF) + 1]
            out[6] = v
            out[7] = v >> 8
            out[8] = v >> 16
            out[9] = v >> 24
            out = ptr8(int(out) + 10)
        else:
            out = ptr8(int(out) + 6)
        k += 1
    if k < n and (ps[_TM_COUNT] or k == k0):
        return k0  # does not fit: nothing is kept, a fresh frame will take it
    v = ps[_TM_NO]
    ps[_TM_AT] = h + int(out) - head
    out = ptr8(head)  # the header, unrolled (a loop costs more than the stores in viper)
    out[0] = v
    out[1] = v >> 8
    out[2] = v >> 16
    out[3] = v >> 24
    out[4] = result
    out[5] = result >> 8
    v = k - k0
    out[6] = v
    out[7] = v >> 8
    ps[_TM_COUNT] += 1
    return k if k < n else -1


def _put(buf, at, v, size):
    """Little-endian integer; two's complement for negative v."""
    for k in range(size):
        buf[at + k] = (v >> (8 * k)) & 0xFF
    return at + size


def _put_str(buf, at, text, limit):
    """u8 length + UTF-8, cut to `limit` (≤ 255) bytes at a character boundary."""
    raw = text.encode() if isinstance(text, str) else text
    n = len(raw)
    if n > limit:
        n = limit
        while raw[n] & 0xC0 == 0x80:  # a continuation byte: cut before its character
            n -= 1
    buf[at] = n
    for k in range(n):
        buf[at + 1 + k] = raw[k]
    return at + 1 + n


class FrameReader:
    """Host → board frames. feed(buf, n) hands over bytes (kept, not copied); next()
    returns the type of the next valid frame or -1 when the bytes are used up. The frame
    stays in `payload` (body at payload[3:3 + body_len]) until next() is called again.
    Counters: frames, crc_errors, bad_frames (invalid, oversize, unknown type, bad body),
    seq_gaps (lost frames)."""

    def __init__(self, viper=True):
        self.payload = bytearray(_MAX_ENCODED)  # a run of 515 decodes to at most 514 bytes
        self._st = array("i", bytes(4 * _SLOTS))
        self._st[_CODE] = 0xFF
        self._offs = array("H", bytes(2 * _MAX_RECORDS))
        self._src = self.payload
        self._last = -1
        self.type = -1
        self.seq = 0
        self.body_len = 0
        self.count = 0  # records in the CAN batch just returned
        self.frames = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.seq_gaps = 0
        self._feed, self._crc, self._can_index = _feed, _crc, _can_index
        if not viper:  # the bytecode twins, the reference the viper code is tested against
            __import__("link_plain").plain_reader(self)

    def feed(self, buf, n=-1):
        """Take buf[0:n] (all of buf when n < 0); call next() until -1 before refilling buf."""
        st = self._st
        self._src = buf
        st[_POS] = 0
        st[_END] = len(buf) if n < 0 else n

    def next(self):
        st = self._st
        p = self.payload
        while True:
            r = self._feed(0, 0, st, p, self._src)
            if r == _NONE:
                return -1
            if r == _BAD:
                self.bad_frames += 1
                continue
            n = st[_LEN]
            if n < _HEADER + _CRC_SIZE or n > _MAX_PAYLOAD:
                self.bad_frames += 1
                continue
            n -= _CRC_SIZE
            if not self._crc(0, 0, _CRC_TABLE, p, n, 0):
                self.crc_errors += 1
                continue
            t = p[0]
            seq = p[1] | (p[2] << 8)
            if t != SYNC and t != _HELLO and self._last >= 0:
                d = (seq - self._last) & 0xFFFF
                if 0 < d <= 0x8000:
                    self.seq_gaps += d - 1
            self._last = seq
            n -= _HEADER
            if t == CAN:
                count = self._can_index(0, 0, p, n, self._offs)
                if count < 0:
                    self.bad_frames += 1
                    continue
                self.count = count
            elif (t != SYNC and t != STOP and t != PING) or n:
                self.bad_frames += 1
                continue
            self.frames += 1
            self.type = t
            self.seq = seq
            self.body_len = n
            return t

    def body(self):
        """The last frame's body as a memoryview (allocates one; the hot path uses offsets)."""
        return memoryview(self.payload)[_HEADER:_HEADER + self.body_len]

    def can_first_no(self):
        p = self.payload
        return p[3] | (p[4] << 8) | (p[5] << 16) | (p[6] << 24)  # < 2**30: next() checked bits 30, 31

    def can_frame_no(self, i):
        """The host's number of record i, mod 2**30: a small int on a 32-bit board, no
        intermediate value above 2**30 - 1 (first_no + i could be one)."""
        first = self.can_first_no()
        left = _FRAME_NO_MASK - first  # numbers before the wrap
        return first + i if i <= left else i - left - 1

    @micropython.viper
    def can_record(self, i: int, rec, data) -> int:
        """Record i of the last CAN batch: rec (array('i', bytes(16))) gets t_us mod 2**30, the
        id, 1 if extended, the length; data[0:len] the payload. Returns len. No allocation.
        (viper=False: link_plain._can_get_plain, the reference.)"""
        b = ptr8(self.payload)
        at = int(ptr16(self._offs)[i])
        r = ptr32(rec)
        r[0] = b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | ((b[at + 3] & 0x3F) << 24)
        r[1] = b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | ((b[at + 7] & 0x1F) << 24)
        r[2] = b[at + 7] >> 7
        n = b[at + 8]
        r[3] = n
        b = ptr8(int(b) + at + _CAN_RECORD_HEADER + n)  # b[i], d[i] for i = -n .. -1
        d = ptr8(int(ptr8(data)) + n)
        i = 0 - n
        while i:
            d[i] = b[i]
            i += 1
        return n

    def new_session(self):
        """A new session starts (after the SYNC just returned, or at boot)."""
        self._st[_SINCE] = 0

    def since_credit(self):
        """Bytes taken since the last CREDIT was packed: send one when ≥ rx_window / 4."""
        return self._st[_SINCE]

    def last_seq(self):
        """seq of the last frame that passed its CRC (what CREDIT acknowledges), -1: none yet."""
        return self._last


class Writer:
    """Board → host frames, built in preallocated buffers. Each packer returns n, the
    frame's length on the wire, in self.wire[0:n]. `dbc` (the generated decoder module)
    is needed for TELEMETRY only."""

    def __init__(self, dbc=None, viper=True):
        self.seq = 0
        self.wire = bytearray(_MAX_WIRE)
        self._pay = bytearray(_MAX_PAYLOAD)
        self._tm = bytearray(_MAX_PAYLOAD)
        self._ps = array("i", bytes(4 * 5))
        self._ps[_TM_AT] = _HEADER + 1
        self._crc, self._encode, self._tm_add = _crc, _encode, _tm_add
        if not viper:
            __import__("link_plain").plain_writer(self)
        self._table = bytearray(0)  # _tables() fills a bytearray: one type for both
        if dbc is not None:
            self._tables(dbc)

    def _tables(self, dbc):
        # per message: u16, where its signals' entries start; per signal: u16, lane | 0x8000
        # if wider than 32 bits, so packing needs no calls
        counts = [dbc.signal_count(mi) for mi in range(len(dbc.MESSAGES))]
        table = bytearray(2 * (len(counts) + sum(counts)))
        at = 2 * len(counts)
        for mi in range(len(counts)):
            table[2 * mi] = at & 0xFF
            table[2 * mi + 1] = at >> 8
            for si in range(counts[mi]):
                e = dbc.lane_of(mi, si) | (0x8000 if dbc.kind_of(mi, si) & 0x7F > 32 else 0)
                table[at] = e & 0xFF
                table[at + 1] = e >> 8
                at += 2
        self._table = table

    def _send(self, buf, typ, blen):
        seq = self.seq
        buf[0] = typ
        buf[1] = seq & 0xFF
        buf[2] = seq >> 8
        self.seq = (seq + 1) & 0xFFFF
        blen += _HEADER
        self._crc(0, 0, _CRC_TABLE, buf, blen, 1)
        return self._encode(0, 0, self.wire, buf, blen + _CRC_SIZE)

    def raw(self, typ, body):
        """Any frame (tests, diagnostics)."""
        b = self._pay
        for k in range(len(body)):
            b[_HEADER + k] = body[k]
        return self._send(b, typ, len(body))

    def hello(self, boot_id, mode, caps, rx_window, dbc_sha256, fw_version, board, heap_free=0):
        """dbc_sha256: the 32 raw bytes (binascii.unhexlify(dbc.DBC_SHA256)); heap_free:
        bytes free after start-up."""
        b = self._pay
        b[3] = _PROTO_VERSION
        _put(b, 4, boot_id, 4)
        b[8] = mode
        _put(b, 9, caps, 2)
        _put(b, 11, rx_window, 2)
        for k in range(32):
            b[13 + k] = dbc_sha256[k]
        at = _put_str(b, 45, fw_version, _HELLO_STR)
        at = _put_str(b, at, board, _HELLO_STR)
        return self._send(b, _HELLO, _put(b, at, heap_free, 4) - _HEADER)

    def log(self, level, text):
        b = self._pay
        b[3] = level
        return self._send(b, _LOG, _put_str(b, 4, text, 255) - _HEADER)

    def alert(self, frame_no, code, severity, mi, si, value, text):
        b = self._pay
        _put(b, 3, frame_no, 4)
        _put(b, 7, code, 2)
        b[9] = severity
        _put(b, 10, mi, 2)
        _put(b, 12, si, 2)
        _put(b, 14, value, 4)
        return self._send(b, _ALERT, _put_str(b, 18, text, 255) - _HEADER)

    def tow_range(self, frame_no, range_dkm, wh_per_km, window_m):
        b = self._pay
        _put(b, 3, frame_no, 4)
        _put(b, 7, range_dkm, 4)
        _put(b, 11, wh_per_km, 4)
        _put(b, 15, window_m, 4)
        return self._send(b, _TOW_RANGE, 16)

    def stats(self, values, can_state):
        """values: the STATS_COUNT counters in docs/protocol.md's order."""
        b = self._pay
        for k in range(_STATS_COUNT):
            _put(b, _HEADER + 4 * k, values[k], 4)
        b[_HEADER + 4 * _STATS_COUNT] = can_state
        return self._send(b, _STATS, 4 * _STATS_COUNT + 1)

    def credit(self, reader, window):
        """CREDIT: the host may have `window` wire bytes in flight after the last frame
        `reader` took (its seq; 0xFFFF before any)."""
        b = self._pay
        ack = reader._last & 0xFFFF
        b[3] = window & 0xFF
        b[4] = (window >> 8) & 0xFF
        b[5] = ack & 0xFF
        b[6] = ack >> 8
        reader._st[_SINCE] = 0
        return self._send(b, _CREDIT, 4)

    @micropython.native
    def telemetry(self, frame_no, result, lanes, selected, k=0):
        """Add a decode result (result: the decoder's message index or error code) from
        the decoder's lanes and selected. Returns -1 when it is in; otherwise the frame is
        full: send telemetry_flush() and call again with the returned k. A record is split
        over frames (k > 0) only when it does not fit an empty one."""
        ps = self._ps
        ps[_TM_NO] = frame_no
        ps[_TM_RESULT] = result & 0xFFFF
        ps[_TM_K] = k
        # viper takes the buffers as pointers (the type checker wants ptr8/ptr32)
        return self._tm_add(self._tm, ps, lanes, self._table, selected)  # type: ignore[arg-type]

    @micropython.viper
    def telemetry_flush(self) -> int:
        """The TELEMETRY frame of the results added so far (0: nothing to send)."""
        p = ptr32(self._ps)
        n = p[_TM_COUNT]
        if n == 0:
            return 0
        b = self._tm
        ptr8(b)[_HEADER] = n
        n = int(self._send(b, _TELEMETRY, p[_TM_AT] - _HEADER))
        p[_TM_AT] = _HEADER + 1
        p[_TM_COUNT] = 0
        return n

