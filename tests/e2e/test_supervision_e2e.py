"""Supervision end to end on the virtual board: for simulator scenarios and faults, the
board raises exactly the alerts the sidecar expects, and the host's reference (the same
firmware/supervise.py in CPython, the same rule tables) agrees with it alert for alert."""

from __future__ import annotations

import pytest

from host_tools.flash import build_firmware
from host_tools.logfile import read_frames
from host_tools.replay import replay
from host_tools.board_alerts import events
from host_tools.simulate import simulate
from host_tools.supervision.intervals import expected, intervals, same_alerts
from host_tools.supervision.reference import check_frames, with_values
from host_tools.vboard import VirtualBoard

# (scenario, seconds, faults, settings): every fault kind the board can see, and every
# condition of the sidecar's rules, in a few seconds of traffic each
CASES = {
    "clean_city": ("city_drive", 8, [], []),
    "frame_faults": ("highway_tow", 10, ["dropout:HitchLoad@3+0.5", "bad_crc:BmsPackStatus@4",
                                         "stuck_counter:VcuVehicleStatus@5+0.2", "counter_jump:BmsCellStats@6",
                                         "out_of_range:tongue_load_kg@7+0.1", "dlc:BmsTempStats@8",
                                         "out_of_order@9"], []),
    "bus_off_and_mux_range": ("highway_tow", 8, ["bus_off@3+0.5", "out_of_range:cell_010_mv@4+1.2",
                                                 "dlc:HitchLoad=5@5+0.1", "stuck_counter:HitchLoad@6+0.1"], []),
    "ranges_and_dropouts": ("highway_tow", 9, ["out_of_range:soc_pct@4+0.5", "out_of_range:vehicle_speed_kph@5+1",
                                               "dropout:VcuEnvironment@2+5", "bad_crc:HitchLoad@7+0.1",
                                               "dropout:BmsCellVoltages@8+0.1"], []),
    "background_out_of_order": ("city_drive", 5, ["out_of_order@2", "out_of_order@3.5"], []),
    "overtemperature": ("highway_tow", 6, [], ["pack_temp_c=56"]),
    "soc_low_for_tow": ("highway_tow", 6, [], ["soc_pct=19"]),
    "tongue_overload": ("highway_tow", 6, [], ["trailer_mass_kg=5000"]),
    "sensor_fault": ("sensor_fault", 34, [], []),
    "cell_spread": ("cold_soak", 30, [], []),
    "plug_bounce": ("unhitch_rehitch", 203, [], []),
    "trailer_sway": ("trailer_sway", 13, [], ["sway_start_s=1"]),
    "pack_and_hitch_plausibility": ("city_drive", 10, ["value:BmsPackStatus.pack_voltage_v=300@3+2",
                                                       "value:HitchLoad.tongue_load_kg=1200@6+1"], []),
    "soc_vs_state": ("dc_fast_charge", 33, ["value:BmsPackStatus.soc_pct=100@30+2"], []),  # CHARGE_DC from 27 s
    "pack_current": ("highway_tow", 8, ["value:BmsPackStatus.pack_current_a=1400@3+1",
                                        "value:BmsPackStatus.pack_current_a=-1400@5+0.5"], []),
}


@pytest.fixture(scope="module")
def board(pyboard_sized_board):
    return pyboard_sized_board


@pytest.fixture(scope="module")
def runs(board, dbc, tmp_path_factory):
    """Every case simulated and replayed to the board as `mule replay` does it (each replay a
    new session: the board's supervisor starts afresh); the tests check the alerts themselves."""
    out = {}
    directory = tmp_path_factory.mktemp("supervision-logs")
    for name, (scenario, seconds, faults, settings) in CASES.items():
        log = directory / f"{name}.log"
        sim = simulate(scenario, log, duration_s=seconds, seed=1, faults=faults, settings=settings, dbc=dbc)
        frames = [f for f in read_frames(log) if f.kind == "data"]
        result = stream(board, dbc, log)
        epoch = sim.truth["log"]["epoch"]
        times = [round(f.t - epoch, 6) for f in frames]
        out[name] = (sim, frames, times, result)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_board_raises_exactly_the_expected_alerts(runs, dbc, case):
    sim, frames, times, result = runs[case]
    got = intervals(dbc, events(result.alerts), times, times[0])
    want = expected(sim.truth)
    assert same_alerts(got, want), f"board {got}\nsidecar {want}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_host_reference_agrees_with_the_board_alert_for_alert(runs, dbc, case):
    sim, frames, times, result = runs[case]
    board = [e.key() + (e.text,) for e in events(result.alerts)]
    host = [e.key() + (e.text,) for e in check_frames(dbc, frames)]
    assert sorted(board) == sorted(host)


