"""The board's ALERTs during a replay, and the check against what should have been raised:
the simulator's sidecar (FILE.truth.json beside the log) and the host's reference (the
board's own supervision run in CPython, host_tools/supervision/reference.py), compared by
host_tools/supervision/intervals.py's one comparison.

A board that neither advertises supervision (HELLO's CAP_SUPERVISION) nor sends an ALERT
gets "not available", not a failure."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.dbc import Dbc
from host_tools.link import messages as m
from host_tools.board_alerts import BoardAlert, events
from host_tools.supervision.intervals import expected as sidecar_expected
from host_tools.supervision.intervals import intervals, match
from host_tools.supervision.reference import check_frames


def sidecar_path(log: Path) -> Path:
    return log.with_name(log.name + ".truth.json")


def load_sidecar(log: Path) -> dict | None:
    """The simulator's ground truth beside the log, or None."""
    path = sidecar_path(log)
    if not path.exists():
        return None
    try:
        truth = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable sidecar: {exc}") from None
    if not isinstance(truth, dict) or "expected_alerts" not in truth:
        raise ValueError(f"{path}: no expected_alerts: not a `mule simulate` sidecar")
    return truth


def sidecar_offset(truth: dict) -> float:
    """What to subtract from a log timestamp to get the sidecar's time: its epoch, except in
    ASC logs, whose times already count from the start of measurement (docs/simulator.md)."""
    log = truth.get("log", {})
    return 0.0 if log.get("format") == "asc" else float(log.get("epoch", 0.0))


def time_origin(truth: dict | None, t0: float) -> float:
    """The one time base of a replay's report: the log time that is 0 s in every time it
    shows (alerts from the board, the sidecar and the reference; plots, gaps). Beside a
    simulated log that is the sidecar's epoch, so its times are the sidecar's own and
    `mule simulate --fault`'s; otherwise the first frame replayed (t0)."""
    return sidecar_offset(truth) if truth is not None else t0


def time_base(truth: dict | None) -> str:
    """time_origin() in words, for the report."""
    if truth is not None:
        return "seconds after the log's start (the epoch of its `mule simulate` sidecar, whose times these are)"
    return "seconds after the first frame replayed"


def supervision_advertised(hello) -> bool:
    """Does the board say it supervises (HELLO's CAP_SUPERVISION, docs/protocol.md)?"""
    return bool(hello is not None and hello.caps & m.CAP_SUPERVISION)


def board_intervals(alerts: list[BoardAlert], dbc: Dbc, times: list[float] | None) -> list[dict]:
    """Raised → cleared pairs as {kind, message, signal, start, end} on the report's clock
    (`times`: each sent frame's time on it), read as the reference's alerts are."""
    found = events(alerts)
    return intervals(dbc, found, times, times[0]) if found else []  # the board counts µs from frame 0


def expected_intervals(truth: dict, origin: float) -> list[dict]:
    """The sidecar's expected alerts on the report's clock (origin: the log timestamp that is
    0 s on it), without those a replayed board cannot see."""
    return sidecar_expected(truth, sidecar_offset(truth) - origin)


def reference_intervals(dbc: Dbc, frames: list, origin: float | None = None) -> list[dict]:
    """What the board's supervision raises on these frames, computed on the host, on the
    report's clock (origin: its 0 s as a log timestamp; None: the first frame)."""
    if not frames:
        return []
    origin = frames[0].t if origin is None else origin
    return intervals(dbc, check_frames(dbc, frames), [f.t - origin for f in frames], frames[0].t - origin)


@dataclass
class AlertCheck:
    status: str  # "passed", "failed", "not available"
    reason: str
    expected: list = field(default_factory=list)  # intervals, replay clock
    raised: list = field(default_factory=list)
    reference: list | None = None
    matched: int = 0
    reference_matched: int | None = None
    counts_for_exit: bool = False  # a failure here fails the replay
    not_reached: int = 0  # expected where the board got no frames (not sent, or lost): not checked
    sidecar: bool = False  # a `mule simulate` sidecar beside the log said what to expect

    def as_dict(self) -> dict:
        return {"status": self.status, "reason": self.reason, "expected": len(self.expected),
                "raised": len(self.raised), "matched": self.matched, "not_reached": self.not_reached,
                "reference": None if self.reference is None else len(self.reference),
                "reference_matched": self.reference_matched, "sidecar": self.sidecar}


