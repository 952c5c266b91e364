"""Which frame a TELEMETRY record belongs to, and what became of every frame sent.

Frames are numbered 0, 1, 2 … in the order they are sent, for the whole replay: a re-SYNC
after a reset does not start again at 0, so a number is never reused. On the wire a frame
carries `base + number` (mod 2**30, docs/protocol.md) with a random `base` per replay, so records a board
still holds from an earlier replay cannot pass for ours. A record settles its own frame
and no other: the order records arrive in proves nothing, so a frame is lost only when
its number was never reported by the end of the replay."""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field

from host_tools.engines import DECODED
from host_tools.replay.check import Checker

WRAP = 1 << 30  # frame numbers on the wire: small ints on a 32-bit board
MAX_KEPT_MISMATCHES = 10_000  # listed in the report; all are counted
MAX_LOST_RUNS = 1_000


def session_base(rnd: random.Random | None = None) -> int:
    """A wire number base that reads well in the board's LOG lines: k × 1,000,000."""
    return (rnd or random.SystemRandom()).randrange(1, 1000) * 1_000_000  # < 2**30


@dataclass(frozen=True)
class SentFrame:
    """A frame as sent, read back from FrameBook's compact store."""

    t: float
    can_id: int
    ext: bool
    data: bytes
    where: str = ""


