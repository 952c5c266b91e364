"""`mule replay` and `mule monitor` end to end on the virtual board: every simulator
scenario replayed and verified, garbage on the link counted, a board reset mid-replay
detected and reported, the log's timing kept at --speed 1, and the command lines with
their report, exit status, Ctrl-C and the board flashed on the fly."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from host_tools.link.session import BoardLink
from host_tools.replay import Replay, replay
from host_tools.simulate import SCENARIOS, simulate
from mule_testing import REPO

# the subcommands as `mule` will run them, whether or not cli/main.py lists them yet
RUNNER = ("import argparse, sys\n"
          "from host_tools.cli import monitor, replay\n"
          "p = argparse.ArgumentParser(prog='mule')\n"
          "s = p.add_subparsers(required=True)\n"
          "replay.add_subparser(s); monitor.add_subparser(s)\n"
          "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n")

# scenario -> (seconds, log format, bus load %): short, but cold_soak long enough for its alert
PLAN = {"city_drive": (5, ".blf", None), "highway_tow": (5, ".asc", 25), "hitch_overload": (5, ".log", None),
        "unhitch_rehitch": (5, ".log", 10), "dc_fast_charge": (5, ".blf", None), "cold_soak": (9, ".log", None),
        "sensor_fault": (5, ".log", 30), "trailer_sway": (13, ".log", None)}
SETTINGS = {"trailer_sway": ["sway_start_s=1"]}  # the sway within the short log: its alert checked


def mule(*args, timeout=120, **kwargs):
    return subprocess.run([sys.executable, "-c", RUNNER, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, **kwargs)


@pytest.fixture(scope="module")
def board(pyboard_sized_board):
    return pyboard_sized_board


@pytest.fixture(scope="module")
def logs(tmp_path_factory, dbc):
    folder = tmp_path_factory.mktemp("scenarios")
    out = {}
    for name, (seconds, suffix, load) in PLAN.items():
        out[name] = simulate(name, folder / f"{name}{suffix}", duration_s=seconds, seed=1, bus_load_pct=load,
                             settings=SETTINGS.get(name, []), dbc=dbc).log
    return out


def test_the_plan_covers_every_scenario():
    assert set(PLAN) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", sorted(PLAN))
def test_every_scenario_replays_and_verifies_on_the_virtual_board(board, dbc, logs, scenario):
    # board_stats=False: no waiting for the board's STATS (the other tests check its counters)
    result = replay(logs[scenario], dbc, board.port, speed=None, board_stats=False)
    d = result.as_dict()
    assert result.ok, result.lines()
    assert d["frames_sent"] == d["frames_verified"] == d["log_contents"]["data_frames"] > 500
    assert d["frames_lost"] == d["mismatches"] == d["link_errors"] == 0
    assert d["frames_decoded"] == d["outcomes"]["decoded"] > 500
    if PLAN[scenario][2]:
        assert d["outcomes"]["unknown_id"] > 100  # other ECUs' frames: counted, and agreed on
    # the board supervises (HELLO says so): every alert checked against the sidecar and the
    # host reference, none missing, none extra ("not available" would mean supervision is off)
    check = d["alert_check"]
    assert check["status"] == "passed", check
    assert d["alerts_matched"] == d["alerts_expected"] == d["alerts_raised"] == check["reference_matched"]
    if scenario in ("cold_soak", "trailer_sway"):
        assert d["alerts_expected"] >= 1
    if scenario == "trailer_sway":  # the board's towing range estimate, once a second of log
        assert d["tow_range"]["count"] >= 11 and d["tow_range"]["window_m"] > 50


def test_garbage_on_the_link_costs_exactly_the_frames_it_hit(board, dbc, logs):
    rnd = random.Random(11)
    hit = set(rnd.sample(range(5, 60), 8))
    batches: dict[int, int] = {}

    def splice(k: int, wire: bytes) -> bytes:
        if k not in hit:
            return wire
        at = rnd.randrange(2, len(wire) - 2)
        return wire[:at] + bytes(rnd.getrandbits(8) | 1 for _ in range(5)) + wire[at:]

    run = Replay(logs["sensor_fault"], dbc, lambda: BoardLink(board.port, dbc), speed=None, tamper=splice,
                 after_batch=lambda k, next_n: batches.__setitem__(k, next_n))
    result = run.run()
    d = result.as_dict()
    in_hit = sum(batches[k] - batches.get(k - 1, 0) for k in hit)
    assert d["frames_lost"] == in_hit > 0
    assert d["frames_verified"] == d["frames_sent"] - in_hit  # every frame that arrived intact verifies
    assert d["mismatches"] == 0 and d["link"]["board"]["link_crc_errors"] + d["link"]["board"]["link_bad_frames"] \
        == len(hit) == d["link_errors"]
    assert not result.ok


def test_a_board_reset_mid_replay_is_detected_and_reported(board, dbc, logs):
    def reset(k: int, next_n: int) -> None:
        if k == 25:  # someone presses reset: the board reboots, runs main.py, says HELLO
            board.soft_reset()

    result = Replay(logs["highway_tow"], dbc, lambda: BoardLink(board.port, dbc), speed=None,
                    after_batch=reset).run()
    d = result.as_dict()
    assert d["resets"] == 1, result.lines()
    gap = d["gaps"][0]
    assert gap["kind"] == "reset" and gap["boot_before"] != gap["boot_after"]
    assert "new boot id" in gap["reason"] and gap["first_frame_after"] > 0
    # the virtual board keeps what the host wrote while it rebooted, so frames in flight may
    # survive; those that did not are counted in the gap (tests/host/test_replay_loopback.py
    # makes sure some are lost)
    assert d["frames_lost"] == gap["frames_lost"]
    assert d["frames_verified"] == d["frames_sent"] - d["frames_lost"]  # none duplicated or misattributed
    assert d["mismatches"] == 0 and d["stale_records"] == 0
    assert len(d["board"]["boots"]) == 2
    assert not result.ok  # a replay with a reset in it is not "everything verified"
    assert any(line.startswith("reset at") for line in result.lines())


def test_speed_1_keeps_the_logs_timing(board, dbc, tmp_path):
    log = simulate("sensor_fault", tmp_path / "busy.log", duration_s=3, seed=2, bus_load_pct=60, dbc=dbc).log
    result = replay(log, dbc, board.port, speed=1.0)
    d = result.as_dict()
    assert result.ok, result.lines()
    assert d["frames_sent"] > 6000  # ~2,300 frames/s
    assert abs(d["duration"]["error_pct"]) < 1.0, d["duration"]
    timing = d["timing_error"]
    assert timing["frames"] == d["frames_sent"] and timing["p50_ms"] < 1.0, timing
    assert timing["within_2ms_pct"] > 90, timing


def test_the_command_line_reports_and_exits_0_only_when_everything_verified(board, logs, tmp_path):
    out = mule("replay", logs["cold_soak"], "--port", board.port, "--speed", "max", "--report", tmp_path / "rep")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "everything verified" in out.stdout and "report:" in out.stdout
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["ok"] and summary["frames_verified"] == summary["frames_sent"]
    assert {p.name for p in (tmp_path / "rep").iterdir()} >= {"index.html", "tongue_load.png", "alerts.jsonl",
                                                               "mismatches.jsonl"}
    damaged = tmp_path / "damaged.log"
    lines = logs["sensor_fault"].read_text().splitlines()
    lines[40] = "(1700000000.1) can0 2G0#00"
    damaged.write_text("\n".join(lines) + "\n")
    out = mule("replay", damaged, "--port", board.port, "--speed", "max")
    assert out.returncode == 1 and "damaged.log:41:" in out.stderr and "--skip-bad" in out.stderr
    out = mule("replay", damaged, "--port", board.port, "--speed", "max", "--skip-bad")
    assert out.returncode == 0 and "1 damaged records skipped" in out.stdout, out.stdout + out.stderr
    out = mule("replay", damaged, "--port", board.port, "--speed", "fast")
    assert out.returncode == 2 and "--speed 'fast'" in out.stderr


def test_ctrl_c_stops_cleanly_with_a_partial_report(board, dbc, tmp_path):
    log = simulate("city_drive", tmp_path / "long.log", duration_s=30, seed=3, dbc=dbc).log
    proc = subprocess.Popen([sys.executable, "-c", RUNNER, "replay", str(log), "--port", board.port,
                             "--report", str(tmp_path / "rep")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=REPO)
    try:
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stdout
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert summary["interrupted"] and summary["frames_not_sent"] > 0 and summary["frames_sent"] > 0
    assert summary["frames_verified"] == summary["frames_sent"]  # what went out was all answered


def test_without_a_port_a_virtual_board_is_flashed_on_the_fly(logs):
    out = mule("replay", logs["sensor_fault"], "--speed", "max")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "virtual board on" in out.stderr and "matches" in out.stderr
    assert "everything verified" in out.stdout


def test_monitor_shows_the_board_and_records_a_session(board, tmp_path):
    out = mule("monitor", "--port", board.port, "--duration", "1.5", "--record", tmp_path / "s.log")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "mode replay" in out.stdout and "Cycle times: measured vs DBC" in out.stdout
    assert "HitchLoad" in out.stdout and "recorded 0 frames" in out.stdout
    assert (tmp_path / "s.log").exists()
