"""`--report DIR`: summary.json under stable names, mismatches.jsonl, alerts.jsonl, the six
PNG plots with alerts marked, and one index.html that opens without a server."""

from __future__ import annotations

import json
import struct
from html.parser import HTMLParser

import pytest

from host_tools.dbc import load_dbc
from host_tools.link import messages as m
from host_tools.logfile import read_frames
from host_tools.replay import Replay
from host_tools.replay import loopback as lb
from host_tools.report import PLOTS, SeriesCollector, write_report
from host_tools.report.plots import write_plots
from host_tools.simulate import simulate
from mule_testing import PROJECT_DBC

STABLE = ("frames_sent", "frames_decoded", "frames_verified", "mismatches", "frames_lost", "link_errors",
          "alerts_expected", "alerts_raised", "alerts_matched")


@pytest.fixture(scope="module")
def report(tmp_path_factory, dbc):
    """A cold-soak drive (the sidecar expects cell_spread from ~7 s) replayed to a board that
    raises cell_spread on time and reads tongue load one kilogram high."""
    folder = tmp_path_factory.mktemp("report")
    log = folder / "cold_soak.log"
    truth = simulate("cold_soak", log, duration_s=10, seed=1, dbc=dbc).truth
    spread = next(a for a in truth["expected_alerts"] if a["kind"] == "cell_spread")
    frames = [f for f in read_frames(log) if f.kind == "data"]
    at = next(i for i, f in enumerate(frames) if round(f.t - truth["log"]["epoch"], 6) >= spread["start"])
    mi = next(i for i, msg in enumerate(dbc.messages) if msg.name == "BmsCellStats")
    si = next(i for i, s in enumerate(dbc.messages[mi].signals) if s.name == spread["signal"])
    first = []  # the wire number of the replay's frame 0

    def alerts(frame_no, record):  # cell_spread (code 10) with the frame the sidecar names
        first[:] = first or [frame_no]
        return [m.Alert(frame_no, 10, 2, mi, si, 130, "cell_spread")] if frame_no - first[0] == at else []

    honest = lb.lanes_of

    def off_by_one(signal, raw):
        lanes = honest(signal, raw)
        return m.Signal(0, lanes.v0 + 1, lanes.v1) if signal.name == "tongue_load_kg" else lanes

    patch = pytest.MonkeyPatch()
    patch.setattr(lb, "lanes_of", off_by_one)
    try:
        collector = SeriesCollector(dbc)
        result = Replay(log, dbc, lb.LoopbackBoard(dbc, alerts=alerts).link, port="loopback", speed=None,
                        settle_s=0.5, on_decoded=collector.add).run()
    finally:
        patch.undo()
    result.series = collector.series
    out = folder / "out"
    paths = write_report(out, result)
    return out, paths, result


def test_summary_json_carries_the_figures_under_stable_names(report):
    out, _, result = report
    summary = json.loads((out / "summary.json").read_text())
    assert all(isinstance(summary[name], int) for name in STABLE)
    assert summary["frames_sent"] == result.tally.sent > 1000
    assert summary["mismatches"] == 500 and summary["frames_verified"] == summary["frames_sent"] - 500
    assert (summary["alerts_expected"], summary["alerts_raised"], summary["alerts_matched"]) == (1, 1, 1)
    assert summary["ok"] is False
    assert summary["latency"]["p99_ms"] >= summary["latency"]["p50_ms"]


def test_mismatches_jsonl_names_frame_signal_expected_and_got(report):
    out, _, result = report
    lines = [json.loads(line) for line in (out / "mismatches.jsonl").read_text().splitlines()]
    assert len(lines) == 500 == len(result.mismatches)
    first = lines[0]
    assert set(first) >= {"frame", "signal", "expected", "got", "where", "message"}
    assert first["signal"] == "tongue_load_kg" and first["got"] == first["expected"] + 1
    assert first["where"].split(":")[-1].isdigit()  # file:line of the frame in the log


def test_alerts_jsonl_has_what_the_board_raised_and_what_was_expected(report):
    out, _, _ = report
    rows = [json.loads(line) for line in (out / "alerts.jsonl").read_text().splitlines()]
    board = [r for r in rows if r["source"] == "board"]
    expected = [r for r in rows if r["source"] == "sidecar"]
    assert [(r["kind"], r["message"], r["cleared"]) for r in board] == [("cell_spread", "BmsCellStats", False)]
    assert [r["kind"] for r in expected] == ["cell_spread"] and expected[0]["matched"] is True
    assert expected[0]["board"]["start"] == pytest.approx(expected[0]["start"], abs=0.1)


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_six_plots_are_pngs_with_data_and_alerts_marked(report, tmp_path):
    out, paths, result = report
    names = [p.name for p in paths if p.suffix == ".png"]
    assert names == [f"{p.name}.png" for p in PLOTS]
    for name in names:
        width, height = png_size(out / name)
        assert (width, height) == (1000, 320)
        assert (out / name).stat().st_size > 8000  # a curve, not an empty frame
    # the alert is drawn: the same plot without it differs
    plain = write_plots(tmp_path, result.series, result.t0, [], [])
    assert (tmp_path / "cell_spread.png").read_bytes() != (out / "cell_spread.png").read_bytes()
    assert len(plain) == 6


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.links, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "a":
            self.links.append(attrs["href"])

    def handle_data(self, data):
        self.text.append(data)


def test_index_html_puts_it_together_and_needs_no_server(report):
    out, _, result = report
    page = _Page()
    page.feed((out / "index.html").read_text(encoding="utf-8"))
    assert len(page.images) == 6 and all(src.startswith("data:image/png;base64,") for src in page.images)
    assert set(page.links) == {"summary.json", "mismatches.jsonl", "alerts.jsonl"}  # beside it, relative
    text = " ".join(page.text)
    assert "not everything verified" in text
    for heading in ("Summary", "Plots", "Alerts", "Mismatches (500 frames)", "The log"):
        assert heading in text
    assert "tongue_load_kg" in text and "cell_spread" in text
    assert f"{result.tally.sent:,}" in text
    assert "http://" not in (out / "index.html").read_text() and "https://" not in (out / "index.html").read_text()


def test_a_dbc_without_the_plotted_messages_still_gets_its_plots(tmp_path):
    other = load_dbc(PROJECT_DBC.parent.parent / "tests" / "files" / "dbc" / "signed.dbc")
    collector = SeriesCollector(other)
    collector.add(0, 1.0, {})
    paths = write_plots(tmp_path, collector.series, None, [], [])  # nothing verified: one plot says so
    first = other.messages[0]
    assert [p.name for p in paths] == [f"{first.name}.{first.signals[0].name}.png"]
    assert png_size(paths[0]) == (1000, 320)