def reachable(expected: list[dict], unseen: list[tuple[float, float]]) -> tuple[list[dict], list[bool]]:
    """The expected alerts as the board could have raised them, and for each whether it starts
    in a stretch of the log the board never got (`unseen`: [from, to) on the replay's clock,
    frames not sent or lost; to = inf for the end). One still open where the board's view ends
    is expected open."""
    end = min((lo for lo, hi in unseen if hi == float("inf")), default=None)
    out, unreached = [], []
    for e in expected:
        e = dict(e)
        if end is not None and e["start"] < end and e["end"] is not None and e["end"] >= end:
            e["end"] = None
        out.append(e)
        unreached.append(any(lo <= e["start"] < hi for lo, hi in unseen))
    return out, unreached


def check_alerts(alerts: list[BoardAlert], hello, truth: dict | None, origin: float | None,
                 reference: list[dict] | None, dbc: Dbc | None = None, times: list[float] | None = None,
                 restarted: bool = False, unseen: list[tuple[float, float]] = (),
                 resynced: bool = False) -> AlertCheck:
    """Every time on the report's clock (`origin`: its 0 s as a log timestamp, time_origin()).
    `unseen`: where the board got no frames ([from, to) on that clock): an expected
    alert starting there is "not reached", not "not raised". `restarted`: a new boot id during
    the replay; `resynced`: a re-SYNC without one (either restarts the board's supervision)."""
    raised = board_intervals(alerts, dbc, times)
    expected = expected_intervals(truth, origin) if truth is not None and origin is not None else []
    advertised = supervision_advertised(hello)
    check = AlertCheck("not available", "", expected, raised, reference, sidecar=truth is not None)
    reach, unreached = reachable(expected, list(unseen))
    pairs, extra = match(reach, raised)
    paired = {i for i, _ in pairs}
    not_reached = sum(1 for i, u in enumerate(unreached) if u and i not in paired)
    check.matched = len(pairs)
    check.not_reached = not_reached
    if reference is not None:
        check.reference_matched = len(match(reachable(reference, list(unseen))[0], raised)[0])
    if not advertised and not alerts:
        check.reason = "the board does not advertise supervision (HELLO's CAP_SUPERVISION) and sent no ALERT"
        return check
    if truth is None and reference is None:
        check.reason = "no sidecar beside the log and no host reference to check the board's alerts against"
        return check
    check.counts_for_exit = advertised or bool(alerts)
    problems = []
    if truth is not None:
        missing = len(expected) - len(pairs) - not_reached
        if missing:
            problems.append(f"{missing} of {len(expected) - not_reached} expected alerts not raised")
        if extra:
            problems.append(f"{len(extra)} raised alerts the sidecar does not expect")
    if reference is not None:
        ref, ref_unreached = reachable(reference, list(unseen))
        pairs, extra = match(ref, raised)
        paired = {i for i, _ in pairs}
        if any(i not in paired and not u for i, u in enumerate(ref_unreached)) or extra:
            problems.append(f"the host reference raises {len(reference)}, the board {len(raised)}, "
                            f"{len(pairs)} agree")
    check.status = "failed" if problems else "passed"
    if truth is None and not problems:  # nothing was expected: say what agreed, not "as expected"
        check.reason = (f"no sidecar beside the log, so no expected alerts to check; the host reference (the "
                        f"board's supervision run on the host) raises the same {len(raised)} as the board"
                        if raised else "no sidecar beside the log, so no expected alerts to check; the board "
                        "raised none, nor does the host reference")
    else:
        check.reason = "; ".join(problems) or ("every alert as expected" + (" in the part of the log the board got"
                                                                            if not_reached else ""))
    if not_reached:
        check.reason += (f"; {not_reached} expected alert{'s' if not_reached > 1 else ''} not reached: "
                         "in the part of the log the board never got (not sent, or lost)")
    if restarted:
        check.reason += " (the board restarted during the replay: its supervision started again after the gap)"
    elif resynced:
        check.reason += " (the board was re-SYNCed after a gap: SYNC restarts its supervision)"
    return check



def summary_line(check: AlertCheck) -> str:
    """The replay's closing line about alerts. With a sidecar: expected, raised, matched; without
    one nothing was expected, so it lists what the board raised instead of "expected 0"."""
    tail = f": {check.status} ({check.reason})"
    if check.sidecar:
        return (f"alerts: expected {len(check.expected)}, raised {len(check.raised)}, matched {check.matched}"
                + (f", not reached {check.not_reached}" if check.not_reached else "") + tail)
    shown = [f"{a['kind']} {'.'.join(x for x in (a['message'], a['signal']) if x)} at {a['start']:.3f} s"
             for a in check.raised[:5]]
    more = f" and {len(check.raised) - 5} more" if len(check.raised) > 5 else ""
    return (f"alerts: none expected (no sidecar); the board raised {len(check.raised)}"
            + (f" ({', '.join(shown)}{more})" if shown else "") + tail)
