"""The board's ALERTs against the simulator's sidecar: matched by kind, message, signal
and time; "not available" (not a failure) for a board that neither advertises supervision
nor sends an ALERT. Alerts are read with the supervision stage's code table, as production
reads them."""

from __future__ import annotations

import pytest

from host_tools.board_alerts import describe
from host_tools.link import messages as m
from host_tools.logfile import read_frames
from host_tools.replay import Replay
from host_tools.replay import alerts as alerting
from host_tools.replay.loopback import LoopbackBoard
from host_tools.simulate import simulate
from host_tools.supervision.firmware import KINDS


@pytest.fixture(scope="module")
def overload(tmp_path_factory, dbc):
    """hitch_overload for 70 s: the sidecar expects tongue_overload from ~63 s to the end."""
    path = tmp_path_factory.mktemp("logs") / "hitch_overload.log"
    result = simulate("hitch_overload", path, duration_s=70, seed=2, dbc=dbc)
    assert [a["kind"] for a in result.truth["expected_alerts"]] == ["tongue_overload"]
    return path, result.truth


def interval(kind="tongue_overload", start=10.0, end=None, message="HitchLoad", signal="tongue_load_kg"):
    return {"kind": kind, "message": message, "signal": signal, "start": start, "end": end}


def test_match_pairs_by_kind_message_signal_and_time_to_the_microsecond():
    expected = [interval(start=10.0), interval("cell_spread", 20.0, 25.0, "BmsCellStats", "cell_v_max_mv")]
    raised = [interval("cell_spread", 20.000_001, 25.000_002, "BmsCellStats", "cell_v_max_mv"),
              interval(start=10.000_002)]
    pairs, extra = alerting.match(expected, raised)
    assert sorted(pairs) == [(0, 1), (1, 0)] and extra == []
    # a frame later is another alert: board and sidecar agree to the frame, and frames are
    # at least 0.1 ms apart on a bus
    assert alerting.match([interval(start=10.0)], [interval(start=10.000_003)])[0] == []
    assert alerting.match([interval(start=10.0)], [interval(start=9.999_997)])[0] == []
    assert alerting.match([interval()], [interval(end=12.0)])[0] == []  # cleared, but should hold
    assert alerting.match([interval()], [interval(signal="drawbar_force_n")])[0] == []
    assert alerting.match([interval()], [interval(kind="sensor_fault")])[1] == [0]


def test_sidecar_times_move_to_the_replays_clock_and_bus_off_is_left_out():
    truth = {"log": {"format": "log", "epoch": 1_700_000_000.0},
             "expected_alerts": [dict(interval(start=30.0, end=31.0), cause=[]),
                                 {"kind": "bus_off", "message": None, "signal": None, "start": 5.0, "end": 6.0}]}
    got = alerting.expected_intervals(truth, origin=1_700_000_000.5)
    assert got == [interval(start=29.5, end=30.5)]
    truth["log"]["format"] = "asc"  # ASC times already count from the start of measurement
    assert alerting.expected_intervals(truth, origin=0.5)[0]["start"] == pytest.approx(29.5)


def test_a_board_without_supervision_is_not_available_not_failed(overload, dbc):
    log, truth = overload
    result = Replay(log, dbc, LoopbackBoard(dbc).link, speed=None, settle_s=0.5).run()
    d = result.as_dict()
    assert d["alerts_expected"] == 1 and d["alerts_raised"] == 0 and d["alerts_matched"] == 0
    assert d["alert_check"]["status"] == "not available"
    assert "does not advertise supervision" in d["alert_check"]["reason"]
    assert result.ok


def test_a_board_that_advertises_supervision_but_raises_nothing_fails(overload, dbc, monkeypatch):
    log, _ = overload
    monkeypatch.setattr(m, "CAP_SUPERVISION", 1 << 4, raising=False)
    board = LoopbackBoard(dbc)
    original = board._hello

    def hello_with_supervision():
        original()
        board._out.clear()  # re-announce with the bit set
        sha = bytes.fromhex(dbc.sha256)
        board._emit(m.Hello(board.boot_id, m.MODE_REPLAY, m.CAP_REPLAY | 1 << 4, board.rx_window, sha, "fw", "b"))
        board._emit(m.Credit(board.rx_window))

    board._hello = hello_with_supervision
    board.boot()
    result = Replay(log, dbc, board.link, speed=None, settle_s=0.5).run()
    check = result.alert_check
    assert check.status == "failed" and check.counts_for_exit
    assert "1 of 1 expected alerts not raised" in check.reason
    assert not result.ok


