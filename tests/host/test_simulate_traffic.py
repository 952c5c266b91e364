"""Fault-free simulated traffic as a receiver sees it: every log format reads back through
host_tools.logfile with nothing bad, every frame decodes with cantools with a valid counter
and CRC, messages come at their cycle times, and the same seed gives the same bytes."""

from __future__ import annotations

import gc
import json
import statistics
from collections import defaultdict

import pytest

import host_tools.simulate.run as run_module
from host_tools.dbc import load_dbc
from host_tools.e2e import payload_crc, protection
from host_tools.logfile import LogStats, read_frames
from host_tools.simulate import EPOCH, SCENARIOS, SimulateError, simulate
from mule_testing import PROJECT_DBC

DBC = load_dbc(PROJECT_DBC)


def log_frames(path):
    """Frames of a log, all of them, with t in seconds after the epoch (ASC counts from the
    start of measurement, which the simulator puts at the epoch)."""
    stats = LogStats()
    frames = list(read_frames(path, skip_bad=True, stats=stats))
    assert stats.bad_records == []
    return [(round((f.t - EPOCH if f.t > 1e9 else f.t) * 1e6), f) for f in frames]


def assert_well_formed(frames):
    """Every frame decodes with cantools, has its DBC length, a CRC that checks and a counter
    one up from the previous frame of its id."""
    last = {}
    for t, f in frames:
        message = DBC.lookup(f.can_id, f.ext)
        assert message is not None, f"{f.where}: id {f.can_id:#x} is not in the DBC"
        assert len(f.data) == message.length, f.where
        decoded = message.decode(f.data, decode_choices=False, scaling=False)
        guard = protection(message)
        if guard:
            assert f.data[-1] == payload_crc(f.data), f"{f.where}: bad CRC"
            counter = decoded[guard.counter]
            if message.name in last:
                assert counter == (last[message.name] + 1) & 15, f"{f.where}: counter {counter} after {last[message.name]}"
            last[message.name] = counter
    return last


@pytest.fixture(scope="module")
def tow(tmp_path_factory):
    """highway_tow for 20 s, seed 7, in every format."""
    folder = tmp_path_factory.mktemp("tow")
    return {suffix: simulate("highway_tow", folder / f"tow{suffix}", duration_s=20, seed=7)
            for suffix in (".log", ".asc", ".blf")}


@pytest.mark.parametrize("suffix", [".log", ".asc", ".blf"])
def test_every_format_reads_back_and_every_frame_is_well_formed(tow, suffix):
    result = tow[suffix]
    frames = log_frames(result.log)
    assert len(frames) == result.frames == result.truth["frames"]["total"]
    assert [t for t, _ in frames] == sorted(t for t, _ in frames)
    counters = assert_well_formed(frames)
    assert set(counters) == {m.name for m in DBC.messages if protection(m)}


def test_the_formats_hold_the_same_frames(tow):
    seen = {suffix: [(t, f.can_id, f.ext, f.data) for t, f in log_frames(r.log)] for suffix, r in tow.items()}
    assert seen[".log"] == seen[".asc"] == seen[".blf"]


def test_each_message_at_its_cycle_time_with_some_jitter(tow):
    times = defaultdict(list)
    for t, f in log_frames(tow[".blf"].log):
        times[DBC.lookup(f.can_id, f.ext).name].append(t / 1e6)
    counts = tow[".blf"].truth["messages"]
    for message in DBC.messages:
        period = message.cycle_time / 1000 / (32 if message.is_multiplexed() else 1)
        gaps = [b - a for a, b in zip(times[message.name], times[message.name][1:])]
        assert counts[message.name]["frames"] == len(times[message.name])
        assert abs(len(times[message.name]) - 20 / period) <= 1, message.name
        assert statistics.mean(gaps) == pytest.approx(period, rel=1e-3), message.name  # clock drift < 100 ppm
        assert 0.9 * period < min(gaps) and max(gaps) < 1.1 * period, message.name
        if period >= 0.02:
            assert statistics.pstdev(gaps) > 1e-5, f"{message.name}: no jitter at all"


