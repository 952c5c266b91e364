"""Numbers and paths on every subcommand's command line are checked when it is read: a
negative wait, an inf or a folder that cannot be written is refused (exit 2, naming the flag)
before anything starts."""

from __future__ import annotations

import argparse

import pytest

from host_tools.cli.args import non_negative_float, positive_float, writable_dir, writable_file
from host_tools.cli.main import build_parser

LOG = "tests/files/logs/candump_good.log"


def refused(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("argv,flag", [
    (["replay", LOG, "--settle", "-1"], "--settle"),
    (["replay", LOG, "--settle", "nan"], "--settle"),
    (["replay", LOG, "--reconnect-timeout", "-5"], "--reconnect-timeout"),
    (["replay", LOG, "--reconnect-timeout", "inf"], "--reconnect-timeout"),
    (["replay", LOG, "--report", "/proc/x"], "--report"),
    (["replay", LOG, "--report", LOG + "/x"], "--report"),
    (["replay", LOG, "--report", LOG], "--report"),
    (["monitor", "--port", "loop://", "--duration", "0"], "--duration"),
    (["monitor", "--port", "loop://", "--duration", "-inf"], "--duration"),
    (["monitor", "--port", "loop://", "--reconnect-timeout", "-1"], "--reconnect-timeout"),
    (["monitor", "--port", "loop://", "--record", "/proc/x/rec.log"], "--record"),
    (["stop", "--port", "loop://", "--timeout", "-3"], "--timeout"),
    (["demo", "--seconds", "nan"], "--seconds"),
    (["demo", "--log", "/proc/demo.log"], "--log"),
    (["decode", LOG, "-o", "/proc/out.jsonl"], "-o/--output"),
    (["decode", LOG, "-o", "tests"], "-o/--output"),
    (["codegen", "dbc/kia_ev_pickup.dbc", "-o", "/proc/x.py"], "-o/--output"),
    (["simulate", "city_drive", "-o", "x.log", "--duration", "inf"], "--duration"),
    (["simulate", "city_drive", "-o", "x.log", "--bus-load", "-1"], "--bus-load"),
])
def test_bad_numbers_and_paths_are_refused_naming_the_flag(capsys, argv, flag):
    err = refused(capsys, argv)
    assert f"argument {flag}:" in err
    assert "Traceback" not in err


def test_good_values_pass_through(tmp_path):
    args = build_parser().parse_args(["replay", LOG, "--settle", "0", "--reconnect-timeout", "2.5",
                                      "--report", str(tmp_path / "new" / "report")])
    assert (args.settle, args.reconnect_timeout) == (0.0, 2.5)
    assert not (tmp_path / "new").exists()  # checked, not created
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_the_number_types():
    assert positive_float("1e-3") == 0.001 and non_negative_float("0") == 0.0
    for text in ("0", "-1", "inf", "nan", "x", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_float(text)
    for text in ("-0.1", "-inf", "nan", "1e999"):
        with pytest.raises(argparse.ArgumentTypeError):
            non_negative_float(text)


def test_the_path_types(tmp_path):
    existing = tmp_path / "a.log"
    existing.write_text("keep me")
    assert writable_file(str(existing)) == existing and existing.read_text() == "keep me"
    assert writable_file(str(tmp_path / "sub" / "b.log")) == tmp_path / "sub" / "b.log"
    assert writable_dir(str(tmp_path)) == tmp_path
    with pytest.raises(argparse.ArgumentTypeError, match="is a directory"):
        writable_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="not a directory"):
        writable_dir(str(existing))
    with pytest.raises(argparse.ArgumentTypeError, match="cannot write in /proc"):
        writable_dir("/proc/mule-report")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.log"]


def test_an_escape_in_a_bad_number_is_not_echoed_raw(capsys):
    err = refused(capsys, ["replay", LOG, "--settle", "\x1b[2J"])
    assert "\x1b" not in err and "\\x1b[2J" in err
