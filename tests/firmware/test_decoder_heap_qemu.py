"""On the emulated Pyboard (32-bit: a value >= 2**30 is a heap int there, not on the unix
port) the decoder's raw path allocates nothing per frame, for every test DBC that fits a
100 KB heap beside its frames: test_decoder_heap.py's measurement (host_tools/mp/decode_bench.py)
run on the board (one QEMU for all DBCs)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from host_tools.codegen.build import compile_mpy, write_decoder
from host_tools.dbc import load_dbc
from host_tools.mp_bench import BENCH_SCRIPT
from mule_testing import FEATURE_DBCS, PROJECT_DBC, random_frame

TOO_BIG = {"many_messages", "vehicle_120_classic", "vehicle_330_canfd_overlapping"}  # full module > 100 KB


@pytest.mark.parametrize("path", [p for p in [PROJECT_DBC, *FEATURE_DBCS] if p.stem not in TOO_BIG],
                         ids=lambda p: p.stem)
def test_raw_decode_allocates_nothing_on_32_bits(qemu_session, path, tmp_path):
    dbc = load_dbc(path, warn=None)
    rnd = random.Random(path.name)
    frames = [random_frame(dbc, rnd) for _ in range(100)]  # the phys pass keeps its floats and big ints (gc off)
    source = write_decoder(dbc, tmp_path / "mule_decoder.py", "viper", "auto")
    qemu_session.mkdir("/flash/lib")
    qemu_session.put(compile_mpy(source, "armv7emsp"), "/flash/lib/mule_decoder.mpy")
    qemu_session.put("".join(f"{f.can_id} {int(f.ext)} {bytes(f.data).hex()}\n" for f in frames).encode(),
                     "/flash/frames.txt")
    result = json.loads(qemu_session.run(Path(BENCH_SCRIPT), ["/flash/lib", "mule_decoder", "/flash/frames.txt", "1"]))
    assert result["raw"]["decoded"] > 0
    assert result["raw"]["alloc_bytes"] == 0, result["raw"]
    assert result["hot"]["alloc_bytes"] == 0, result["hot"]
