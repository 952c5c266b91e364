"""A stand-in for the board in CPython: the firmware's replay loop (docs/protocol.md)
rebuilt on cantools, behind the few pyserial calls BoardLink makes. It resets, hangs,
unplugs and garbles on request, so the host's handling of all that is tested in
milliseconds. The real thing is the virtual board (host_tools/vboard.py); this is not a
reference for decoding.

    board = LoopbackBoard(dbc)
    Replay(log, dbc, board.link).run()
"""

from __future__ import annotations

import random
import struct
import time

import serial

from host_tools.board_codes import STATUS_RESULT
from host_tools.dbc import Dbc
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH
from host_tools.engines.cantools_engine import decode_one
from host_tools.link import messages as m
from host_tools.link import wire
from host_tools.link.session import BoardLink, LinkError



def lanes_of(signal, raw) -> m.Signal:
    """The TELEMETRY lanes the board sends for a raw value (inverse of telemetry.raw_value)."""
    if signal.is_float:
        if signal.length == 32:
            (low,) = struct.unpack("<i", struct.pack("<f", raw))
            return m.Signal(0, low)
        low, high = struct.unpack("<ii", struct.pack("<d", raw))
        return m.Signal(0, low, high)
    raw = int(raw)
    if signal.length <= 32:
        v0 = raw & 0xFFFFFFFF
        return m.Signal(0, v0 - (1 << 32) if v0 >= 1 << 31 else v0)
    low, high = raw & 0xFFFFFFFF, (raw >> 32) & 0xFFFFFFFF
    return m.Signal(0, low - (1 << 32) if low >= 1 << 31 else low, high - (1 << 32) if high >= 1 << 31 else high)


