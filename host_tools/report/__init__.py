"""`mule replay --report DIR`: the replay's findings as files a tester keeps and shares.

    summary.json      the figures under stable names (frames_sent ... alerts_matched)
    mismatches.jsonl  one line per disagreement: frame, signal, expected, got
    alerts.jsonl      the board's ALERTs, the expected alerts and which matched
    *.png             tongue load, drawbar force, hitch angle, SOC, pack power, cell spread
    index.html        all of it on one page; opens without a server

    from host_tools.report import write_report
    write_report(Path("out"), result)   # result: a ReplayResult with .series from SeriesCollector
"""

from __future__ import annotations

from pathlib import Path

from host_tools.report.files import alert_rows, write_alerts, write_mismatches, write_summary
from host_tools.report.html import write_html
from host_tools.report.plots import PLOTS, SeriesCollector, write_plots

__all__ = ["PLOTS", "SeriesCollector", "write_report"]


def write_report(directory: Path, result) -> list[Path]:
    """Write every file of the report for a ReplayResult; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    summary = result.as_dict()
    check = result.alert_check
    rows = alert_rows(check, result.alerts)
    paths = [write_summary(directory, summary), write_mismatches(directory, result.mismatches),
             write_alerts(directory, check, result.alerts)]
    origin = result.origin if result.origin is not None else result.t0  # the one time base (alerts.time_origin)
    plots = write_plots(directory, result.series, origin, check.expected, check.raised, xlabel=result.time_base)
    paths += plots
    paths.append(write_html(directory, summary, plots, rows, [m.as_dict() for m in result.mismatches],
                            result.lines()))
    return paths
