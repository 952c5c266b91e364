# The board's main loop: CAN frames (from the bus in live mode, over the link in replay
# mode) → the generated decoder → supervision (ALERTs, docs/supervision.md) → TELEMETRY
# to the host. Allocates its buffers once; the loop survives any one bad frame and
# reports what it could not do in STATS and LOG.
import gc
import sys
import time
from array import array
from binascii import unhexlify

import micropython
from micropython import const

import config
import dbc_decoder as dbc
import host_port
import link

FW_VERSION = "mule-fw 0.1.0"
_EXT_KEY = const(0x20000000)  # the decoder's key flag for extended ids
_STATS_MS = const(1000)
_CREDIT_MS = const(1000)
_LIVE_BURST = const(16)  # CAN frames taken per pass before serving the link again
_LOG_INFO = const(1)
_LOG_ERROR = const(3)
_T_MASK = const(0x3FFFFFFF)  # supervision times: µs mod 2**30, as replay records carry them

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


def _boot_id():
    try:
        import os

        return int.from_bytes(os.urandom(4), "little") & 0x3FFFFFFF
    except (ImportError, AttributeError, OSError):
        return time.ticks_us() & 0x3FFFFFFF


def _board_name(cfg):
    if cfg.get("board"):
        return cfg["board"]
    return getattr(sys.implementation, "_machine", sys.platform)


