"""Supervision on the host: the rule tables generated from the DBC and the config, and the
reference (firmware/supervise.py in CPython) against the simulator's sidecar for every
scenario at full length and every fault kind."""

from __future__ import annotations

import json
import math

import pytest

from host_tools.codegen.emit import _MessageWriter
from host_tools.dbc import load_dbc
from host_tools.logfile import read_frames
from host_tools.simulate import simulate
from host_tools.simulate.scenarios import SCENARIOS
from host_tools.supervision.config import SuperviseError
from host_tools.supervision.firmware import KINDS
from host_tools.supervision.firmware import fw as firmware
from host_tools.supervision.intervals import expected, intervals, same_alerts
from host_tools.supervision.reference import AlertEvent, check_frames, with_values
from host_tools.supervision.rules import build_tables, rules_module
from mule_testing import FILES


def rule(tables, kind):
    return next(r for r in tables["RULES"] if r[0] == KINDS.index(kind) + 1)


EDGES = json.loads((FILES / "supervision" / "threshold_edges.json").read_text(encoding="utf-8"))


def run_reference(dbc, tmp_path, scenario, seconds=None, faults=(), settings=(), seed=1):
    log = tmp_path / f"{scenario}.log"
    sim = simulate(scenario, log, duration_s=seconds, seed=seed, faults=list(faults), settings=list(settings), dbc=dbc)
    return reference_and_sidecar(dbc, sim)


def reference_and_sidecar(dbc, sim):
    """The reference's alerts on a simulated log, and its sidecar's, as intervals."""
    frames = [f for f in read_frames(sim.log) if f.kind == "data"]
    epoch = sim.truth["log"]["epoch"]
    times = [round(f.t - epoch, 6) for f in frames]
    got = intervals(dbc, check_frames(dbc, frames), times, times[0])
    return got, expected(sim.truth)


def test_tables_use_the_decoders_lanes_and_the_dbc_attributes(dbc):
    tables = build_tables(dbc)
    module = rules_module(dbc)
    words = memoryview(module.SIG_TAB).cast("i")[-module.SIGNALS:]  # a word per signal: its lane | its bounds' << 16
    for mi, message in enumerate(dbc.messages):
        lanes = _MessageWriter(message, "plain").lane_of
        for si, signal in enumerate(message.signals):
            assert words[tables["SIG_START"][mi] + si] & 0xFFFF == lanes[signal.name]
    names = [m.name for m in dbc.messages]
    hitch = names.index("HitchLoad")
    assert tables["TIMEOUT_US"][hitch] == 60_000
    assert tables["TIMEOUT_US"][names.index("BmsCellVoltages")] == 93_750
    assert tables["COUNTER_LANE"][names.index("VcuEnvironment")] == -1  # unprotected
    assert tables["COUNTER_MASK"][hitch] == 15


def test_thresholds_are_converted_to_raw_units_as_cantools_scales(dbc):
    tables = build_tables(dbc)
    assert rule(tables, "overtemperature")[5:7] == (96, 92)  # > 55 °C, ≤ 52 °C with offset −40
    assert rule(tables, "soc_low_for_tow")[5:7] == (39, 42)  # < 20 %, ≥ 21 % at 0.5 %/bit
    assert rule(tables, "trailer_disconnected_moving")[8] == 501  # > 5 km/h at 0.01 km/h/bit
    assert rule(tables, "tongue_overload")[5:8] == (1_000_000, 550_000, 522_500)  # 1 s, mean in milli-raw
    assert rule(tables, "cell_spread")[6:8] == (101, 80)


def test_the_config_overrides_thresholds_and_refuses_what_the_board_lacks(dbc):
    tables = build_tables(dbc, {"rules": [{"kind": "tongue_overload", "on_above": 600.0}], "timeout_periods": 5})
    assert rule(tables, "tongue_overload")[6] == 600_000
    assert tables["TIMEOUT_US"][[m.name for m in dbc.messages].index("HitchLoad")] == 100_000
    with pytest.raises(SuperviseError, match="the board knows"):
        build_tables(dbc, {"rules": [{"kind": "sway", "type": "above", "signal": "hitch_angle_deg"}]})
    with pytest.raises(SuperviseError, match="no signal 'hitch_load'"):
        build_tables(dbc, {"rules": [{"kind": "overtemperature", "signal": "hitch_load"}]})


