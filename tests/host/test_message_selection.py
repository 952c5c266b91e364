"""--messages/--nodes on `mule decode` and `mule replay` (as on codegen and flash: one selection,
host_tools.dbc.select_messages): the other messages' frames are unknown ids, and the user is
told how many frames of which left-out messages the log held."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from host_tools.dbc import load_dbc, select_messages
from host_tools.logfile import read_frames
from host_tools.simulate import simulate
from mule_testing import PROJECT_DBC


def mule(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "host_tools.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def drive(tmp_path_factory):
    path = tmp_path_factory.mktemp("selection") / "drive.log"
    simulate("highway_tow", path, duration_s=1.0, seed=3, bus_load_pct=4)
    full = load_dbc(PROJECT_DBC, warn=None)
    frames = [f for f in read_frames(path) if f.kind == "data"]
    by_name = Counter(full.lookup(f.can_id, f.ext).name for f in frames if full.lookup(f.can_id, f.ext))
    return path, by_name


@pytest.mark.parametrize("engine", ["cantools", "firmware"])
def test_mule_decode_messages_decodes_those_and_names_the_others(drive, engine):
    path, by_name = drive
    out = mule("decode", path, "--engine", engine, "--messages", "BmsPackStatus,HitchLoad")
    assert out.returncode == 0, out.stderr
    names = Counter(json.loads(line)["msg"] for line in out.stdout.splitlines())
    assert names == {"BmsPackStatus": by_name["BmsPackStatus"], "HitchLoad": by_name["HitchLoad"]}
    others = {k: v for k, v in by_name.items() if k not in names}
    shown = ", ".join(sorted(others, key=lambda k: -others[k])[:5])
    assert (f"mule decode: {sum(others.values()):,} frames of {len(others)} DBC messages not among "
            f"--messages/--nodes (") in out.stderr, out.stderr
    assert "the decoder does not decode them; counted as unknown ids" in out.stderr
    assert all(name in out.stderr for name in shown.split(", "))


def test_mule_decode_nodes_is_select_messages(drive):
    path, by_name = drive
    chosen = {m.name for m in select_messages(load_dbc(PROJECT_DBC, warn=None), None, ["HITCH"]).messages}
    out = mule("decode", path, "--nodes", "HITCH")
    assert out.returncode == 0, out.stderr
    assert {json.loads(line)["msg"] for line in out.stdout.splitlines()} == chosen & set(by_name)


def test_a_name_the_dbc_lacks_is_refused_by_name(drive):
    path, _ = drive
    out = mule("decode", path, "--messages", "BmsPackStatus,NoSuchMessage")
    assert out.returncode != 0
    assert "no message named 'NoSuchMessage'" in out.stderr and "Traceback" not in out.stderr


def test_many_logs_with_a_selection_are_refused(drive):
    path, _ = drive
    out = mule("decode", path, path, "--format", "parquet", "-o", path.parent / "pq", "--nodes", "BMS")
    assert out.returncode == 2
    assert "--messages/--nodes decode one log" in out.stderr


def test_mule_replay_nodes_flashes_the_selection_and_says_what_the_board_left_out(drive, tmp_path):
    path, by_name = drive
    log = tmp_path / "no_sidecar.log"  # the sidecar's alerts are the whole DBC's
    log.write_bytes(path.read_bytes())
    chosen = {m.name for m in select_messages(load_dbc(PROJECT_DBC, warn=None), None, ["HITCH"]).messages}
    out = mule("replay", log, "--nodes", "HITCH", "--speed", "max", "--report", tmp_path / "report")
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"decoder: {len(chosen)} of the DBC's 8 messages" in out.stderr  # the board's own word
    others = {k: v for k, v in by_name.items() if k not in chosen}
    assert (f"{sum(others.values()):,} frames of {len(others)} DBC messages not among --messages/--nodes"
            in out.stdout), out.stdout
    assert "the board does not decode them; counted as unknown ids" in out.stdout
    d = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert d["frames_verified"] == d["frames_sent"] and d["mismatches"] == 0
    assert d["outcomes"]["unknown_id"] == d["frames_sent"] - sum(by_name[name] for name in chosen)