class Board:
    def __init__(self, cfg, port):
        self.cfg = cfg
        self.port = port
        self.replay = cfg["mode"] != "live"
        self.decimation = max(1, int(cfg["decimation"]))
        self.rx_window = int(cfg.get("rx_window", 1024))
        self.rx = bytearray(min(self.rx_window, 1024))
        self.reader = link.FrameReader()
        self.writer = link.Writer(dbc)
        self.lanes, self.selected = dbc.new_buffers()
        self.decoders = dbc.DECODERS
        self.record = array("i", bytes(16))
        self.data = bytearray(link.CAN_MAX_DATA)
        self.stats = [0] * link.STATS_COUNT
        self.stats[_HEAP_MIN] = gc.mem_free()
        self.boot_id = _boot_id()
        self.sha = unhexlify(dbc.DBC_SHA256)
        self.source = None
        self.live_no = 0
        self.started = time.ticks_ms()
        self.last_stats = self.started
        self.last_credit = self.started
        self.supervisor = None
        self.sup_problem = None
        if cfg.get("supervise", True):
            try:
                import supervise
                import supervise_rules

                self.supervisor = supervise.Supervisor(supervise_rules, dbc.lookup, self.alert)
            except (ImportError, MemoryError) as exc:  # no rule tables, or no room: decode only
                self.sup_problem = "supervision off: %r" % (exc,)
        self.caps = link.CAP_REPLAY | (link.CAP_VIPER if dbc.EMIT == "viper" else 0)
        if self.supervisor is not None:
            self.caps |= link.CAP_SUPERVISION
        if not self.replay:
            import can_source

            keys = list(self.decoders.keys())
            self.source = can_source.PybCanSource(cfg["bus"], cfg["bitrate"], keys)
            self.caps |= link.CAP_PYB_CAN

    def send(self, n):
        if n:
            self.port.write(self.writer.wire, n)

    def alert(self, frame_no, code, severity, mi, si, value, text):
        self.send(self.writer.alert(frame_no, code, severity, mi, si, value, text))

    def log(self, level, text):
        self.send(self.writer.log(level, text))

    def hello(self):
        """Announce this boot; credit counts from here (the SYNC just read, or boot)."""
        self.reader.new_session()
        if self.supervisor is not None:
            self.supervisor.reset()
        mode = link.MODE_REPLAY if self.replay else link.MODE_LIVE
        self.send(self.writer.hello(self.boot_id, mode, self.caps, self.rx_window, self.sha,
                                    FW_VERSION, _board_name(self.cfg)))
        self.send(self.writer.credit(self.reader, self.rx_window))
        self.last_credit = time.ticks_ms()

    # ---- one frame ------------------------------------------------------------------
    def decode(self, frame_no, can_id, ext, data, n, t=0):
        # t: the frame's time, µs mod 2**30 (the log's in replay mode)
        stats = self.stats
        stats[_RECEIVED] += 1
        fn = self.decoders.get(can_id | _EXT_KEY if ext else can_id)
        result = dbc.ERR_UNKNOWN_ID if fn is None else fn(data, self.lanes, self.selected, n)
        if self.supervisor is not None:
            # before decimation: every frame counts for timeouts, counters and conditions.
            # A frame that fails its checks still goes out as TELEMETRY; its ALERT marks
            # the values invalid (docs/supervision.md).
            self.supervisor.frame(frame_no, t, result, can_id, ext, data, n, self.lanes, self.selected)
        if result >= 0:
            stats[_DECODED] += 1
            if stats[_DECODED] % self.decimation:
                return
        elif result == dbc.ERR_UNKNOWN_ID:
            stats[_UNKNOWN] += 1
        elif result == dbc.ERR_LENGTH:
            stats[_WRONG_LENGTH] += 1
        else:
            stats[_BAD_MUX] += 1
        writer = self.writer
        k = writer.telemetry(frame_no, result, self.lanes, self.selected)
        while k >= 0:
            self.send(writer.telemetry_flush())
            k = writer.telemetry(frame_no, result, self.lanes, self.selected, k)

    def replay_batch(self):
        reader = self.reader
        record = self.record
        data = self.data
        for i in range(reader.count):
            try:
                n = reader.can_record(i, record, data)
                self.decode(reader.can_frame_no(i), record[1], record[2], data, n, record[0])
            except Exception as exc:  # one bad frame must not stop the board
                self.stats[_DROPPED] += 1
                self.log(_LOG_ERROR, "frame %d: %r" % (reader.can_frame_no(i), exc))

    def poll_can(self):
        source = self.source
        got = False
        for _ in range(_LIVE_BURST):
            frame = source.recv()
            if frame is None:
                break
            got = True
            self.live_no += 1
            try:
                data = frame[4]
                self.decode(self.live_no, frame[0], frame[1], data, len(data), time.ticks_us() & _T_MASK)
            except Exception as exc:
                self.stats[_DROPPED] += 1
                self.log(_LOG_ERROR, "CAN frame %d: %r" % (self.live_no, exc))
        return got

    # ---- housekeeping ---------------------------------------------------------------
    def send_stats(self, now):
        stats = self.stats
        reader = self.reader
        stats[_UPTIME] = time.ticks_diff(now, self.started)
        stats[_LINK_CRC] = reader.crc_errors
        stats[_LINK_BAD] = reader.bad_frames
        stats[_LINK_GAPS] = reader.seq_gaps
        # One collection a second, timed, at a moment the board chooses: the pause is
        # known (STATS gc_max_us) and an automatic one in the middle of a burst is rare.
        # Free before it is the high-water mark of use; after it, what stays alive.
        free = gc.mem_free()
        if free < stats[_HEAP_MIN]:
            stats[_HEAP_MIN] = free
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
        self.hello()
        if problem:
            self.log(_LOG_ERROR, problem)
        if self.sup_problem:
            self.log(_LOG_ERROR, self.sup_problem)
        reader = self.reader
        port = self.port
        stats = self.stats
        while True:
            start = time.ticks_us()
            busy = False
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
                    elif kind == link.STOP:
                        self.send(self.writer.telemetry_flush())
                        self.log(_LOG_INFO, "stopped")
                        return
            if self.source is not None:
                if self.poll_can():
                    busy = True
                if self.supervisor is not None:  # live: timeouts also run on the clock
                    self.supervisor.tick(time.ticks_us() & _T_MASK, self.live_no)
            self.send(self.writer.telemetry_flush())
            now = time.ticks_ms()
            if (reader.since_credit() >= self.rx_window // 4
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


def main():
    cfg, problem = config.load()
    port = host_port.open_port(cfg)
    micropython.kbd_intr(-1)  # 0x03 in binary frames must not interrupt us
    try:
        Board(cfg, port).run(problem)
    finally:
        micropython.kbd_intr(3)
        port.close()