def test_a_dbc_without_the_trucks_signals_gets_the_frame_checks_only():
    tables = build_tables(load_dbc(FILES / "dbc" / "signed.dbc"))
    assert tables["RULES"] == []
    assert "tongue_overload" in tables["SKIPPED_RULES"]


def test_alert_codes_have_a_raised_and_a_cleared_flavour():
    assert firmware.CLEARED == 0x100 and len(KINDS) == len(firmware.SEVERITY)
    assert KINDS[:7] == ("timeout", "dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order")


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_reference_raises_the_sidecars_alerts_on_every_scenario(dbc, whole_scenario, scenario):
    got, want = reference_and_sidecar(dbc, whole_scenario(scenario))  # dc_fast_charge's 30 min: the board's time wraps
    assert same_alerts(got, want), f"reference {got}\nsidecar {want}"


FAULTS = [
    "dropout:HitchLoad@5+0.5", "dropout:BmsCellVoltages@7+0.2", "stuck_counter:BmsPackStatus@9+0.3",
    "counter_jump:HitchLoad=7@11", "bad_crc:VcuVehicleStatus@13+0.2", "out_of_range:drawbar_force_n@15+0.1",
    "out_of_range:cell_t_max_c@16+0.3", "out_of_range:cell_050_mv@17+1.5", "dlc:HitchLoad=0@20+0.1",
    "dlc:BmsCellStats@21", "out_of_order@23", "bus_off@25+0.4", "dropout:VcuEnvironment@27+4",
]


def test_reference_raises_the_sidecars_alerts_for_every_fault_kind(dbc, tmp_path):
    got, want = run_reference(dbc, tmp_path, "highway_tow", 33, FAULTS)
    assert {a["kind"] for a in want} >= {"timeout", "dlc", "crc", "counter_repeated", "counter_jump", "range",
                                         "out_of_order"}
    assert same_alerts(got, want), f"reference {got}\nsidecar {want}"


def test_background_traffic_raises_nothing_by_itself(dbc, tmp_path):
    got, want = run_reference(dbc, tmp_path, "city_drive", 10, ["background:40", "out_of_order@4"])
    assert same_alerts(got, want)
    assert [a["kind"] for a in want] == ["out_of_order"]


def test_the_windowed_mean_in_slots_agrees_with_its_bytecode_fallback(dbc, tmp_path, whole_scenario):
    # the slots step runs a mean whose sums fit a small int; the host marks others not fast
    # and Supervisor._mean runs them: both must raise and clear on the same frames, also
    # with the mean exactly on its thresholds (threshold_edges.json's "mean")
    log = whole_scenario("hitch_overload").log
    edge = next(e for e in EDGES if e["name"] == "mean")
    simulate(edge["scenario"], tmp_path / "edge.log", duration_s=edge["seconds"], seed=1, faults=edge["faults"],
             dbc=dbc)
    fast = rules_module(dbc)
    slow = rules_module(dbc)
    cx = memoryview(bytearray(slow.CX)).cast("i")
    k = next(k for k, r in enumerate(slow.RULES) if r[1] == firmware._T_MEAN)
    at = cx[firmware._CX_MEAN] + firmware._MNW * k
    assert cx[at] == 1  # tongue_load_kg's mean is fast by default
    cx[at] = 0
    slow.CX = bytes(cx)
    for path in (log, tmp_path / "edge.log"):
        frames = [f for f in read_frames(path) if f.kind == "data"]
        got = check_frames(dbc, frames, rules=fast)
        assert [e for e in got if e.kind == "tongue_overload"]
        assert got == check_frames(dbc, frames, rules=slow), path.name


