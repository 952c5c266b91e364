"""Which frame a TELEMETRY record belongs to, and what became of every frame sent.

Frames are numbered 0, 1, 2 … in the order they are sent, for the whole replay: a re-SYNC
after a reset does not start again at 0, so a number is never reused. On the wire a frame
carries `base + number` (mod 2**30, docs/protocol.md) with a random `base` per replay, so records a board
still holds from an earlier replay cannot pass for ours. The board answers in order, so a
record for frame n settles every frame before n: those without a record are lost."""

from __future__ import annotations

import random
from array import array
from collections import deque
from dataclasses import dataclass, field

from host_tools.engines import DECODED
from host_tools.replay.check import Checker

WRAP = 1 << 30  # frame numbers on the wire: small ints on a 32-bit board
MAX_KEPT_MISMATCHES = 10_000  # listed in the report; all are counted
MAX_LOST_RUNS = 1_000


def session_base(rnd: random.Random | None = None) -> int:
    """A wire number base that reads well in the board's LOG lines: k × 1,000,000."""
    return (rnd or random.SystemRandom()).randrange(1, 1000) * 1_000_000  # < 2**30


@dataclass
class Gap:
    """A board that reset, stalled or went away, and what it cost."""

    kind: str  # "reset" (new boot), "stall" (silent board, re-SYNC) or "disconnect" (port gone)
    detected_at_s: float  # seconds since the replay started
    log_t: float | None  # the log time (s since the first frame) of the last frame sent before it
    boot_before: int | None
    boot_after: int | None = None
    seconds: float = 0.0  # from detection until frames flowed again
    first_frame_after: int | None = None  # the number the replay continued with
    in_flight: tuple[int, int] | None = None  # frames sent but not yet answered when it was noticed
    frames_lost: int = 0  # of those, how many never came back
    reason: str = ""

    def as_dict(self) -> dict:
        return {"kind": self.kind, "detected_at_s": round(self.detected_at_s, 3),
                "log_t": None if self.log_t is None else round(self.log_t, 6),
                "boot_before": _hex(self.boot_before), "boot_after": _hex(self.boot_after),
                "seconds": round(self.seconds, 3), "first_frame_after": self.first_frame_after,
                "in_flight": list(self.in_flight) if self.in_flight else None,
                "frames_lost": self.frames_lost, "reason": self.reason}


def _hex(value):
    return None if value is None else f"{value:#010x}"


class _Entry:
    __slots__ = ("n", "frame", "sent_at", "parts", "arrived", "gap")

    def __init__(self, n, frame, sent_at):
        self.n = n
        self.frame = frame
        self.sent_at = sent_at
        self.parts = None
        self.arrived = 0.0
        self.gap = None


@dataclass
class Tally:
    sent: int = 0
    decoded: int = 0  # the board decoded it (a message of the DBC)
    verified: int = 0  # the board's outcome equals cantools'
    mismatched: int = 0  # frames with at least one disagreement
    mismatched_signals: int = 0
    lost: int = 0  # sent, never answered
    lost_in_gaps: int = 0
    stale_records: int = 0  # records for frames not in flight (duplicates, another replay's)
    outcomes: dict = field(default_factory=dict)  # the board's verified outcomes by status


class FrameBook:
    """Numbers frames, files the board's records under them, settles each frame once."""

    def __init__(self, checker: Checker, base: int = 0, on_decoded=None):
        self.checker = checker
        self.base = base % WRAP
        self.next_n = 0
        self.inflight: deque[_Entry] = deque()
        self.times = array("d")  # every sent frame's log time, by number (alerts look it up)
        self.latency = array("d")  # send → record, seconds, per answered frame
        self.tally = Tally()
        self.mismatches: list = []
        self.lost_runs: list[list[int]] = []  # [first, last] numbers of lost frames
        self.on_decoded = on_decoded  # (message index, log time, raw values) of each verified decoded frame
        self.last_arrival = 0.0

    def wire_no(self, n: int) -> int:
        return (self.base + n) % WRAP

    def number(self, wire_no: int) -> int | None:
        """The replay's number for a wire number, if it is one we sent."""
        n = (wire_no - self.base) % WRAP
        return n if n < self.next_n else None

    def sent(self, frames, at: float) -> int:
        """Register frames about to go out; returns the first one's number."""
        first = self.next_n
        for frame in frames:
            self.inflight.append(_Entry(self.next_n, frame, at))
            self.times.append(frame.t)
            self.next_n += 1
        self.tally.sent += len(frames)
        return first

    def record(self, rec, now: float) -> None:
        """One TELEMETRY record."""
        n = (rec.frame_no - self.base) % WRAP
        inflight = self.inflight
        if not inflight or n < inflight[0].n or n >= self.next_n:
            self.tally.stale_records += 1
            return
        while inflight[0].n < n:  # the board answers in order: these never will
            self._settle(inflight.popleft())
        entry = inflight[0]
        if entry.parts is None:
            entry.parts = [rec]
            entry.arrived = now
        else:
            entry.parts.append(rec)  # the next part of a record the board had to split
        self.last_arrival = now

    def answered(self) -> bool:
        """Every frame in flight has at least its first record."""
        return all(e.parts is not None for e in self.inflight)

    def mark_gap(self, gap: Gap) -> None:
        """Frames in flight now are at the mercy of `gap`: lost ones are counted there."""
        if self.inflight:
            gap.in_flight = (self.inflight[0].n, self.inflight[-1].n)
        for entry in self.inflight:
            entry.gap = gap

    def settle_all(self) -> None:
        while self.inflight:
            self._settle(self.inflight.popleft())

    def _settle(self, entry: _Entry) -> None:
        tally = self.tally
        if entry.parts is None:
            tally.lost += 1
            if entry.gap is not None:
                entry.gap.frames_lost += 1
                tally.lost_in_gaps += 1
            runs = self.lost_runs
            if runs and runs[-1][1] == entry.n - 1:
                runs[-1][1] = entry.n
            elif len(runs) < MAX_LOST_RUNS:
                runs.append([entry.n, entry.n])
            return
        self.latency.append(entry.arrived - entry.sent_at)
        checked = self.checker.check(entry.n, entry.frame, entry.parts)
        if checked.status == DECODED:
            tally.decoded += 1
        if checked.mismatches:
            tally.mismatched += 1
            tally.mismatched_signals += len(checked.mismatches)
            room = MAX_KEPT_MISMATCHES - len(self.mismatches)
            if room > 0:
                self.mismatches.extend(checked.mismatches[:room])
            return
        tally.verified += 1
        tally.outcomes[checked.status] = tally.outcomes.get(checked.status, 0) + 1
        if checked.status == DECODED and self.on_decoded is not None:
            self.on_decoded(checked.mi, entry.frame.t, checked.raw)
