"""When each frame is due. At speed S a frame with log time t is due S times faster than
the log says, counted from the wall-clock moment the replay started (and again from the
moment it resumed after a gap); at --speed max nothing waits but the board's credit.
The timing error of every frame sent is kept, so the summary can say how well it held."""

from __future__ import annotations

import math
from array import array

EARLY_S = 0.0005  # a frame may leave up to this much before its time: batches of what is due soon


def parse_speed(text: str) -> float | None:
    """'max' → None (as fast as flow control allows); a number > 0 → that factor."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"--speed {text!r}: give 1 (the log's timing), a factor such as 10, or max") from None
    if not 0 < speed < math.inf:
        raise ValueError(f"--speed {text!r}: the factor must be a positive number")
    return speed


def speed_label(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}"


class Pacer:
    """Deadlines on the wall clock (time.perf_counter seconds) for log times."""

    def __init__(self, speed: float | None):
        self.speed = speed
        self.anchor_wall = 0.0
        self.anchor_log = 0.0
        self.latest = -math.inf  # a timestamp that steps back is due at once, not in the past
        self.shift_s = 0.0  # wall time added by re-anchoring after gaps
        self.timing = TimingStats()

    @property
    def paced(self) -> bool:
        return self.speed is not None

    def start(self, now: float, first_t: float) -> None:
        self.anchor_wall, self.anchor_log = now, first_t
        self.latest = first_t

    def due(self, t: float) -> float:
        """The frame's deadline; call once per frame, in log order."""
        if self.speed is None:
            return -math.inf
        if t > self.latest:
            self.latest = t
        return self.anchor_wall + (self.latest - self.anchor_log) / self.speed

    def resume(self, now: float, next_due: float) -> float:
        """After a gap: the next frame is due now and the rest keep their spacing.
        Returns the shift to add to deadlines already computed."""
        if self.speed is None:
            return 0.0
        shift = max(0.0, now - next_due)
        self.anchor_wall += shift
        self.shift_s += shift
        return shift

    def sent(self, due: float, at: float) -> None:
        if self.speed is not None:
            self.timing.add(at - due)


class TimingStats:
    """Signed send-time errors (s): positive = late."""

    def __init__(self) -> None:
        self.errors = array("d")
        self.first_sent: float | None = None
        self.last_sent: float | None = None

    def add(self, error: float) -> None:
        self.errors.append(error)

    def summary(self, log_span_s: float, speed: float | None, shift_s: float, limit_s: float = 0.002) -> dict | None:
        if speed is None or not self.errors:
            return None
        size = sorted(abs(e) for e in self.errors)
        n = len(size)
        late = max(self.errors)
        early = min(self.errors)
        within = sum(1 for e in size if e <= limit_s)
        return {"frames": n, "p50_ms": _ms(_rank(size, 50)), "p99_ms": _ms(_rank(size, 99)),
                "max_ms": _ms(size[-1]), "latest_ms": _ms(late), "earliest_ms": _ms(early),
                "within_2ms_pct": round(100.0 * within / n, 3),
                "expected_s": round(log_span_s / speed + shift_s, 6)}


def _rank(sorted_values, pct: float) -> float:
    """Nearest-rank percentile of sorted values."""
    k = max(0, min(len(sorted_values) - 1, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[k]


def percentiles(values, pcts=(50, 90, 99)) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}
    out = {f"p{p:g}_ms": _ms(_rank(ordered, p)) for p in pcts}
    out["max_ms"] = _ms(ordered[-1])
    return out


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)
