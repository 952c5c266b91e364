"""The board `mule replay` uses without --port: a virtual board, flashed on the fly with
`mule flash` (mpremote and all), in a folder that goes away afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from host_tools.dbc import Dbc
from host_tools.flash import flash
from host_tools.vboard import VirtualBoard


@contextmanager
def virtual_board(dbc: Dbc, heap: str | None = "100K", log=print) -> Iterator[VirtualBoard]:
    with tempfile.TemporaryDirectory(prefix="mule-replay-") as tmp:
        folder = Path(tmp) / "board"
        folder.mkdir()
        with VirtualBoard(folder, heap=heap) as board:
            log(f"virtual board on {board.port} (MicroPython unix port, heap {heap or 'default'})")
            flash(dbc, board.port, {"mode": "replay"}, Path(tmp) / "flash", log=log)
            yield board
