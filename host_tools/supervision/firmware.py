"""The board's firmware/supervise.py loaded in CPython: its Supervisor (the host's reference)
and the names of its table layout (`_NAME = const(n)`), which tables.py writes with, so the
layout is specified once, in the firmware."""

from __future__ import annotations

import importlib.util
import sys

from host_tools import FIRMWARE_DIR
from host_tools.board_codes import TIME_MASK
from host_tools.e2e import _e2e


def _load():
    spec = importlib.util.spec_from_file_location("mule_firmware_supervise", FIRMWARE_DIR / "supervise.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("e2e")
    sys.modules["e2e"] = _e2e  # the board's `import e2e`: the same file, as host_tools.e2e loads it
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["e2e"]
        else:
            sys.modules["e2e"] = saved
    return module


fw = _load()
KINDS: tuple = tuple(text.decode() for text in fw.KIND_TEXT)  # the alert kinds' names, code - 1
CLEARED: int = fw.CLEARED
MASK = TIME_MASK  # board times are µs mod 2**30
BIAS = fw._BIAS  # raw bounds are stored + BIAS (docs/supervision.md)
