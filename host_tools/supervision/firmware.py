"""The board's firmware/supervise.py loaded in CPython: its Supervisor (the host's reference)
and the names of its table layout (`_NAME = const(n)`), which tables.py writes with, so the
layout is specified once, in the firmware. Its viper code's bytecode twins
(firmware/supervise_plain.py, not on the board) stand in for it: Supervisor.frame, _due, other."""

from __future__ import annotations

import importlib.util
import sys

from host_tools import FIRMWARE_DIR
from host_tools.board_codes import TIME_MASK
from host_tools.e2e import _e2e


def _load(name: str, imports: dict):
    """firmware/NAME.py as a module, its `import`s of firmware modules answered by `imports`."""
    spec = importlib.util.spec_from_file_location(f"mule_firmware_{name}", FIRMWARE_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    saved = {k: sys.modules.get(k) for k in imports}
    sys.modules.update(imports)
    try:
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                del sys.modules[k]
            else:
                sys.modules[k] = v
    return module


fw = _load("supervise", {"e2e": _e2e})  # the board's `import e2e`: the same file, as host_tools.e2e loads it
plain = _load("supervise_plain", {"supervise": fw})
fw.Supervisor.frame = plain.frame
fw._due = plain._due_plain
fw.other = plain._other_plain
KINDS: tuple = tuple(text.decode() for text in fw.KIND_TEXT)  # the alert kinds' names, code - 1
CLEARED: int = fw.CLEARED
MASK = TIME_MASK  # board times are µs mod 2**30
BIAS = fw._BIAS  # raw bounds are stored + BIAS (docs/supervision.md)
