"""Frames on the serial line (docs/protocol.md): COBS with a 0x00 before and after each
frame, a CRC-32, a receiver that resynchronises and counts, and the credit window."""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass

PROTO_VERSION = 2

HELLO = 0x01
SYNC = 0x02
STOP = 0x03
PING = 0x04
CAN = 0x10
TELEMETRY = 0x11
ALERT = 0x12
STATS = 0x13
LOG = 0x14
CREDIT = 0x15
TOW_RANGE = 0x16

TYPE_NAMES = {HELLO: "HELLO", SYNC: "SYNC", STOP: "STOP", PING: "PING", CAN: "CAN", TELEMETRY: "TELEMETRY",
              ALERT: "ALERT", STATS: "STATS", LOG: "LOG", CREDIT: "CREDIT", TOW_RANGE: "TOW_RANGE"}
HOST_TO_BOARD = frozenset({SYNC, STOP, PING, CAN})
BOARD_TO_HOST = frozenset({HELLO, TELEMETRY, ALERT, STATS, LOG, CREDIT, TOW_RANGE})
RESTART_TYPES = frozenset({HELLO, SYNC})  # a peer's fresh start: never counted as a seq gap

HEADER = 3  # type u8, seq u16
CRC_SIZE = 4
MAX_PAYLOAD = 512
MAX_BODY = MAX_PAYLOAD - HEADER - CRC_SIZE
MAX_ENCODED = MAX_PAYLOAD + -(-MAX_PAYLOAD // 254)  # worst-case COBS run: 515
MAX_WIRE = MAX_ENCODED + 2
FRAME_NO_MASK = (1 << 30) - 1  # frame numbers (CAN first_no, TELEMETRY/ALERT frame_no) count mod 2**30
NO_ACK = 0xFFFF  # CREDIT's ack before the board has taken any frame
PING_WIRE = 10  # a PING on the wire: 0x00, COBS of its 7-byte payload, 0x00
PING_RESERVE = 6 * PING_WIRE  # kept free of CAN batches in every window: room for PINGs
PING_MIN_S = 0.003  # the first PING after this long without an acknowledgement (or 2 × the RTT)
PING_MAX_S = 1.0  # the wait doubles with every unanswered PING, up to this


class CobsError(ValueError):
    pass


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, as zlib computes it: crc32(b"123456789") == 0xCBF43926."""
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """Canonical COBS: no 0x00 in the result; no extra block after a final 254-byte block."""
    data = bytes(data)
    out = bytearray()
    start, n = 0, len(data)
    while True:
        zero = data.find(0, start, start + 254)
        if zero >= 0:  # a block ended by a 0x00, which it consumes
            out.append(zero - start + 1)
            out += data[start:zero]
            start = zero + 1
        elif n - start >= 254:  # a full block: consumes no 0x00
            out.append(0xFF)
            out += data[start:start + 254]
            start += 254
            if start == n:
                return bytes(out)
        else:  # the last block
            out.append(n - start + 1)
            out += data[start:]
            return bytes(out)


def cobs_decode(run: bytes) -> bytes:
    """Decode one run of non-zero bytes; CobsError when a block runs past the end."""
    out = bytearray()
    i = 0
    n = len(run)
    code = 0xFF
    while i < n:
        if code != 0xFF:
            out.append(0)
        code = run[i]
        if code == 0:
            raise CobsError(f"0x00 inside a COBS run at byte {i}")
        end = i + code
        if end > n:
            raise CobsError(f"COBS block at byte {i} announces {code - 1} bytes, {n - i - 1} left")
        out += run[i + 1:end]
        i = end
    return bytes(out)


def encode_payload(type_: int, seq: int, body: bytes) -> bytes:
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes: at most {MAX_BODY} fit a frame")
    head = struct.pack("<BH", type_, seq & 0xFFFF) + body
    return head + struct.pack("<I", crc32(head))


def encode_frame(type_: int, seq: int, body: bytes = b"") -> bytes:
    """The frame as it goes on the wire: 0x00, COBS(type|seq|body|crc), 0x00."""
    return b"\x00" + cobs_encode(encode_payload(type_, seq, body)) + b"\x00"


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    body: bytes

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02x}")


class FrameEncoder:
    """One direction's sender: numbers frames 0, 1, 2 ... mod 65536."""

    def __init__(self, seq: int = 0):
        self.seq = seq

    def encode(self, type_: int, body: bytes = b"") -> bytes:
        wire = encode_frame(type_, self.seq, body)
        self.seq = (self.seq + 1) & 0xFFFF
        return wire


class StreamDecoder:
    """The receiver of docs/protocol.md: bytes in, complete validated frames out.

    `accept`: the types this side takes (others count as bad frames); `check(type, body)`
    says whether a body parses (see messages.body_ok). Counters: frames, crc_errors,
    bad_frames, seq_gaps (lost frames)."""

    def __init__(self, accept: Collection[int] = BOARD_TO_HOST,
                 check: Callable[[int, bytes], bool] | None = None):
        self.accept = frozenset(accept)
        self.check = check
        self.frames = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.seq_gaps = 0
        self.last_seq: int | None = None
        self._run = bytearray()
        self._oversize = False

    def counters(self) -> dict[str, int]:
        return {"frames": self.frames, "crc_errors": self.crc_errors,
                "bad_frames": self.bad_frames, "seq_gaps": self.seq_gaps}

    def feed(self, data: bytes) -> list[Frame]:
        out: list[Frame] = []
        parts = bytes(data).split(b"\x00")
        for k, part in enumerate(parts):
            self._extend(part)
            if k < len(parts) - 1:  # a 0x00 followed this part: the run is complete
                if self._run:
                    frame = self._complete(bytes(self._run))
                    if frame is not None:
                        out.append(frame)
                self._run.clear()
                self._oversize = False
        return out

    def _extend(self, part: bytes) -> None:
        if self._oversize or not part:
            return
        if len(self._run) + len(part) > MAX_ENCODED:
            self.bad_frames += 1  # counted once, when the run outgrows MAX_ENCODED
            self._oversize = True
            self._run.clear()
            return
        self._run += part

    def _complete(self, run: bytes) -> Frame | None:
        try:
            payload = cobs_decode(run)
        except CobsError:
            self.bad_frames += 1
            return None
        if not HEADER + CRC_SIZE <= len(payload) <= MAX_PAYLOAD:
            self.bad_frames += 1
            return None
        (crc,) = struct.unpack_from("<I", payload, len(payload) - CRC_SIZE)
        if crc32(payload[:-CRC_SIZE]) != crc:
            self.crc_errors += 1
            return None
        type_, seq = struct.unpack_from("<BH", payload)
        self._track(type_, seq)
        body = payload[HEADER:-CRC_SIZE]
        if type_ not in self.accept or (self.check is not None and not self.check(type_, body)):
            self.bad_frames += 1
            return None
        self.frames += 1
        return Frame(type_, seq, body)

    def _track(self, type_: int, seq: int) -> None:
        if type_ not in RESTART_TYPES and self.last_seq is not None:
            d = (seq - self.last_seq) & 0xFFFF
            if 1 <= d <= 0x8000:
                self.seq_gaps += d - 1
        self.last_seq = seq


class CreditWindow:
    """The host's half of flow control (docs/protocol.md, CREDIT): which frames the board
    has not acknowledged yet, how much may be in flight after the last one it has, and
    when to ask again with a PING. A frame lost on the way to the board is released by the
    acknowledgement of any later frame; a lost CREDIT by the next one, which a PING asks for
    within milliseconds when the host is held up."""

    def __init__(self) -> None:
        self.sent_total = 0  # wire bytes sent since the last HELLO
        self.limit = 0  # sent_total may grow to this (end of the acknowledged frame + window)
        self.unacked: deque = deque()  # (seq, sent_total after it, when sent) not acknowledged yet
        self.rtt = 0.01  # smoothed seconds from a frame's sending to its acknowledgement
        self.pings = 0
        self.acks = 0  # CREDITs that acknowledged a frame of this session
        self.stale = 0  # CREDITs that did not (before the session, or repeated)
        self._asked = 0.0  # the last acknowledgement or PING
        self._wait = PING_MIN_S  # before the next PING

    @property
    def granted(self) -> int:
        return self.limit

    def on_hello(self, rx_window: int) -> None:
        """HELLO: the board took everything up to the SYNC it answers; rx_window may follow."""
        self.sent_total = 0
        self.limit = rx_window
        self.unacked.clear()
        self._wait = PING_MIN_S

    def on_credit(self, window: int, ack: int, now: float = 0.0) -> bool:
        """A CREDIT: `window` bytes may be in flight after frame `ack`. False when `ack` is no
        unacknowledged frame of ours (stale: it changes nothing)."""
        unacked = self.unacked
        for k, (seq, _, _) in enumerate(unacked):
            if seq == ack:
                break
        else:
            self.stale += 1
            return False
        for _ in range(k):
            unacked.popleft()
        _, end, at = unacked.popleft()
        self.limit = end + window
        self.acks += 1
        if now:
            self.rtt += (max(0.0, now - at) - self.rtt) / 8
            self._asked = now
        self._wait = min(PING_MAX_S, max(PING_MIN_S, 2 * self.rtt))
        return True

    def room(self) -> int:
        """Wire bytes of CAN frames the host may send now (PING_RESERVE stays for PINGs)."""
        return max(0, self.limit - PING_RESERVE - self.sent_total)

    def may_send(self, wire_length: int) -> bool:
        return wire_length <= self.room()

    def sent(self, seq: int, wire_length: int, now: float = 0.0) -> None:
        if not self.unacked:
            self._asked = now  # the wait for an acknowledgement starts here
        self.sent_total += wire_length
        self.unacked.append((seq & 0xFFFF, self.sent_total, now))

    def ping_due(self, now: float) -> float:
        """Seconds until a PING is due (0: now; inf: none will be): frames are unacknowledged,
        the room left is less than a full frame, and no acknowledgement or PING came lately."""
        if not self.unacked or self.room() >= MAX_WIRE or self.sent_total + PING_WIRE > self.limit:
            return float("inf")
        return max(0.0, self._asked + self._wait - now)

    def pinged(self, seq: int, now: float) -> None:
        self.sent(seq, PING_WIRE, now)
        self.pings += 1
        self._asked = now
        self._wait = min(PING_MAX_S, 2 * self._wait)

    def close(self) -> None:
        """STOP: nothing more goes to this session."""
        self.unacked.clear()
        self.limit = self.sent_total
