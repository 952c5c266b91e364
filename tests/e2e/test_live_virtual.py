"""Live mode end to end with only the laptop: a virtual board with its CAN bus, `mule flash
--mode live`, `mule monitor --record` watching, a scenario played onto the bus's slcan port
by `mule simulate --bus`, and frames from an independent python-can slcan client. Every
frame the monitor recorded decodes (cantools) to what was put on the bus. (The session:
live_session.py; the emulated Pyboard's twin: test_live_qemu.py.)"""

from __future__ import annotations

import re

from host_tools.vboard import VirtualBoard
from live_session import assert_in_order, run_live, same

SCENARIO = ["trailer_sway", "--duration", "3", "--seed", "7"]


def test_live_mode_on_the_virtual_board_records_what_the_bus_carried(tmp_path):
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    with VirtualBoard(board_dir, can=True) as board:
        run = run_live(board.port, board.can_bus.port, tmp_path, SCENARIO, monitor_s=10, settle_s=4)
    out = run.out
    assert run.monitor_rc == 0, out
    # in order, each recorded frame is one that was sent (a frame the board's FIFO lost is
    # counted on the dashboard; the board keeps up here, so allow at most 2 %)
    assert_in_order(run.got, run.sent)
    assert len(run.got) >= 0.98 * len(run.sent), f"{len(run.got)} of {len(run.sent)} frames recorded"
    assert all(any(same(e, g) for g in run.got) for e in run.extra), "the python-can client's frames"
    assert "mode live" in out, out
    tongue = re.search(r"tongue load\s+([\d,]+) kg", out)
    assert tongue and int(tongue.group(1).replace(",", "")) == 555, out  # the client's last frame
    assert re.search(r"SOC\s+[\d.]+ %", out), out
