"""`mule monitor`: the dashboard rendered to text (hitch and battery panels, alerts, link
and board counters, cycle times against the DBC), a board that resets or is unplugged
while watched, and the recording read back by `mule decode` and `mule replay`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from host_tools.decode import DecodeSummary, decoded_records, write_records
from host_tools.engines.cantools_engine import decode_one
from host_tools.link import messages as m
from host_tools.logfile import read_frames
from host_tools.monitor import Dashboard, Recorder, run_monitor
from host_tools.replay import Replay
from host_tools.replay.loopback import LoopbackBoard
from host_tools.simulate import simulate


@pytest.fixture(scope="module")
def drive(tmp_path_factory, dbc):
    """6 s of towing on a busy bus, with the hitch sensor failing at 3-4 s."""
    path = tmp_path_factory.mktemp("logs") / "tow.log"
    simulate("sensor_fault", path, duration_s=6, seed=3, bus_load_pct=15, dbc=dbc,
             faults=["dropout:BmsTempStats@2+4"])
    return [f for f in read_frames(path) if f.kind == "data"]


class Bus:
    """Plays the drive onto a live loopback board in 10 ms steps of a fake clock; as the
    monitor's stop() it says when the drive is over."""

    def __init__(self, board, frames, events=None):
        self.board, self.frames, self.events = board, frames, dict(events or {})
        self.t = 0.0
        self.at = 0
        self.t0 = frames[0].t

    def clock(self) -> float:
        return self.t

    def stop(self) -> bool:
        self.t += 0.01
        for when in [w for w in self.events if w <= self.t]:
            self.events.pop(when)(self.board)
        start = self.at
        while self.at < len(self.frames) and self.frames[self.at].t - self.t0 < self.t:
            self.at += 1
        if self.board.plugged:
            self.board.bus(self.frames[start:self.at])
        return self.at >= len(self.frames) and self.t > 6.5


def watch(dbc, frames, events=None, recorder=None, connect=None):
    board = LoopbackBoard(dbc, mode=m.MODE_LIVE, stats_every=0.0)
    bus = Bus(board, frames, events)
    dash = Dashboard(dbc, "loopback", clock=bus.clock)
    run_monitor(connect or board.link, dbc, dash, recorder=recorder, stop=bus.stop, reconnect_s=5)
    return board, dash


def last(frames, dbc, message):
    frame = next(f for f in reversed(frames) if (msg := dbc.lookup(f.can_id, f.ext)) and msg.name == message)
    return decode_one(dbc, frame.can_id, frame.ext, bytes(frame.data)).phys


def test_the_dashboard_shows_the_latest_values_and_cycle_times(dbc, drive):
    board, dash = watch(dbc, drive)
    text = dash.text()
    hitch, pack = last(drive, dbc, "HitchLoad"), last(drive, dbc, "BmsPackStatus")
    assert f"{hitch['tongue_load_kg']:.0f} kg" in text
    assert f"{hitch['drawbar_force_n']:,.0f} N" in text
    assert f"{pack['soc_pct']:.1f} %" in text and f"{pack['pack_voltage_v']:.1f} V" in text
    assert "CONNECTED" in text and "DRIVE" in text  # value tables, not numbers
    assert "mode live (CAN bus)" in text and "loopback 0.1" in text
    for mi, message in enumerate(dbc.messages):
        measured = dash.cycle_ms(mi)
        if message.name == "BmsTempStats":
            continue  # dropped out at 2 s: see below
        assert measured == pytest.approx(message.cycle_time, rel=0.03), message.name
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ ") and "│" in line[2:]}
    assert "silent" in rows["BmsTempStats"]  # nothing since 2 s
    assert "ok" in rows["HitchLoad"] and "ok" in rows["BmsCellVoltages"]  # per group: 32 × 31.25 ms
    assert dash.records == len(drive) and dash.telemetry_gaps == 0
    assert f"{dash.undecoded['unknown_id']:,}" in text