def board_raising(dbc, log, kind: str, at_s: float) -> LoopbackBoard:
    """A loopback board that raises one ALERT of `kind` with the frame the simulator's clock
    puts at `at_s` (the first data frame at or after it), as the board's supervision would."""
    frames = [f for f in read_frames(log) if f.kind == "data"]
    at = next(i for i, f in enumerate(frames) if round(f.t - 1_700_000_000.0, 6) >= at_s)
    mi = next(i for i, msg in enumerate(dbc.messages) if msg.name == "HitchLoad")
    si = next(i for i, s in enumerate(dbc.messages[mi].signals) if s.name == "tongue_load_kg")

    first = []  # the wire number of the replay's frame 0

    def alerts(frame_no, record):
        first[:] = first or [frame_no]
        return [m.Alert(frame_no, KINDS.index(kind) + 1, 2, mi, si, 630, kind)] if frame_no - first[0] == at else []

    return LoopbackBoard(dbc, alerts=alerts)


def test_an_alert_raised_when_the_sidecar_expects_it_matches(overload, dbc):
    log, truth = overload
    start = truth["expected_alerts"][0]["start"]
    result = Replay(log, dbc, board_raising(dbc, log, "tongue_overload", start).link, speed=None,
                    settle_s=0.5).run()
    d = result.as_dict()
    assert (d["alerts_expected"], d["alerts_raised"], d["alerts_matched"]) == (1, 1, 1)
    assert d["alert_check"]["status"] == "passed" and result.ok
    alert = result.alerts[0]
    assert (alert.kind, alert.message, alert.signal) == ("tongue_overload", "HitchLoad", "tongue_load_kg")
    assert alert.t == pytest.approx(start, abs=2e-6)  # the sidecar's own clock (alerts.time_origin)


def test_an_alert_the_sidecar_does_not_expect_fails_the_replay(overload, dbc):
    log, _ = overload
    result = Replay(log, dbc, board_raising(dbc, log, "tongue_overload", 20.0).link, speed=None, settle_s=0.5).run()
    check = result.alert_check
    assert check.status == "failed" and check.matched == 0
    assert "not raised" in check.reason and "does not expect" in check.reason
    assert not result.ok


def test_board_alerts_are_read_as_the_reference_reads_them(dbc):
    """A timeout starts where its value says (the board's µs), not at the frame that noticed
    it; an alert naming a message the DBC lacks is kept under that number, not dropped and
    not a crash (before, any reading the supervision stage could not make fell back to
    pairing raises and clears by their text, silently)."""
    hitch = next(i for i, msg in enumerate(dbc.messages) if msg.name == "HitchLoad")
    times = [0.0, 0.010, 0.020, 0.095, 0.100]

    def board(frame, code, mi, value):
        alert = m.Alert(frame, code, 2, mi, -1, value, KINDS[(code & 0xFF) - 1])
        return describe(alert, dbc, frame, times[frame])

    timeout = KINDS.index("timeout") + 1
    alerts = [board(3, timeout, hitch, 80_000), board(4, timeout | 0x100, hitch, 100_000),
              board(1, KINDS.index("crc") + 1, 99, 0)]
    assert alerting.board_intervals(alerts, dbc, times) == [
        {"kind": "crc", "message": "message 99", "signal": None, "start": 0.01, "end": None},
        {"kind": "timeout", "message": "HitchLoad", "signal": None, "start": 0.08, "end": 0.1}]


def test_a_failing_host_reference_fails_the_alert_check(overload, dbc, monkeypatch):
    """The board raised what the sidecar expects, but the host reference broke: the board's
    alerts went unchecked against it, so the replay is not clean (it was a note before)."""
    log, truth = overload

    def broken(dbc_, frames, *origin):
        raise RuntimeError("rule table does not load")

    monkeypatch.setattr(alerting, "reference_intervals", broken)
    start = truth["expected_alerts"][0]["start"]
    result = Replay(log, dbc, board_raising(dbc, log, "tongue_overload", start).link, speed=None,
                    settle_s=0.5).run()
    check = result.alert_check
    assert check.matched == 1  # the sidecar's alert was raised
    assert check.status == "failed" and check.counts_for_exit
    assert "the host reference failed: RuntimeError: rule table does not load" in check.reason
    assert not result.ok
