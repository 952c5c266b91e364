"""The link's messages (docs/protocol.md) as dataclasses: encode() gives the body, the
decode(body) classmethods parse one exactly (BodyError otherwise)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple

from host_tools.link.wire import (ALERT, BOARD_TO_HOST, CAN, CREDIT, FRAME_NO_MASK, HELLO, HOST_TO_BOARD, LOG,
                                  MAX_BODY, NO_ACK, PING, PROTO_VERSION, STATS, STOP, SYNC, TELEMETRY, TOW_RANGE,
                                  Frame, StreamDecoder)

CAN_EXT_FLAG = 0x80000000
CAN_BATCH_HEADER = 5  # first_no u32, count u8
CAN_RECORD_HEADER = 9  # t_us u32, key u32, len u8
CAN_MAX_DATA = 64
MAX_COUNT = 255  # records per CAN or TELEMETRY body (a u8)

# HELLO caps bits
CAP_REPLAY = 1 << 0
CAP_PYB_CAN = 1 << 1
CAP_MACHINE_CAN = 1 << 2
CAP_VIPER = 1 << 3
CAP_SUPERVISION = 1 << 4  # the board runs supervision and sends ALERTs
CAP_TELEMETRY_CHANGED = 1 << 5  # telemetry "changed": only what moved, runs of suppressed frames

MODE_LIVE = 0
MODE_REPLAY = 1

STATS_FIELDS = ("uptime_ms", "frames_received", "frames_decoded", "unknown_ids", "wrong_length",
                "bad_mux", "link_crc_errors", "link_bad_frames", "link_seq_gaps", "frames_dropped",
                "can_fifo_overflows", "can_errors", "heap_free", "heap_min_free", "loop_us_max",
                "loop_us_avg", "gc_count", "gc_max_us")
STATS_SIZE = 4 * len(STATS_FIELDS) + 1
CAN_STATE_NONE = 255

WideFn = Callable[[int, int], bool]


class BodyError(ValueError):
    """A body that does not parse as its type says: the receiver counts it as a bad frame."""


HELLO_STR_MAX = 200  # fw_version and board, each: HELLO must fit MAX_BODY


def pack_str(text: str, limit: int = 255) -> bytes:
    """u8 length + UTF-8, cut to `limit` bytes at a character boundary."""
    raw = text.encode()
    if len(raw) > limit:
        cut = limit
        while raw[cut] & 0xC0 == 0x80:  # a continuation byte: step back to the character's start
            cut -= 1
        raw = raw[:cut]
    return bytes([len(raw)]) + raw


class _Body:
    """Reads fields off a body in order; every read past the end is a BodyError."""

    def __init__(self, body: bytes):
        self.body = bytes(body)
        self.at = 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.body):
            raise BodyError(_ends_inside(len(self.body), self.at))
        values = struct.unpack_from(fmt, self.body, self.at)
        self.at += size
        return values

    def bytes(self, n: int) -> bytes:
        if self.at + n > len(self.body):
            raise BodyError(f"body of {len(self.body)} bytes ends inside {n} bytes at byte {self.at}")
        self.at += n
        return self.body[self.at - n:self.at]

    def str(self) -> str:
        (n,) = self.take("<B")
        return self.bytes(n).decode("utf-8", "replace")

    def end(self) -> None:
        if self.at != len(self.body):
            raise BodyError(f"{len(self.body) - self.at} bytes left over after the last field")


@dataclass(frozen=True)
class Hello:
    TYPE: ClassVar[int] = HELLO
    boot_id: int
    mode: int
    caps: int
    rx_window: int
    dbc_sha256: bytes
    fw_version: str
    board: str
    heap_free: int = 0  # bytes free on the board's heap after start-up (0: not measured)
    proto: int = PROTO_VERSION

    def encode(self) -> bytes:
        if len(self.dbc_sha256) != 32:
            raise ValueError("dbc_sha256 must be the 32 raw bytes of the digest")
        return (struct.pack("<BIBHH", self.proto, self.boot_id, self.mode, self.caps, self.rx_window)
                + bytes(self.dbc_sha256) + pack_str(self.fw_version, HELLO_STR_MAX)
                + pack_str(self.board, HELLO_STR_MAX) + struct.pack("<I", self.heap_free))

    @classmethod
    def decode(cls, body: bytes) -> Hello:
        b = _Body(body)
        proto, boot_id, mode, caps, rx_window = b.take("<BIBHH")
        sha = b.bytes(32)
        fw_version, board = b.str(), b.str()
        (heap_free,) = b.take("<I")
        b.end()
        return cls(boot_id, mode, caps, rx_window, sha, fw_version, board, heap_free, proto)


@dataclass(frozen=True)
class Sync:
    TYPE: ClassVar[int] = SYNC

    def encode(self) -> bytes:
        return b""

    @classmethod
    def decode(cls, body: bytes) -> Sync:
        _Body(body).end()
        return cls()


@dataclass(frozen=True)
class Stop(Sync):
    TYPE: ClassVar[int] = STOP


@dataclass(frozen=True)
class Ping(Sync):
    """The host asks for a CREDIT at once (docs/protocol.md, CREDIT)."""

    TYPE: ClassVar[int] = PING


@dataclass(frozen=True)
class CanRecord:
    t_us: int  # µs since the replay started, mod 2**32
    can_id: int
    ext: bool
    data: bytes

    @property
    def size(self) -> int:
        return CAN_RECORD_HEADER + len(self.data)


@dataclass(frozen=True)
class CanBatch:
    TYPE: ClassVar[int] = CAN
    first_no: int
    records: tuple[CanRecord, ...]

    def encode(self) -> bytes:
        if len(self.records) > MAX_COUNT:
            raise ValueError(f"{len(self.records)} records: at most {MAX_COUNT} per batch")
        if not 0 <= self.first_no <= FRAME_NO_MASK:
            raise ValueError(f"first_no {self.first_no}: frame numbers count mod 2**30")
        out = bytearray(struct.pack("<IB", self.first_no, len(self.records)))
        for r in self.records:
            if r.can_id > (0x1FFFFFFF if r.ext else 0x7FF) or r.can_id < 0:
                kind = "an extended" if r.ext else "a standard"
                raise ValueError(f"id {r.can_id:#x} does not fit {kind} id")
            if len(r.data) > CAN_MAX_DATA:
                raise ValueError(f"id {r.can_id:#x}: {len(r.data)} data bytes, at most {CAN_MAX_DATA}")
            key = r.can_id | (CAN_EXT_FLAG if r.ext else 0)
            out += struct.pack("<IIB", r.t_us & 0xFFFFFFFF, key, len(r.data)) + bytes(r.data)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes) -> CanBatch:
        b = _Body(body)
        first_no, count = b.take("<IB")
        if first_no > FRAME_NO_MASK:
            raise BodyError(f"first_no {first_no:#010x}: frame numbers count mod 2**30")
        records = []
        for _ in range(count):
            t_us, key, n = b.take("<IIB")
            ext = bool(key & CAN_EXT_FLAG)
            can_id = key & 0x7FFFFFFF
            if can_id > (0x1FFFFFFF if ext else 0x7FF):
                raise BodyError(f"record {len(records)}: key {key:#010x} is not a CAN id")
            if n > CAN_MAX_DATA:
                raise BodyError(f"record {len(records)}: {n} data bytes, at most {CAN_MAX_DATA}")
            records.append(CanRecord(t_us, can_id, ext, b.bytes(n)))
        b.end()
        return cls(first_no, tuple(records))


def split_batches(records: Iterable[CanRecord], first_no: int = 0,
                  max_body: int = MAX_BODY) -> list[CanBatch]:
    """Consecutive batches holding `records` in order, each body ≤ max_body bytes;
    the frames are numbered from first_no."""
    if max_body < CAN_BATCH_HEADER + CAN_RECORD_HEADER + CAN_MAX_DATA:
        raise ValueError(f"max_body {max_body} cannot hold a 64-byte frame")
    batches: list[CanBatch] = []
    current: list[CanRecord] = []
    size = CAN_BATCH_HEADER
    for record in records:
        if current and (size + record.size > max_body or len(current) == MAX_COUNT):
            batches.append(CanBatch(first_no & FRAME_NO_MASK, tuple(current)))
            first_no += len(current)
            current, size = [], CAN_BATCH_HEADER
        current.append(record)
        size += record.size
    if current:
        batches.append(CanBatch(first_no & FRAME_NO_MASK, tuple(current)))
    return batches


class Signal(NamedTuple):
    """One signal's lanes. A NamedTuple, as TelemetryRecord: the host makes one per signal
    of every frame, at half the cost of a frozen dataclass."""

    si: int
    v0: int  # first lane, i32
    v1: int | None = None  # second lane, only for signals wider than 32 bits

    def raw(self, length: int, signed: bool) -> int:
        """The raw value as the decoder's raw_value() gives it (IEEE floats: their bits)."""
        if self.v1 is None:
            return self.v0 & 0xFFFFFFFF if length == 32 and not signed else self.v0
        high = self.v1 if signed else self.v1 & 0xFFFFFFFF
        return (high << 32) | (self.v0 & 0xFFFFFFFF)


