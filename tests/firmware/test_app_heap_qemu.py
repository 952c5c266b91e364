"""On the emulated Pyboard (32-bit, armv7emsp; docs/hardware.md) the board's replay path
(link reader → decode → supervision → TELEMETRY in app.Board) allocates nothing per frame,
with the Pyboard's 100 KB heap: what test_app_heap.py checks on the unix port, where a value
above 2**30 is still a small int and so allocates nothing (e.g. `x & 0xFFFFFFFF`: 32 bytes a
frame on the board, 0 there)."""

from __future__ import annotations

import random

from host_tools.sample_frames import random_frame
from qemu_testing import heap_harness_on_board
from test_app_heap import SCRIPT, replay_wire


def test_replay_allocates_nothing_per_frame_on_32_bits(tmp_path, dbc):
    rnd = random.Random(3)
    frames = [random_frame(dbc, rnd) for _ in range(400)]  # with unknown ids and bad frames
    out = heap_harness_on_board(tmp_path, dbc, replay_wire(frames), SCRIPT.read_text(), "app_heap_qemu")
    heap, steady_frames, total, supervised = map(int, out.split())
    assert total == len(frames)  # every frame went through the board
    assert supervised == 1  # the board's whole path, supervision included, fits a 100 KB heap
    assert steady_frames > 200
    assert heap == 0, f"{heap} heap bytes over {steady_frames} frames on the emulated Pyboard"
