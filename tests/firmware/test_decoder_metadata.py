"""The generated module's metadata (names, units, cycle times, ranges, scales, value
tables, SHA-256) read back through its API inside MicroPython equals cantools' view."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from host_tools.dbc import load_dbc
from host_tools.engines.firmware_engine import MODULE, build_module, micropython_command
from mule_testing import FEATURE_DBCS, PROJECT_DBC

DUMP = Path(__file__).with_name("dump_metadata_mp.py")


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
