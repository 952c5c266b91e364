"""On the emulated Pyboard (32-bit: a value >= 2**30 is a heap int there, not on the unix
port) the decoder's raw path allocates nothing per frame, for every test DBC that fits a
100 KB heap beside its frames: test_decoder_heap.py's measurement (host_tools/mp/decode_bench.py)
run on the board (one QEMU for all DBCs)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from host_tools.codegen.build import PYBOARD_MARCH, compile_mpy, write_decoder
from host_tools.dbc import load_dbc
from host_tools.flash import DECODER_MODULE, build_firmware
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


# What the board's decoder may take of the 100 KB heap: 14,592 B when BmsCellVoltages' 32 cell
# groups were 32 branches of viper code and the board module carried the table walker unused;
# 5.4-5.6 KB since (by the heap it lands in). A Pyboard copies a module's bytecode, bytes
# constants and machine code from /flash into its heap: this is the decoder's share of it.
BOARD_DECODER_HEAP_MAX = 6 * 1024


def test_board_decoder_heap_on_the_pyboard(qemu_session, tmp_path):
    """The decoder `mule flash` installs (build_firmware's dbc_decoder.mpy, project DBC) holds
    at most BOARD_DECODER_HEAP_MAX bytes of the emulated Pyboard's heap after import."""
    files = build_firmware(load_dbc(PROJECT_DBC), tmp_path / "fw", PYBOARD_MARCH, {"mode": "replay"})
    decoder = next(f for f in files if f.name == f"{DECODER_MODULE}.mpy")
    qemu_session.mkdir("/flash/board")
    qemu_session.put(decoder, f"/flash/board/{DECODER_MODULE}.mpy")
    out = qemu_session.exec(f"import gc, sys\nsys.path.insert(0, '/flash/board')\ngc.collect()\n"
                            f"f0 = gc.mem_free()\nimport {DECODER_MODULE}\ngc.collect()\n"
                            f"print('heap', f0 - gc.mem_free(), len({DECODER_MODULE}.DECODERS))\n"
                            f"del sys.modules[{DECODER_MODULE!r}]\nsys.path.pop(0)").decode()
    heap, decoders = map(int, out.split()[-2:])
    assert decoders == 8  # the project DBC's messages, each with its function (the hot loop's)
    assert heap <= BOARD_DECODER_HEAP_MAX, f"the board's decoder takes {heap:,} B of heap after import"
