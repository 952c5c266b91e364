"""On the emulated Pyboard (32-bit, armv7emsp, 100 KB heap) telemetry "changed" allocates
nothing per frame either: the board's replay path with the run records and the deadband
comparison, 1,500 frames of a busy bus (test_app_heap_qemu.py's harness, its config set;
supervision off, so the wire fits beside the board: test_app_heap_qemu.py holds it at 0 B)."""

from __future__ import annotations

from qemu_testing import heap_harness_on_board
from test_app_heap import SCRIPT
from test_telemetry_changed import busy, replay_wire  # noqa: F401  (busy: the fixture)


def test_changed_allocates_nothing_per_frame_on_32_bits(tmp_path, dbc, busy):  # noqa: F811
    source = SCRIPT.read_text()
    assert '"board": "heap"}' in source and "import app  #" in source
    source = (source.replace('"board": "heap"}', '"board": "heap", "telemetry": "changed", "refresh_ms": 250, "supervise": False}')
              .replace("import app  #", "import os\nos.chdir('/flash/fw')  # its deadband file\nimport app  #")
              + "print(1 if getattr(board, 'changed', None) else 0, getattr(board, 'changed_problem', None))\n")
    out = heap_harness_on_board(tmp_path, dbc, replay_wire(busy[:1500]), source, "changed_heap_qemu")
    heap, steady_frames, total, supervised, changed = map(int, out.split()[:5])
    assert total == 1500 and supervised == 0 and changed == 1, out
    assert steady_frames > 800
    assert heap == 0, f"{heap} heap bytes over {steady_frames} frames on the emulated Pyboard"
