"""The generated module's metadata (names, units, cycle times, ranges, scales, value
tables, SHA-256) read back through its API inside MicroPython equals cantools' view."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from host_tools.codegen.build import HOST_MARCH, compile_mpy, write_decoder
from host_tools.codegen.emit import _kind, _MessageWriter
from host_tools.dbc import load_dbc
from host_tools.engines.firmware_engine import MODULE, build_module, micropython_command
from mule_testing import FEATURE_DBCS, FILES, PROJECT_DBC

DUMP = Path(__file__).with_name("dump_metadata_mp.py")
BOARD_DUMP = Path(__file__).with_name("dump_board_mp.py")


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-15, abs_tol=1e-300)


@pytest.mark.parametrize("path", [PROJECT_DBC, *FEATURE_DBCS], ids=lambda p: p.stem)
def test_metadata_matches_cantools(path, tmp_path):
    dbc = load_dbc(path)
    build_module(dbc, tmp_path)
    result = subprocess.run(micropython_command(DUMP, [str(tmp_path), MODULE], heap="32M"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads(result.stdout)
    assert meta["sha256"] == dbc.sha256 and meta["name"] == path.name
    assert meta["max_signals"] == max(len(m.signals) for m in dbc.messages)
    assert [m["name"] for m in meta["messages"]] == [m.name for m in dbc.messages]
    for mi, (got, message) in enumerate(zip(meta["messages"], dbc.messages)):
        assert (got["frame_id"], got["ext"], got["length"]) == (
            message.frame_id, message.is_extended_frame, message.length)
        assert got["cycle_ms"] == message.cycle_time
        assert got["index"] == got["lookup"] == mi
        assert [s["name"] for s in got["signals"]] == [s.name for s in message.signals]
        for si, (sig, signal) in enumerate(zip(got["signals"], message.signals)):
            assert sig["index"] == si
            assert sig["unit"] == (signal.unit or "")
            assert sig["length"] == signal.length
            assert close(sig["range"][0], signal.minimum) and close(sig["range"][1], signal.maximum)
            scale, offset = sig["scale_offset"]
            assert close(scale, signal.conversion.scale) and close(offset, signal.conversion.offset)
            want = sorted((int(k), str(v)) for k, v in (signal.choices or {}).items())
            assert [tuple(c) for c in (sig["choices"] or [])] == want


@pytest.mark.parametrize("path", [PROJECT_DBC, *[FILES / "dbc" / f"{n}.dbc" for n in (
    "wide_signals", "float_signals", "signed", "mux_runs", "canfd_64")]], ids=lambda p: p.stem)
def test_board_profile_reads_what_the_full_one_does(path, tmp_path):
    """What the firmware reads at start-up (signal_count, lane_of, kind_of's length, signed and
    float bits, keys, lookup) is the same from the board profile, with or without the table
    walker in it (tables="all"), as from the full profile, and where the generator put it."""
    dbc = load_dbc(path)
    seen = []
    for name, board, tables in (("full", False, "auto"), ("board", True, "none"), ("walked", True, "all")):
        source = write_decoder(dbc, tmp_path / name / f"{name}_decoder.py", "viper", tables, board=board)
        compile_mpy(source, HOST_MARCH)
        source.unlink()
        result = subprocess.run(micropython_command(BOARD_DUMP, [str(source.parent), source.stem], heap="4M"),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        seen.append(json.loads(result.stdout))
    full, board, walked = seen
    assert len(walked["own"]) == 0 and len(board["own"]) == len(dbc.messages)
    for got in (board, walked):
        assert {k: v for k, v in got.items() if k != "own"} == {k: v for k, v in full.items() if k != "own"}
    for message, got in zip(dbc.messages, full["messages"], strict=True):
        lane_of = _MessageWriter(message, "viper").lane_of
        assert got["lanes"] == [lane_of[s.name] for s in message.signals]
        assert got["kinds"] == [_kind(s) & 0x1FF for s in message.signals]