def crafted(dbc, tmp_path, message, values, start_s, end_s, seconds=8):
    """A clean highway_tow with `values` written into `message`'s frames from start_s to end_s."""
    log = tmp_path / "crafted.log"
    simulate("highway_tow", log, duration_s=seconds, seed=2, dbc=dbc)
    frames = [f for f in read_frames(log) if f.kind == "data"]
    t0 = frames[0].t
    name_of = {(m.frame_id, m.is_extended_frame): m.name for m in dbc.messages}
    return [with_values(dbc, f, values) if name_of.get((f.can_id, f.ext)) == message and start_s <= f.t - t0 < end_s
            else f for f in frames]


def raised(events, kind):
    return [(e.frame_no, e.cleared) for e in events if e.kind == kind]


def test_drawbar_force_beyond_its_rating_either_way_raises_and_clears(dbc, tmp_path):
    rule_ = rule(build_tables(dbc), "drawbar_overload")
    assert rule_[5:9] == (20_001, -20_001, -18_000, 18_000)  # > 40 kN, < −40 kN; clear within 36 kN at 2 N/bit
    for force in (45_000.0, -45_000.0):
        frames = crafted(dbc, tmp_path, "HitchLoad", {"drawbar_force_n": force}, 3.0, 4.0)
        events = check_frames(dbc, frames)
        got = raised(events, "drawbar_overload")
        assert [c for _, c in got] == [False, True], got
        first = next(i for i, f in enumerate(frames)
                     if f.t - frames[0].t >= 3.0 and dbc.lookup(f.can_id, f.ext).name == "HitchLoad")
        assert got[0][0] == first  # on the first frame beyond the rating: no debounce
        assert {e.kind for e in events} == {"drawbar_overload"}  # the crafted frames pass their E2E checks
    below = crafted(dbc, tmp_path, "HitchLoad", {"drawbar_force_n": 39_000.0}, 3.0, 4.0)
    assert check_frames(dbc, below) == []


def test_pack_current_beyond_the_bms_limits_is_on_by_default_and_can_be_turned_off(dbc, tmp_path):
    assert rule(build_tables(dbc), "pack_current_beyond_limits")[7:10] == (5, 100, 0)  # 0.5 A vs 0.1 A/bit
    off = {"rules": [{"kind": "pack_current_beyond_limits", "enabled": False}]}
    assert "pack_current_beyond_limits" not in {KINDS[r[0] - 1] for r in build_tables(dbc, off)["RULES"]}
    frames = crafted(dbc, tmp_path, "BmsPackStatus", {"pack_current_a": 1400.0}, 3.0, 4.0)
    assert check_frames(dbc, frames, off) == []
    events = check_frames(dbc, frames)
    assert [c for _, c in raised(events, "pack_current_beyond_limits")] == [False, True]
    charging = crafted(dbc, tmp_path, "BmsPackStatus", {"pack_current_a": -1400.0}, 3.0, 4.0)
    assert [c for _, c in raised(check_frames(dbc, charging), "pack_current_beyond_limits")] == [False, True]


def test_board_alerts_beyond_supervision_are_named_by_their_text():

    raised = AlertEvent(7, 32, 3, -1, -1, 3, "can_bus_state")
    cleared = AlertEvent(9, 32 | 0x100, 2, -1, -1, 0, "can_bus_state")
    assert (raised.kind, raised.cleared) == ("can_bus_state", False)
    assert (cleared.kind, cleared.cleared) == ("can_bus_state", True)
    assert AlertEvent(1, 16, 3, 7, 3, 40, "trailer_sway").kind == "trailer_sway"


