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
import struct
import zlib
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


_HEX = np.full(256, 255, dtype=np.uint8)  # hex digit -> value; 255: not a hex digit
for _i, _c in enumerate(b"0123456789ABCDEF"):
    _HEX[_c] = _i
for _i, _c in enumerate(b"abcdef"):
    _HEX[_c] = 10 + _i
_PAD = 32  # bytes after a block, so every fixed-width window of a line stays inside the array


def _within(at: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
    """One character of `at` (sorted positions) in each line, n lines: the i-th in line i."""
    return len(at) == len(starts) and bool(((at >= starts) & (at < ends)).all())


def _columns(block: bytes, first_line: int, path: str) -> FrameTable | None:
    """The regular expression's work done on whole columns of characters, for blocks whose
    time stamps and channel names each have one width (as candump and python-can write
    them); None: any line that does not fit, and the expression decides. Each field is
    read through a fixed-width window at its place in every line (one small uint8 copy)."""
    full = np.frombuffer(block + b"\n" * _PAD, dtype=np.uint8)
    arr = full[: len(block)]
    nl = np.flatnonzero(arr == 10)
    starts = np.concatenate(([0], nl + 1))
    ends = np.concatenate((nl, [len(arr)]))
    n = len(starts)
    if not n or (ends <= starts).any() or (arr[starts] != 40).any():  # '('
        return None
    window = np.lib.stride_tricks.sliding_window_view
    rp = np.flatnonzero(arr == 41)  # ')'
    hashes = np.flatnonzero(arr == 35)  # '#'
    if not _within(rp, starts, ends) or not _within(hashes, starts, ends):
        return None
    width = rp - starts - 1
    w = int(width[0])
    if (width != w).any() or not 3 <= w <= 17:
        return None
    stamp = window(full, w)[starts + 1]
    dots = np.flatnonzero(stamp[0] == 46)
    if len(dots) != 1 or not 0 < dots[0] < w - 1:
        return None
    d = int(dots[0])
    digits = stamp - np.uint8(48)  # wraps below '0': > 9 too
    digits[:, d] = 0
    if (stamp[:, d] != 46).any() or (digits > 9).any():
        return None
    number = np.zeros(n, dtype=np.int64)
    for k in range(w):
        if k != d:
            number *= 10
            number += digits[:, k]
    t = number / float(10 ** (w - 1 - d))  # one correctly rounded division: float() of the text
    sp = np.flatnonzero(arr == 32)
    first = np.searchsorted(sp, starts)  # index of each line's first space
    per_line = np.searchsorted(sp, ends) - first
    if not ((per_line == 2) | (per_line == 3)).all():
        return None
    s1, s2 = sp[first], sp[first + 1]
    if (s1 != rp + 1).any() or (s2 <= s1 + 1).any() or (s2 >= hashes - 3).any():
        return None
    three = per_line == 3
    data_end = ends.copy()
    if three.any():
        s3 = sp[first[three] + 2]
        e = ends[three]
        if (s3 != e - 2).any() or not np.isin(arr[e - 1], (82, 84)).all():  # ' R' / ' T'
            return None
        data_end[three] = s3
    idw = hashes - s2 - 1
    ext = idw == 8
    if not (ext | (idw == 3)).all():
        return None
    idc = _HEX[window(full, 8)[s2 + 1]]
    idc[~ext, 3:] = 0
    if (idc > 15).any() or (idc[:, 0] > np.where(ext, 1, 7)).any():
        return None
    can_id = np.zeros(n, dtype=np.int64)
    for k in range(8):
        if k == 3:
            std = can_id.copy()
        can_id <<= 4
        can_id |= idc[:, k]
    can_id = np.where(ext, can_id, std)
    nhex = data_end - hashes - 1
    if (nhex % 2).any() or (nhex > 16).any():
        return None
    lengths = nhex // 2
    dc = _HEX[window(full, 16)[hashes + 1]]
    dc[np.arange(16) >= nhex[:, None]] = 0
    if (dc > 15).any():
        return None
    widest = int(lengths.max())
    payload = (dc[:, 0:2 * widest:2] << 4) | dc[:, 1:2 * widest:2]
    cw = s2 - s1 - 1
    c = int(cw[0])
    if (cw != c).any():
        return None
    raw = np.ascontiguousarray(window(full, c)[s1 + 1]).view(f"S{c}").ravel()
    if (raw == raw[0]).all():  # one channel: the common case
        uniq, inv = raw[:1], np.zeros(n, dtype=np.int32)
    else:
        uniq, inv = np.unique(raw, return_inverse=True)
    names = [_channel(u) for u in uniq.tolist()]
    prefix = f"{path}:"
    return FrameTable(t, can_id, ext, lengths.astype(np.int64), payload, None, None,
                      lambda i, base=first_line: f"{prefix}{base + i}",
                      channel_codes=(inv.astype(np.int32).ravel(), names))


def _parse_block(block: bytes, first_line: int, path: str) -> FrameTable | None:
    table = _columns(block, first_line, path)
    if table is not None:
        return table
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
                block, rest = data[:cut - 1], data[cut:]  # without its last line's newline
            else:
                block, rest = (data[:-1] if data.endswith(b"\n") else data), b""
            table = _block_table(block, line, str(path))
            if table is None:
                raise Fallback(index)
            index += len(table)
            line += len(table)  # a plain block: one frame per line
            yield table


# --------------------------------------------------------------------------
# BLF: containers inflated as python-can does, then the positions of all objects of a
# block found in one loop and every field gathered with numpy. Only classic CAN data
# frames (CAN_MESSAGE, CAN_MESSAGE2) take this path; any other object, a remote frame,
# a DLC above 8, a cut or odd file: the exact reader from there (logfile._read_blf).

_OBJ = struct.Struct("<4sHHLL")
_CONTAINER = struct.Struct("<H6xL4x")
_CAN_MESSAGE, _LOG_CONTAINER, _CAN_MESSAGE2 = 1, 10, 86
BLF_BLOCK_OBJECTS = 200_000


def _gather(arr: np.ndarray, at: np.ndarray, width: int, dtype: str) -> np.ndarray:
    """The `width` bytes at each offset of `at` as one `dtype` value each."""
    return np.lib.stride_tricks.sliding_window_view(arr, width)[at].view(dtype).ravel()


def _walk(data: bytes, pos: int, where: list, versions: list) -> int | None:
    """Objects from `pos` one by one, as python-can steps (LOBJ, or it within the next
    bytes of padding); their places into where/versions. The offset where the first
    object not wholly in data starts; None: an object that is no classic CAN frame."""
    unpack = _OBJ.unpack_from
    end = len(data)
    while pos + 16 <= end:
        if data[pos:pos + 4] != b"LOBJ":
            nxt = data.find(b"LOBJ", pos, pos + 8)
            if nxt < 0:
                return None
            pos = nxt
            if pos + 16 > end:
                break
        _, _, version, size, typ = unpack(data, pos)
        if pos + size > end:
            break
        if typ not in (_CAN_MESSAGE, _CAN_MESSAGE2) or version not in (1, 2) or size < 48:
            return None
        where.append(pos)
        versions.append(version)
        pos += size
    return pos


def _first(mask: np.ndarray, default: int) -> int:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else default


def _objects(data: bytes, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray, int] | None:
    """_walk's result for a whole block at once. Every "LOBJ" with a whole header is a
    candidate; the leading candidates in which each object is whole and ends (plus at most
    4 bytes of padding) where the next begins are the objects _walk steps through (a
    "LOBJ" inside a payload, a cut or odd object: the chain stops, _walk goes on from
    there). (places, versions, offset after them) or None: not plain."""
    end = len(data)
    at = np.flatnonzero((arr[:-3] == 76) & (arr[1:-2] == 79) & (arr[2:-1] == 66) & (arr[3:] == 74)) \
        if end >= 4 else np.zeros(0, np.int64)
    at = at[at + 16 <= end]
    k = 0
    if len(at) and at[0] <= 4:  # _walk finds the first object within its first 8 bytes
        size = _gather(arr, at + 8, 4, "<u4").astype(np.int64)
        stop = at + size
        gaps = at[1:] - stop[:-1]
        k = min(_first(stop > end, len(at)), _first((gaps < 0) | (gaps > 4), len(at)) + 1)
    head = at[:k]
    version = np.zeros(0, np.int64)
    pos = 0
    if k:
        typ = _gather(arr, head + 12, 4, "<u4")
        version = _gather(arr, head + 6, 2, "<u2").astype(np.int64)
        if (((typ != _CAN_MESSAGE) & (typ != _CAN_MESSAGE2)) | ((version != 1) & (version != 2))
                | (size[:k] < 48)).any():
            return None
        pos = int(stop[k - 1])
    where: list = []
    versions: list = []
    pos = _walk(data, pos, where, versions)  # the rest (usually nothing but a cut object), one by one
    if pos is None:
        return None
    if where:
        head = np.concatenate((head, np.asarray(where, np.int64)))
        version = np.concatenate((version, np.asarray(versions, np.int64)))
    return head, version, pos


def _blf_block(data: bytes, start: float, first: int, path: str) -> tuple[FrameTable | None, int]:
    """(table of the objects wholly in data, bytes used); table None: not plain."""
    arr = np.frombuffer(data, dtype=np.uint8)
    found = _objects(data, arr)
    if found is None:
        return None, 0
    p, versions, pos = found
    n = len(p)
    if not n:
        return FrameTable(np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64),
                          np.zeros((0, 8), np.uint8), [], None, None), pos
    msg = p + np.where(versions == 1, 32, 40)
    flags = _gather(arr, p + 16, 4, "<u4")
    ticks = _gather(arr, p + 24, 8, "<u8")
    channel = _gather(arr, msg, 2, "<u2").astype(np.int64) - 1
    mflags = arr[msg + 2]
    dlc = arr[msg + 3].astype(np.int64)
    raw_id = _gather(arr, msg + 4, 4, "<u4")
    if (mflags & 0x80).any() or (dlc > 8).any() or (ticks >= (1 << 53)).any():
        return None, 0
    ext = (raw_id & 0x80000000) != 0
    can_id = (raw_id & 0x1FFFFFFF).astype(np.int64)
    if (~ext & (can_id > 0x7FF)).any():
        return None, 0
    # python-can: float(Decimal(ticks) * 1e-5 or 1e-9) + start; one correctly rounded
    # division gives the same double while ticks < 2**53
    t = np.where(flags == 1, ticks.astype(np.float64) / 1e5, ticks.astype(np.float64) / 1e9) + start
    width = int(dlc.max())
    payload = np.lib.stride_tricks.sliding_window_view(arr, 8)[msg + 8][:, :width].copy()
    cols = np.arange(width)
    payload[cols[None, :] >= dlc[:, None]] = 0
    if (channel == channel[0]).all():  # one channel: the common case
        uniq, inv = channel[:1], np.zeros(n, dtype=np.int32)
    else:
        uniq, inv = np.unique(channel, return_inverse=True)
    prefix = f"{path}#"
    return FrameTable(t, can_id, ext, dlc, payload, None, None, lambda i, base=first: f"{prefix}{base + i + 1}",
                      channel_codes=(inv.astype(np.int32).ravel(), uniq.tolist())), pos


