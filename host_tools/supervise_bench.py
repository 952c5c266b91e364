"""What supervision costs on the board: the firmware as `mule flash` builds it, run in the
MicroPython unix port by host_tools/mp/supervise_bench.py (times and heap), or under valgrind
(instructions). bench/bench_supervise.py prints the figures."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

from host_tools.dbc import Dbc
from host_tools.flash import build_firmware
from host_tools.supervision.reference import replay_times
from host_tools.tools import tool

BENCH_SCRIPT = Path(__file__).resolve().parent / "mp" / "supervise_bench.py"


def pack_frames(frames) -> bytes:
    out = bytearray()
    for frame, t in zip(frames, replay_times(frames)):
        data = bytes(frame.data)[:8]
        out += struct.pack("<IIBB", t, frame.can_id, int(frame.ext), len(data)) + data.ljust(8, b"\0")
    return bytes(out)


def _bench_firmware(dbc: Dbc, directory: Path, frames, arch: str | None, overrides: dict | None) -> tuple[Path, Path]:
    """The firmware as `mule flash` builds it and the frames as supervise_bench.py reads them."""

    fw = directory / "fw"
    build_firmware(dbc, fw, arch, {"mode": "replay", "supervision": overrides or {}})
    blob = directory / "frames.bin"
    blob.write_bytes(pack_frames(frames))
    return fw, blob


def measure(dbc: Dbc, frames, rounds: int = 3, heap: str | None = "100K", arch: str | None = "x64",
            overrides: dict | None = None) -> dict:
    """For `frames`: µs per frame of the decoder call alone and with supervision (decode_us,
    supervised_us, added_pct), of the board's per-frame path (app.Board.decode: decode and
    TELEMETRY) without and with it (board_path_us, board_path_supervised_us,
    board_added_pct; only without a heap limit: the board and the frames do not fit
    100 KB together), heap bytes over the steady frames, and alerts raised. Each figure
    includes the benchmark's own unpacking of the frame record, given alone as unpack_us
    (a difference of two noisy minimums: see measure_instructions for the costs without it)."""

    with tempfile.TemporaryDirectory(prefix="mule-supervise-") as tmp:
        fw, blob = _bench_firmware(dbc, Path(tmp), frames, arch, overrides)
        cmd = [tool("micropython")] + (["-X", f"heapsize={heap}"] if heap else [])
        cmd += [str(BENCH_SCRIPT), str(fw), str(blob), str(len(frames)), str(rounds), "0" if heap else "1"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"MicroPython supervision benchmark failed: {(result.stdout + result.stderr).strip()}")
    decode_us, supervised_us, heap_bytes, steady, alerts, path_us, path_sup_us, unpack_us = result.stdout.split()[-8:]
    decode_us, supervised_us, path_us, path_sup_us, unpack_us = map(
        float, (decode_us, supervised_us, path_us, path_sup_us, unpack_us))
    return {"decode_us": decode_us, "supervised_us": supervised_us, "unpack_us": unpack_us,
            "added_pct": 100 * (supervised_us - decode_us) / decode_us,
            "board_path_us": path_us, "board_path_supervised_us": path_sup_us,
            "board_added_pct": 100 * (path_sup_us - path_us) / path_us if path_us else None,
            "heap_bytes": int(heap_bytes), "steady_frames": int(steady), "alerts": int(alerts)}


INSTRUCTION_VARIANTS = ("decode", "supervised", "board_path", "board_path_supervised", "unpack")


def measure_instructions(dbc: Dbc, frames, arch: str | None = "x64") -> dict | None:
    """Machine instructions per frame of the four variants `measure` times (valgrind's
    callgrind counts them: the same figure on every run, however busy the machine), or None
    without valgrind. Each variant runs alone, once with one round and once with three; the
    difference is two rounds of it and nothing else. The unpacking of each frame record
    ("unpack") is taken off the others, as in `measure`."""

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="mule-supervise-") as tmp:
        fw, blob = _bench_firmware(dbc, Path(tmp), frames, arch, None)
        for v, name in enumerate(INSTRUCTION_VARIANTS):
            counts = []
            for rounds in (1, 3):
                cmd = [valgrind, "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out", tool("micropython"),
                       str(BENCH_SCRIPT), str(fw), str(blob), str(len(frames)), str(rounds), "1", str(v)]
                result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                found = re.search(r"Collected : (\d+)", result.stderr)
                if result.returncode != 0 or found is None:
                    raise RuntimeError(f"valgrind on the supervision benchmark failed: {result.stderr.strip()[-2000:]}")
                counts.append(int(found.group(1)))
            out[name] = (counts[1] - counts[0]) / (2 * len(frames))
    for name in INSTRUCTION_VARIANTS[:-1]:
        out[name] -= out["unpack"]
    out["added_pct"] = 100 * (out["supervised"] - out["decode"]) / out["decode"]
    out["board_added_pct"] = 100 * (out["board_path_supervised"] - out["board_path"]) / out["board_path"]
    return out