class TelemetryRecord(NamedTuple):
    frame_no: int
    result: int  # message index, or -1 unknown id, -2 wrong length, -3 undefined mux value, -4 SUPPRESSED
    signals: tuple[Signal, ...] = ()


SUPPRESSED = -4  # telemetry "changed": a frame decoded with nothing to send (docs/protocol.md)
RUN = -4  # on the wire: a run record of such frames and unknown ids, one bit each
UNKNOWN_ID = -1
MAX_RUN = 0xFFFF


_RECORD_HEAD = struct.Struct("<IhH")
_SIGNAL = struct.Struct("<Hi")
_HIGH = struct.Struct("<i")


@dataclass(frozen=True)
class Telemetry:
    TYPE: ClassVar[int] = TELEMETRY
    records: tuple[TelemetryRecord, ...] = field(default=())
    # telemetry "changed": SUPPRESSED and unknown-id records of consecutive frames go in runs
    runs: bool = field(default=False, compare=False)

    def encode(self) -> bytes:
        runs = _runs(self.records, self.runs)
        out = bytearray([len(runs)])
        for r, group in runs:
            if group is not None:  # a run: its first frame, the count, one bit a frame (1: unknown id)
                bits = bytearray((len(group) + 7) // 8)
                for i, rec in enumerate(group):
                    if rec.result == UNKNOWN_ID:
                        bits[i >> 3] |= 1 << (i & 7)
                out += _RECORD_HEAD.pack(r.frame_no & 0xFFFFFFFF, RUN, len(group)) + bits
                continue
            out += _RECORD_HEAD.pack(r.frame_no & 0xFFFFFFFF, r.result, len(r.signals))
            for s in r.signals:
                out += _SIGNAL.pack(s.si, s.v0)
                if s.v1 is not None:
                    out += _HIGH.pack(s.v1)
        return bytes(out)

    @classmethod
    def decode(cls, body: bytes, wide: WideFn) -> Telemetry:
        """`wide(mi, si)`: is the signal wider than 32 bits (the DBC knows; see wide_signals).
        The host's busiest parser (every frame of a replay): precompiled structs, no _Body."""
        body = bytes(body)
        end = len(body)
        if not end:
            raise BodyError(_ends_inside(end, 0))
        count = body[0]
        at = 1
        records = []
        runs = False
        for _ in range(count):
            if at + 8 > end:
                raise BodyError(_ends_inside(end, at))
            frame_no, result, n = _RECORD_HEAD.unpack_from(body, at)
            at += 8
            if result == RUN:  # frames frame_no … frame_no + n − 1: a record each
                size = (n + 7) >> 3
                if not n or at + size > end:
                    raise BodyError(f"frame {frame_no}: a run of {n} frames" if not n else _ends_inside(end, at))
                bits = body[at:at + size]
                at += size
                records.extend(TelemetryRecord((frame_no + i) & FRAME_NO_MASK,
                                               UNKNOWN_ID if bits[i >> 3] >> (i & 7) & 1 else SUPPRESSED)
                               for i in range(n))
                runs = True
                continue
            if result < 0 and n:
                raise BodyError(f"frame {frame_no}: result {result} with {n} signals")
            signals = []
            for _ in range(n):
                if at + 6 > end:
                    raise BodyError(_ends_inside(end, at))
                si, v0 = _SIGNAL.unpack_from(body, at)
                at += 6
                if wide(result, si):
                    if at + 4 > end:
                        raise BodyError(_ends_inside(end, at))
                    signals.append(Signal(si, v0, _HIGH.unpack_from(body, at)[0]))
                    at += 4
                else:
                    signals.append(Signal(si, v0))
            records.append(TelemetryRecord(frame_no, result, tuple(signals)))
        if at != end:
            raise BodyError(f"{end - at} bytes left over after the last field")
        return cls(tuple(records), runs)


def _runs(records, runs: bool) -> list:
    """(record, None), or (first record, the records of a run): with `runs`, consecutive
    frames that are SUPPRESSED or unknown ids share a run record, as the board packs them."""
    out: list = []
    for r in records:
        if runs and (r.result == SUPPRESSED or (r.result == UNKNOWN_ID and not r.signals)):
            last = out[-1] if out else None
            if last is not None and last[1] is not None and len(last[1]) < MAX_RUN \
                    and (last[0].frame_no + len(last[1])) & FRAME_NO_MASK == r.frame_no:
                last[1].append(r)
            else:
                out.append((r, [r]))
        else:
            out.append((r, None))
    return out


def _ends_inside(size: int, at: int) -> str:
    return f"body of {size} bytes ends inside a field at byte {at}"


def wide_signals(dbc) -> WideFn:
    """wide(mi, si) for a host_tools.dbc.Dbc: the generated decoder numbers messages and
    signals in the DBC's order."""
    widths = [[s.length > 32 for s in m.signals] for m in dbc.messages]

    def wide(mi: int, si: int) -> bool:
        try:
            return widths[mi][si]
        except IndexError:
            raise BodyError(f"signal {si} of message {mi} is not in {dbc.path.name}") from None
    return wide


@dataclass(frozen=True)
class Alert:
    TYPE: ClassVar[int] = ALERT
    frame_no: int
    code: int
    severity: int
    mi: int
    si: int
    value: int
    text: str

    def encode(self) -> bytes:
        return struct.pack("<IHBhhi", self.frame_no & 0xFFFFFFFF, self.code, self.severity, self.mi,
                           self.si, self.value) + pack_str(self.text)

    @classmethod
    def decode(cls, body: bytes) -> Alert:
        b = _Body(body)
        fields = b.take("<IHBhhi")
        text = b.str()
        b.end()
        return cls(*fields, text)


@dataclass(frozen=True)
class Stats:
    TYPE: ClassVar[int] = STATS
    uptime_ms: int = 0
    frames_received: int = 0
    frames_decoded: int = 0
    unknown_ids: int = 0
    wrong_length: int = 0
    bad_mux: int = 0
    link_crc_errors: int = 0
    link_bad_frames: int = 0
    link_seq_gaps: int = 0
    frames_dropped: int = 0
    can_fifo_overflows: int = 0
    can_errors: int = 0
    heap_free: int = 0
    heap_min_free: int = 0
    loop_us_max: int = 0
    loop_us_avg: int = 0
    gc_count: int = 0
    gc_max_us: int = 0
    can_state: int = CAN_STATE_NONE

    def encode(self) -> bytes:
        values = [getattr(self, name) & 0xFFFFFFFF for name in STATS_FIELDS]
        return struct.pack(f"<{len(STATS_FIELDS)}IB", *values, self.can_state)

    @classmethod
    def decode(cls, body: bytes) -> Stats:
        b = _Body(body)
        values = b.take(f"<{len(STATS_FIELDS)}IB")
        b.end()
        return cls(*values)


@dataclass(frozen=True)
class Log:
    TYPE: ClassVar[int] = LOG
    level: int  # 0 debug, 1 info, 2 warning, 3 error
    text: str

    def encode(self) -> bytes:
        return bytes([self.level]) + pack_str(self.text)

    @classmethod
    def decode(cls, body: bytes) -> Log:
        b = _Body(body)
        (level,) = b.take("<B")
        text = b.str()
        b.end()
        return cls(level, text)


@dataclass(frozen=True)
class Credit:
    """The host may have `window` wire bytes in flight after the end of its frame `ack`
    (the last one the board took; NO_ACK before any)."""

    TYPE: ClassVar[int] = CREDIT
    window: int
    ack: int = NO_ACK

    def encode(self) -> bytes:
        return struct.pack("<HH", self.window, self.ack)

    @classmethod
    def decode(cls, body: bytes) -> Credit:
        b = _Body(body)
        window, ack = b.take("<HH")
        b.end()
        return cls(window, ack)


@dataclass(frozen=True)
class TowRange:
    """The board's towing range estimate (docs/supervision.md): km left at the consumption
    of the last window, from the frames up to frame_no. -1: not known yet."""

    TYPE: ClassVar[int] = TOW_RANGE
    frame_no: int
    range_dkm: int  # 0.1 km
    wh_per_km: int
    window_m: int  # distance driven in the window

    @property
    def range_km(self) -> float | None:
        return None if self.range_dkm < 0 else self.range_dkm / 10

    def encode(self) -> bytes:
        return struct.pack("<IiiI", self.frame_no & 0xFFFFFFFF, self.range_dkm, self.wh_per_km, self.window_m)

    @classmethod
    def decode(cls, body: bytes) -> TowRange:
        b = _Body(body)
        fields = b.take("<IiiI")
        b.end()
        return cls(*fields)


MESSAGE_TYPES = {cls.TYPE: cls for cls in (Hello, Sync, Stop, Ping, CanBatch, Telemetry, Alert, Stats, Log,
                                           Credit, TowRange)}
Message = Hello | Sync | Stop | Ping | CanBatch | Telemetry | Alert | Stats | Log | Credit | TowRange


def decode_body(type_: int, body: bytes, wide: WideFn | None = None) -> Message:
    """The message in a frame's body; BodyError when it does not parse, or for TELEMETRY
    without `wide`."""
    cls = MESSAGE_TYPES.get(type_)
    if cls is None:
        raise BodyError(f"unknown message type 0x{type_:02x}")
    if cls is Telemetry:
        if wide is None:
            raise BodyError("a TELEMETRY body needs wide(mi, si) from the DBC to be decoded")
        return Telemetry.decode(body, wide)
    return cls.decode(body)


def decode_frame(frame: Frame, wide: WideFn | None = None) -> Message:
    return decode_body(frame.type, frame.body, wide)


def body_ok(type_: int, body: bytes) -> bool:
    """The receiver's body check: does the body parse? TELEMETRY passes here (its check
    needs the DBC); decode it with decode_body(..., wide) and count a failure then."""
    if type_ == TELEMETRY:
        return True
    try:
        decode_body(type_, body)
    except BodyError:
        return False
    return True


def host_receiver() -> StreamDecoder:
    """What the host runs on the board's output."""
    return StreamDecoder(BOARD_TO_HOST, body_ok)


def board_receiver() -> StreamDecoder:
    """The board's receiver (firmware/link.py) in CPython, for tests and simulations."""
    return StreamDecoder(HOST_TO_BOARD, body_ok)


def encode(message: Message) -> tuple[int, bytes]:
    """(type, body) of a message."""
    return message.TYPE, message.encode()


def batch_wire_size(records: Sequence[CanRecord]) -> int:
    """Worst-case wire bytes of one CAN batch of these records (COBS overhead included)."""
    return wire_size(CAN_BATCH_HEADER + sum(r.size for r in records))


def wire_size(body: int) -> int:
    """Worst-case wire bytes of a message whose body has this many bytes: type, seq and
    length (3), CRC-32 (4), COBS' one byte in 254 and the two delimiters."""
    payload = 3 + body + 4
    return payload + -(-payload // 254) + 2
