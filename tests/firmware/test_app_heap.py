"""The board's replay path (link → decode → supervision → TELEMETRY in app.Board) allocates
nothing per frame, under a Pyboard-sized heap."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from host_tools.dbc import load_dbc
from host_tools.flash import build_firmware
from host_tools.link import messages as m
from host_tools.link import wire
from host_tools.sample_frames import random_frame
from host_tools.tools import tool
from mule_testing import PROJECT_DBC

SCRIPT = Path(__file__).resolve().parent / "app_heap_mp.py"


def replay_wire(frames) -> bytes:
    encoder = wire.FrameEncoder()
    records = [m.CanRecord(i * 100, f.can_id, f.ext, f.data) for i, f in enumerate(frames)]
    out = b"".join(encoder.encode(*m.encode(batch)) for batch in m.split_batches(records))
    return out + encoder.encode(wire.STOP)


def test_replay_allocates_nothing_per_frame(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    build_firmware(dbc, tmp_path / "fw", "x64", {"mode": "replay"})
    rnd = random.Random(3)
    frames = [random_frame(dbc, rnd) for _ in range(400)]  # with unknown ids and bad frames
    (tmp_path / "wire.bin").write_bytes(replay_wire(frames))
    result = subprocess.run([tool("micropython"), "-X", "heapsize=100K", str(SCRIPT), str(tmp_path / "fw"),
                             str(tmp_path / "wire.bin")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    heap, steady_frames, total, supervised = map(int, result.stdout.split())
    assert total == len(frames)  # every frame went through the board
    assert supervised == 1  # the board's whole path, supervision included, fits a 100 KB heap
    assert steady_frames > 200
    assert heap == 0, f"{heap} heap bytes over {steady_frames} frames"


def test_replay_numbers_records_across_the_wrap(tmp_path):
    """A CAN batch that starts 3 before 2**30: its records are 2**30-3 .. 2**30-1, then 0, 1, 2
    in TELEMETRY (docs/protocol.md: frame numbers count mod 2**30), as the host numbers them."""
    from binascii import unhexlify

    dbc = load_dbc(PROJECT_DBC)
    build_firmware(dbc, tmp_path / "fw", "x64", {"mode": "replay", "supervise": False})
    rnd = random.Random(5)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(6)]
    first = m.FRAME_NO_MASK - 2
    records = [m.CanRecord(i * 100, f.can_id, f.ext, f.data) for i, f in enumerate(frames)]
    encoder = wire.FrameEncoder()
    body = b"".join(encoder.encode(*m.encode(b)) for b in m.split_batches(records, first_no=first))
    (tmp_path / "wire.bin").write_bytes(body + encoder.encode(wire.STOP))
    result = subprocess.run([tool("micropython"), "-X", "heapsize=1M", str(SCRIPT.with_name("app_wrap_mp.py")),
                             str(tmp_path / "fw"), str(tmp_path / "wire.bin")], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    receiver = m.host_receiver()
    numbers = []
    hellos = []
    lines = result.stdout.split("\n")
    free = int(lines[0].split()[1])  # gc.mem_free() once the board was built
    for line in lines[1:]:
        for frame in receiver.feed(unhexlify(line.strip())):
            if frame.type == m.TELEMETRY:
                numbers += [r.frame_no for r in m.decode_frame(frame, m.wide_signals(dbc)).records]
            elif frame.type == m.HELLO:
                hellos.append(m.decode_frame(frame))
    assert numbers == [first, first + 1, first + 2, 0, 1, 2]
    # HELLO says the heap free after start-up (docs/protocol.md)
    assert len(hellos) == 1 and abs(hellos[0].heap_free - free) <= 256, (hellos, free)
