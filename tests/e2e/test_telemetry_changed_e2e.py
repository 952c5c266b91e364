"""`mule replay --speed max` of a busy bus (highway_tow at 60 % bus load) to a board flashed
with `telemetry: changed`: every frame verified, the frames the board sent no record for
exactly the ones the host's BoardRule suppresses, 0 lost; on the unix board and on the
emulated Pyboard (Cortex-M4F, armv7emsp, 100 KB heap)."""

from __future__ import annotations

import pytest

from host_tools.board_codes import replay_us
from host_tools.engines import DECODED
from host_tools.flash import build_firmware, flash
from host_tools.logfile import read_frames
from host_tools.replay import replay
from host_tools.replay.check import Checker
from host_tools.simulate.run import simulate
from host_tools.telemetry_changed import BoardRule, deadbands
from host_tools.vboard import VirtualBoard

CONFIG = {"mode": "replay", "telemetry": "changed", "refresh_ms": 250}


@pytest.fixture(scope="module")
def busy_log(tmp_path_factory, dbc):
    log = tmp_path_factory.mktemp("busy") / "highway_tow_60.log"
    simulate("highway_tow", log, duration_s=3, bus_load_pct=60, dbc=dbc)
    return log


def suppressed(dbc, log) -> tuple[int, int]:
    """(frames, of them decoded with nothing to send) by the board's rule, replayed from the start."""
    frames = list(read_frames(log))
    rule = BoardRule(dbc, deadbands(dbc), CONFIG["refresh_ms"])
    checker = Checker(dbc)
    count = 0
    for frame in frames:
        status, mi, raw = checker.expected(frame)
        if status == DECODED and not rule.carried(mi, replay_us(frame.t, frames[0].t), raw):
            count += 1
    return len(frames), count


def check(result, dbc, log):
    d = result.as_dict()
    frames, quiet = suppressed(dbc, log)
    assert d["frames_sent"] == d["frames_verified"] == frames, result.lines()
    assert d["frames_lost"] == d["mismatches"] == d["frames_unchecked"] == d["link_errors"] == 0, result.lines()
    assert d["frames_suppressed"] == quiet > 100, (result.lines(), result.board_logs)
    assert not [text for _, text in result.board_logs if "unavailable" in text], result.board_logs
    return d


def test_changed_replays_a_busy_bus_verified_on_the_unix_board(tmp_path, dbc, busy_log):
    build_firmware(dbc, tmp_path / "board", "x64", CONFIG)
    with VirtualBoard(tmp_path / "board", heap="100K") as vb:
        result = replay(busy_log, dbc, vb.port, speed=None, board_stats=False)
    check(result, dbc, busy_log)


def test_changed_replays_a_busy_bus_verified_on_the_emulated_pyboard(tmp_path, dbc, busy_log):
    from host_tools.vboard import QemuBoard
    from qemu_testing import qemu_firmware

    firmware = qemu_firmware("100K")
    (tmp_path / "board").mkdir()
    with QemuBoard(tmp_path / "board", firmware=firmware) as board:
        # supervision and "changed" (~7 KB: its code 4.8 KB, 12 B a signal) leave ~8 KB of the
        # 100 KB heap, under mule flash's 10 KB margin: copied unweighed, the STATS say what is left
        flash(dbc, board.port, CONFIG, tmp_path / "fw", log=lambda text: None, check_fit_first=False)
        result = replay(busy_log, dbc, board.port, speed=None)
    d = check(result, dbc, busy_log)
    print(f"emulated Pyboard, telemetry changed: STATS {d['board_stats']}")
    assert d["board_stats"]["heap_min_free"] >= 6 * 1024, d["board_stats"]
