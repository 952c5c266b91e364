"""`mule replay --board qemu --speed max` of every simulator scenario: on the emulated
Pyboard (Cortex-M4F, float32, armv7emsp, the default 100 KB heap) every value verifies
against cantools with 0 lost and the board raises every alert the sidecar expects, as
test_replay_e2e.py checks on the unix board (its plan and logs, reused)."""

from __future__ import annotations

import pytest

from host_tools.replay import replay
from test_replay_e2e import PLAN, logs  # noqa: F401  (logs: the fixture, the same simulated drives)


@pytest.fixture(scope="module")
def board(qemu_replay_board):
    return qemu_replay_board


@pytest.mark.parametrize("scenario", sorted(PLAN))
def test_every_scenario_replays_verified_with_its_alerts_on_the_emulated_pyboard(board, dbc, logs, scenario):
    result = replay(logs[scenario], dbc, board.port, speed=None, board_stats=scenario == "trailer_sway")
    d = result.as_dict()
    assert result.ok, result.lines()
    assert d["frames_sent"] == d["frames_verified"] == d["log_contents"]["data_frames"] > 500
    assert d["frames_lost"] == d["mismatches"] == d["link_errors"] == 0, result.lines()
    assert d["frames_decoded"] == d["outcomes"]["decoded"] > 500
    check = d["alert_check"]
    assert check["status"] == "passed", check  # the board supervises: every alert checked
    assert d["alerts_matched"] == d["alerts_expected"] == d["alerts_raised"] == check["reference_matched"]
    if scenario in ("cold_soak", "trailer_sway"):
        assert d["alerts_expected"] >= 1
    if scenario == "trailer_sway":
        assert d["tow_range"]["count"] >= 11
        stats = d["board_stats"]
        print(f"emulated Pyboard after {scenario}: STATS {stats}")
        assert stats["heap_min_free"] >= 10 * 1024, stats  # headroom left with supervision on, 100 KB heap


def test_float64_signals_replay_bit_exact_on_the_float32_board(tmp_path):
    """TELEMETRY carries a signal's raw lanes, so an IEEE double the board cannot hold
    reaches the host whole and verifies against cantools raw-exact (float_signals.dbc)."""
    from host_tools.dbc import load_dbc
    from host_tools.vboard import QemuBoard
    from mule_testing import FILES
    from qemu_testing import qemu_firmware
    from test_vehicle_dbc_e2e import candump, replayed

    dbc = load_dbc(FILES / "dbc" / "float_signals.dbc")
    log = candump(dbc, tmp_path / "floats.log", 600)
    (tmp_path / "board").mkdir()
    with QemuBoard(tmp_path / "board", firmware=qemu_firmware("100K")) as board:
        d = replayed(dbc, board.port, log, tmp_path, {"supervise": False})
    assert d["frames_lost"] == 0 and d["mismatches"] == 0
    assert d["frames_verified"] == d["frames_sent"] == 600
