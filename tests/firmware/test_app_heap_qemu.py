"""On the emulated Pyboard (32-bit, armv7emsp; docs/hardware.md) the board's replay path
(link reader → decode → supervision → TELEMETRY in app.Board) allocates nothing per frame:
what test_app_heap.py checks on the unix port, where a value above 2**30 is still a small
int and so allocates nothing there (e.g. `x & 0xFFFFFFFF`: 32 bytes a frame on the board)."""

from __future__ import annotations

import random
from pathlib import Path

from host_tools.flash import build_firmware
from host_tools.sample_frames import random_frame
from host_tools.vboard import QemuBoard
from qemu_testing import mpremote, qemu_firmware
from test_app_heap import SCRIPT, replay_wire

HERE = Path(__file__).resolve().parent
# The board, the wire bytes and the harness together do not fit 100 KB; what is measured is
# the heap the steady frames allocate, which does not depend on the heap's size.
HEAP = "256K"


def test_replay_allocates_nothing_per_frame_on_32_bits(tmp_path, dbc):
    firmware = qemu_firmware(HEAP)
    files = build_firmware(dbc, tmp_path / "fw", "armv7emsp", {"mode": "replay"})
    rnd = random.Random(3)
    frames = [random_frame(dbc, rnd) for _ in range(400)]  # with unknown ids and bad frames
    (tmp_path / "wire.bin").write_bytes(replay_wire(frames))
    (tmp_path / "board").mkdir()
    # the qemu port has no sys.argv: the harness gets its two paths written in
    run = ("src = open('app_heap_mp.py').read().replace('sys.argv[1]', '\"/flash/fw\"')"
           ".replace('sys.argv[2]', '\"/flash/wire.bin\"')\nexec(src)")
    with QemuBoard(tmp_path / "board", heap=HEAP, firmware=firmware) as board:
        mpremote(board.port, "fs", "mkdir", ":fw")
        mpremote(board.port, "fs", "cp", *[str(f) for f in files if f.name != "main.py"], ":/flash/fw/")
        mpremote(board.port, "fs", "cp", str(SCRIPT), str(HERE / "heap_port_mp.py"), str(tmp_path / "wire.bin"),
                 ":/flash/")
        out = mpremote(board.port, "exec", run)
    heap, steady_frames, total, supervised = map(int, out.split())
    assert total == len(frames)  # every frame went through the board
    assert supervised == 1
    assert steady_frames > 200
    assert heap == 0, f"{heap} heap bytes over {steady_frames} frames on the emulated Pyboard"