class LoopbackBoard:
    def __init__(self, dbc: Dbc, rx_window: int = 1024, stats_every: float = 0.2, alerts=None,
                 seed: int = 0, mode: int = m.MODE_REPLAY):
        self.dbc = dbc
        self.rx_window = rx_window
        self.stats_every = stats_every
        self.alerts = alerts  # (frame_no, frame_record) -> [m.Alert]: supervision, if a test wants it
        self.mode = mode
        self.rnd = random.Random(seed)
        self.plugged = True
        self.silent = False  # a hung board: takes nothing, says nothing
        self.mangle = None  # (wire bytes of a board frame) -> wire bytes: garbage on the way back
        self.on_batch = None  # (first_no, records) -> None: a test's hook, e.g. to reset mid-stream
        self.stale = ()  # TELEMETRY records it still holds from an earlier replay, sent after a SYNC
        self.timeout = 0
        self.boots = 0
        self.plug_gen = 0
        self.frames_seen = 0  # CAN records decoded, over all boots
        self._index = {msg.name: mi for mi, msg in enumerate(dbc.messages)}
        self._order = [{s.name: si for si, s in enumerate(msg.signals)} for msg in dbc.messages]
        self._signals = [list(msg.signals) for msg in dbc.messages]
        self._out = bytearray()
        self.boot()

    # ---- the board -------------------------------------------------------------------
    def boot(self) -> None:
        """Power on (or reset): a new boot id, counters at 0, HELLO and CREDIT unsolicited."""
        self.boots += 1
        self.boot_id = self.rnd.getrandbits(30)
        self.receiver = m.board_receiver()
        self.encoder = wire.FrameEncoder()
        self.started = time.monotonic()
        self.last_stats = self.started
        self.stats = dict.fromkeys(m.STATS_FIELDS, 0)
        self.live_no = 0
        self._hello()

    def reset(self) -> None:
        self.boot()

    def unplug(self) -> None:
        """The cable is pulled: every open port to it fails from now on."""
        self.plugged = False
        self.plug_gen += 1
        self._out.clear()

    def replug(self) -> None:
        """USB power comes back with the cable: the board boots."""
        self.plugged = True
        self.boot()

    def bus(self, frames) -> None:
        """Live mode: frames (t, can_id, ext, data) arrive on the board's CAN bus; it numbers
        them 1, 2, 3 … and sends TELEMETRY for each."""
        records = []
        for frame in frames:
            self.live_no = (self.live_no + 1) & wire.FRAME_NO_MASK
            records.append(self._decode(self.live_no, m.CanRecord(0, frame.can_id, frame.ext, bytes(frame.data))))
        self._telemetry(records)
        self._tick()

    def _hello(self) -> None:
        self.consumed = 0
        self.last_credit = 0
        sha = bytes.fromhex(self.dbc.sha256)
        caps = m.CAP_REPLAY if self.mode == m.MODE_REPLAY else m.CAP_PYB_CAN
        self._emit(m.Hello(self.boot_id, self.mode, caps, self.rx_window, sha, "loopback 0.1", "loopback"))
        self._credit()

    def _credit(self) -> None:
        """CREDIT: rx_window bytes may follow the last frame taken (docs/protocol.md)."""
        last = self.receiver.last_seq
        self.last_credit = self.consumed
        self.last_credit_t = time.monotonic()
        self._emit(m.Credit(self.rx_window, wire.NO_ACK if last is None else last))

    def _emit(self, message) -> None:
        frame = self.encoder.encode(*m.encode(message))
        if self.mangle is not None:
            frame = self.mangle(frame)
        self._out += frame

    def _take(self, data: bytes) -> None:
        if self.silent:
            return
        self.consumed += len(data)
        ping = False
        for frame in self.receiver.feed(data):
            if frame.type == wire.SYNC:
                self.consumed = 0  # credit counts from the SYNC's closing delimiter
                self._hello()
                if self.stale:  # as the firmware flushes its TELEMETRY buffer after HELLO
                    self._emit(m.Telemetry(tuple(self.stale)))
                    self.stale = ()
            elif frame.type == wire.CAN:
                self._batch(m.CanBatch.decode(frame.body))
            elif frame.type == wire.STOP:
                self._emit(m.Log(1, "stopped"))
            elif frame.type == wire.PING:
                ping = True
        if ping or self.consumed - self.last_credit >= self.rx_window // 4:
            self._credit()
        self._tick()

    def _batch(self, batch: m.CanBatch) -> None:
        if self.on_batch is not None:
            before = (self.boots, self.plug_gen)
            self.on_batch(batch.first_no, batch.records)
            if (self.boots, self.plug_gen) != before or self.silent:
                return  # the batch went down with the board
        records = []
        for i, record in enumerate(batch.records):
            frame_no = (batch.first_no + i) & wire.FRAME_NO_MASK
            records.append(self._decode(frame_no, record))
            if self.alerts is not None:
                for alert in self.alerts(frame_no, record):
                    self._emit(alert)
        self._telemetry(records)

    def _decode(self, frame_no: int, record: m.CanRecord) -> m.TelemetryRecord:
        stats = self.stats
        stats["frames_received"] += 1
        self.frames_seen += 1
        outcome = decode_one(self.dbc, record.can_id, record.ext, record.data)
        if outcome.status != DECODED:
            name = {UNKNOWN_ID: "unknown_ids", WRONG_LENGTH: "wrong_length", BAD_MUX: "bad_mux"}[outcome.status]
            stats[name] += 1
            return m.TelemetryRecord(frame_no, STATUS_RESULT[outcome.status])
        stats["frames_decoded"] += 1
        mi = self._index[outcome.msg]
        order = self._order[mi]
        signals = []
        for name, raw in outcome.raw.items():
            si = order[name]
            lanes = lanes_of(self._signals[mi][si], raw)
            signals.append(m.Signal(si, lanes.v0, lanes.v1))
        return m.TelemetryRecord(frame_no, mi, tuple(signals))

    def _telemetry(self, records) -> None:
        chunk: list = []
        for record in records:
            if chunk and len(m.Telemetry(tuple(chunk + [record])).encode()) > wire.MAX_BODY:
                self._emit(m.Telemetry(tuple(chunk)))
                chunk = []
            chunk.append(record)
        if chunk:
            self._emit(m.Telemetry(tuple(chunk)))

    def _tick(self) -> None:
        now = time.monotonic()
        if self.silent or not self.plugged:
            return
        if now - self.last_credit_t >= 1.0:  # at least once a second, as the firmware
            self._credit()
        if now - self.last_stats < self.stats_every:
            return
        self.last_stats = now
        c = self.receiver.counters()
        values = dict(self.stats, uptime_ms=int((now - self.started) * 1000), link_crc_errors=c["crc_errors"],
                      link_bad_frames=c["bad_frames"], link_seq_gaps=c["seq_gaps"], heap_free=50000,
                      heap_min_free=40000)
        self._emit(m.Stats(**values))

    # ---- what BoardLink sees: a pyserial port -----------------------------------------
    def link(self) -> BoardLink:
        """A BoardLink to this board (the replay's `connect`); LinkError while unplugged."""
        if not self.plugged:
            raise LinkError("loopback: no such port (unplugged)")
        link = BoardLink("loop://", self.dbc)
        link.serial.close()
        link.serial = _Port(self)
        link.port = "loopback"
        return link


class _Port:
    """The pyserial calls BoardLink makes, on one LoopbackBoard."""

    def __init__(self, board: LoopbackBoard):
        self.board = board
        self.timeout = 0
        self.gen = board.plug_gen

    def _check(self) -> None:
        if not self.board.plugged or self.gen != self.board.plug_gen:
            raise serial.SerialException("loopback: device disconnected")

    @property
    def in_waiting(self) -> int:
        self._check()
        self.board._tick()
        return len(self.board._out)

    def read(self, n: int = 1) -> bytes:
        self._check()
        self.board._tick()
        out = self.board._out
        data = bytes(out[:n])
        del out[:n]
        return data

    def write(self, data: bytes) -> int:
        self._check()
        self.board._take(bytes(data))
        return len(data)

    def reset_input_buffer(self) -> None:
        self._check()
        self.board._out.clear()

    def close(self) -> None:
        pass
