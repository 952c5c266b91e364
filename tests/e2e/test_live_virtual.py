"""Live mode end to end with only the laptop: a virtual board with its CAN bus, `mule flash
--mode live`, `mule monitor --record` watching, a scenario played onto the bus's slcan port
by `mule simulate --bus`, and frames from an independent python-can slcan client. Every
frame the monitor recorded decodes (cantools) to what was put on the bus."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import can
import cantools

from host_tools import DEFAULT_DBC
from host_tools.vboard import VirtualBoard

MULE = [sys.executable, "-m", "host_tools.cli.main"]
SCENARIO = ["trailer_sway", "--duration", "3", "--seed", "7"]
HITCH_VALUES = [(111.0, 1000.0), (222.0, 2000.0), (333.0, 3000.0), (444.0, 4000.0), (555.0, 5000.0)]


def _decoded(db, messages):
    out = []
    for msg in messages:
        try:
            values = db.decode_message(msg.arbitration_id, bytes(msg.data), decode_choices=False)
        except KeyError:
            continue
        out.append((msg.arbitration_id, values))
    return out


def _same(a, b) -> bool:
    return a[0] == b[0] and a[1].keys() == b[1].keys() and all(
        math.isclose(a[1][k], b[1][k], rel_tol=1e-6, abs_tol=1e-6) for k in a[1])


def _run(args, **kw):
    return subprocess.run(MULE + args, capture_output=True, text=True, **kw)


def test_live_mode_on_the_virtual_board_records_what_the_bus_carried(tmp_path):
    db = cantools.database.load_file(str(DEFAULT_DBC))
    played = tmp_path / "played.log"
    recorded = tmp_path / "recorded.log"
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    env = dict(os.environ, COLUMNS="160")
    with VirtualBoard(board_dir, can=True) as board:
        slcan_port = board.can_bus.port
        flashed = _run(["flash", "--port", board.port, "--mode", "live"], timeout=120, env=env)
        assert flashed.returncode == 0, flashed.stdout + flashed.stderr
        assert "machine.CAN" in flashed.stdout + flashed.stderr
        monitor = subprocess.Popen(MULE + ["monitor", "--port", board.port, "--duration", "10", "--record",
                                           str(recorded)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env)
        try:
            time.sleep(4)  # the monitor's SYNC and HELLO
            sim = _run(["simulate", *SCENARIO, "-o", str(played), "--bus", f"slcan:{slcan_port}"], timeout=60)
            assert sim.returncode == 0, sim.stdout + sim.stderr
            assert re.search(r"played [\d,]+ frames", sim.stdout), sim.stdout
            # an independent client: python-can's own slcan interface
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
    assert monitor.returncode == 0, out
    with can.LogReader(str(played)) as reader:
        sent = _decoded(db, list(reader) + extra)
    with can.LogReader(str(recorded)) as reader:
        got = _decoded(db, list(reader))
    # in order, each recorded frame is one that was sent (a frame the board's FIFO lost is
    # counted on the dashboard; the board keeps up here, so allow at most 2 %)
    i = 0
    for frame in got:
        while i < len(sent) and not _same(frame, sent[i]):
            i += 1
        assert i < len(sent), f"recorded frame {frame} was not put on the bus (or not in this order)"
        i += 1
    assert len(got) >= 0.98 * len(sent), f"{len(got)} of {len(sent)} frames recorded"
    assert all(any(_same(e, g) for g in got) for e in _decoded(db, extra)), "the python-can client's frames"
    assert "mode live" in out, out
    tongue = re.search(r"tongue load\s+([\d,]+) kg", out)
    assert tongue and int(tongue.group(1).replace(",", "")) == 555, out  # the client's last frame
    assert re.search(r"SOC\s+[\d.]+ %", out), out
