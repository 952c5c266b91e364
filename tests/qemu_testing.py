"""The emulated Pyboard for tests: its firmware, built once per heap size (`make test` builds
the 100K one first). Without the toolchain a test skips, saying why; in CI
(MULE_REQUIRE_QEMU=1) it fails instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from host_tools.qemu_board.build import BuildError, build
from host_tools.qemu_board.scripts import QemuScripts, ScriptError  # noqa: F401  (the shared board runner)
from mule_testing import mpremote  # noqa: F401  (the qemu tests' import)


def qemu_firmware(heap: str = "100K") -> Path:
    try:
        return build(heap, log=lambda text: None).elf
    except BuildError as exc:
        if os.environ.get("MULE_REQUIRE_QEMU"):
            pytest.fail(f"MULE_REQUIRE_QEMU is set but the emulated Pyboard cannot be built: {exc}")
        pytest.skip(f"emulated Pyboard not available: {exc}")


def heap_harness_on_board(tmp_path: Path, dbc, wire_bytes: bytes, source: str, name: str) -> str:
    """A heap harness (`source`: tests/firmware/app_heap_mp.py's text, perhaps with its config
    changed) on a fresh 100 KB emulated Pyboard: compiled as module `name` (its source would not
    fit beside the board) with its two paths written in (the qemu port has no sys.argv), next
    to the replay firmware for `dbc` and `wire_bytes`; what it printed."""
    from host_tools.codegen.build import compile_mpy
    from host_tools.flash import build_firmware
    from host_tools.vboard import QemuBoard

    firmware = qemu_firmware("100K")
    files = build_firmware(dbc, tmp_path / "fw", "armv7emsp", {"mode": "replay"})
    (tmp_path / "wire.bin").write_bytes(wire_bytes)
    harness = tmp_path / f"{name}.py"
    harness.write_text(source.replace("sys.argv[1]", '"/flash/fw"').replace("sys.argv[2]", '"/flash/wire.bin"'))
    modules = [compile_mpy(harness, "armv7emsp"),
               compile_mpy(Path(__file__).parent / "firmware" / "heap_port_mp.py", "armv7emsp",
                           tmp_path / "heap_port_mp.mpy")]
    (tmp_path / "board").mkdir()
    with QemuBoard(tmp_path / "board", heap="100K", firmware=firmware) as board:
        mpremote(board.port, "fs", "mkdir", ":fw")
        mpremote(board.port, "fs", "cp", *[str(f) for f in files if f.name != "main.py"], ":/flash/fw/")
        mpremote(board.port, "fs", "cp", *map(str, modules), str(tmp_path / "wire.bin"), ":/flash/")
        return mpremote(board.port, "exec", f"import {name}")
