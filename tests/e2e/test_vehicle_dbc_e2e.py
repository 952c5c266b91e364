"""The 330-message CAN FD DBC with overlapping signals on a board: flashed (board profile,
table walker), every frame of a random log replayed and verified against cantools (non-strict)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from host_tools.dbc import CANFD_LENGTHS, load_dbc
from host_tools.flash import flash
from host_tools.replay import replay
from host_tools.sample_frames import random_frame
from host_tools.vboard import QemuBoard, VirtualBoard
from mule_testing import FILES
from qemu_testing import qemu_firmware

VEHICLE = FILES / "dbc" / "vehicle_330_canfd_overlapping.dbc"


def candump(dbc, path: Path, frames: int) -> Path:
    rnd = random.Random("vehicle-e2e")
    with open(path, "w") as out:
        k = 0
        while k < frames:
            frame = random_frame(dbc, rnd, faults=k % 10 == 0)  # some wrong lengths, unknown ids
            if len(frame.data) not in CANFD_LENGTHS:
                continue  # no CAN frame has that length: not in a log
            message = dbc.lookup(frame.can_id, frame.ext)
            can_id = f"{frame.can_id:08X}" if frame.ext else f"{frame.can_id:03X}"
            fd = len(frame.data) > 8 or (message is not None and message.is_fd)
            out.write(f"({1000 + k * 0.001:.6f}) can0 {can_id}{'##0' if fd else '#'}{bytes(frame.data).hex()}\n")
            k += 1
    return path


def replayed(dbc, port: str, log: Path, tmp_path: Path, config: dict) -> dict:
    flash(dbc, port, {"mode": "replay", **config}, tmp_path / "build", log=lambda text: None)
    result = replay(log, dbc, port, speed=None)
    assert result.ok, result.lines()
    return result.as_dict()


def test_the_vehicle_dbc_on_the_unix_board_with_a_pyboard_heap(tmp_path):
    dbc = load_dbc(VEHICLE, warn=None)
    log = candump(dbc, tmp_path / "vehicle.log", 2000)
    (tmp_path / "board").mkdir()
    with VirtualBoard(tmp_path / "board", heap="100K") as board:
        d = replayed(dbc, board.port, log, tmp_path, {"supervise": False})  # 64-bit objects: as on the Pyboard
    assert d["frames_lost"] == 0 and d["mismatches"] == 0
    assert d["frames_verified"] == d["frames_sent"] == 2000


def test_the_vehicle_dbc_on_the_emulated_pyboard_leaves_30k_free(tmp_path):
    elf = qemu_firmware("100K")
    dbc = load_dbc(VEHICLE, warn=None)
    log = candump(dbc, tmp_path / "vehicle.log", 1500)
    (tmp_path / "board").mkdir()
    with QemuBoard(tmp_path / "board", firmware=elf) as board:
        # supervision's code and the timeout tables of 330 messages do not fit beside it (docs/decoder.md)
        d = replayed(dbc, board.port, log, tmp_path, {"supervise": False})
    assert d["frames_lost"] == 0 and d["mismatches"] == 0
    assert d["frames_verified"] == d["frames_sent"] == 1500
    assert d["board_stats"]["heap_min_free"] >= 30 * 1024, d["board_stats"]


def test_a_board_decoding_some_messages_says_so_after_hello(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "flash", "--vboard-dir", str(tmp_path / "vb"),
                          "--dbc", str(VEHICLE), "--nodes", "HITCH", "--set", "supervise=false"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    chosen = len([m for m in load_dbc(VEHICLE, warn=None).messages if "HITCH" in m.senders])
    assert f"decoder of {chosen} of 330 messages: decoder cost: " in out.stderr
    assert (f"the board says: decoder: {chosen} of the DBC's 330 messages (mule flash --messages/--nodes); "
            "frames of the others count as unknown ids") in out.stderr
