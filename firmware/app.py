# The board's main loop: CAN frames (from the bus in live mode, over the link in replay
# mode) → the generated decoder → supervision (ALERTs, docs/supervision.md) → TELEMETRY
# to the host. Allocates its buffers once; the loop survives any one bad frame and
# reports what it could not do in STATS and LOG.
import gc
import sys
import time

import micropython
from micropython import const

import dbc_decoder as dbc
import link

FW_VERSION = "mule-fw 0.1.0"
_EXT_KEY = const(0x20000000)  # the decoder's key flag for extended ids
_STATS_MS = const(1000)
_CREDIT_MS = const(1000)
_LOG_INFO = const(1)
_LOG_ERROR = const(3)
_T_MASK = const(0x3FFFFFFF)  # supervision times: µs mod 2**30, as replay records carry them
_FRAME_NO_MASK = const(0x3FFFFFFF)  # frame numbers count mod 2**30, as on the wire
_ERR_UNKNOWN_ID = const(-1)
_ERR_LENGTH = const(-2)
TYPE_CHECKING = const(0)  # mypy reads `if TYPE_CHECKING:` blocks; MicroPython drops them
# Board.at, _records' state
_AT_I = const(0)
_AT_SUP = const(1)
_AT_TM = const(2)
_BUS_WATCH_MS = const(10)  # how often the loop reads the controller's error state

# STATS fields (docs/protocol.md), in order
_UPTIME = const(0)
_RECEIVED = const(1)
_DECODED = const(2)
_UNKNOWN = const(3)
_WRONG_LENGTH = const(4)
_BAD_MUX = const(5)
_LINK_CRC = const(6)
_LINK_BAD = const(7)
_LINK_GAPS = const(8)
_DROPPED = const(9)
_FIFO_OVERFLOWS = const(10)
_CAN_ERRORS = const(11)
_HEAP_FREE = const(12)
_HEAP_MIN = const(13)
_LOOP_MAX = const(14)
_LOOP_AVG = const(15)
_GC_COUNT = const(16)
_GC_MAX_US = const(17)


def _watchdog(ms):
    """(machine.WDT running with timeout ms, or None; why not, or None). Once started it
    cannot be stopped: after STOP the board resets unless main.py runs again."""
    if ms <= 0:
        return None, None
    try:
        from machine import WDT
    except ImportError:
        return None, "watchdog_ms %d: this port has no machine.WDT, running without" % ms
    return WDT(timeout=ms), None


