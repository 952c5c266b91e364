"""Measure a generated decoder inside MicroPython: frames/s and heap bytes per frame."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from host_tools.dbc import Dbc
from host_tools.engines.firmware_engine import MODULE, build_module, micropython_command

BENCH_SCRIPT = Path(__file__).resolve().parent / "mp" / "decode_bench.py"


def measure_decoder(dbc: Dbc, frames, rounds: int = 10, heap: str | None = None,
                    mode: str = "viper") -> dict:
    """Run the MicroPython benchmark on `frames` (objects with can_id, ext, data)."""
    with tempfile.TemporaryDirectory(prefix="mule-bench-") as tmp:
        directory = Path(tmp)
        build_module(dbc, directory, mode)
        frames_file = directory / "frames.txt"
        frames_file.write_text("".join(f"{f.can_id} {int(f.ext)} {bytes(f.data).hex()}\n" for f in frames))
        cmd = micropython_command(BENCH_SCRIPT, [tmp, MODULE, str(frames_file), str(rounds)], heap)
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        # MicroPython prints tracebacks on stdout
        raise RuntimeError(f"MicroPython benchmark failed: {(result.stdout + result.stderr).strip()}")
    return json.loads(result.stdout)
