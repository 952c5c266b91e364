"""The supervision stage allocates nothing per frame in steady state, under a Pyboard-sized
heap (-X heapsize=100K), on clean traffic and while it raises alerts."""

from __future__ import annotations

from host_tools.logfile import read_frames
from host_tools.simulate import simulate
from host_tools.supervise_bench import measure
from host_tools.supervision.reference import check_frames, with_values


def frames_of(dbc, tmp_path, faults=()):
    log = tmp_path / "drive.log"
    simulate("highway_tow", log, duration_s=5, seed=4, faults=list(faults), dbc=dbc)
    return [f for f in read_frames(log) if f.kind == "data"][:600]


def test_supervision_allocates_nothing_per_frame_on_clean_traffic(dbc, tmp_path):
    result = measure(dbc, frames_of(dbc, tmp_path), rounds=1, heap="100K")
    assert result["steady_frames"] >= 400
    assert result["alerts"] == 0
    assert result["heap_bytes"] == 0, f"{result['heap_bytes']} heap bytes over {result['steady_frames']} frames"


def test_supervision_allocates_nothing_while_raising_alerts(dbc, tmp_path):
    faults = ["dropout:HitchLoad@2+0.3", "bad_crc:BmsPackStatus@2.5+0.3", "stuck_counter:HitchLoad@3+0.1",
              "out_of_range:tongue_load_kg@3.3+0.1", "dlc:BmsTempStats@3.6"]
    frames = frames_of(dbc, tmp_path, faults)
    result = measure(dbc, frames, rounds=1, heap="100K")
    assert result["alerts"] == len(check_frames(dbc, frames)) > 10  # the board's count, the reference's
    assert result["heap_bytes"] == 0


def test_sway_plausibility_debounce_and_range_allocate_nothing(dbc, tmp_path):
    import math

    log = tmp_path / "moving.log"
    simulate("highway_tow", log, duration_s=20, seed=4, dbc=dbc)
    frames = [f for f in read_frames(log) if f.kind == "data"][-600:]  # moving: the range has distance
    t0 = frames[0].t
    out = []
    for f in frames:  # a sway from the first frame on, a pack voltage off by 100 V, a debounce pending
        name = dbc.lookup(f.can_id, f.ext).name
        t = f.t - t0
        if name == "HitchLoad":
            f = with_values(dbc, f, {"hitch_angle_deg": round(5 * math.sin(2 * math.pi * 0.9 * t), 1)})
        elif name == "BmsPackStatus" and 1.0 <= t < 3.0:
            f = with_values(dbc, f, {"pack_voltage_v": 300.0})
        out.append(f)
    config = {"tow_range": {"min_window_m": 10}}  # estimates from the first seconds on
    tows: list = []
    events = check_frames(dbc, out, config, tow_out=tows)
    assert {"trailer_sway", "pack_voltage_vs_cells"} <= {e.kind for e in events}
    assert any(r.range_dkm > 0 for r in tows)
    result = measure(dbc, out, rounds=1, heap="100K", overrides=config)
    assert result["alerts"] == len(events)
    assert result["heap_bytes"] == 0
