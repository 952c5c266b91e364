"""The supervision stage allocates nothing per frame in steady state, under a Pyboard-sized
heap (-X heapsize=100K), on clean traffic and while it raises alerts."""

from __future__ import annotations

import pytest

from host_tools.dbc import load_dbc
from host_tools.logfile import read_frames
from host_tools.simulate import simulate
from host_tools.supervise import check_frames
from host_tools.supervise import measure
from mule_testing import PROJECT_DBC


@pytest.fixture(scope="module")
def dbc():
    return load_dbc(PROJECT_DBC)


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
