"""`mule simulate` as a user runs it, and docs/simulator.md covering what the code offers."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

from host_tools.cli import simulate as simulate_cli
from host_tools.simulate import KINDS, SCENARIOS
from host_tools.simulate.alerts import Limits
from mule_testing import FILES, REPO

DOC = (REPO / "docs" / "simulator.md").read_text(encoding="utf-8")
ALERT_KINDS = ("timeout", "dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order", "bus_off",
               "tongue_overload", "trailer_disconnected_moving", "cell_spread", "overtemperature",
               "soc_low_for_tow", "sensor_fault", "trailer_sway", "pack_voltage_vs_cells", "hitch_status_vs_load",
               "soc_vs_bms_state")


def mule_simulate(*args) -> subprocess.CompletedProcess:
    """Run the subcommand in a fresh interpreter, as `mule simulate ...` would."""
    code = ("import argparse, sys; from host_tools.cli import simulate; p = argparse.ArgumentParser(); "
            "s = p.add_subparsers(); simulate.add_subparser(s); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))")
    return subprocess.run([sys.executable, "-c", code, "simulate", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_list_describes_every_scenario_and_fault_kind():
    result = mule_simulate("--list")
    assert result.returncode == 0, result.stderr
    for name, scenario in SCENARIOS.items():
        assert f"  {name}  ({scenario.duration_s:g} s)" in result.stdout
    for kind in KINDS:
        assert f"  {kind}" in result.stdout
    assert "trailer_mass_kg=3200.0" in result.stdout  # highway_tow's parameters


def test_a_run_writes_the_log_and_its_truth(tmp_path):
    log = tmp_path / "drive.blf"
    result = mule_simulate("highway_tow", "--duration", "5", "--seed", "9", "--fault", "bad_crc:HitchLoad@2",
                           "--fault", "dropout:BmsPackStatus@1+1", "--bus-load", "20", "--set", "trailer_mass_kg=2000",
                           "-o", log)
    assert result.returncode == 0, result.stderr
    assert "highway_tow, 5 s, seed 9:" in result.stdout and "real time" in result.stdout
    assert "3 faults" in result.stdout and "crc" in result.stdout and "timeout" in result.stdout
    truth = json.loads((tmp_path / "drive.blf.truth.json").read_text())
    assert truth["seed"] == 9 and truth["duration_s"] == 5
    assert truth["scenario"]["parameters"]["trailer_mass_kg"] == 2000
    assert [f["spec"] for f in truth["faults"]] == ["bad_crc:HitchLoad@2", "dropout:BmsPackStatus@1+1", "--bus-load 20"]
    assert log.stat().st_size > 10_000


@pytest.mark.parametrize("args,words", [
    (["highway_tow", "--fault", "bad_crc:Hitch@2"], ["unknown message 'Hitch'", "HitchLoad"]),
    (["highway_tow", "--set", "trailer=1"], ["unknown parameter 'trailer'", "trailer_mass_kg"]),
    (["highway_tow", "--set", "plug_bounce=1"], ["unknown parameter 'plug_bounce'"]),
    (["unhitch_rehitch", "--set", "plug_bounce=maybe"], ["plug_bounce takes a bool"]),
    (["towing"], ["unknown scenario 'towing'", "highway_tow"]),
    (["city_drive", "--dbc", FILES / "dbc" / "mux_simple.dbc"], ["message 'MuxSparse' has no model", "HitchLoad"]),
    # not finite or not physical: refused before the log or its sidecar exists
    (["highway_tow", "--set", "trailer_mass_kg=inf"], ["trailer_mass_kg inf is outside 0..20000"]),
    (["highway_tow", "--set", "trailer_mass_kg=nan"], ["trailer_mass_kg nan is outside 0..20000"]),
    (["highway_tow", "--set", "cruise_kph=-inf"], ["cruise_kph -inf is outside 1..180"]),
    (["trailer_sway", "--set", "sway_hz=1e308"], ["sway_hz 1e+308 is outside 0.1..5"]),
    (["city_drive", "--set", "truck_mass_kg=1e9"], ["truck_mass_kg 1000000000.0 is outside 500..20000"]),
    (["highway_tow", "--bus-load", "nan"], ["--bus-load", "'nan': give a finite number"]),
    (["highway_tow", "--bus-load", "-3"], ["--bus-load", "give a number of 0 or more"]),
])
def test_mistakes_exit_2_naming_the_bad_part(tmp_path, args, words):
    result = mule_simulate(*args, "--duration", "3", "-o", tmp_path / "x.log")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr
    assert not (tmp_path / "x.log").exists()
    assert not (tmp_path / "x.log.truth.json").exists()


@pytest.mark.parametrize("duration", ["inf", "nan", "0", "-5"])
def test_a_duration_must_be_a_finite_positive_number(tmp_path, duration):
    result = mule_simulate("city_drive", "--duration", duration, "-o", tmp_path / "x.log")
    assert result.returncode == 2 and "argument --duration" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_parameter_has_a_finite_range():
    from host_tools.simulate.scenarios import LIMITS

    names = {f for s in SCENARIOS.values() for f in s.params.__dataclass_fields__}
    numeric = {n for s in SCENARIOS.values() for n in s.params.__dataclass_fields__
               if not isinstance(getattr(s.params, n), bool)}
    assert numeric <= set(LIMITS) <= names
    assert all(-1e6 < lo <= hi < 1e6 for lo, hi in LIMITS.values())


def test_an_unwritable_output_is_refused_before_simulating(tmp_path):
    result = mule_simulate("city_drive", "-o", "/proc/mule/x.log")
    assert result.returncode == 2 and "argument -o/--output" in result.stderr and "cannot write in" in result.stderr


def test_an_output_without_a_known_extension_is_refused(tmp_path):
    result = mule_simulate("city_drive", "-o", tmp_path / "x.trc")
    assert result.returncode == 2 and "name the log with one of .log, .asc, .blf" in result.stderr


def test_scenario_and_output_are_needed_unless_listing(capsys):
    parser = argparse.ArgumentParser()
    simulate_cli.add_subparser(parser.add_subparsers())
    args = parser.parse_args(["simulate", "city_drive"])
    assert args.func(args) == 2
    assert "-o FILE" in capsys.readouterr().err


def test_the_docs_cover_scenarios_faults_alerts_and_limits():
    for name in SCENARIOS:
        assert f"`{name}`" in DOC, name
    for kind in KINDS:
        assert re.search(rf"`{kind}[:@]", DOC), kind
    for kind in ALERT_KINDS:
        assert f"| `{kind}` |" in DOC, kind
    for limit in Limits().as_dict():
        assert limit in DOC, limit
    for key in ("schema", "tool", "dbc", "log", "scenario", "seed", "duration_s", "bus", "limits", "messages",
                "frames", "summary", "faults", "expected_alerts"):
        assert f"`{key}`" in DOC, key
