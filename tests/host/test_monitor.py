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
from host_tools.dbc import load_dbc
from mule_testing import FILES


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


# ---- telemetry "changed": a live board's own bytes ------------------------------------
# made by tests/files/monitor/make_changed_session.py: drive.log played three times onto a
# live virtual board's bus, the board reset between plays: telemetry changed, all, changed
SESSION = Path(__file__).parents[1] / "files" / "monitor"
PLAYS = 3


@pytest.fixture(scope="module")
def bus_frames():
    return list(read_frames(SESSION / "drive.log"))


def board_messages(dbc, wire: bytes) -> list:
    """The messages `mule monitor` reads from these bytes (as BoardLink.poll decodes them)."""
    wide = m.wide_signals(dbc)
    return [m.decode_frame(frame, wide) for frame in m.host_receiver().feed(wire)]


def boot_starts_of(messages):
    """Where each boot's first HELLO is (a boot says HELLO again to a SYNC)."""
    boots = []
    for k, msg in enumerate(messages):
        if isinstance(msg, m.Hello) and msg.boot_id not in boots:
            boots.append(msg.boot_id)
            yield k


def watch_wire(dbc, messages, recorder=None):
    """What run_monitor does with each message: the dashboard, then the recorder. Returns
    the dashboard and, per frame recorded, its boot (1, 2, 3), frame_no and the signals sent."""
    dash = Dashboard(dbc, "wire", clock=lambda: 0.0)
    recorded = []

    def take(frames):
        for frame in frames:
            before = recorder.frames
            recorder.take(frame, 0.0)
            if recorder.frames > before:
                recorded.append((len(dash.boots), frame.frame_no, set(frame.sent)))

    for message in messages:
        frames = dash.on_message(message, 0.0)
        if recorder is not None:
            take(frames)
    if recorder is not None:
        take(dash.finish())
    return dash, recorded


def test_a_changed_board_session_holds_every_value_between_partial_records(dbc, bus_frames):
    messages = board_messages(dbc, (SESSION / "changed_session.wire").read_bytes())
    hellos = list(boot_starts_of(messages))
    assert len(hellos) == PLAYS and messages[hellos[0]].caps & m.CAP_TELEMETRY_CHANGED
    first_boot = messages[:hellos[1]]
    dash, _ = watch_wire(dbc, first_boot)
    text = dash.text(width=160)
    hitch, pack = last(bus_frames, dbc, "HitchLoad"), last(bus_frames, dbc, "BmsPackStatus")
    cells = last(bus_frames, dbc, "BmsCellStats")
    assert f"{hitch['tongue_load_kg']:.0f} kg" in text and f"{hitch['drawbar_force_n']:,.0f} N" in text
    assert f"{pack['soc_pct']:.1f} %" in text and f"{pack['pack_voltage_v']:.1f} V" in text
    assert f"{cells['cell_v_min_mv']:.0f} / {cells['cell_v_max_mv']:.0f} mV" in text
    assert "CONNECTED" in text and "DRIVE" in text and "telemetry changed" in text
    panels = text.split("Cycle times")[0]
    assert "–" not in panels.split("range left")[0], text  # every value held, none blank
    # each value shown is the bus's: the raw value of its message's last frame
    for message in ("HitchLoad", "BmsPackStatus", "BmsTempStats", "VcuVehicleStatus"):
        want = last(bus_frames, dbc, message)
        msg = dbc.database.get_message_by_name(message)
        for name, value in want.items():
            if msg.get_signal_by_name(name) not in e2e_signals(msg):
                assert dash.latest[message][name] == pytest.approx(value), (message, name)


def e2e_signals(message) -> list:
    """The E2E counter and CRC: the board sends them only when refreshed (their held value is stale)."""
    from host_tools.e2e import protection

    guard = protection(message)
    return [message.get_signal_by_name(n) for n in ((guard.counter, guard.crc) if guard else ())]


