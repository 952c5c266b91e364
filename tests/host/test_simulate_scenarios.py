"""Each scenario does what --list says, and its expected condition alerts start and end on
exactly the frames where a receiver following docs/simulator.md (written here again,
from the docs, over frames decoded by cantools) switches them."""

from __future__ import annotations

from collections import deque

import pytest

from host_tools.dbc import load_dbc
from host_tools.e2e import payload_crc, protection
from host_tools.logfile import read_frames
from host_tools.simulate import EPOCH, SCENARIOS, simulate
from host_tools.simulate.physics import BMS_STATE, HITCH_STATUS
from mule_testing import PROJECT_DBC

DBC = load_dbc(PROJECT_DBC)
CONDITIONS = ("tongue_overload", "trailer_disconnected_moving", "cell_spread", "overtemperature",
              "soc_low_for_tow", "sensor_fault")


def conditions(path, limits) -> list[tuple[str, int, int | None]]:
    """(kind, start µs, end µs or None) of every condition alert in the log."""
    alerts, active = [], {}

    def switch(kind, on, off, t):
        if kind not in active and on:
            active[kind] = len(alerts)
            alerts.append([kind, t, None])
        elif kind in active and off:
            alerts[active.pop(kind)][2] = t

    speed, soc, connected = 0.0, None, None
    window = deque()
    last_counter = {}
    rating = limits["tongue_rating_kg"]
    for f in read_frames(path):
        message = DBC.lookup(f.can_id, f.ext) if f.kind == "data" else None
        if message is None or len(f.data) != message.length:
            continue
        t = round((f.t - EPOCH) * 1e6)
        guard = protection(message)
        v = message.decode(f.data, decode_choices=False)
        if guard:
            if f.data[-1] != payload_crc(f.data):
                continue
            repeated = last_counter.get(message.name) == v[guard.counter]
            last_counter[message.name] = v[guard.counter]
            if repeated:
                continue
        if message.name == "VcuVehicleStatus":
            speed = v["vehicle_speed_kph"]
        elif message.name == "HitchLoad":
            status = v["hitch_sensor_status"]
            fine = status in (HITCH_STATUS["OK"], HITCH_STATUS["INITIALISING"])
            switch("sensor_fault", not fine, fine, t)
            if status != HITCH_STATUS["OK"]:
                continue
            window.append((t, v["tongue_load_kg"]))
            while window[0][0] <= t - limits["tongue_window_s"] * 1e6:
                window.popleft()
            mean = sum(kg for _, kg in window) / len(window)
            switch("tongue_overload", mean > rating, mean <= limits["tongue_clear_fraction"] * rating, t)
            now = v["trailer_connected"]
            switch("trailer_disconnected_moving", now == 0 and connected == 1 and speed > limits["moving_kph"],
                   now == 1, t)
            connected = now
        elif message.name == "BmsPackStatus":
            soc = v["soc_pct"]
        elif message.name == "BmsCellStats":
            spread = v["cell_v_max_mv"] - v["cell_v_min_mv"]
            switch("cell_spread", spread > limits["cell_spread_mv"], spread <= limits["cell_spread_clear_mv"], t)
        elif message.name == "BmsTempStats":
            hottest = v["cell_t_max_c"]
            switch("overtemperature", hottest > limits["overtemperature_c"],
                   hottest <= limits["overtemperature_clear_c"], t)
        if message.name in ("HitchLoad", "BmsPackStatus"):
            switch("soc_low_for_tow", soc is not None and soc < limits["soc_low_pct"] and connected == 1,
                   soc is None or soc >= limits["soc_low_clear_pct"] or connected != 1, t)
    return [tuple(a) for a in alerts]


def sidecar_conditions(truth):
    us = lambda s: None if s is None else round(s * 1e6)  # noqa: E731
    return [(a["kind"], us(a["start"]), us(a["end"])) for a in truth["expected_alerts"] if a["kind"] in CONDITIONS]


def run(tmp_path, name, seconds=None, *settings):
    result = simulate(name, tmp_path / f"{name}.blf", duration_s=seconds, seed=2, settings=list(settings))
    truth = result.truth
    found = conditions(result.log, truth["limits"])
    assert sorted(found, key=lambda a: (a[1], a[0])) == sidecar_conditions(truth)
    return result.log, truth


