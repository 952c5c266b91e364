"""The firmware test families on the emulated Pyboard (Cortex-M4F, float32, armv7emsp,
100 KB heap), one QEMU per module (tests/conftest.py: qemu_session), many cases per run:
the decoder differential (raw exact, physical to float32, an IEEE float64 signal's raw
rebuilt exactly from its bits) with the unix-port tests' frames and comparison."""

from __future__ import annotations

import random
import struct

import pytest

from host_tools.dbc import load_dbc
from host_tools.qemu_board.engine import QemuFirmwareEngine
from mule_testing import FILES, SampleFrame, random_frame
from test_differential import ALL_DBCS, compare, pattern_frames

FRAMES_PER_DBC = 400  # the unix port takes 3000; the patterns below cover every message anyway
TOO_BIG = {"many_messages", "vehicle_120_classic", "vehicle_330_canfd_overlapping"}  # full module > 100 KB


@pytest.mark.parametrize("path", [p for p in ALL_DBCS if p.stem not in TOO_BIG], ids=lambda p: p.stem)
def test_the_decoder_agrees_with_cantools_on_the_emulated_pyboard(qemu_session, path):
    dbc = load_dbc(path, warn=None)
    rnd = random.Random(f"{path.name}-qemu")
    frames = [random_frame(dbc, rnd) for _ in range(FRAMES_PER_DBC)] + pattern_frames(dbc)
    with QemuFirmwareEngine(dbc, scripts=qemu_session) as engine:
        problems = [p for p in compare(dbc, frames, engine) if not float32_overflow(p)]
    assert not problems, "\n".join(problems[:20])


FLT_MAX = 3.4028234663852886e38


def float32_overflow(problem: str) -> bool:
    """A physical value beyond float32's range is ±inf on the board (found here: a float32
    signal of scale 2 near FLT_MAX); the board does not pretend, and the host has the raw."""
    if " phys " not in problem:
        return False
    want, got = problem.rsplit(" vs ", 1)
    want = float(want.rsplit(" ", 1)[1])
    return got in ("inf", "-inf") and abs(want) > FLT_MAX and (want > 0) == (got == "inf")


def test_float64_signals_come_back_bit_exact_from_the_float32_board(qemu_session):
    """The board cannot hold a double: its raw bits travel and the host rebuilds it."""
    dbc = load_dbc(FILES / "dbc" / "float_signals.dbc")
    message = dbc.lookup(770, False)  # F64_Intel: F64I, a 64-bit IEEE double
    values = [1.0 + 2.0 ** -40, 1e300, -3.5e-310, 123456789.123456789]
    frames = [SampleFrame(770, False, struct.pack("<d", v)) for v in values]
    with QemuFirmwareEngine(dbc, scripts=qemu_session) as engine:
        got = [outcome.raw["F64I"] for _, outcome in engine.decode(frames)]
    assert got == values  # to the last bit: float32 would give 1.0, inf, -0.0, 123456792.0


def test_mule_decode_engine_firmware_board_qemu(tmp_path):
    """The command line: the same records as cantools, raw exact, physical to float32."""
    import json
    import subprocess
    import sys

    from host_tools.verify import mismatches
    from mule_testing import PROJECT_DBC, REPO

    from qemu_testing import qemu_firmware

    qemu_firmware("100K")  # skip (or fail in CI) as the other qemu tests do
    from host_tools.simulate import simulate

    log = simulate("highway_tow", tmp_path / "drive.log", duration_s=1, seed=1, dbc=load_dbc(PROJECT_DBC)).log
    out = {}
    for engine, extra in (("cantools", []), ("firmware", ["--board", "qemu"])):
        path = tmp_path / f"{engine}.jsonl"
        result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "decode", str(log), "--dbc",
                                 str(PROJECT_DBC), "--engine", engine, *extra, "-o", str(path)],
                                capture_output=True, text=True, timeout=120, cwd=REPO)
        assert result.returncode == 0, result.stderr
        out[engine] = [json.loads(line) for line in path.read_text().splitlines()]
    dbc = load_dbc(PROJECT_DBC)
    assert len(out["firmware"]) == len(out["cantools"]) > 0
    decoded = rounded = 0
    for want, got in zip(out["cantools"], out["firmware"]):
        assert want["msg"] == got["msg"]
        if want["msg"] and want["raw"]:
            decoded += 1
            message = dbc.lookup(want["id"], want["ext"])
            assert not mismatches(message, want["raw"], want["phys"], got["raw"], got["phys"])
            rounded += got["phys"] != want["phys"]
    assert decoded > 0
    assert rounded > 0  # float32 on the board: the unix port's doubles would equal cantools' exactly


WALKED = ["kia_ev_pickup", "mux_simple", "mux_extended", "canfd_64"]  # the full module of a vehicle DBC: > 100 KB


@pytest.mark.parametrize("path", [p for p in ALL_DBCS if p.stem in WALKED], ids=lambda p: p.stem)
def test_the_table_walker_agrees_with_cantools_on_the_emulated_pyboard(qemu_session, path):
    """tables="all": every message through the walker on the Cortex-M4F, multiplexed ones
    through their signal tree (nested multiplexers, shared branches, undefined values)."""
    dbc = load_dbc(path, warn=None)
    rnd = random.Random(f"{path.name}-qemu-walk")
    frames = [random_frame(dbc, rnd) for _ in range(FRAMES_PER_DBC)] + pattern_frames(dbc)
    with QemuFirmwareEngine(dbc, tables="all", scripts=qemu_session) as engine:
        problems = [p for p in compare(dbc, frames, engine) if not float32_overflow(p)]
    assert not problems, "\n".join(problems[:20])