def blf_tables(path: Path) -> Iterator[FrameTable]:
    """FrameTables of a BLF of classic data frames; raises Fallback(index) where it is
    anything else (index: frames yielded before)."""
    from can.io.blf import BLFReader

    suffix, compressed = _log_kind(path)
    if suffix != ".blf":
        raise Fallback(0)
    opener = gzip.open if compressed else open
    index = 0
    with opener(path, "rb") as fh:
        try:
            start = BLFReader(fh).start_timestamp
        except Exception:
            raise Fallback(0) from None
        pending = b""
        done = False
        while not done:
            parts = [pending]
            size = len(pending)
            while size < BLF_BLOCK_OBJECTS * 48:
                head = fh.read(16)
                if not head:
                    done = True
                    break
                if len(head) < 16:
                    raise Fallback(index)
                sig, _, _, obj_size, typ = _OBJ.unpack(head)
                if sig != b"LOBJ" or typ != _LOG_CONTAINER or not 32 <= obj_size <= (64 << 20):
                    raise Fallback(index)
                body = fh.read(obj_size - 16)
                fh.read(obj_size % 4)
                if len(body) < obj_size - 16:
                    raise Fallback(index)
                method, _ = _CONTAINER.unpack_from(body)
                if method == 0:
                    chunk = body[_CONTAINER.size:]
                elif method == 2:
                    try:
                        chunk = zlib.decompressobj().decompress(body[_CONTAINER.size:])
                    except zlib.error:
                        raise Fallback(index) from None
                else:
                    raise Fallback(index)
                parts.append(chunk)
                size += len(chunk)
            data = b"".join(parts)
            with collector_paused():
                table, used = _blf_block(data, start, index, str(path))
            if table is None:
                raise Fallback(index)
            pending = data[used:]
            if done and b"LOBJ" in pending:
                raise Fallback(index)  # a cut object at the end: the exact reader says so
            if len(table):
                index += len(table)
                yield table
