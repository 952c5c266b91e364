"""On the emulated Pyboard (32-bit, armv7emsp, 100 KB heap) telemetry "changed" allocates
nothing per frame either: the board's replay path with the run records and the deadband
comparison, 1,500 frames of a busy bus (test_app_heap_qemu.py's harness, its config set;
supervision off, so the wire fits beside the board: test_app_heap_qemu.py holds it at 0 B)."""

from __future__ import annotations

from pathlib import Path

from host_tools.codegen.build import compile_mpy
from host_tools.flash import build_firmware
from host_tools.vboard import QemuBoard
from qemu_testing import mpremote, qemu_firmware
from test_app_heap import SCRIPT
from test_telemetry_changed import busy, replay_wire  # noqa: F401  (busy: the fixture)

HERE = Path(__file__).resolve().parent


def test_changed_allocates_nothing_per_frame_on_32_bits(tmp_path, dbc, busy):  # noqa: F811
    firmware = qemu_firmware("100K")
    files = build_firmware(dbc, tmp_path / "fw", "armv7emsp", {"mode": "replay"})
    (tmp_path / "wire.bin").write_bytes(replay_wire(busy[:1500]))
    harness = tmp_path / "changed_heap_qemu.py"
    source = SCRIPT.read_text()
    assert '"board": "heap"}' in source and "import app  #" in source
    harness.write_text(source.replace("sys.argv[1]", '"/flash/fw"').replace("sys.argv[2]", '"/flash/wire.bin"')
                       .replace('"board": "heap"}', '"board": "heap", "telemetry": "changed", "refresh_ms": 250, "supervise": False}')
                       .replace("import app  #", "import os\nos.chdir('/flash/fw')  # its deadband file\nimport app  #")
                       + "print(1 if getattr(board, 'changed', None) else 0, getattr(board, 'changed_problem', None))\n")
    modules = [compile_mpy(harness, "armv7emsp"),
               compile_mpy(HERE / "heap_port_mp.py", "armv7emsp", tmp_path / "heap_port_mp.mpy")]
    (tmp_path / "board").mkdir()
    with QemuBoard(tmp_path / "board", heap="100K", firmware=firmware) as board:
        mpremote(board.port, "fs", "mkdir", ":fw")
        mpremote(board.port, "fs", "cp", *[str(f) for f in files if f.name != "main.py"], ":/flash/fw/")
        mpremote(board.port, "fs", "cp", *map(str, modules), str(tmp_path / "wire.bin"), ":/flash/")
        out = mpremote(board.port, "exec", "import changed_heap_qemu")
    heap, steady_frames, total, supervised, changed = map(int, out.split()[:5])
    assert total == 1500 and supervised == 0 and changed == 1, out
    assert steady_frames > 800
    assert heap == 0, f"{heap} heap bytes over {steady_frames} frames on the emulated Pyboard"
