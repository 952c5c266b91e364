"""Test helpers shared across tests/: paths, comparing two engines' outcomes, and talking to
a (virtual) board's serial port."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from host_tools.sample_frames import SampleFrame, choose_mux, random_frame, set_bits  # noqa: F401
from host_tools.verify import mismatches

REPO = Path(__file__).resolve().parent.parent
FILES = REPO / "tests" / "files"
PROJECT_DBC = REPO / "dbc" / "kia_ev_pickup.dbc"
FEATURE_DBCS = sorted(p for p in (FILES / "dbc").glob("*.dbc"))


def disagreements(message_of, reference, candidate) -> list[str]:
    """Differences between two engines' outcomes for the same frames (empty: agree)."""
    problems = []
    for (frame, want), (_, got) in zip(reference, candidate, strict=True):
        where = f"id {frame.can_id:#x} data {frame.data.hex()}"
        if (want.status, want.msg) != (got.status, got.msg):
            problems.append(f"{where}: {want.status}/{want.msg} vs {got.status}/{got.msg}")
            continue
        problems.extend(f"{where}: {problem}" for problem in
                        mismatches(message_of(frame), want.raw, want.phys, got.raw, got.phys))
    return problems


def read_until(port, marker: bytes, timeout: float = 10.0) -> bytes:
    """What a serial port says up to and including `marker`; fails the test without it."""
    data = b""
    end = time.monotonic() + timeout
    while marker not in data and time.monotonic() < end:
        data += port.read(port.in_waiting or 1)
    assert marker in data, data
    return data


def mpremote(port: str, *args: str, timeout: float = 120) -> str:
    """mpremote connect PORT ARGS...: its stdout; fails the test when it fails."""
    from host_tools.tools import tool

    result = subprocess.run([tool("mpremote"), "connect", port, *args], capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# main.py for a board's Ctrl-C test: it prints "listening" and loops; with a file "deaf"
# beside it, it turns Ctrl-C off (micropython.kbd_intr(-1)) and prints "deaf" first.
KBD_INTR_MAIN = ("import micropython, time\n"
                 "try:\n"
                 "    open('deaf').close()\n"
                 "    micropython.kbd_intr(-1)\n"
                 "    print('deaf')\n"
                 "except OSError:\n"
                 "    print('listening')\n"
                 "while True:\n"
                 "    time.sleep_ms(10)\n")


def assert_stop_ends_it(board) -> None:
    """A virtual board (unix or qemu) started and stopped: its process gone, its pty closed."""
    import os

    import pytest

    board.start()
    pid = board._proc.pid
    board.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert board._user_master == -1 and board._proc is None


def supervising_board(dbc, log):
    """A loopback board that raises what the board's supervision raises on `log` (the host
    reference's events, a timeout's deadline in board µs included), so the replay's
    reference agrees with it."""
    from host_tools.link import messages as m
    from host_tools.logfile import read_frames
    from host_tools.replay.loopback import LoopbackBoard
    from host_tools.supervision.reference import check_frames

    events: dict = {}
    for e in check_frames(dbc, [f for f in read_frames(log) if f.kind == "data"]):
        events.setdefault(e.frame_no, []).append(e)
    first = []

    def alerts(frame_no, record):
        first[:] = first or [frame_no]
        return [m.Alert(frame_no, e.code, e.severity, e.mi, e.si, e.value, e.text)
                for e in events.get(frame_no - first[0], ())]

    board = LoopbackBoard(dbc, alerts=alerts)
    board.expected_events = sum(map(len, events.values()))
    return board


def simulated_tow_logs(folder: Path) -> Path:
    """`folder` with two 3 s highway_tow logs by `mule simulate`: tow1.log (seed 1) and tow2.blf
    (seed 2), for the tests that decode several logs of different formats."""
    import sys

    for seed, suffix in ((1, ".log"), (2, ".blf")):
        subprocess.run([sys.executable, "-m", "host_tools.cli.main", "simulate", "highway_tow", "--duration", "3",
                        "--seed", str(seed), "-o", str(folder / f"tow{seed}{suffix}")], check=True,
                       capture_output=True)
    return folder