class Board:
    def __init__(self, cfg, port):
        import app_start  # the start-up's code (app_start.py): dropped once it has run

        try:
            app_start.build(self, cfg, port)
        finally:
            del sys.modules["app_start"]
        del app_start
        gc.collect()  # measured out here: the start-up's code, frame and temporaries are gone
        self.heap_free = gc.mem_free()  # after start-up: said in every HELLO
        if TYPE_CHECKING:  # for mypy only, compiled to nothing: the attributes build() sets
            from array import array

            self.port = self.supervisor = self.sup_frame = self.sup_other = self.sup_st = cfg
            self.source = self.live = self.bus_guard = self.fns = self.decoders = self.table_decode = cfg
            self.selection = self.sup_problem = self.can_problem = self.name = ""
            self.problems = [""]
            self.replay = True
            self.decimation = self.rx_window = self.boot_id = self.caps = self.live_no = self.bus_no = 0
            self.watchdog_ms = 0
            self.started = self.last_stats = self.last_credit = self.bus_checked = time.ticks_ms()
            self.rx = self.data = self.own = self.sha = bytearray()
            self.keys = self.at = self.stats = self.record = array("i")
            self.reader = link.FrameReader()
            self.writer = link.Writer(dbc)
            self.lanes, self.selected = dbc.new_buffers()

    def send(self, n):
        if n:
            self.port.write(self.writer.wire, n)

    def alert(self, frame_no, code, severity, mi, si, value, text):
        self.send(self.writer.alert(frame_no, code, severity, mi, si, value, text))

    def tow_range(self, frame_no, range_dkm, wh_per_km, window_m):
        self.send(self.writer.tow_range(frame_no, range_dkm, wh_per_km, window_m))

    def log(self, level, text):
        self.send(self.writer.log(level, text))

    def hello(self):
        """Announce this boot; credit counts from here (the SYNC just read, or boot)."""
        self.reader.new_session()
        if self.supervisor is not None:
            self.supervisor.reset()
        changed = getattr(self, "changed", None)
        if changed is not None:
            changed.reset()  # the host knows no value yet: each signal goes out again
        mode = link.MODE_REPLAY if self.replay else link.MODE_LIVE
        self.send(self.writer.hello(self.boot_id, mode, self.caps, self.rx_window, self.sha,
                                    FW_VERSION, self.name, self.heap_free))
        self.send(self.writer.credit(self.reader, self.rx_window))
        self.last_credit = time.ticks_ms()
        for text in self.problems:  # what this boot could not do: said to every host that syncs
            self.log(_LOG_ERROR, text)
        if self.selection:
            self.log(_LOG_INFO, self.selection)

    # ---- one frame ------------------------------------------------------------------
    if TYPE_CHECKING:  # mypy's view of decode (compiled to nothing): app_live.decode

        def decode(self, frame_no, can_id, ext, data, n, t=0):
            pass

    else:

        def __getattr__(self, name):
            # decode(frame_no, can_id, ext, data, n, t=0): one frame through the decoder,
            # supervision and TELEMETRY, for the paths that take frames one at a time (live
            # mode, loopback replay, telemetry changed, tests): app_live's, loaded on first
            # use (replay from the link never calls it: its code stays out of the heap)
            if name != "decode":
                raise AttributeError(name)
            import app_live

            Board.decode = app_live.decode
            return self.decode

    @micropython.native
    def replay_batch(self):
        if self.source is not None:  # "replay_path": "loopback"
            self.replay_loopback()
            return
        count = self.reader.count
        at = self.at
        i = 0
        while i < count:
            try:
                i = self._records(i)
            except Exception as exc:  # one bad frame must not stop the board
                i = at[_AT_I]
                self.stats[_DROPPED] += 1
                self.log(_LOG_ERROR, "frame %d: %r" % (self.reader.can_frame_no(i), exc))
                i += 1

    @micropython.viper
    def _records(self, i: int) -> int:
        # Records i.. of the CAN batch just read, each as decode() does it (decoder,
        # supervision, TELEMETRY) in one loop: per record, Python-level calls only to the
        # decoder (known ids), supervision and the TELEMETRY packer. at[_AT_I]: the record
        # being done, for replay_batch when one raises. Returns the record count.
        reader = self.reader
        p = ptr8(reader.payload)
        offs = ptr16(reader._offs)
        count = int(reader.count)
        at = ptr32(self.at)
        keys = ptr32(self.keys)
        nkeys = int(len(self.keys))
        own = ptr8(self.own)
        fns = self.fns
        data = self.data
        d = ptr8(data)
        lanes = self.lanes
        selected = self.selected
        stats = ptr32(self.stats)
        decimation = int(self.decimation)
        sup = self.supervisor
        supervised = at[_AT_SUP]
        sup_frame = self.sup_frame
        sup_other = self.sup_other
        sup_st = self.sup_st
        inline_tm = at[_AT_TM]
        table_decode = self.table_decode
        writer = self.writer
        tm = writer._tm
        ps = writer._ps
        psp = ptr32(ps)
        tm_add = writer._tm_add
        table = writer._table
        tm_no = int(link.TM_NO)
        tm_result = int(link.TM_RESULT)
        tm_k = int(link.TM_K)
        first = p[3] | (p[4] << 8) | (p[5] << 16) | (p[6] << 24)  # < 2**30: next() checked
        while i < count:
            at[_AT_I] = i
            o = int(offs[i])
            t = p[o] | (p[o + 1] << 8) | (p[o + 2] << 16) | ((p[o + 3] & 0x3F) << 24)
            can_id = p[o + 4] | (p[o + 5] << 8) | (p[o + 6] << 16) | ((p[o + 7] & 0x1F) << 24)
            ext = p[o + 7] >> 7
            n = p[o + 8]
            j = 0
            while j < n:
                d[j] = p[o + 9 + j]
                j += 1
            key = can_id
            if ext != 0:
                key = can_id | _EXT_KEY
            no = first + i  # mod 2**30, no intermediate value above it
            if i > _FRAME_NO_MASK - first:
                no = i - (_FRAME_NO_MASK - first) - 1
            i += 1
            if inline_tm == 0:  # another telemetry mode: decode() does the record
                self.decode(no, can_id, ext, data, n, t)
                continue
            lo = 0
            hi = nkeys
            while lo < hi:
                mid = (lo + hi) >> 1
                if keys[mid] < key:
                    lo = mid + 1
                else:
                    hi = mid
            stats[_RECEIVED] += 1
            result = _ERR_UNKNOWN_ID
            if lo < nkeys and keys[lo] == key:
                if own[lo] != 0:
                    result = int(fns[lo](data, lanes, selected, n))
                else:
                    result = int(table_decode(key, data, lanes, selected, n))
            if supervised != 0:  # before decimation, as in decode()
                # another ECU's frame: supervise.other moves the clock, frame() only when it
                # would do more (a timeout scan due, out of order)
                if result != _ERR_UNKNOWN_ID or int(sup_other(sup_st, t)) == 0:
                    sup_frame(sup, no, t, result, can_id, ext, data, n, lanes, selected)
            if result >= 0:
                stats[_DECODED] += 1
                if decimation > 1 and stats[_DECODED] % decimation != 0:
                    continue
            elif result == _ERR_UNKNOWN_ID:
                stats[_UNKNOWN] += 1
            elif result == _ERR_LENGTH:
                stats[_WRONG_LENGTH] += 1
            else:
                stats[_BAD_MUX] += 1
            psp[tm_no] = no
            psp[tm_result] = result & 0xFFFF
            psp[tm_k] = 0
            # viper takes the buffers as pointers (the type checker wants ptr8/ptr32)
            k = int(tm_add(tm, ps, lanes, table, selected))  # type: ignore[arg-type]
            while k >= 0:
                self.send(writer.telemetry_flush())
                psp[tm_k] = k
                k = int(tm_add(tm, ps, lanes, table, selected))  # type: ignore[arg-type]
        return count

    def replay_loopback(self):
        if self.live is not None:
            self.live.replay_loopback(self)  # app_live

    def poll_can(self):
        return self.live is not None and self.live.poll_can(self)  # app_live

    # ---- housekeeping ---------------------------------------------------------------
    def watch_bus(self, now):
        if self.live is not None:
            self.live.watch_bus(self, now)  # app_live

    def send_stats(self, now):
        stats = self.stats
        reader = self.reader
        stats[_UPTIME] = time.ticks_diff(now, self.started)
        stats[_LINK_CRC] = reader.crc_errors
        stats[_LINK_BAD] = reader.bad_frames
        stats[_LINK_GAPS] = reader.seq_gaps
        # One collection a second, timed, at a moment the board chooses: the pause is
        # known (STATS gc_max_us) and an automatic one in the middle of a burst is rare.
        # Free before it is this second's high-water mark of use; after it, what stays alive.
        stats[_HEAP_MIN] = gc.mem_free()
        began = time.ticks_us()
        gc.collect()
        took = time.ticks_diff(time.ticks_us(), began)
        stats[_GC_COUNT] += 1
        if took > stats[_GC_MAX_US]:
            stats[_GC_MAX_US] = took
        stats[_HEAP_FREE] = gc.mem_free()
        state = 255
        if self.source is not None:
            stats[_FIFO_OVERFLOWS] = self.source.overflows
            stats[_CAN_ERRORS] = self.source.errors()
            state = self.source.state()
        self.send(self.writer.stats(stats, state))
        stats[_LOOP_MAX] = 0
        stats[_GC_MAX_US] = 0

    def run(self, problem=None):
        """Serve until the host sends STOP."""
        self.problems = [p for p in (problem, self.sup_problem, self.can_problem,
                                      getattr(self, "changed_problem", None)) if p]
        self.hello()
        wdt, why = _watchdog(self.watchdog_ms)
        if why:
            self.problems.append(why)
            self.log(_LOG_ERROR, why)
        elif wdt is not None:
            self.log(_LOG_INFO, "watchdog on: %d ms (after STOP the board resets)" % self.watchdog_ms)
        reader = self.reader
        port = self.port
        stats = self.stats
        while True:
            if wdt is not None:
                wdt.feed()
            start = time.ticks_us()
            busy = False
            ping = False
            n = port.readinto(self.rx)
            if n:
                busy = True
                reader.feed(self.rx, n)
                while True:
                    kind = reader.next()
                    if kind < 0:
                        break
                    if kind == link.CAN:
                        if self.replay:
                            self.replay_batch()
                    elif kind == link.SYNC:
                        self.hello()
                    elif kind == link.PING:  # the host waits for an answer: CREDIT at once
                        ping = True
                    elif kind == link.STOP:
                        self.send(self.writer.telemetry_flush())
                        self.log(_LOG_INFO, "stopped")
                        return
            if self.source is not None:
                if not self.replay:
                    if self.poll_can():
                        busy = True
                    if self.supervisor is not None:  # live: timeouts also run on the clock
                        self.supervisor.tick(time.ticks_us() & _T_MASK, self.live_no)
                now = time.ticks_ms()
                if time.ticks_diff(now, self.bus_checked) >= _BUS_WATCH_MS:
                    self.watch_bus(now)
                    self.bus_checked = now
            self.send(self.writer.telemetry_flush())
            now = time.ticks_ms()
            if (ping or reader.since_credit() >= self.rx_window // 4
                    or time.ticks_diff(now, self.last_credit) >= _CREDIT_MS):
                self.send(self.writer.credit(reader, self.rx_window))
                self.last_credit = now
            if time.ticks_diff(now, self.last_stats) >= _STATS_MS:
                self.send_stats(now)
                self.last_stats = now
            took = time.ticks_diff(time.ticks_us(), start)
            if busy:
                if took > stats[_LOOP_MAX]:
                    stats[_LOOP_MAX] = took
                stats[_LOOP_AVG] = (stats[_LOOP_AVG] * 15 + took) // 16
            else:
                port.wait(2)


def start():
    """(board, problem): the boot up to serving, as main() runs it: the config file read, the
    port opened, the Board built (its heap_free is what HELLO says; the bench weighs this)."""
    import config  # both needed at boot only: dropped once they have run

    cfg, problem = config.load()
    import host_port

    port = host_port.open_port(cfg)
    del config, host_port
    del sys.modules["config"], sys.modules["host_port"]
    try:
        return Board(cfg, port), problem
    except BaseException:
        port.close()
        raise


def main():
    board, problem = start()
    micropython.kbd_intr(-1)  # 0x03 in binary frames must not interrupt us
    try:
        board.run(problem)
    finally:
        micropython.kbd_intr(3)
        board.port.close()