def test_every_frame_of_a_changed_board_is_accounted_for_and_a_run_is_no_gap(dbc, bus_frames, tmp_path):
    messages = board_messages(dbc, (SESSION / "changed_session.wire").read_bytes())
    runs = sum(1 for msg in messages if isinstance(msg, m.Telemetry)
               for r in msg.records if r.result == m.SUPPRESSED)
    assert runs > 50  # the board's run records, expanded one record per frame
    recorder = Recorder(tmp_path / "changed.log", dbc)
    dash, _ = watch_wire(dbc, messages, recorder)
    recorder.close()
    frames = PLAYS * len(bus_frames)
    assert dash.records == frames and dash.telemetry_gaps == 0  # frames in a run are not missed
    assert dash.unchanged == recorder.not_recorded["unchanged"] == runs
    assert recorder.frames + sum(recorder.not_recorded.values()) == frames, recorder.not_recorded
    assert recorder.not_recorded["not_sent"] > 0 and recorder.not_recorded["encode_failed"] == 0
    text = dash.text(width=160)
    assert f"unchanged (not sent)  {runs:>6,}".split() == [w for w in text.split("│") if "unchanged" in w][0].split()
    summary = recorder.summary()
    assert f"not recorded: unchanged {runs:,} (telemetry changed" in summary and "not_sent" in summary


def test_the_recording_of_a_changed_board_holds_only_frames_rebuilt_bit_for_bit(dbc, bus_frames, tmp_path):
    messages = board_messages(dbc, (SESSION / "changed_session.wire").read_bytes())
    path = tmp_path / "changed.log"
    recorder = Recorder(path, dbc)
    dash, recorded = watch_wire(dbc, messages, recorder)
    recorder.close()
    got = [f for f in read_frames(path) if f.kind == "data"]
    assert len(got) == len(recorded) == recorder.frames
    held = 0
    for frame, (boot, no, sent) in zip(got, recorded):
        want = bus_frames[no - 1]  # after each reset the board numbers its frames 1, 2, 3 …
        assert (frame.can_id, frame.ext, frame.data) == (want.can_id, want.ext, bytes(want.data)), (boot, no)
        held += bool(set(decode_one(dbc, want.can_id, want.ext, bytes(want.data)).raw) - sent)
    per_boot = [sum(1 for boot, _, _ in recorded if boot == k) for k in (1, 2, 3)]
    assert per_boot[1] == len(bus_frames)  # telemetry all: every frame
    # with "changed": the frames whose record carried every value, and those whose values
    # not sent are held exactly (deadband 0); frames with an E2E counter or CRC not sent are not
    assert per_boot[0] > 10 and per_boot[2] > 10 and held > 10, (per_boot, held)


def test_a_lost_record_makes_the_held_values_unknown_until_sent_again(dbc, bus_frames, tmp_path):
    """A record lost on the way may have carried a new value: until the board sends each
    signal again (at the latest refresh_ms later), the frames that need it are not recorded."""
    wire = (SESSION / "changed_session.wire").read_bytes()
    messages = board_messages(dbc, wire)
    hellos = list(boot_starts_of(messages))
    telemetry = [k for k in range(hellos[0], hellos[1]) if isinstance(messages[k], m.Telemetry)]
    # the link frames with frames 80-82's records lost: one carried a BmsPackStatus value that
    # frame 95's record (its E2E counter and CRC refreshed) leaves out as unchanged since
    lost = [k for k in telemetry if any(80 <= r.frame_no <= 82 for r in messages[k].records)]
    path = tmp_path / "gap.log"
    recorder = Recorder(path, dbc)
    dash, recorded = watch_wire(dbc, [msg for k, msg in enumerate(messages) if k not in lost], recorder)
    recorder.close()
    missed = sum(len(messages[k].records) for k in lost)
    assert dash.telemetry_gaps == missed > 0
    assert recorder.frames + sum(recorder.not_recorded.values()) == PLAYS * len(bus_frames) - missed
    got = [f for f in read_frames(path) if f.kind == "data"]
    assert len(got) == len(recorded) > 0
    for frame, (boot, no, _) in zip(got, recorded):
        want = bus_frames[no - 1]
        assert (frame.can_id, frame.data) == (want.can_id, bytes(want.data)), (boot, no)


def test_a_board_that_switches_telemetry_mode_across_a_reset_is_followed(dbc, bus_frames):
    messages = board_messages(dbc, (SESSION / "changed_session.wire").read_bytes())
    hellos = list(boot_starts_of(messages))
    dash, _ = watch_wire(dbc, messages[:hellos[2]])
    text = dash.text(width=160)
    assert not dash.changed and "telemetry changed" not in text.splitlines()[0]
    assert "Cycle times: measured vs DBC" in text and "telemetry all)" in text  # the note of the reset
    dash, _ = watch_wire(dbc, messages)
    text = dash.text(width=160)
    assert dash.changed and "telemetry changed" in text.splitlines()[0] and len(dash.boots) == PLAYS
    assert "Values sent (no cycle times)" in text and "silent" not in text and " off " not in text