def test_cell_groups_go_round_once_a_second(tow):
    cells = DBC.database.get_message_by_name("BmsCellVoltages")
    groups = [cells.decode(f.data)["cell_group"] for _, f in log_frames(tow[".log"].log) if f.can_id == cells.frame_id]
    assert groups[:64] == list(range(32)) * 2
    assert groups == [(groups[0] + k) % 32 for k in range(len(groups))]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for suffix in (".blf", ".asc", ".log"):
        a = simulate("city_drive", tmp_path / f"a{suffix}", duration_s=8, seed=3, faults=["bad_crc:HitchLoad@2"])
        b = simulate("city_drive", tmp_path / f"b{suffix}", duration_s=8, seed=3, faults=["bad_crc:HitchLoad@2"])
        c = simulate("city_drive", tmp_path / f"c{suffix}", duration_s=8, seed=4, faults=["bad_crc:HitchLoad@2"])
        assert a.log.read_bytes() == b.log.read_bytes(), suffix
        assert a.log.read_bytes() != c.log.read_bytes(), suffix
        truth_a = json.loads(a.truth_file.read_text())
        truth_b = json.loads(b.truth_file.read_text())
        truth_a["log"].pop("file"), truth_b["log"].pop("file")
        assert truth_a == truth_b


def test_a_run_pauses_the_garbage_collector_and_leaves_it_as_it_was(tmp_path, monkeypatch):
    seen = []
    real_check = run_module.check_format
    monkeypatch.setattr(run_module, "check_format", lambda path: (seen.append(gc.isenabled()), real_check(path)))
    assert gc.isenabled()
    simulate("city_drive", tmp_path / "on.log", duration_s=1)
    assert gc.isenabled() and seen == [False]
    with pytest.raises(SimulateError):
        simulate("city_drive", tmp_path / "bad.log", duration_s=-1)
    assert gc.isenabled()
    gc.disable()
    try:
        simulate("city_drive", tmp_path / "off.log", duration_s=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_scenario_starts_well_formed(tmp_path, name):
    result = simulate(name, tmp_path / f"{name}.log", duration_s=6, seed=1)
    frames = log_frames(result.log)
    assert_well_formed(frames)
    assert result.truth["frames"]["messages"] == len(frames)
    assert result.truth["expected_alerts"] == []  # nothing goes wrong in the first 6 s of any scenario


def test_background_traffic_brings_the_bus_to_the_asked_load(tmp_path):
    result = simulate("highway_tow", tmp_path / "busy.blf", duration_s=6, seed=2, bus_load_pct=40)
    frames = log_frames(result.log)
    bits = sum((67 if f.ext else 47) + 8 * len(f.data) for _, f in frames)
    assert bits / 6 / 500_000 == pytest.approx(0.40, abs=0.01)
    fault = result.truth["faults"][0]
    assert fault["kind"] == "background" and fault["spec"] == "--bus-load 40"
    ids = {int(item["id"], 16) for item in fault["ids"]}
    unknown = [f for _, f in frames if DBC.lookup(f.can_id, f.ext) is None]
    assert {f.can_id for f in unknown} == ids
    assert len(unknown) == fault["frame_count"] == result.truth["frames"]["background"]
    assert_well_formed([(t, f) for t, f in frames if DBC.lookup(f.can_id, f.ext)])


def test_a_background_frame_jittered_before_the_logs_start_expects_no_alert(tmp_path):
    # seed 0: another ECU's first frame lands 8 µs before the epoch, the log's first frame.
    # The first frame is never out of order (the board raises nothing): no alert expected.
    result = simulate("highway_tow", tmp_path / "busy.log", duration_s=1, seed=0, bus_load_pct=60)
    first_t, _ = next(iter(log_frames(result.log)))
    assert first_t < 0  # µs after the epoch
    assert result.truth["expected_alerts"] == []


def test_a_dbc_whose_value_tables_disagree_is_refused(tmp_path):
    text = PROJECT_DBC.read_text().replace('VAL_ 272 gear 0 "P" 1 "R"', 'VAL_ 272 gear 0 "R" 1 "P"')
    assert 'gear 0 "R"' in text
    other = tmp_path / "swapped_gears.dbc"
    other.write_text(text)
    with pytest.raises(SimulateError, match="VcuVehicleStatus.gear: the DBC's value table"):
        simulate("city_drive", tmp_path / "x.log", duration_s=2, dbc=other)


def test_the_sway_scenario_and_a_value_fault_are_deterministic(tmp_path):
    runs = [simulate("trailer_sway", tmp_path / f"{k}.blf", duration_s=70, seed=seed,
                     faults=["value:HitchLoad.tongue_load_kg=1100@30+1"])
            for k, seed in enumerate((4, 4, 5))]
    assert runs[0].log.read_bytes() == runs[1].log.read_bytes() != runs[2].log.read_bytes()
    truths = [json.loads(r.truth_file.read_text()) for r in runs]
    for truth in truths:
        truth["log"].pop("file")
    assert truths[0] == truths[1]
    assert {a["kind"] for a in truths[0]["expected_alerts"]} == {"trailer_sway", "hitch_status_vs_load",
                                                                "tongue_overload"}