@dataclass
class Gap:
    """A board that reset, stalled or went away, and what it cost."""

    # "reset": a new boot id (each one counted in `boots`); "not_answering": nothing from the
    # board (no bytes at all) for stall_s; "link_damaged": bytes, but no intact frame;
    # "no_credit": it talks but takes no frames; "disconnect": the port failed; "resync":
    # STATS went backwards yet the boot id stayed (re-SYNCed to be sure)
    kind: str
    detected_at_s: float  # seconds since the replay started
    log_t: float | None  # the log time (s since the first frame) of the last frame sent before it
    boot_before: int | None
    boot_after: int | None = None
    boots: list = field(default_factory=list)  # the new boot ids seen in it, in order: its resets
    last_answered: int | None = None  # the highest frame number answered when it was noticed
    seconds: float = 0.0  # from detection until frames flowed again
    first_frame_after: int | None = None  # the number the replay continued with
    in_flight: tuple[int, int] | None = None  # frames sent but not yet answered when it was noticed
    frames_lost: int = 0  # of those, how many never came back
    reason: str = ""

    def as_dict(self) -> dict:
        return {"kind": self.kind, "detected_at_s": round(self.detected_at_s, 3),
                "log_t": None if self.log_t is None else round(self.log_t, 6),
                "boot_before": _hex(self.boot_before), "boot_after": _hex(self.boot_after),
                "resets": len(self.boots), "boots": [_hex(b) for b in self.boots],
                "last_answered": self.last_answered,
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
    # telemetry "changed" (host_tools/replay/changed.py): of the verified, frames the board sent
    # no record for (each value checked within its deadband of the last one sent); frames with
    # a value that could not be checked (its last value sent was in a record that never came)
    suppressed: int = 0
    unchecked: int = 0
    outcomes: dict = field(default_factory=dict)  # the board's verified outcomes by status


class FrameBook:
    """Numbers frames, files the board's records under them, settles each frame once."""

    def __init__(self, checker: Checker, base: int = 0, on_decoded=None):
        self.checker = checker
        self.base = base % WRAP
        self.next_n = 0
        self.waiting: dict[int, _Entry] = {}  # sent, no record yet, by number (in sending order)
        self._open: _Entry | None = None  # answered last: the next record may be its next part
        self.times = array("d")  # every sent frame's log time, by number (alerts look it up)
        # every sent frame's id, extended flag and payload, by number: the host's supervision
        # reference runs over them afterwards, without reading the log again
        self._ids = array("L")
        self._ext = array("B")
        self._ends = array("L")
        self._data = bytearray()
        self.latency = array("d")  # send → record, seconds, per answered frame
        self.tally = Tally()
        self.mismatches: list = []
        self.lost_runs: list[list[int]] = []  # [first, last] numbers of lost frames
        self.on_decoded = on_decoded  # (message index, log time, raw values) of each verified decoded frame
        self.last_arrival = 0.0
        self.answered_max = -1  # the highest frame number answered so far
        self.changed = None  # replay.changed.ChangedCheck: the board sends telemetry "changed"

    def wire_no(self, n: int) -> int:
        return (self.base + n) % WRAP

    def number(self, wire_no: int) -> int | None:
        """The replay's number for a wire number, if it is one we sent."""
        n = (wire_no - self.base) % WRAP
        return n if n < self.next_n else None

    def sent(self, frames, at: float) -> int:
        """Register frames about to go out; returns the first one's number."""
        first = self.next_n
        waiting = self.waiting
        for frame in frames:
            n = self.next_n
            waiting[n] = _Entry(n, frame, at)
            self.times.append(frame.t)
            self._ids.append(frame.can_id)
            self._ext.append(frame.ext)
            self._data += frame.data
            self._ends.append(len(self._data))
            self.next_n = n + 1
        self.tally.sent += len(frames)
        return first

    def record(self, rec, now: float) -> None:
        """One TELEMETRY record."""
        n = (rec.frame_no - self.base) % WRAP
        entry = self._open
        if entry is not None:
            if entry.n == n:
                entry.parts.append(rec)  # the next part of a record the board had to split
                self.last_arrival = now
                return
            self._open = None
            self._settle(entry)
        entry = self.waiting.pop(n, None)
        if entry is None:  # not ours, or answered already (a duplicate)
            self.tally.stale_records += 1
            return
        entry.parts = [rec]
        entry.arrived = now
        self._open = entry
        self.last_arrival = now
        if n > self.answered_max:
            self.answered_max = n

    def sent_frames(self) -> list[SentFrame]:
        """Every frame sent, in order (from the compact store)."""
        data, start, out = self._data, 0, []
        for t, can_id, ext, end in zip(self.times, self._ids, self._ext, self._ends):
            out.append(SentFrame(t, can_id, bool(ext), bytes(data[start:end])))
            start = end
        return out

    @property
    def inflight(self) -> int:
        """Frames sent and not settled yet (answered but open, or not answered)."""
        return len(self.waiting) + (self._open is not None)

    def answered(self) -> bool:
        """Every frame sent has at least its first record."""
        return not self.waiting

    def missing(self) -> int:
        """Frames without a record though a later one has its own: lost so far, unless late
        (the progress bar's figure; the count that matters is settle_all's)."""
        above = 0
        for n in reversed(self.waiting):
            if n <= self.answered_max:
                break
            above += 1
        return len(self.waiting) - above

    def last_answered(self) -> bool:
        """The last frame sent has its record (those still waiting are older)."""
        return self.answered_max == self.next_n - 1

    def mark_gap(self, gap: Gap) -> None:
        """Frames in flight now (sent after the last one answered) are at the mercy of `gap`:
        those never answered are counted there. Older unanswered ones were lost before it."""
        gap.last_answered = None if self.answered_max < 0 else self.answered_max
        marked = []
        for n in reversed(self.waiting):
            if n <= self.answered_max:
                break
            marked.append(n)
            self.waiting[n].gap = gap
        if marked:
            gap.in_flight = (marked[-1], marked[0])

    def unreached(self) -> list[tuple[int, int | None]]:
        """(first, last) numbers the board never got (lost frames; last None: to the end of what
        was sent). Call after settle_all."""
        out: list[tuple[int, int | None]] = [(a, b) for a, b in self.lost_runs]
        if out and out[-1][1] == self.next_n - 1:
            out[-1] = (out[-1][0], None)
        return out

    def settle_all(self) -> None:
        """The end: the open record is complete, and every frame still waiting is lost."""
        if self._open is not None:
            entry, self._open = self._open, None
            self._settle(entry)
        waiting, self.waiting = self.waiting, {}
        for n in sorted(waiting):
            self._settle(waiting[n])

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
        checked = (self.changed or self.checker).check(entry.n, entry.frame, entry.parts)
        if checked.status == DECODED:
            tally.decoded += 1
        if checked.mismatches:
            tally.mismatched += 1
            tally.mismatched_signals += len(checked.mismatches)
            room = MAX_KEPT_MISMATCHES - len(self.mismatches)
            if room > 0:
                self.mismatches.extend(checked.mismatches[:room])
            return
        if self.changed is not None:
            if checked.unchecked:
                tally.unchecked += 1
                return
            tally.suppressed += checked.suppressed
        tally.verified += 1
        tally.outcomes[checked.status] = tally.outcomes.get(checked.status, 0) + 1
        if checked.status == DECODED and self.on_decoded is not None:
            self.on_decoded(checked.mi, entry.frame.t, checked.raw)
