"""One time base for alerts: an alert shows the same start in the sidecar, in the report's
sidecar row, in its board row and in the board's own ALERT row, and the report says which
base that is (alerts.time_origin: the sidecar's epoch beside a simulated log)."""

from __future__ import annotations

import json

import pytest

from host_tools import report
from host_tools.replay import Replay
from host_tools.report import write_report
from host_tools.simulate import simulate
from mule_testing import supervising_board


@pytest.mark.parametrize("suffix", [".log", ".asc"])
def test_an_alert_has_one_start_time_across_sidecar_report_and_board(dbc, tmp_path, suffix, monkeypatch):
    log = tmp_path / f"cold_soak{suffix}"
    truth = simulate("cold_soak", log, duration_s=4, seed=1, dbc=dbc, faults=["dropout:BmsTempStats@1+1"]).truth
    (timeout,) = [a for a in truth["expected_alerts"] if a["kind"] == "timeout"]
    result = Replay(log, dbc, supervising_board(dbc, log).link, port="loopback", speed=None, settle_s=0.3).run()
    assert result.alert_check.status == "passed", result.lines()
    # the replay's first frame is not at the sidecar's epoch: one base would hide a shift
    assert 0.001 < result.t0 - result.origin < 0.1
    out = tmp_path / "report"
    drawn = []  # the plots on that clock too (test_report.py draws them; rendering six PNGs costs seconds)
    monkeypatch.setattr(report, "write_plots",
                        lambda directory, series, t0, expected, raised, **kw: drawn.append((t0, kw["xlabel"])) or [])
    write_report(out, result)
    assert drawn == [(result.origin, result.time_base)]
    rows = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    (sidecar_row,) = [r for r in rows if r["source"] == "sidecar" and r["kind"] == "timeout"]
    (board_row,) = [r for r in rows if r["source"] == "board" and r["kind"] == "timeout" and not r["cleared"]]
    start = timeout["start"]
    assert sidecar_row["start"] == start and sidecar_row["end"] == timeout["end"]
    assert sidecar_row["board"]["start"] == start and sidecar_row["board"]["end"] == timeout["end"]
    assert board_row["start"] == start  # the deadline the board named
    assert start < board_row["t"] < start + 0.1  # the frame that revealed it, on the same clock
    summary = json.loads((out / "summary.json").read_text())
    assert summary["time_base"].startswith("seconds after the log's start (the epoch of its `mule simulate` sidecar")
    assert f"Times (board, sidecar and reference rows, plots, gaps): {summary['time_base']}" in \
        (out / "index.html").read_text().replace("&#x27;", "'").replace("&quot;", '"')


def test_without_a_sidecar_times_count_from_the_first_frame(dbc, tmp_path):
    log = tmp_path / "cold_soak.log"
    simulate("cold_soak", log, duration_s=4, seed=1, dbc=dbc, faults=["dropout:BmsTempStats@1+1"])
    log.with_name(log.name + ".truth.json").unlink()
    result = Replay(log, dbc, supervising_board(dbc, log).link, port="loopback", speed=None, settle_s=0.3).run()
    assert result.origin == result.t0 and result.time_base == "seconds after the first frame replayed"
    (raised,) = [a for a in result.alert_check.raised if a["kind"] == "timeout"]
    assert raised == result.alert_check.reference[0]