def test_the_cases_cover_every_kind_the_board_checks(runs):
    kinds = {a["kind"] for sim, *_ in runs.values() for a in expected(sim.truth)}
    assert kinds >= {"timeout", "dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order",
                     "tongue_overload", "cell_spread", "overtemperature", "soc_low_for_tow", "sensor_fault",
                     "trailer_disconnected_moving", "trailer_sway", "pack_voltage_vs_cells", "hitch_status_vs_load",
                     "soc_vs_bms_state", "pack_current_beyond_limits"}
    assert expected(runs["clean_city"][0].truth) == []


def test_every_frame_still_has_its_telemetry(runs, dbc):
    sim, frames, times, result = runs["frame_faults"]
    assert result.tally.verified == result.tally.sent == len(frames) and result.mismatches == []


@pytest.mark.parametrize("case", ["frame_faults", "ranges_and_dropouts"])
def test_timeouts_are_raised_within_one_cycle_of_their_start(runs, dbc, case):
    sim, frames, times, result = runs[case]
    periods = {name: m["frame_period_ms"] / 1000 for name, m in sim.truth["messages"].items()}
    raised = {}
    for e in events(result.alerts):
        if e.kind == "timeout" and not e.cleared:
            raised.setdefault(dbc.messages[e.mi].name, times[e.frame_no])
    want = [a for a in expected(sim.truth) if a["kind"] == "timeout"]
    assert want
    for a in want:
        assert 0 <= raised[a["message"]] - a["start"] <= periods[a["message"]], a


def crafted(dbc, directory, message, values, start_s, end_s):
    """A clean highway_tow with `values` written into `message`'s frames from start_s to
    end_s (CRCs recomputed): faults of rules the simulator never breaks."""
    log = directory / f"crafted-{message}.log"
    simulate("highway_tow", log, duration_s=6, seed=2, dbc=dbc)
    frames = [f for f in read_frames(log) if f.kind == "data"]
    t0 = frames[0].t
    return [with_values(dbc, f, values) if start_s <= f.t - t0 < end_s and dbc.lookup(f.can_id, f.ext)
            and dbc.lookup(f.can_id, f.ext).name == message else f for f in frames]


def stream(board_, dbc, frames):
    """`mule replay` of a log or of frames in memory, as fast as credit allows; the alert
    checks are the tests' own."""
    return replay(frames, dbc, board_.port, board_stats=False, reference=False)


def test_drawbar_overload_on_the_board_matches_the_reference(board, dbc, tmp_path):
    frames = crafted(dbc, tmp_path, "HitchLoad", {"drawbar_force_n": -45_000.0}, 2.0, 3.0)
    events_ = events(stream(board, dbc, frames).alerts)
    assert [(e.kind, e.cleared) for e in events_] == [("drawbar_overload", False), ("drawbar_overload", True)]
    assert [e.key() for e in events_] == [e.key() for e in check_frames(dbc, frames)]


def test_pack_current_beyond_limits_can_be_turned_off_on_the_board(dbc, tmp_path):
    config = {"rules": [{"kind": "pack_current_beyond_limits", "enabled": False}]}
    build_firmware(dbc, tmp_path / "fw", "x64", {"mode": "replay", "supervision": config})
    frames = crafted(dbc, tmp_path, "BmsPackStatus", {"pack_current_a": 1400.0}, 2.0, 3.0)
    with VirtualBoard(tmp_path / "fw", heap="100K") as vb:
        assert events(stream(vb, dbc, frames).alerts) == [] == check_frames(dbc, frames, config)


def swaying(dbc, frames, start_s, grow_s, hold_s, fade_s, hz=0.9, amplitude=5.0):
    """HitchLoad's hitch angle replaced by an oscillation that grows, holds and fades."""
    import math

    t0 = frames[0].t
    out = []
    for f in frames:
        t = f.t - t0 - start_s
        if 0 <= t < grow_s + hold_s + fade_s and dbc.lookup(f.can_id, f.ext).name == "HitchLoad":
            a = amplitude * min(1.0, t / grow_s, (grow_s + hold_s + fade_s - t) / fade_s)
            f = with_values(dbc, f, {"hitch_angle_deg": round(a * math.sin(2 * math.pi * hz * t), 1)})
        out.append(f)
    return out


