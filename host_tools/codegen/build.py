"""Write a generated decoder to disk and compile it with mpy-cross."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host_tools.codegen.emit import BuildError, generate
from host_tools.dbc import Dbc
from host_tools.tools import tool

# mpy-cross -march for native/viper code: the unix port on this laptop, a Pyboard (STM32F4).
HOST_MARCH = "x64"
PYBOARD_MARCH = "armv7emsp"

__all__ = ["BuildError", "HOST_MARCH", "PYBOARD_MARCH", "Cost", "compile_mpy", "decoder_cost", "write_decoder"]

_IMPORT_PROBE = """import gc, sys
sys.path.insert(0, {folder!r})
gc.collect()
before = gc.mem_free()
import {module}
gc.collect()
print(before - gc.mem_free())
"""


@dataclass(frozen=True)
class Cost:
    """What a generated decoder costs a board."""

    source_bytes: int
    mpy_bytes: int  # armv7emsp .mpy: a Pyboard copies all of it into RAM from /flash
    heap_bytes: int | None  # heap held after import, measured in the unix port (64-bit: an upper bound)

    def text(self) -> str:
        heap = "?" if self.heap_bytes is None else f"{self.heap_bytes:,}"
        return (f"decoder cost: {self.mpy_bytes:,} bytes of .mpy (armv7emsp), {heap} bytes of heap "
                f"after import (unix port, 64-bit), {self.source_bytes:,} bytes of Python")


def decoder_cost(source: Path, heap: str = "4M") -> Cost:
    """Compile `source` for a Pyboard and import it in the unix port to weigh it."""
    source = Path(source)
    with tempfile.TemporaryDirectory(prefix="mule-cost-") as tmp:
        folder = Path(tmp)
        mpy_arm = compile_mpy(source, PYBOARD_MARCH, folder / "arm.mpy")
        module = "mule_cost_probe"
        compile_mpy(source, HOST_MARCH, folder / f"{module}.mpy")
        probe = folder / "probe.py"
        probe.write_text(_IMPORT_PROBE.format(folder=str(folder), module=module))
        result = subprocess.run([tool("micropython"), "-X", f"heapsize={heap}", str(probe)],
                                capture_output=True, text=True, timeout=60)
        said = result.stdout.strip().splitlines()
        heap_bytes = int(said[-1]) if result.returncode == 0 and said and said[-1].isdigit() else None
        return Cost(source.stat().st_size, mpy_arm.stat().st_size, heap_bytes)


def write_decoder(dbc: Dbc, out: Path, mode: str = "viper", tables: str = "auto", board: bool = False,
                  hot=()) -> Path:
    out = Path(out)
    if not out.stem.isidentifier():
        raise BuildError(f"{out}: the file name must be a Python module name (letters, digits, _)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(generate(dbc, mode, tables, board, hot), encoding="utf-8")  # ASCII in fact
    return out


def compile_mpy(source: Path, march: str | None = HOST_MARCH, out: Path | None = None) -> Path:
    """Compile `source` to .mpy beside it (or at `out`); raises BuildError with mpy-cross's words.
    The .mpy names its source by the module's name (-s): a board interns that name as a qstr
    (heap it keeps; the module's name is interned already by its import) and shows it in
    tracebacks (File "app", line 12), where the host's build folder means nothing."""
    source = Path(source)
    out = Path(out) if out else source.with_suffix(".mpy")
    cmd = [tool("mpy-cross"), "-o", str(out), "-s", source.stem]
    if march:
        cmd.append(f"-march={march}")
    cmd.append(str(source))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(f"mpy-cross failed on {source}: {result.stderr.strip() or result.stdout.strip()}")
    return out
