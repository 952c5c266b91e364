"""On the emulated Pyboard (32-bit, armv7emsp; docs/hardware.md) the board's replay path
(link reader → decode → supervision → TELEMETRY in app.Board) allocates nothing per frame,
with the Pyboard's 100 KB heap: what test_app_heap.py checks on the unix port, where a value
above 2**30 is still a small int and so allocates nothing (e.g. `x & 0xFFFFFFFF`: 32 bytes a
frame on the board, 0 there)."""

from __future__ import annotations

import random
from pathlib import Path

from host_tools.codegen.build import compile_mpy
from host_tools.flash import build_firmware
from host_tools.sample_frames import random_frame
from host_tools.vboard import QemuBoard
from qemu_testing import mpremote, qemu_firmware
from test_app_heap import SCRIPT, replay_wire

HERE = Path(__file__).resolve().parent


def test_replay_allocates_nothing_per_frame_on_32_bits(tmp_path, dbc):
    firmware = qemu_firmware("100K")
    files = build_firmware(dbc, tmp_path / "fw", "armv7emsp", {"mode": "replay"})
    rnd = random.Random(3)
    frames = [random_frame(dbc, rnd) for _ in range(400)]  # with unknown ids and bad frames
    (tmp_path / "wire.bin").write_bytes(replay_wire(frames))
    # The harness compiled (its source would not fit beside the board), its two paths
    # written in: the qemu port has no sys.argv
    harness = tmp_path / "app_heap_qemu.py"
    harness.write_text(SCRIPT.read_text().replace("sys.argv[1]", '"/flash/fw"')
                       .replace("sys.argv[2]", '"/flash/wire.bin"'))
    modules = [compile_mpy(harness, "armv7emsp"),
               compile_mpy(HERE / "heap_port_mp.py", "armv7emsp", tmp_path / "heap_port_mp.mpy")]
    (tmp_path / "board").mkdir()
    with QemuBoard(tmp_path / "board", heap="100K", firmware=firmware) as board:
        mpremote(board.port, "fs", "mkdir", ":fw")
        mpremote(board.port, "fs", "cp", *[str(f) for f in files if f.name != "main.py"], ":/flash/fw/")
        mpremote(board.port, "fs", "cp", *map(str, modules), str(tmp_path / "wire.bin"), ":/flash/")
        out = mpremote(board.port, "exec", "import app_heap_qemu")
    heap, steady_frames, total, supervised = map(int, out.split())
    assert total == len(frames)  # every frame went through the board
    assert supervised == 1  # the board's whole path, supervision included, fits a 100 KB heap
    assert steady_frames > 200
    assert heap == 0, f"{heap} heap bytes over {steady_frames} frames on the emulated Pyboard"
