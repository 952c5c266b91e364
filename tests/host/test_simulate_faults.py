"""Each injected fault appears in the log exactly where the sidecar says and nowhere else, and
the sidecar's expected alerts are what a receiver following docs/simulator.md finds.

The receiver here is written from the docs, independently of host_tools/simulate/alerts.py:
it decodes the log with cantools. Every faulty run is compared with a clean run of the same
seed: apart from the frames the sidecar lists, the logs must agree (E2E bits aside, since a
counter fault shifts the counters after it)."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from host_tools.dbc import load_dbc
from host_tools.e2e import payload_crc, protection
from host_tools.logfile import LogStats, read_frames
from host_tools.simulate import EPOCH, SimulateError, simulate
from host_tools.simulate.encoding import not_available_raw, raw_range
from mule_testing import FILES, PROJECT_DBC

DBC = load_dbc(PROJECT_DBC)
SCENARIO, SECONDS, SEED = "highway_tow", 12.0, 11
FRAME_KINDS = {"dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order"}


def read(path) -> list[tuple[int, object]]:
    stats = LogStats()
    frames = list(read_frames(path, skip_bad=True, stats=stats))
    assert stats.bad_records == []
    return [(round((f.t - EPOCH) * 1e6), f) for f in frames]


def name_of(f) -> str:
    message = DBC.lookup(f.can_id, f.ext)
    return message.name if message else f"{f.can_id:#x}"


def receiver(frames, truth) -> tuple[list[tuple], list[tuple]]:
    """(runs, timeouts) a receiver following docs/simulator.md sees in the log.
    runs: (kind, message, signal, start_us, end_us, frames); timeouts: (message, start_us, end_us)."""
    flagged = []  # (index, kind, signal)
    last_counter, last_rx, latest = {}, defaultdict(int), -1
    timeouts = []
    limit = {name: round(m["timeout_s"] * 1e6) for name, m in truth["messages"].items()}
    for index, (t, f) in enumerate(frames):
        if f.kind != "data":
            continue
        if t < latest:
            flagged.append((index, "out_of_order", None))
        latest = max(latest, t)
        message = DBC.lookup(f.can_id, f.ext)
        if message is None:
            continue
        name = message.name
        if t - last_rx[name] > limit[name]:
            timeouts.append((name, last_rx[name] + limit[name], t))
        last_rx[name] = max(last_rx[name], t)
        if len(f.data) != message.length:
            flagged.append((index, "dlc", None))
            continue
        raw = message.decode(f.data, decode_choices=False, scaling=False)
        guard = protection(message)
        if guard:
            if f.data[-1] != payload_crc(f.data):
                flagged.append((index, "crc", None))
                continue
            counter, previous = raw[guard.counter], last_counter.get(name)
            last_counter[name] = counter
            if previous is not None and (counter - previous) & 15 == 0:
                flagged.append((index, "counter_repeated", None))
                continue
            if previous is not None and (counter - previous) & 15 > truth["limits"]["max_counter_delta"]:
                flagged.append((index, "counter_jump", None))
        for signal in message.signals:
            if signal.name in raw and not signal.is_multiplexer:
                lo, hi = raw_range(signal)
                if not lo <= raw[signal.name] <= hi and raw[signal.name] != not_available_raw(signal):
                    flagged.append((index, "range", signal.name))
    end = round(truth["duration_s"] * 1e6)
    for name, t in last_rx.items():
        if end - t > limit[name]:
            timeouts.append((name, t + limit[name], None))
    # consecutive flagged frames of one id, same kind and signal, make one run
    runs, open_runs = [], {}
    by_id = defaultdict(list)
    for index, (t, f) in enumerate(frames):
        if f.kind == "data":
            by_id[(f.can_id, f.ext)].append(index)
    marks = defaultdict(set)
    for index, kind, signal in flagged:
        marks[index].add((kind, signal))
    for key, indices in by_id.items():
        open_runs = {}
        for index in indices:
            t, f = frames[index]
            for what in [w for w in open_runs if w not in marks[index]]:
                runs.append(open_runs.pop(what))
            for kind, signal in marks[index]:
                run = open_runs.get((kind, signal))
                open_runs[(kind, signal)] = (kind, name_of(f), signal, run[3] if run else t, t, (run[5] if run else 0) + 1)
        runs.extend(open_runs.values())
    return sorted(runs, key=lambda r: (r[3], r[0], r[1])), sorted(timeouts, key=lambda r: (r[1], r[0]))


def sidecar_alerts(truth):
    us = lambda s: None if s is None else round(s * 1e6)  # noqa: E731
    runs = sorted(((a["kind"], a["message"], a["signal"], us(a["start"]), us(a["end"]), a["frames"])
                   for a in truth["expected_alerts"] if a["kind"] in FRAME_KINDS), key=lambda r: (r[3], r[0], r[1]))
    timeouts = sorted(((a["message"], us(a["start"]), us(a["end"])) for a in truth["expected_alerts"]
                       if a["kind"] == "timeout"), key=lambda r: (r[1], r[0]))
    return runs, timeouts


def e2e_free(f) -> bytes:
    """The payload without counter nibble and CRC byte (a counter fault shifts them later on)."""
    message = DBC.lookup(f.can_id, f.ext)
    if message is None or not protection(message) or len(f.data) != message.length:
        return f.data
    data = bytearray(f.data)
    data[6] &= 0xF0  # the counter is the low nibble of byte 6 in both byte orders (docs/dbc.md)
    data[7] = 0
    return bytes(data)


def assert_changed_as(fault, index, frames, f, twin) -> None:
    """A listed frame differs from its clean twin the way its fault says, and only so."""
    kind, where = fault["kind"], f"listed frame {index} ({fault['spec']})"
    message = DBC.lookup(f.can_id, f.ext)
    if kind == "out_of_order":
        t = frames[index][0]
        assert f.data == twin.data, where
        assert (index > 0 and frames[index - 1][0] > t) or frames[index + 1][0] < t, f"{where} is not out of order"
    elif kind == "dlc":
        assert len(f.data) == fault["value"] and f.data == twin.data[: len(f.data)], where
    elif kind == "bad_crc":
        assert f.data[:-1] == twin.data[:-1] and f.data[-1] == payload_crc(f.data) ^ 0xFF, where
    elif kind in ("out_of_range", "value"):
        now, then = (message.decode(d, decode_choices=False, scaling=False) for d in (f.data, twin.data))
        assert now[fault["signal"]] == fault["raw"] != then[fault["signal"]], where
        guard = protection(message)
        others = set(now) - {fault["signal"], guard.counter, guard.crc}
        assert {k: now[k] for k in others} == {k: then[k] for k in others}, where
        assert f.data[-1] == payload_crc(f.data), f"{where}: the CRC must stay valid"
        if kind == "value":
            assert message.decode(f.data)[fault["signal"]] == pytest.approx(fault["value"]), where
    elif kind in ("stuck_counter", "counter_jump"):
        assert e2e_free(f) == e2e_free(twin) and f.data != twin.data, where
        assert f.data[-1] == payload_crc(f.data), f"{where}: the CRC must stay valid"
    else:
        raise AssertionError(f"{where}: a {kind} fault lists no frames")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    path = tmp_path_factory.mktemp("clean") / "clean.log"
    result = simulate(SCENARIO, path, duration_s=SECONDS, seed=SEED)
    return read(path), result.truth


FAULTS = [
    "dropout:HitchLoad@5+1",
    "dropout:BmsCellVoltages@4+0.5",
    "dropout:VcuEnvironment@3",
    "stuck_counter:BmsPackStatus@5+1",
    "counter_jump:HitchLoad=7@5",
    "counter_jump:BmsCellVoltages=3@5",  # the smallest step a receiver must call a jump
    "bad_crc:BmsCellStats@5",
    "bad_crc:VcuVehicleStatus@5+0.3",
    "out_of_range:tongue_load_kg=-2040@5+0.2",
    "out_of_range:cell_050_mv@5+2",
    "out_of_range:soc_pct@5",
    "value:HitchLoad.tongue_load_kg=1200@5+0.5",
    "value:HitchLoad.hitch_angle_deg=-12.5@5+0.1",
    "value:BmsPackStatus.soc_pct=100@5",
    "value:BmsCellVoltages.cell_037_mv=3000@5+2",  # only the frames of its group (12)
    "dlc:HitchLoad=6@5+0.1",
    "dlc:VcuEnvironment=0@5",
    "background:35@4+2",
    "bus_off@5+0.4",
    "out_of_order@6",
]


@pytest.mark.parametrize("spec", FAULTS)
def test_fault_is_exactly_where_the_sidecar_says(tmp_path, clean, spec):
    clean_frames, _ = clean
    result = simulate(SCENARIO, tmp_path / "faulty.log", duration_s=SECONDS, seed=SEED, faults=[spec])
    frames, truth = read(result.log), result.truth
    (fault,) = truth["faults"]
    listed = {entry["index"]: entry for entry in fault.get("frames", [])}
    for entry in listed.values():
        t, f = frames[entry["index"]]
        assert t == round(entry["t"] * 1e6)
        assert entry["message"] == (name_of(f) if f.kind == "data" else None)
    missing = {(round(m["t"] * 1e6), m["message"]) for m in fault.get("missing", [])}
    assert fault["kind"] == "background" or listed or missing, "the fault left no trace"

    # apart from the listed frames, the log is the clean log (less the missing frames)
    before = {(t, f.can_id, f.ext): f for t, f in clean_frames}
    after = {(t, f.can_id, f.ext): f for t, f in frames if f.kind == "data"}
    assert {(t, DBC.lookup(i, e).name) for t, i, e in before.keys() - after.keys()} == missing
    background_ids = {int(item["id"], 16) for item in fault.get("ids", [])}
    for index, (t, f) in enumerate(frames):
        if f.kind != "data":
            assert index in listed and fault["kind"] == "bus_off"
            continue
        if f.can_id in background_ids and DBC.lookup(f.can_id, f.ext) is None:
            assert fault["start"] * 1e6 <= t < fault["end"] * 1e6
            continue
        twin = before[(t, f.can_id, f.ext)]
        if index in listed:
            assert_changed_as(fault, index, frames, f, twin)
        else:
            assert e2e_free(f) == e2e_free(twin), f"frame {index} ({name_of(f)} at {t} µs) changed but is not listed"
    if fault["kind"] == "background":
        assert len([f for _, f in frames if f.can_id in background_ids]) == fault["frame_count"] > 0

    # and what a receiver makes of it is what the sidecar expects
    runs, timeouts = receiver(frames, truth)
    expected_runs, expected_timeouts = sidecar_alerts(truth)
    assert runs == expected_runs
    assert timeouts == expected_timeouts
    for alert in truth["expected_alerts"]:
        assert alert["cause"] == [0] or alert["kind"] not in FRAME_KINDS | {"timeout", "bus_off"}


def test_faults_show_the_alerts_they_are_for(tmp_path):
    result = simulate(SCENARIO, tmp_path / "all.blf", duration_s=SECONDS, seed=SEED, faults=[
        "dropout:HitchLoad@2+1", "stuck_counter:BmsPackStatus@4+0.5", "counter_jump:BmsTempStats@3",
        "bad_crc:BmsPowerLimits@5", "out_of_range:pack_current_a=2000@6", "dlc:BmsCellStats=4@7",
        "bus_off@9+0.3", "out_of_order@10.5"])
    alerts = result.truth["expected_alerts"]
    by_cause = defaultdict(set)
    for alert in alerts:
        for index in alert["cause"]:
            by_cause[index].add((alert["kind"], alert["message"]))
    assert by_cause[0] == {("timeout", "HitchLoad")}
    assert by_cause[1] == {("counter_repeated", "BmsPackStatus")}
    assert by_cause[2] == {("counter_jump", "BmsTempStats")}
    assert by_cause[3] == {("crc", "BmsPowerLimits")}
    assert by_cause[4] == {("range", "BmsPackStatus")}
    assert by_cause[5] == {("dlc", "BmsCellStats")}
    assert ("bus_off", None) in by_cause[6]
    assert {kind for kind, _ in by_cause[6]} <= {"bus_off", "timeout", "counter_jump", "counter_repeated"}
    assert {m for kind, m in by_cause[6] if kind == "timeout"} == {m.name for m in DBC.messages} - {"VcuEnvironment"}
    assert {kind for kind, _ in by_cause[7]} == {"out_of_order"}
    timeout = next(a for a in alerts if a["kind"] == "timeout" and a["cause"] == [0])
    assert 2.0 < timeout["start"] < 2.0 + 0.02 + 0.06 and 3.0 < timeout["end"] < 3.02
    rng = next(a for a in alerts if a["kind"] == "range")
    assert rng["signal"] == "pack_current_a" and rng["frames"] == 1
    # BLF keeps the error frame and the step back in time
    frames = read(result.log)
    assert [f.kind for _, f in frames].count("error") == 1
    assert sum(1 for (a, _), (b, _) in zip(frames, frames[1:]) if b < a) == 1


# each bad --fault spec and the words its error must hold (naming the bad part, what to give)
BAD_SPECS = json.loads((FILES / "faults" / "bad_specs.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_specs_name_the_bad_part(tmp_path, spec):
    with pytest.raises(SimulateError) as error:
        simulate(SCENARIO, tmp_path / "x.log", duration_s=10, faults=[spec])
    for word in BAD_SPECS[spec]:
        assert word in str(error.value)
    assert not (tmp_path / "x.log").exists()


@pytest.mark.parametrize("scenario,spec,kind,debounce,extra", [
    ("city_drive", "value:BmsPackStatus.pack_voltage_v=300@20+3", "pack_voltage_vs_cells", 5, set()),
    ("highway_tow", "value:HitchLoad.tongue_load_kg=1200@20+3", "hitch_status_vs_load", 5, {"tongue_overload"}),
    ("dc_fast_charge", "value:BmsPackStatus.soc_pct=100@20+3", "soc_vs_bms_state", 3, set()),
])
def test_value_faults_trip_the_plausibility_rules(tmp_path, scenario, spec, kind, debounce, extra):
    """Raised on the debounce-th faulty frame, cleared on the first real one after the window."""
    result = simulate(scenario, tmp_path / "v.log", duration_s=30, seed=3, faults=[spec])
    truth = result.truth
    (fault,) = truth["faults"]
    listed = fault["frames"]
    assert len(listed) == 30 if fault["message"] == "BmsPackStatus" else len(listed) == 150
    assert all(20 <= entry["t"] < 23 for entry in listed)
    after = next(t / 1e6 for t, f in read(result.log) if name_of(f) == fault["message"] and t >= 23_000_000)
    alerts = [a for a in truth["expected_alerts"] if a["kind"] not in extra]
    assert [(a["kind"], a["start"], a["end"], a["cause"]) for a in alerts] == [
        (kind, listed[debounce - 1]["t"], after, [0])]
    assert {a["kind"] for a in truth["expected_alerts"]} == {kind} | extra
