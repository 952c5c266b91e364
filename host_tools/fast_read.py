"""Fast paths for the commonest logs, straight into columns (FrameTable) for the vector engine.

candump -L files in which every line is a plain classic data frame (`(t) chan ID#HEX`,
optional ` R`/` T`) are parsed with one regular expression over a block of lines and one
hex decode per block, without a python-can Message per frame. Anything else in a block
(a blank line, a remote/error/FD frame, a malformed line, CRLF endings) hands the rest of
the file to the exact reader (logfile.read_frames), which gives the same frames, every
check and the file:line of each problem. Tests compare both paths frame for frame.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from host_tools.collector import collector_paused
from host_tools.engines.vector_engine import FrameTable
from host_tools.logfile import _log_kind

BLOCK = 1 << 22  # bytes per block (~80,000 candump lines)

_LINE = re.compile(
    rb"^\((\d+\.\d+)\) ([^ \n]+) ([0-7][0-9A-Fa-f]{2}|[01][0-9A-Fa-f]{7})#((?:[0-9A-Fa-f]{2}){0,8})(?: [RT])?$",
    re.M,
)


class Fallback(Exception):
    """This block is not plain: the exact reader takes over from frame `index` (0-based)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _channel(raw: bytes) -> str | int:
    s = raw.decode()
    return int(s) if s.isdigit() else s


def _block_table(block: bytes, first_line: int, path: str) -> FrameTable | None:
    with collector_paused():  # millions of small tuples: no cyclic GC passes over them
        return _parse_block(block, first_line, path)


def _parse_block(block: bytes, first_line: int, path: str) -> FrameTable | None:
    matches = _LINE.findall(block)
    lines = block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
    if len(matches) != lines:
        return None
    n = len(matches)
    ts, chans_raw, ids, hexes = zip(*matches) if n else ((), (), (), ())
    t = np.array(list(map(float, ts)), dtype=np.float64)  # as python-can: float() of the text
    can_id = np.array(list(map(int, ids, [16] * n)), dtype=np.int64)
    ext = np.fromiter(map(len, ids), dtype=np.int64, count=n) > 3
    lengths = np.fromiter(map(len, hexes), dtype=np.int64, count=n) >> 1
    width = int(lengths.max()) if n else 0
    if n and (lengths == width).all():
        payload = np.frombuffer(bytes.fromhex(b"".join(hexes).decode()), dtype=np.uint8).reshape(n, width)
    else:
        payload = np.zeros((n, width), dtype=np.uint8)
        for i, h in enumerate(hexes):
            payload[i, : len(h) >> 1] = np.frombuffer(bytes.fromhex(h.decode()), dtype=np.uint8)
    names = {c: _channel(c) for c in set(chans_raw)}
    channel = list(map(names.__getitem__, chans_raw))
    prefix = f"{path}:"
    return FrameTable(t, can_id, ext, lengths, payload, channel, None,
                      lambda i, base=first_line: f"{prefix}{base + i}")


def candump_tables(path: Path) -> Iterator[FrameTable]:
    """FrameTables of a plain candump -L file, block by block; raises Fallback(index) at
    the first block that is not plain (index: frames yielded before it)."""
    suffix, compressed = _log_kind(path)
    if suffix != ".log":
        raise Fallback(0)
    opener = gzip.open if compressed else open
    index = 0
    line = 1
    with opener(path, "rb") as fh:
        rest = b""
        while True:
            chunk = fh.read(BLOCK)
            if not chunk and not rest:
                return
            data = rest + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    rest = data
                    continue
                block, rest = data[:cut], data[cut:]
            else:
                block, rest = data, b""
            table = _block_table(block[:-1] if block.endswith(b"\n") else block, line, str(path))
            if table is None:
                raise Fallback(index)
            index += len(table)
            line += block.count(b"\n")
            yield table
