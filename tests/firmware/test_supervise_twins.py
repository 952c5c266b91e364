"""The board runs supervision's viper twins (Supervisor.frame as _frame_v and what it
calls), the host the plain Python of the same file: on the unix port they raise the same
alerts on the same frames with the same values, and give the same towing range estimates,
also with every debounce counting, thresholds the simulator's traffic crosses often, and
values exactly on every threshold's edge (tests/files/supervision/threshold_edges.json)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from host_tools.flash import build_firmware
from host_tools.logfile import read_frames
from host_tools.simulate import simulate
from host_tools.supervise_bench import pack_frames
from host_tools.supervision.reference import check_frames
from host_tools.tools import tool
from host_tools.dbc import load_dbc
from mule_testing import FILES, PROJECT_DBC

SCRIPT = Path(__file__).resolve().parent / "supervise_twins_mp.py"

# (scenario, seconds, faults, settings): frame faults, value faults on the plausibility and
# level rules, an unplugged trailer on the move, and the scenarios of the other conditions
LOGS = [
    ("highway_tow", 20, ["dropout:HitchLoad@3+0.5", "stuck_counter:BmsPackStatus@5+0.3", "counter_jump:HitchLoad=7@7",
                         "counter_jump:BmsCellStats=3@7.5", "bad_crc:VcuVehicleStatus@8+0.2",
                         "out_of_range:cell_050_mv@9+1.5", "out_of_range:tongue_load_kg@10+0.12", "dlc:BmsCellStats@11",
                         "out_of_order@12", "bus_off@13+0.4", "background:40",
                         "value:BmsPackStatus.pack_voltage_v=300@15+0.45",
                         "value:BmsPackStatus.pack_voltage_v=300@16+0.7",
                         "value:HitchLoad.tongue_load_kg=1200@17+0.11",
                         "value:BmsPackStatus.pack_current_a=1400@18+0.25",
                         "value:HitchLoad.drawbar_force_n=-45000@19+0.5"], []),
    ("highway_tow", 10, ["value:HitchLoad.trailer_connected=0@8+0.3"],
     ["trailer_mass_kg=5000", "soc_pct=19", "pack_temp_c=56"]),
    # exactly at the clear levels (off_at_or_below, off_within) and at an on threshold;
    # single frames beyond the thresholds between runs of them (a debounce that starts and
    # is reset); a timeout found by the scan
    ("highway_tow", 12, ["value:HitchLoad.drawbar_force_n=45000@3+0.3", "value:HitchLoad.drawbar_force_n=36000@3.3+0.3",
                         "value:HitchLoad.drawbar_force_n=45000@5+0.015",
                         "value:HitchLoad.drawbar_force_n=45000@5.1+0.05",
                         "value:BmsCellStats.cell_v_max_mv=4100@3+0.5", "value:BmsCellStats.cell_v_min_mv=3990@3+1",
                         "value:BmsCellStats.cell_v_max_mv=4070@3.5+0.5", "value:BmsTempStats.cell_t_max_c=60@3+0.3",
                         "value:BmsTempStats.cell_t_max_c=52@3.3+0.3", "value:BmsTempStats.cell_t_max_c=18@4+0.3",
                         "value:BmsPackStatus.pack_current_a=1400@6+0.1",
                         "value:BmsPackStatus.pack_current_a=1400@6.5+0.3",
                         "value:BmsPackStatus.pack_voltage_v=300@8+0.1",
                         "value:BmsPackStatus.pack_voltage_v=300@8.5+0.7",
                         "dropout:BmsTempStats@9+0.5", "value:BmsCellStats.cell_v_max_mv=4100@10+0.1",
                         "value:BmsCellStats.cell_v_max_mv=4100@10.5+0.5",
                         "value:BmsCellStats.cell_v_max_mv=4091@11.2+0.3",
                         "value:BmsCellStats.cell_v_min_mv=3990@11.2+0.3"], []),
    ("sensor_fault", 34, [], []),
    ("cold_soak", 30, [], []),
    ("trailer_sway", 13, [], ["sway_start_s=1"]),
    ("dc_fast_charge", 33, ["value:BmsPackStatus.soc_pct=100@30+2"], []),
] + [(e["scenario"], e["seconds"], e["faults"], [])
     for e in json.loads((FILES / "supervision" / "threshold_edges.json").read_text(encoding="utf-8"))]
CONFIGS = {
    "defaults": None,
    # a debounce counting on every rule that takes one, and thresholds crossed all the time
    "busy": {"rules": [{"kind": "cell_spread", "debounce": 3, "on_above": 20.0, "off_at_or_below": 10.0},
                       {"kind": "pack_current_beyond_limits", "debounce": 2, "margin": -50.0, "clear_margin": -60.0},
                       {"kind": "overtemperature", "debounce": 2, "on_above": 20.0, "off_at_or_below": 18.0},
                       {"kind": "drawbar_overload", "debounce": 2},
                       {"kind": "trailer_disconnected_moving", "speed_above": 0.0},
                       {"kind": "pack_voltage_vs_cells", "debounce": 2, "on_above": 1.0, "off_at_or_below": 0.5}]},
}


@pytest.fixture(scope="module")
def logs(dbc, tmp_path_factory):
    directory = tmp_path_factory.mktemp("twins")
    out = []
    for k, (scenario, seconds, faults, settings) in enumerate(LOGS):
        log = directory / f"{scenario}-{k}.log"
        simulate(scenario, log, duration_s=seconds, seed=5 + k, faults=faults, settings=settings, dbc=dbc)
        frames = [f for f in read_frames(log) if f.kind == "data"]
        blob = directory / f"{scenario}-{k}.bin"
        blob.write_bytes(pack_frames(frames))
        out.append((frames, blob))
    return out


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_the_boards_viper_supervision_equals_the_host_reference(dbc, logs, config, tmp_path):
    build_firmware(dbc, tmp_path / "fw", "x64", {"mode": "replay", "supervision": CONFIGS[config] or {}})
    kinds = set()
    for frames, blob in logs:
        tows: list = []
        alerts = check_frames(dbc, frames, CONFIGS[config], tow_out=tows)
        want = [("A",) + e.key() for e in alerts] + [("T", r.frame_no, r.range_dkm, r.wh_per_km, r.window_m)
                                                    for r in tows]
        result = subprocess.run([tool("micropython"), str(SCRIPT), str(tmp_path / "fw"), str(blob)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr
        got = [tuple(line.split()[:1]) + tuple(map(int, line.split()[1:])) for line in result.stdout.splitlines()]
        assert sorted(got) == sorted(want)
        kinds |= {e.kind for e in alerts}
    assert len(kinds) == 19, kinds  # every rule raised (and cleared) on the way


def test_an_unknown_ids_frame_moves_the_clock_on_the_board_as_in_the_reference(dbc, tmp_path):
    """The board hands another ECU's frame to supervise.other (not frame()) when that only moves
    the clock: a known frame older than an unknown id's frame just before it is out of order
    there too, and the unknown frames that fall due for the timeout scan still raise it."""
    from collections import namedtuple

    Frame = namedtuple("Frame", "t can_id ext data")
    log = simulate("highway_tow", tmp_path / "base.log", duration_s=1, seed=3, dbc=dbc).log
    known = [f for f in read_frames(log) if f.kind == "data" and dbc.lookup(f.can_id, f.ext) is not None]
    t_end = known[-1].t
    frames = [Frame(f.t, f.can_id, f.ext, bytes(f.data)) for f in known]
    # other ECUs' frames every 0.1 ms for 4 ms (most between two timeout scans, 5 ms apart),
    # then a known frame 3.5 ms on: older than the one before it
    frames += [Frame(t_end + 0.0001 * (k + 1), 0x7F0, False, bytes(8)) for k in range(40)]
    frames.append(Frame(t_end + 0.0035, known[-1].can_id, known[-1].ext, bytes(known[-1].data)))
    # then only other ECUs' frames for 2 s: every message times out through the scan
    frames += [Frame(t_end + 0.005 + k * 0.001, 0x7F0, False, bytes(8)) for k in range(2000)]
    blob = tmp_path / "frames.bin"
    blob.write_bytes(pack_frames(frames))
    want = [("A",) + e.key() for e in check_frames(dbc, frames)]
    assert any(a[2] == 7 for a in want) and any(a[2] == 1 for a in want)  # out_of_order, timeout
    build_firmware(dbc, tmp_path / "fw", "x64", {"mode": "replay"})
    result = subprocess.run([tool("micropython"), str(SCRIPT), str(tmp_path / "fw"), str(blob)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    got = [tuple(line.split()[:1]) + tuple(map(int, line.split()[1:])) for line in result.stdout.splitlines()]
    assert sorted(got) == sorted(want)


def test_the_plain_twins_constants_are_supervises():
    """firmware/supervise_plain.py (the host's bytecode twins, not on the board) repeats the
    constants of supervise.py it uses: each by the same name and value."""
    import re

    from host_tools import FIRMWARE_DIR
    from host_tools.supervision.firmware import fw, plain

    names = re.findall(r"^(_[A-Z][A-Z0-9_]*) = const\(", (FIRMWARE_DIR / "supervise_plain.py").read_text(), re.M)
    assert len(names) > 100
    assert [n for n in names if getattr(plain, n) != getattr(fw, n, None)] == []


def test_the_board_keeps_the_crc_table_not_the_e2e_module(tmp_path):
    """supervise builds e2e's 256-byte CRC table itself and imports no e2e (its module and
    names are heap no board module uses after start-up): the same table, byte for byte."""
    from host_tools.e2e import _e2e

    files = build_firmware(load_dbc(PROJECT_DBC), tmp_path / "fw", "x64", {"mode": "replay"})
    assert files
    script = ("import sys\nsys.path.insert(0, %r)\nimport supervise\n"
              "print('e2e' in sys.modules, bytes(supervise._CRC8) == %r)\n" % (str(tmp_path / "fw"), _e2e._TABLE))
    said = subprocess.run([tool("micropython"), "-c", script], capture_output=True, text=True, timeout=30)
    assert said.stdout.split() == ["False", "True"], said.stdout + said.stderr