def test_new_rules_in_raw_units_and_their_config_errors(dbc):
    tables = build_tables(dbc)
    sway = rule(tables, "trailer_sway")  # 0.1 deg raw: 2 x 2 deg on, 2 x 1 deg off; 333..1000 ms
    assert sway[5:10] == (40, 20, 333_333, 1_000_000, 3)
    pack = rule(tables, "pack_voltage_vs_cells")  # 0.1 V raw x 100 = mV; > 30 V, <= 15 V
    assert pack[5:8] == (100, 30_000, 15_000)
    band = rule(tables, "soc_vs_bms_state")  # (state, lo, hi) in 0.5 % raw: CHARGE_DC 0..99.5 %, DRIVE 0.5..100 %
    assert (5, 0, 199) in zip(band[6::3], band[7::3], band[8::3]) and (3, 1, 200) in zip(band[6::3], band[7::3],
                                                                                       band[8::3])
    kinds = [r[0] for r in tables["RULES"]]
    assert tables["DEBOUNCE"][kinds.index(19)] == 3 and tables["DEBOUNCE"][kinds.index(8)] == 1
    with pytest.raises(SuperviseError, match="its window is its debounce"):
        build_tables(dbc, {"rules": [{"kind": "tongue_overload", "debounce": 3}]})
    with pytest.raises(SuperviseError, match="half_cycles is its debounce"):
        build_tables(dbc, {"rules": [{"kind": "trailer_sway", "debounce": 2}]})
    with pytest.raises(SuperviseError, match="debounce 0 not allowed"):
        build_tables(dbc, {"rules": [{"kind": "overtemperature", "debounce": 0}]})
    with pytest.raises(SuperviseError, match="give the bands"):
        build_tables(dbc, {"rules": [{"kind": "soc_vs_bms_state", "bands": {}}]})
    with pytest.raises(SuperviseError, match="groups 0, 1"):
        build_tables(dbc, {"rules": [{"kind": "pack_voltage_vs_cells", "sum_message": "BmsPackStatus"}]})
    tow = tables["TOW_RANGE"]  # 500 Wh per 0.5 % of 100 kWh, 60 one-second samples, 0.01 km/h = 5/18 cm/s
    assert tow[4:] == (500, 60, 1_000_000, 100, 5, 18, 200)
    assert build_tables(dbc, {"tow_range": {"enabled": False}})["TOW_RANGE"] == ()


def bytecode_only(rules):
    """The rule tables with every rule that _slots tests (level, spread, edge, limits, fast
    mean, the sum's difference) left to bytecode: evaluated on every trigger instead."""
    cx = memoryview(bytearray(rules.CX)).cast("i")
    for k in range(len(rules.RULES)):
        at = cx[firmware._CX_MEAN] + firmware._MNW * k
        if cx[at] == firmware._MN_SUM:
            cx[at + 13] = 0
        elif cx[at] != firmware._MN_SWAY:
            cx[at] = firmware._MN_ALWAYS
    rules.CX = bytes(cx)
    return rules


BUSY = {"rules": [{"kind": "cell_spread", "debounce": 3, "on_above": 20.0, "off_at_or_below": 10.0},
                  {"kind": "pack_current_beyond_limits", "debounce": 2, "margin": -50.0, "clear_margin": -60.0},
                  {"kind": "overtemperature", "debounce": 2, "on_above": 20.0, "off_at_or_below": 18.0},
                  {"kind": "drawbar_overload", "debounce": 2},
                  {"kind": "trailer_disconnected_moving", "speed_above": 0.0},
                  {"kind": "pack_voltage_vs_cells", "debounce": 2, "on_above": 1.0, "off_at_or_below": 0.5}]}


