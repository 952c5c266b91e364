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
