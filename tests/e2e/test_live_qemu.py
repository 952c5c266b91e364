"""Live mode end to end on the emulated Pyboard (QEMU, Cortex-M4F, float32) with its virtual
CAN bus: `mule flash --mode live`, `mule monitor --record` watching, a scenario played onto
the bus's slcan port by `mule simulate --bus`, and frames from an independent python-can
slcan client (live_session.py). The board's machine.CAN (frozen into its firmware) reads
the bus, and every frame the monitor recorded from the board's decode equals (cantools) one
put on the bus. The unix board's twin: test_live_virtual.py."""

from __future__ import annotations

import re

from host_tools.vboard import QemuBoard
from live_session import assert_in_order, run_live, same
from qemu_testing import qemu_firmware

SCENARIO = ["trailer_sway", "--duration", "2", "--seed", "7"]


def test_live_mode_on_the_emulated_pyboard_decodes_what_the_bus_carried(tmp_path):
    firmware = qemu_firmware("100K")
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    with QemuBoard(board_dir, firmware=firmware, can=True) as board:
        run = run_live(board.port, board.can_bus.port, tmp_path, SCENARIO, monitor_s=8, settle_s=3)
        stats = board.can_bus.stats
    out = run.out
    assert run.monitor_rc == 0, out
    assert stats.from_adapter == len(run.sent) and stats.unacked == 0, stats  # the board's controller acked them all
    assert_in_order(run.got, run.sent)
    # a frame is missing only when the board's 3-deep FIFO overflowed, and the board said so
    # (an emulated board on a loaded machine is slower than a Pyboard: a 7 ms loop was seen)
    overflows = re.search(r"FIFO overflows\s+([\d,]+)", out)
    assert overflows, out
    overflows = int(overflows.group(1).replace(",", ""))
    lost = len(run.sent) - len(run.got)
    assert (lost == 0) == (overflows == 0) and overflows <= lost, (lost, overflows, out)
    assert len(run.got) >= 0.5 * len(run.sent), f"{len(run.got)} of {len(run.sent)} frames recorded"
    assert all(any(same(e, g) for g in run.got) for e in run.extra), "the python-can client's frames"
    assert "mode live" in out, out
    tongue = re.search(r"tongue load\s+([\d,]+) kg", out)
    assert tongue and int(tongue.group(1).replace(",", "")) == 555, out  # the client's last frame