def test_sway_and_plausibility_on_the_board_match_the_reference(board, dbc, tmp_path):
    log = tmp_path / "plausibility.log"
    simulate("highway_tow", log, duration_s=14, seed=3, dbc=dbc)
    frames = [f for f in read_frames(log) if f.kind == "data"]
    frames = swaying(dbc, frames, 0.5, 3.0, 2.0, 1.5)
    t0 = frames[0].t

    def overwrite(frame, message, values, start_s, end_s):
        m = dbc.lookup(frame.can_id, frame.ext)
        return with_values(dbc, frame, values) if m.name == message and start_s <= frame.t - t0 < end_s else frame

    frames = [overwrite(f, "BmsPackStatus", {"pack_voltage_v": 300.0}, 8.0, 9.0) for f in frames]
    frames = [overwrite(f, "HitchLoad", {"tongue_load_kg": -1200.0}, 9.5, 9.9) for f in frames]
    frames = [overwrite(f, "BmsPackStatus", {"bms_state": 5, "soc_pct": 100.0}, 10.5, 11.5) for f in frames]
    frames = [overwrite(f, "BmsPackStatus", {"pack_voltage_v": 300.0}, 12.0, 12.35) for f in frames]  # < debounce
    found = events(stream(board, dbc, frames).alerts)
    assert [e.key() for e in found] == [e.key() for e in check_frames(dbc, frames)]
    kinds = [(e.kind, e.cleared) for e in found]
    for kind in ("trailer_sway", "pack_voltage_vs_cells", "hitch_status_vs_load", "soc_vs_bms_state"):
        assert kinds.count((kind, False)) == kinds.count((kind, True)) == 1, (kind, kinds)
    times = {(e.kind, e.cleared): frames[e.frame_no].t - t0 for e in found}
    # sway: three half cycles of at least 2 deg amplitude first (0.56 s each at 0.9 Hz)
    assert 0.5 + 1.2 < times[("trailer_sway", False)] < 0.5 + 3.0 + 0.6
    assert 0.5 + 5.0 < times[("trailer_sway", True)] < 0.5 + 6.5 + 1.1
    # debounce: the 5th BmsPackStatus (100 ms) or HitchLoad (20 ms) frame, the 3rd for SOC
    assert 8.4 <= times[("pack_voltage_vs_cells", False)] < 8.5
    assert 9.58 <= times[("hitch_status_vs_load", False)] < 9.6
    assert 10.7 <= times[("soc_vs_bms_state", False)] < 10.8


def test_towing_range_estimate_matches_the_reference_and_the_physics(board, dbc, tmp_path):
    log = tmp_path / "tow.log"
    simulate("highway_tow", log, duration_s=45, seed=5, dbc=dbc)
    frames = [f for f in read_frames(log) if f.kind == "data"]
    result = stream(board, dbc, frames)
    want: list = []
    check_frames(dbc, frames, tow_out=want)
    assert result.tow_ranges == want  # the board's estimates, bit for bit
    assert 43 <= len(want) <= 45  # one a second of log time
    # independently, from the decoded frames: energy and distance over the same 45 s
    t0 = frames[0].t
    energy_ws = distance_m = 0.0
    last = {}
    for f in frames:
        message = dbc.lookup(f.can_id, f.ext)
        if message.name not in ("BmsPackStatus", "VcuVehicleStatus"):
            continue
        values = message.decode(bytes(f.data))
        if message.name in last:
            dt = f.t - last[message.name][0]
            if message.name == "BmsPackStatus":
                energy_ws += values["pack_voltage_v"] * values["pack_current_a"] * dt
                soc = values["soc_pct"]
            else:
                distance_m += values["vehicle_speed_kph"] / 3.6 * dt
        last[message.name] = (f.t, values)
    final = want[-1]
    assert frames[final.frame_no].t - t0 > 44
    assert final.window_m == pytest.approx(distance_m, rel=0.03)
    wh_per_km = energy_ws / 3600 / (distance_m / 1000)
    assert final.wh_per_km == pytest.approx(wh_per_km, rel=0.05)
    assert final.range_km == pytest.approx(soc / 100 * 100.0 / (final.wh_per_km / 1000), rel=0.02)
