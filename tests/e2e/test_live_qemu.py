"""Live mode end to end on the emulated Pyboard (QEMU, Cortex-M4F, float32) with its virtual
CAN bus: `mule flash --mode live`, `mule monitor --record` watching, a scenario played onto
the bus's slcan port by `mule simulate --bus`, and frames from an independent python-can
slcan client. The board's machine.CAN (frozen into its firmware) reads the bus, and every
frame the monitor recorded from the board's decode equals (cantools) one put on the bus.
The unix board's twin: test_live_virtual.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import can
import cantools

from host_tools import DEFAULT_DBC
from host_tools.vboard import QemuBoard
from qemu_testing import qemu_firmware
from test_live_virtual import HITCH_VALUES, _decoded, _same

MULE = [sys.executable, "-m", "host_tools.cli.main"]
SCENARIO = ["trailer_sway", "--duration", "2", "--seed", "7"]


def _run(args, **kw):
    return subprocess.run(MULE + args, capture_output=True, text=True, **kw)


def test_live_mode_on_the_emulated_pyboard_decodes_what_the_bus_carried(tmp_path):
    firmware = qemu_firmware("100K")
    db = cantools.database.load_file(str(DEFAULT_DBC))
    played = tmp_path / "played.log"
    recorded = tmp_path / "recorded.log"
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    env = dict(os.environ, COLUMNS="160")
    with QemuBoard(board_dir, firmware=firmware, can=True) as board:
        slcan_port = board.can_bus.port
        flashed = _run(["flash", "--port", board.port, "--mode", "live"], timeout=120, env=env)
        assert flashed.returncode == 0, flashed.stdout + flashed.stderr
        assert "machine.CAN" in flashed.stdout + flashed.stderr
        monitor = subprocess.Popen(MULE + ["monitor", "--port", board.port, "--duration", "8", "--record",
                                           str(recorded)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env)
        try:
            time.sleep(3)  # the monitor's SYNC and HELLO
            sim = _run(["simulate", *SCENARIO, "-o", str(played), "--bus", f"slcan:{slcan_port}"], timeout=60)
            assert sim.returncode == 0, sim.stdout + sim.stderr
            hitch = db.get_message_by_name("HitchLoad")
            extra = []
            client = can.Bus(interface="slcan", channel=slcan_port, bitrate=500000, sleep_after_open=0)
            try:
                for load, force in HITCH_VALUES:
                    values = {s.name: 0 for s in hitch.signals}
                    values.update({"tongue_load_kg": load, "drawbar_force_n": force, "trailer_connected": 1})
                    msg = can.Message(arbitration_id=hitch.frame_id, data=hitch.encode(values, strict=False),
                                      is_extended_id=hitch.is_extended_frame)
                    client.send(msg)
                    extra.append(msg)
                    time.sleep(0.02)
            finally:
                client.shutdown()
            out, _ = monitor.communicate(timeout=30)
        finally:
            if monitor.poll() is None:
                monitor.kill()
                monitor.wait()
        stats = board.can_bus.stats
    assert monitor.returncode == 0, out
    with can.LogReader(str(played)) as reader:
        sent = _decoded(db, list(reader) + extra)
    with can.LogReader(str(recorded)) as reader:
        got = _decoded(db, list(reader))
    assert stats.from_adapter == len(sent) and stats.unacked == 0, stats  # the board's controller acked them all
    i = 0
    for frame in got:  # in order, each recorded frame is one that was sent
        while i < len(sent) and not _same(frame, sent[i]):
            i += 1
        assert i < len(sent), f"recorded frame {frame} was not put on the bus (or not in this order)"
        i += 1
    # a frame is missing only when the board's 3-deep FIFO overflowed, and the board said so
    # (an emulated board on a loaded machine is slower than a Pyboard: a 7 ms loop was seen)
    overflows = re.search(r"FIFO overflows\s+([\d,]+)", out)
    assert overflows, out
    overflows = int(overflows.group(1).replace(",", ""))
    lost = len(sent) - len(got)
    assert (lost == 0) == (overflows == 0) and overflows <= lost, (lost, overflows, out)
    assert len(got) >= 0.5 * len(sent), f"{len(got)} of {len(sent)} frames recorded"
    assert all(any(_same(e, g) for g in got) for e in _decoded(db, extra)), "the python-can client's frames"
    assert "mode live" in out, out
    tongue = re.search(r"tongue load\s+([\d,]+) kg", out)
    assert tongue and int(tongue.group(1).replace(",", "")) == 555, out  # the client's last frame
