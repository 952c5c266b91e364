# Telemetry "changed" (setting telemetry, docs/protocol.md "TELEMETRY"): of a decoded
# frame, only the signals whose raw value moved by more than their deadband since the value
# last sent, or whose value sent is refresh_ms of frame time old, go out; a frame with none
# joins a run of suppressed frames (Changed.suppressed). The host checks the rest.
"""Usage (app.Board; allocates at start-up only):

    ch = changed.Changed(dbc, refresh_ms)      # dbc: the generated decoder module
    writer = ch.writer(dbc)                     # a link.Writer whose telemetry() picks
    board.decode = ch.decode(board, Board.decode)   # notes each frame's time first
    ch.reset()                                  # at every HELLO: nothing sent yet

The deadbands come from telemetry_deadband.bin (mule flash writes it from the DBC: i16
per signal in raw steps, messages in order, -1 for E2E counters and CRCs, which are sent
only when refreshed)."""
import micropython
from array import array
from micropython import const

import link

DEADBAND_FILE = "telemetry_deadband.bin"

# st, an array('i'): the run record's offset and the writer's seq then (suppressed()), the
# frame's message and time, the refresh in µs, the message count. sig, a bytearray (one
# allocation, no temporary: a 100 KB heap may have no second hole that size), 3 i32 per
# signal: its deadband (for a signal wider than 32 bits, whose deadband is 0: the high lane
# sent), the value sent (its low lane), its time (2**30, no time mod 2**30: nothing sent
# yet; not -1, as a ptr32 load on a 64-bit port does not sign-extend)
_RUN = const(0)
_RUN_SEQ = const(1)
_MI = const(2)
_T = const(3)
_REFRESH = const(4)
_NMSG = const(5)
_PICKED = const(6)  # the frame picked last (Writer.telemetry is called again for it after a flush)
_COUNT = const(7)  # the signals it sends
_HEAD = const(8)
_UNTRACKED = const(0x8000)  # deadband: compare nothing, send on refresh only (above any i16 deadband)


@micropython.viper
def _pick(st, sig, table, lanes, selected, out) -> int:
    """out[1..] = the signals of selected[1..] to send (out[0] their count, returned); the
    values sent and their time noted in sig. table: link.Writer._table."""
    h = ptr32(st)
    s = ptr32(sig)
    t = ptr8(table)
    lv = ptr32(lanes)
    sel = ptr16(selected)
    o = ptr16(out)
    mi = h[_MI]
    now = h[_T]
    refresh = h[_REFRESH]
    half = 0x4000
    half <<= 16  # 2**30, not folded into a big-int constant. |difference| < 2**30 (deadbands
    low31 = (half << 1) - 1  # on signals under 31 bits): as difference + 2**30 mod 2**31, alike on 32 and 64 bits
    base = t[2 * mi] | (t[2 * mi + 1] << 8)
    g0 = 3 * ((base - 2 * h[_NMSG]) >> 1)  # 3 words per signal; table entries are 2 bytes
    n = sel[0]
    k = 0
    m = 0
    while k < n:
        si = sel[k + 1]
        e = t[base + 2 * si] | (t[base + 2 * si + 1] << 8)
        lane = e & 0x7FFF
        g = g0 + 3 * si
        v = lv[lane]
        sent_at = s[g + 2]
        send = 0
        if sent_at == half or ((now - sent_at) & (half - 1)) >= refresh:
            send = 1
        elif e & 0x8000:  # wider than 32 bits: both lanes, exactly (the high one in the deadband's place)
            if v != s[g + 1] or lv[lane + 1] != s[g]:
                send = 1
        else:
            d = s[g]
            if d == 0:
                if v != s[g + 1]:
                    send = 1
            elif d != _UNTRACKED:
                x = (v - s[g + 1] + half) & low31
                if x > half + d or x < half - d:
                    send = 1
        if send:
            s[g + 1] = v
            if e & 0x8000:
                s[g] = lv[lane + 1]
            s[g + 2] = now
            m += 1
            o[m] = si
        k += 1
    o[0] = m
    return m


# link.Writer's TELEMETRY state (link.py: _TM_AT, _TM_COUNT, _TM_NO; where a body must end)
_TM_AT = const(0)
_TM_COUNT = const(1)
_TM_NO = const(2)
_TM_LIMIT = const(508)
_HEADER = const(3)
_FRAME_NO_MASK = const(0x3FFFFFFF)


