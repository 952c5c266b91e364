"""The report's data files: summary.json (the replay's figures under stable names),
mismatches.jsonl (frame, signal, expected, got) and alerts.jsonl (what the board raised,
what was expected, and which matched)."""

from __future__ import annotations

import json
from pathlib import Path

from host_tools.supervision.intervals import match


def write_summary(directory: Path, summary: dict) -> Path:
    path = directory / "summary.json"
    path.write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def write_mismatches(directory: Path, mismatches: list) -> Path:
    path = directory / "mismatches.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for item in mismatches:
            out.write(json.dumps(item.as_dict(), ensure_ascii=False, default=str) + "\n")
    return path


def alert_rows(check, alerts: list) -> list[dict]:
    """Every board ALERT as it came, then each expected (sidecar) and reference alert
    interval with the board interval it matched, if any. A raising ALERT's row carries its
    interval's start beside `t` (the frame it came with): a timeout starts at the deadline
    the board names, before the frame that revealed it."""
    raised = check.raised
    opened: dict = {}
    for item in raised:
        opened.setdefault((item["kind"], item["message"], item["signal"]), []).append(item["start"])
    rows = []
    for alert in alerts:
        row = alert.as_dict()
        starts = opened.get((alert.kind, alert.message, alert.signal))
        if not alert.cleared and starts:
            row["start"] = round(starts.pop(0), 6)
        rows.append(row)
    for source, wanted in (("sidecar", check.expected), ("reference", check.reference or [])):
        pairs = dict(match(wanted, raised)[0])
        for i, item in enumerate(wanted):
            k = pairs.get(i)
            rows.append({"source": source, **_times(item),
                         "matched": k is not None, "board": None if k is None else _times(raised[k])})
    return rows


def _times(item: dict) -> dict:
    out = dict(item)
    for key in ("start", "end"):
        if out.get(key) is not None:
            out[key] = round(out[key], 6)
    return out


def write_alerts(directory: Path, check, alerts: list) -> Path:
    path = directory / "alerts.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        for row in alert_rows(check, alerts):
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    return path
