"""Alerts as intervals, and the one comparison of two lists of them: raised/cleared pairs
from ALERT events, the simulator's sidecar read as the same intervals, and match() with one
tolerance, which the replay, the e2e tests and the benchmarks all use."""

from __future__ import annotations

from host_tools.dbc import Dbc
from host_tools.supervision.firmware import MASK
from host_tools.supervision.reference import AlertEvent

# Board times are whole µs since frame 0, truncated from the log's float seconds, and a
# log's float timestamps (epoch + t) carry ~0.3 µs of rounding: a start may differ by 1 µs.
TOLERANCE_S = 2e-6
NOT_SEEN_IN_REPLAY = ("bus_off",)  # the logger's own controller state: not in the frames a board gets
_RUN_KINDS = ("dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order")  # alerts that count frames


def _order(a: dict) -> tuple:
    return (a["start"], a["kind"], a["message"] or "")


def intervals(dbc: Dbc, events: list[AlertEvent], frame_times: list[float], first_t: float) -> list[dict]:
    """Raised/cleared pairs as the sidecar's alerts: {kind, message, signal, start, end[, frames]}.
    frame_times: each frame's time in seconds (the sidecar's clock); first_t: frame 0's."""
    messages = list(dbc.messages)
    open_: dict = {}
    done: list[dict] = []
    base_us = round(first_t * 1e6)

    def board_time(value: int, near: float) -> float:
        # a board time (µs mod 2**30 since frame 0) back on the sidecar's clock, near `near`
        rel = round(near * 1e6) - base_us
        v = value + ((rel - value) // (MASK + 1)) * (MASK + 1)
        if rel - v > (MASK + 1) // 2:
            v += MASK + 1
        return round((v + base_us) / 1e6, 6)

    for e in events:
        kind = e.kind
        at = frame_times[e.frame_no]
        if e.mi < 0:  # out_of_order of another ECU's frame: raised with its id, then cleared
            if not e.cleared:
                done.append({"kind": kind, "message": f"{e.value:#x}", "signal": None, "start": at, "end": at,
                             "frames": 1})
            continue
        if e.mi < len(messages):
            message = messages[e.mi].name
            signals = messages[e.mi].signals
            signal = signals[e.si].name if 0 <= e.si < len(signals) else None
        else:  # not a message of this DBC: the board's tables are not this DBC's
            message, signal = f"message {e.mi}", None
        key = (kind, message, signal)
        if not e.cleared:
            start = board_time(e.value, at) if kind == "timeout" else at
            open_[key] = {"kind": kind, "message": message, "signal": signal, "start": start, "end": None}
        else:
            alert = open_.pop(key, None)
            if alert is None:
                continue
            alert["end"] = at
            if kind in _RUN_KINDS:
                alert["frames"] = e.value
            done.append(alert)
    done.extend(open_.values())
    return sorted(done, key=_order)


def expected(truth: dict, shift: float = 0.0) -> list[dict]:
    """The sidecar's expected alerts in the form intervals() gives, times + `shift` (bus_off
    left out: a replayed board cannot see the logger's own bus-off)."""
    out = []
    for a in truth.get("expected_alerts", []):
        if a.get("kind") in NOT_SEEN_IN_REPLAY:
            continue
        end = a.get("end")
        item = {"kind": a["kind"], "message": a.get("message"), "signal": a.get("signal"),
                "start": a["start"] + shift, "end": None if end is None else end + shift}
        if "frames" in a:
            item["frames"] = a["frames"]
        out.append(item)
    return sorted(out, key=_order)


def same(a: dict, b: dict, tolerance_s: float = TOLERANCE_S) -> bool:
    """One alert is the other: kind, message, signal, the frames a run counted where both
    give it, start and end (or both still open) within `tolerance_s`."""
    if (a["kind"], a["message"], a["signal"]) != (b["kind"], b["message"], b["signal"]):
        return False
    if "frames" in a and "frames" in b and a["frames"] != b["frames"]:
        return False
    if not _close(a["start"], b["start"], tolerance_s) or (a["end"] is None) != (b["end"] is None):
        return False
    return a["end"] is None or _close(a["end"], b["end"], tolerance_s)


def _close(x: float, y: float, tolerance_s: float) -> bool:
    return round(abs(x - y), 9) <= tolerance_s  # to the ns: 10.000002 - 10.0 is 2.00000000006e-06


def match(expected: list[dict], raised: list[dict], tolerance_s: float = TOLERANCE_S) -> tuple[list, list]:
    """Pair expected and raised alerts by same(). Returns (pairs as (expected index, raised
    index), raised indices left over)."""
    used: set[int] = set()
    pairs = []
    for i, e in enumerate(expected):
        k = next((k for k, r in enumerate(raised) if k not in used and same(e, r, tolerance_s)), None)
        if k is not None:
            used.add(k)
            pairs.append((i, k))
    return pairs, [k for k in range(len(raised)) if k not in used]


def same_alerts(got: list[dict], want: list[dict], tolerance_s: float = TOLERANCE_S) -> bool:
    """Every alert of one list is one of the other's, and no more."""
    pairs, extra = match(want, got, tolerance_s)
    return len(pairs) == len(want) and not extra