@micropython.viper
def _tm_run(out, ps, run, bit: int) -> int:
    """Changed.suppressed: frame ps[_TM_NO] (bit 1: an unknown id, 0: decoded with nothing to
    send) joins the run record at out[run[0]] when that is the last record and the frame
    follows its run, else a new run record goes in (docs/protocol.md: frame_no, -4, n, then
    a bit a frame). Returns -1 when in, 0 when the frame is full."""
    o = ptr8(out)
    p = ptr32(ps)
    r = ptr32(run)
    h = r[0]
    at = p[_TM_AT]
    no = p[_TM_NO]
    if h > _HEADER and o[h + 4] == 0xFC and o[h + 5] == 0xFF:
        n = o[h + 6] | (o[h + 7] << 8)
        first = o[h] | (o[h + 1] << 8) | (o[h + 2] << 16) | (o[h + 3] << 24)  # < 2**30
        if h + 8 + ((n + 7) >> 3) == at and n < 0xFFFF and ((first + n) & _FRAME_NO_MASK) == no:
            if n & 7 == 0:  # its bitmap needs one more byte
                if at + 1 > _TM_LIMIT:
                    return 0
                o[at] = bit
                p[_TM_AT] = at + 1
            elif bit:
                o[at - 1] = o[at - 1] | (1 << (n & 7))
            n += 1
            o[h + 6] = n & 0xFF
            o[h + 7] = n >> 8
            return -1
    if p[_TM_COUNT] == 255 or at + 9 > _TM_LIMIT:
        return 0
    j = 0
    while j < 4:
        o[at + j] = (no >> (8 * j)) & 0xFF
        j += 1
    o[at + 4] = 0xFC  # -4 as i16: a run
    o[at + 5] = 0xFF
    o[at + 6] = 1
    o[at + 7] = 0
    o[at + 8] = bit
    r[0] = at
    p[_TM_AT] = at + 9
    p[_TM_COUNT] += 1
    return -1


def _fill(sig, raw, n, forget):
    """sig from the deadband file's i16s (forget 0), or every time to 'nothing sent' (1).
    At start-up and HELLO only: plain code, the smallest."""
    for g in range(n):
        at = 12 * g
        if not forget:
            d = raw[2 * g] | (raw[2 * g + 1] << 8)
            d = _UNTRACKED if d == 0xFFFF else d & 0x7FFF
            sig[at] = d & 0xFF
            sig[at + 1] = d >> 8
        sig[at + 8] = 0  # 2**30, little-endian
        sig[at + 9] = 0
        sig[at + 10] = 0
        sig[at + 11] = 0x40


class Changed:
    def __init__(self, dbc, refresh_ms, path=DEADBAND_FILE):
        messages = len(dbc.MESSAGES)
        signals = 0
        for mi in range(messages):
            signals += dbc.signal_count(mi)
        with open(path, "rb") as f:
            raw = f.read()
        if len(raw) != 2 * signals:
            raise ValueError("%s has %d deadbands, the decoder %d signals: mule flash again"
                             % (path, len(raw) // 2, signals))
        self.sig = bytearray(12 * signals)
        _fill(self.sig, raw, signals, 0)
        st = array("i", bytes(4 * _HEAD))
        st[_REFRESH] = refresh_ms * 1000
        st[_NMSG] = messages
        self.st = st
        self.table = None  # link.Writer._table (Writer sets it)
        self.sel = array("H", bytes(2 * (dbc.MAX_SIGNALS + 1)))
        self.signals = signals
        self.reset()

    def reset(self):
        """A new session: nothing sent yet, every signal goes out with its next frame."""
        _fill(self.sig, self.sig, self.signals, 1)
        self.st[_RUN] = 0
        self.st[_RUN_SEQ] = -1
        self.st[_PICKED] = -1

    def writer(self, dbc):
        """The board's link.Writer, whose telemetry() sends what this picks."""
        return Writer(dbc, self)

    def decode(self, board, decode):
        """board.decode for the board's instance: notes the frame's time (the refresh counts
        it), then the class's decode (unbound), which calls Writer.telemetry."""
        st = self.st

        @micropython.native
        def decode_noting_time(frame_no, can_id, ext, data, n, t=0):
            st[_T] = t
            decode(board, frame_no, can_id, ext, data, n, t)

        return decode_noting_time

    @micropython.native
    def suppressed(self, writer, frame_no, unknown):
        """Frame frame_no was decoded with nothing to send (unknown 0) or has an id the
        decoder does not know (1): counted in a run record in writer's TELEMETRY frame
        (docs/protocol.md). Returns -1 when in; 0: the frame is full, send
        writer.telemetry_flush() and call again."""
        ps = writer._ps
        ps[_TM_NO] = frame_no
        st = self.st
        if st[_RUN_SEQ] != writer.seq:  # a frame went out since st[_RUN] was noted: not in this one
            st[_RUN] = 0
            st[_RUN_SEQ] = writer.seq
        return _tm_run(writer._tm, ps, st, unknown)


class Writer(link.Writer):
    """link.Writer for telemetry "changed": telemetry() packs the signals _pick()
    chose, or a bit in a run record; app.Board.decode calls it as it calls link.Writer's
    (returns -1 when in, else flush and call again), so nothing of this costs a frame when
    the option is off."""

    def __init__(self, dbc, changed):
        link.Writer.__init__(self, dbc)
        changed.table = self._table
        self.changed = changed

    @micropython.native
    def telemetry(self, frame_no, result, lanes, selected, k=0):
        ch = self.changed
        if result < -1:  # wrong length, undefined multiplexer value: as in "all"
            return link.Writer.telemetry(self, frame_no, result, lanes, selected, k)
        st = ch.st
        if st[_PICKED] != frame_no:  # not a call again after a flush
            st[_PICKED] = frame_no
            st[_MI] = result
            st[_COUNT] = _pick(st, ch.sig, ch.table, lanes, selected, ch.sel) if result >= 0 else 0
        if st[_COUNT] == 0:
            return -1 if ch.suppressed(self, frame_no, 1 if result < 0 else 0) < 0 else 0
        return link.Writer.telemetry(self, frame_no, result, lanes, ch.sel, k)
