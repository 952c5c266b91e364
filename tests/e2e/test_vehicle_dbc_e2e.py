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
from host_tools.vboard import VirtualBoard
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


def test_mule_replay_board_qemu_runs_the_vehicle_dbc_out_of_the_box(tmp_path):
    """`mule replay --board qemu --dbc` the 330-message DBC, nothing else given: supervision
    (131 KB of heap: its module, rules and a row per message and per signal) cannot fit beside
    the decoder on the 100 KB heap, so the replay turns it off and says so in one line; every
    value verified, 0 lost, at least 30 KB of heap free while streaming (STATS)."""
    import json
    import subprocess
    import sys

    qemu_firmware("100K")  # built (or the test skips, saying why)
    dbc = load_dbc(VEHICLE, warn=None)
    log = candump(dbc, tmp_path / "vehicle.log", 1500)
    out = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "replay", "--board", "qemu", "--dbc",
                          str(VEHICLE), str(log), "--speed", "max", "--report", str(tmp_path / "report")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    said = [line for line in out.stderr.splitlines() if "supervision off" in line]
    assert len(said) == 1 and "mule replay: supervision off: it needs " in said[0], out.stderr[-3000:]
    assert " KB of heap and the board has " in said[0] and "--set supervise=false" in said[0]
    d = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert d["frames_lost"] == 0 and d["mismatches"] == 0
    assert d["frames_verified"] == d["frames_sent"] == 1500
    assert d["board_stats"]["heap_min_free"] >= 30 * 1024, (d["board_stats"], out.stderr[-2500:])


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
