"""The link's byte loops on the emulated Pyboard (Cortex-M4F, armv7emsp, QEMU -icount: one
instruction per ns of guest time, exact under load): COBS decoding of a CAN batch, CRC-32 and
COBS encoding of a TELEMETRY-like body stay within their instructions per byte (viper keeps
only a function's first two locals in registers on Thumb-2: link.py's loops are written
for that: 66, 27 and 58 before, 24, 17 and 26 after)."""

from __future__ import annotations

import pytest

from host_tools.codegen.build import compile_mpy
from mule_testing import mpremote
from qemu_testing import qemu_firmware
from test_link_mp import FIRMWARE

HARNESS = FIRMWARE.parent / "tests" / "firmware" / "link_cost_mp.py"
BUDGET = {"feed": 35, "crc": 21, "encode": 35}  # instructions per byte


@pytest.fixture(scope="module")
def costs(tmp_path_factory) -> dict[str, float]:
    from host_tools.qemu_board.icount import IcountQemuBoard

    firmware = qemu_firmware("100K")
    tmp = tmp_path_factory.mktemp("link-cost")
    link = compile_mpy(FIRMWARE / "link.py", "armv7emsp", tmp / "link.mpy")
    harness = compile_mpy(HARNESS, "armv7emsp", tmp / "link_cost_mp.mpy")
    (tmp / "board").mkdir()
    with IcountQemuBoard(tmp / "board", heap="100K", firmware=firmware) as board:
        mpremote(board.port, "fs", "mkdir", ":link")
        mpremote(board.port, "fs", "cp", str(link), ":/flash/link/")
        mpremote(board.port, "fs", "cp", str(harness), ":/flash/")
        line = mpremote(board.port, "exec", "import sys; sys.path.insert(0, '/flash'); import link_cost_mp")
    return {k: int(v) / 10 for k, v in (item.split("=") for item in line.split())}


@pytest.mark.parametrize("loop", sorted(BUDGET))
def test_link_byte_loop_within_budget_on_cortex_m4(costs, loop):
    assert costs[loop] <= BUDGET[loop], f"{loop}: {costs[loop]} instructions/byte (budget {BUDGET[loop]}): {costs}"
