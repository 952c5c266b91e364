"""A live-mode session on a virtual board with its CAN bus, as a user runs it (shared by
test_live_virtual.py, the unix board, and test_live_qemu.py, the emulated Pyboard): `mule
flash --mode live`, `mule monitor --record` watching, a scenario played onto the bus's slcan
port by `mule simulate --bus`, then frames from an independent python-can slcan client."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import can
import cantools

from host_tools import DEFAULT_DBC

MULE = [sys.executable, "-m", "host_tools.cli.main"]
HITCH_VALUES = [(111.0, 1000.0), (222.0, 2000.0), (333.0, 3000.0), (444.0, 4000.0), (555.0, 5000.0)]


@dataclass
class LiveRun:
    sent: list  # (id, values) of every DBC frame put on the bus, cantools-decoded, in order
    extra: list  # those the python-can client sent
    got: list  # (id, values) of every frame the monitor recorded from the board
    out: str  # the monitor's output (its last dashboard)
    monitor_rc: int


def decoded(db, messages):
    out = []
    for msg in messages:
        try:
            values = db.decode_message(msg.arbitration_id, bytes(msg.data), decode_choices=False)
        except KeyError:
            continue
        out.append((msg.arbitration_id, values))
    return out


def same(a, b) -> bool:
    return a[0] == b[0] and a[1].keys() == b[1].keys() and all(
        math.isclose(a[1][k], b[1][k], rel_tol=1e-6, abs_tol=1e-6) for k in a[1])


def assert_in_order(got, sent) -> None:
    """Each recorded frame is one that was sent, in the order sent (some may be missing)."""
    i = 0
    for frame in got:
        while i < len(sent) and not same(frame, sent[i]):
            i += 1
        assert i < len(sent), f"recorded frame {frame} was not put on the bus (or not in this order)"
        i += 1


def _mule(args, **kw):
    return subprocess.run(MULE + args, capture_output=True, text=True, **kw)


def run_live(port: str, slcan_port: str, tmp_path: Path, scenario: list[str], monitor_s: int,
             settle_s: float) -> LiveRun:
    """Flash the board on `port` in live mode, then monitor it for monitor_s seconds while,
    after settle_s (the monitor's SYNC and HELLO), the scenario and the client's HitchLoad
    frames go onto the bus."""
    db = cantools.database.load_file(str(DEFAULT_DBC))
    played, recorded = tmp_path / "played.log", tmp_path / "recorded.log"
    env = dict(os.environ, COLUMNS="160")
    flashed = _mule(["flash", "--port", port, "--mode", "live"], timeout=120, env=env)
    assert flashed.returncode == 0, flashed.stdout + flashed.stderr
    assert "machine.CAN" in flashed.stdout + flashed.stderr
    monitor = subprocess.Popen(MULE + ["monitor", "--port", port, "--duration", str(monitor_s), "--record",
                                       str(recorded)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    try:
        time.sleep(settle_s)
        sim = _mule(["simulate", *scenario, "-o", str(played), "--bus", f"slcan:{slcan_port}"], timeout=60)
        assert sim.returncode == 0, sim.stdout + sim.stderr
        assert re.search(r"played [\d,]+ frames", sim.stdout), sim.stdout
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
    with can.LogReader(str(played)) as reader:
        sent = decoded(db, list(reader) + extra)
    with can.LogReader(str(recorded)) as reader:
        got = decoded(db, list(reader))
    return LiveRun(sent, decoded(db, extra), got, out, monitor.returncode)