def kinds(truth):
    return [a["kind"] for a in truth["expected_alerts"]]


def test_city_drive_raises_nothing(tmp_path):
    _, truth = run(tmp_path, "city_drive", 150)
    assert kinds(truth) == []
    assert truth["scenario"]["trailer"] is None


def test_highway_tow_overheats_on_the_grade_and_runs_low(tmp_path):
    _, truth = run(tmp_path, "highway_tow")
    assert kinds(truth) == ["overtemperature", "soc_low_for_tow"]
    hot, low = truth["expected_alerts"]
    assert 250 < hot["start"] < hot["end"] < 460  # on the 8 km climb, over after the crest
    assert 780 < low["start"] and low["end"] is None
    assert truth["summary"]["soc_end_pct"] < 20 < truth["summary"]["soc_start_pct"]


def test_hitch_overload_trips_while_loading(tmp_path):
    _, truth = run(tmp_path, "hitch_overload")
    (alert,) = truth["expected_alerts"]
    assert alert["kind"] == "tongue_overload" and 40 < alert["start"] < 70 and alert["end"] is None


def test_unhitch_rehitch_alerts_only_for_the_loose_plug(tmp_path):
    _, truth = run(tmp_path, "unhitch_rehitch")
    (alert,) = truth["expected_alerts"]
    assert alert["kind"] == "trailer_disconnected_moving"
    assert 200.0 <= alert["start"] < 200.03 and 200.6 <= alert["end"] < 200.63
    _, quiet = run(tmp_path, "unhitch_rehitch", 215, "plug_bounce=false")
    assert kinds(quiet) == []


def test_sensor_fault_alerts_for_each_harness_failure(tmp_path):
    _, truth = run(tmp_path, "sensor_fault")
    alerts = truth["expected_alerts"]
    assert [(a["kind"], a["detail"]) for a in alerts] == [
        ("sensor_fault", "OPEN_CIRCUIT"), ("sensor_fault", "SHORT_CIRCUIT"), ("sensor_fault", "SUPPLY_VOLTAGE_ERROR")]
    for alert, (start, end) in zip(alerts, ((30, 33), (70, 70.5), (95, 105))):
        assert start <= alert["start"] < start + 0.021 and end <= alert["end"] < end + 0.021


def test_cold_soak_spreads_the_cells_under_load(tmp_path):
    _, truth = run(tmp_path, "cold_soak", 150)
    alerts = truth["expected_alerts"]
    assert {a["kind"] for a in alerts} == {"cell_spread"} and len(alerts) >= 2
    assert all(a["end"] is not None for a in alerts[:-1])  # it clears when the truck stops
    warm_log, warm = run(tmp_path, "cold_soak", 150, "pack_temp_c=25", "ambient_temp_c=20")
    assert kinds(warm) == []  # the same weak cell is harmless when warm


def test_dc_fast_charge_stops_at_the_target(tmp_path):
    log, truth = run(tmp_path, "dc_fast_charge", 250, "soc_pct=77")
    assert kinds(truth) == []
    pack = DBC.database.get_message_by_name("BmsPackStatus")
    rows = [pack.decode(f.data, decode_choices=False) for f in read_frames(log) if f.can_id == pack.frame_id]
    states = [r["bms_state"] for r in rows]
    assert BMS_STATE["CHARGE_DC"] in states and states[-1] == BMS_STATE["STANDBY"]
    assert rows[-1]["pack_current_a"] == 0 and 80 <= rows[-1]["soc_pct"] <= 80.5


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_parameters_are_recorded_and_can_be_changed(tmp_path, name):
    result = simulate(name, tmp_path / "p.log", duration_s=2, settings=["ambient_temp_c=-5", "soc_pct=55"])
    params = result.truth["scenario"]["parameters"]
    assert params["ambient_temp_c"] == -5 and params["soc_pct"] == 55
    assert result.truth["summary"]["soc_start_pct"] == 55
    env = DBC.database.get_message_by_name("VcuEnvironment")
    temps = {env.decode(f.data)["ambient_temp_c"] for f in read_frames(result.log) if f.can_id == env.frame_id}
    assert temps == {-5}