def test_alerts_resets_and_missed_records_are_shown(dbc, drive):
    def alert(board):
        board._emit(m.Alert(board.live_no, 13, 2, len(dbc.messages) - 1, 1, 3, "sensor_fault"))

    def reset(board):
        board.reset()

    def lose_some(board):  # garbage on the way back for a moment
        board.mangle = lambda frame: frame[:-3] + b"\x55\x55\x55" if len(frame) > 60 else frame

    def heal(board):
        board.mangle = None

    board, dash = watch(dbc, drive, {3.0: alert, 4.0: lose_some, 4.3: heal, 5.0: reset})
    text = dash.text()
    assert "Alerts (1)" in text and "RAISED  sensor_fault HitchLoad.hitch_sensor_status" in text
    assert "board reset (boot" in text and len(dash.boots) == 2
    assert "resets" in text and dash.telemetry_gaps > 0
    assert dash.host_link["crc_errors"] + dash.host_link["bad_frames"] > 0


def test_an_unplugged_board_is_waited_for(dbc, drive):
    attempts = []

    def unplug(board):
        board.unplug()

    def connect():
        attempts.append(1)
        if len(attempts) == 3:
            board_ref[0].replug()
        return board_ref[0].link()

    board_ref = []
    board = LoopbackBoard(dbc, mode=m.MODE_LIVE, stats_every=0.0)
    board_ref.append(board)
    bus = Bus(board, drive, {2.0: unplug})
    dash = Dashboard(dbc, "loopback", clock=bus.clock)
    run_monitor(connect, dbc, dash, stop=bus.stop, reconnect_s=5)
    text = dash.text()
    assert "port lost" in text and "port back" in text
    assert len(dash.boots) == 2 and dash.records > 0


def test_the_recording_reads_back_in_decode_and_replay(dbc, drive, tmp_path):
    path = tmp_path / "session.log"
    recorder = Recorder(path, dbc)
    board, dash = watch(dbc, drive, recorder=recorder)
    recorder.close()
    recorded = [f for f in read_frames(path) if f.kind == "data"]
    originals = [f for f in drive if dbc.lookup(f.can_id, f.ext)]
    assert len(recorded) == recorder.frames == len(originals)
    assert recorder.not_recorded["unknown_id"] == len(drive) - len(originals)
    for got, want in zip(recorded, originals):
        assert (got.can_id, got.ext) == (want.can_id, want.ext)
        # the simulator leaves reserved bits 0, so the rebuilt payload is the original
        assert got.data == bytes(want.data)
    out = io.StringIO()
    write_records(decoded_records(path, dbc, "cantools", summary=DecodeSummary("cantools")), out, "jsonl")
    first = json.loads(out.getvalue().splitlines()[0])
    assert first["msg"] == dbc.lookup(originals[0].can_id, originals[0].ext).name
    result = Replay(path, dbc, LoopbackBoard(dbc).link, speed=None, settle_s=0.5).run()
    assert result.ok and result.tally.verified == len(originals)


def test_the_recorder_wants_a_format_the_readers_know(dbc, tmp_path):
    with pytest.raises(ValueError, match="record to one of"):
        Recorder(Path(tmp_path / "session.mf4"), dbc)


def test_a_fresh_dashboard_says_it_waits(dbc):
    text = Dashboard(dbc, "/dev/ttyACM0", clock=lambda: 0.0).text()
    assert "waiting for the board" in text and "not seen" in text and "none" in text


def test_the_boards_towing_range_estimate_is_shown(dbc):
    dash = Dashboard(dbc, "/dev/ttyACM0", clock=lambda: 0.0)
    dash.on_message(m.TowRange(frame_no=10, range_dkm=-1, wh_per_km=-1, window_m=50))
    rows = [line for line in dash.text().splitlines() if "range left" in line or "consumption" in line]
    assert len(rows) == 2 and not any(ch.isdigit() for row in rows for ch in row)  # not known yet
    dash.on_message(m.TowRange(frame_no=900, range_dkm=1234, wh_per_km=655, window_m=1600))
    text = dash.text()
    assert "123.4 km" in text and "655 Wh/km" in text