def test_a_value_within_its_deadband_is_held_on_the_dashboard_and_never_recorded(tmp_path):
    """tests/files/dbc/telemetry/mule_deadband.dbc: HitchRaw's tongue load has a deadband of
    2 raw steps and an E2E counter and CRC; HitchWide's two signals are exact (deadband 0).
    The records are the board's rule's (telemetry_changed.BoardRule), through the wire body."""
    from host_tools.replay.loopback import lanes_of
    from host_tools.telemetry_changed import BoardRule, deadbands

    dbc = load_dbc(FILES / "dbc" / "telemetry" / "mule_deadband.dbc")
    raw_msg, wide_msg = dbc.messages
    frames = [  # (message index, raw values, board time in ms)
        (0, {"tongue_load_kg": 800, "hitch_angle_deg": -20, "trailer_brake_pct": 10, "hitch_counter": 1, "hitch_crc": 7}, 0),
        (1, {"odometer_m": 123456, "strain_raw": -5}, 1),
        (0, {"tongue_load_kg": 801, "hitch_angle_deg": -20, "trailer_brake_pct": 11, "hitch_counter": 2, "hitch_crc": 9}, 10),
        (1, {"odometer_m": 123457, "strain_raw": -5}, 11),  # strain held exactly: recorded
        (1, {"odometer_m": 123457, "strain_raw": -5}, 21),  # nothing moved: a run
        (0, {"tongue_load_kg": 803, "hitch_angle_deg": -20, "trailer_brake_pct": 11, "hitch_counter": 3, "hitch_crc": 4}, 30),
        # the counter, CRC and angle refreshed, the brake held exactly, the tongue load (804:
        # within 2 steps of 803) held: this frame cannot be rebuilt
        (0, {"tongue_load_kg": 804, "hitch_angle_deg": -20, "trailer_brake_pct": 11, "hitch_counter": 4, "hitch_crc": 2}, 100),
        # every value sent 100 ms ago or more: all sent again
        (0, {"tongue_load_kg": 804, "hitch_angle_deg": -20, "trailer_brake_pct": 11, "hitch_counter": 5, "hitch_crc": 6}, 200),
    ]
    rule = BoardRule(dbc, deadbands(dbc), refresh_ms=100)
    records = []
    for no, (mi, raw, t_ms) in enumerate(frames, start=1):
        signals = dbc.messages[mi].signals
        sent = rule.carried(mi, t_ms * 1000, raw)
        lanes = tuple(lanes_of(s, raw[s.name])._replace(si=si) for si, s in enumerate(signals) if s.name in sent)
        records.append(m.TelemetryRecord(no, mi, lanes) if lanes else m.TelemetryRecord(no, m.SUPPRESSED))
    body = m.Telemetry(tuple(records), runs=True).encode()
    hello = m.Hello(boot_id=7, mode=m.MODE_LIVE, caps=m.CAP_TELEMETRY_CHANGED, rx_window=1024,
                    dbc_sha256=bytes.fromhex(dbc.sha256), fw_version="t", board="t")
    path = tmp_path / "deadband.log"
    recorder = Recorder(path, dbc)
    dash, recorded = watch_wire(dbc, [hello, m.Telemetry.decode(body, m.wide_signals(dbc))], recorder)
    recorder.close()
    # frame 3: the brake sent, the tongue load (801: within 2 steps of 800) and the E2E
    # counter and CRC not, so not recorded; nor frame 6 (803 sent, counter and CRC not)
    assert [no for _, no, _ in recorded] == [1, 2, 4, 8]
    assert recorder.not_recorded["not_sent"] == 3 and recorder.not_recorded["unchanged"] == dash.unchanged == 1
    got = [bytes(f.data) for f in read_frames(path) if f.kind == "data"]
    assert got == [dbc.messages[frames[no - 1][0]].encode(frames[no - 1][1], scaling=False, padding=False)
                   for no in (1, 2, 4, 8)]
    assert dash.raw["HitchRaw"]["tongue_load_kg"] == 804
    assert dash.raw["HitchRaw"]["trailer_brake_pct"] == 11 and dash.raw["HitchWide"]["strain_raw"] == -5
