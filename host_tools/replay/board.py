"""The board `mule replay` uses without --port: a virtual board, flashed on the fly with
`mule flash` (mpremote and all), in a folder that goes away afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from host_tools.dbc import Dbc
from host_tools.flash import flash
from host_tools.vboard import VirtualBoard, open_board

DESCRIPTIONS = {"unix": "MicroPython unix port", "qemu": "emulated Pyboard, Cortex-M4F in QEMU"}


@contextmanager
def virtual_board(dbc: Dbc, heap: str | None = "100K", log=print, board: str = "unix",
                  settings: dict | None = None) -> Iterator[VirtualBoard]:
    """board: "unix" or "qemu" (host_tools.vboard.open_board); settings: mule_config.json's
    (--set). Supervision is on if it fits beside the decoder, else off, said in one line."""
    with tempfile.TemporaryDirectory(prefix="mule-replay-") as tmp:
        folder = Path(tmp) / "board"
        folder.mkdir()
        with open_board(board, folder, heap) as board:
            log(f"virtual board on {board.port} ({DESCRIPTIONS[board.kind]}, heap {board.heap // 1024}K)")
            flash(dbc, board.port, {"mode": "replay", **(settings or {})}, Path(tmp) / "flash", log=log,
                  supervision_if_it_fits=True)
            yield board