@pytest.mark.parametrize("config", [None, BUSY])
def test_the_rules_slots_tests_act_where_bytecode_alone_would(dbc, tmp_path, config):
    # _slots sets a rule's bit only when it will act (flip, or count a debounce): the same
    # alerts as evaluating every rule on every trigger, at the clear levels exactly, with
    # debounces that start and are reset, at a threshold exactly, an unplugged trailer on the move
    log = tmp_path / "busy.log"
    simulate("highway_tow", log, duration_s=12, seed=7, dbc=dbc, faults=[
        "value:HitchLoad.drawbar_force_n=45000@3+0.3", "value:HitchLoad.drawbar_force_n=36000@3.3+0.3",
        "value:HitchLoad.drawbar_force_n=45000@5+0.015", "value:HitchLoad.drawbar_force_n=45000@5.1+0.05",
        "value:BmsCellStats.cell_v_max_mv=4100@3+0.5", "value:BmsCellStats.cell_v_min_mv=3990@3+1",
        "value:BmsCellStats.cell_v_max_mv=4070@3.5+0.5", "value:BmsTempStats.cell_t_max_c=60@3+0.3",
        "value:BmsTempStats.cell_t_max_c=52@3.3+0.3", "value:BmsTempStats.cell_t_max_c=18@4+0.3",
        "value:BmsPackStatus.pack_current_a=1400@6+0.1", "value:BmsPackStatus.pack_current_a=-1400@6.5+0.3",
        "value:BmsPackStatus.pack_voltage_v=300@8+0.1", "value:BmsPackStatus.pack_voltage_v=300@8.5+0.7",
        "value:HitchLoad.trailer_connected=0@9+0.3", "value:BmsCellStats.cell_v_max_mv=4100@10+0.1",
        "value:BmsCellStats.cell_v_max_mv=4100@10.5+0.5", "value:BmsCellStats.cell_v_max_mv=4091@11.2+0.3",
        "value:BmsCellStats.cell_v_min_mv=3990@11.2+0.3"])
    frames = [f for f in read_frames(log) if f.kind == "data"]
    fast = check_frames(dbc, frames, rules=rules_module(dbc, config))
    assert fast == check_frames(dbc, frames, rules=bytecode_only(rules_module(dbc, config)))
    assert {e.kind for e in fast} >= {"drawbar_overload", "cell_spread", "overtemperature",
                                      "pack_current_beyond_limits", "pack_voltage_vs_cells", "trailer_disconnected_moving"}


@pytest.mark.parametrize("fast", [True, False])
def test_a_debounced_level_rule_counts_evaluations_in_a_row(dbc, tmp_path, fast):
    # overtemperature (a level rule: the fast path skips it while nothing changes) with
    # debounce 3, on BmsTempStats frames 100 ms apart: 56 56 50 | 56 56 56 56 | 53 52
    temps = [56, 56, 50, 56, 56, 56, 56, 53, 52]
    log = tmp_path / "temps.log"
    simulate("city_drive", log, duration_s=4, seed=2, dbc=dbc)
    frames = [f for f in read_frames(log) if f.kind == "data"]
    at = [i for i, f in enumerate(frames) if dbc.lookup(f.can_id, f.ext).name == "BmsTempStats"][10:10 + len(temps)]
    for i, temp in zip(at, temps):
        frames[i] = with_values(dbc, frames[i], {"cell_t_max_c": temp})
    rules = rules_module(dbc, {"rules": [{"kind": "overtemperature", "debounce": 3}]})
    if not fast:  # the same rule kept off the fast path: what the fast path must equal
        rules = bytecode_only(rules)
    got = raised(check_frames(dbc, frames, rules=rules), "overtemperature")
    # the first two are reset by 50; the third of the next run raises; 53 holds; 52 clears
    assert got == [(at[5], False), (at[8], True)]


@pytest.mark.parametrize("edge", EDGES, ids=[e["name"] for e in EDGES])
def test_values_exactly_on_every_threshold_fall_on_the_side_the_rule_says(dbc, tmp_path, edge):
    """Each threshold's raw edge, and the raw value just short of it, as value faults of half
    a second each (tests/files/supervision/threshold_edges.json): the reference raises and
    clears in the half second the rule's text puts it in, and the simulator's expected
    alerts, from the same threshold table and raw conversion, are the same to the µs."""
    got, want = run_reference(dbc, tmp_path, edge["scenario"], edge["seconds"], edge["faults"])

    def half_second(t):
        return None if t is None else math.floor(t * 2) / 2

    assert [[a["kind"], half_second(a["start"]), half_second(a["end"])] for a in got] == edge["alerts"], edge["why"]
    assert same_alerts(got, want)
