"""Vectorised decode engine: whole columns of frames per message id, with numpy.

The same layout model the firmware generator uses (codegen/layout.py: a signal is byte
segments placed into 32-bit lanes) applied to an (n frames x payload) uint8 matrix per
message and payload length: each segment is one shift-and-mask over a column. Raw values
are uint64 (two's complement and IEEE floats reinterpreted in place); physical values
follow cantools' conversions exactly (Python int arithmetic where float64 could round).
Multiplexing follows cantools' codec tree: a signal is present where its multiplexer is
and has one of its values; a frame whose multiplexer value has no branch is BAD_MUX, as
cantools raises there. numpy because the work is fixed-width integer column arithmetic,
and pyarrow (Parquet) takes numpy columns without copying.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from host_tools.codegen.emit import unpack_fails
from host_tools.codegen.layout import lanes
from host_tools.dbc import Dbc, frame_key, payload_lengths
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH, InProcessEngine, Outcome

CHUNK = 200_000  # frames decoded per batch by VectorEngine.decode()


@dataclass
class MessageColumns:
    """Decoded frames of one message (one payload length), in log order."""

    message: object  # the cantools Message
    rows: np.ndarray  # int64 index of each frame in the batch
    raw: dict = field(default_factory=dict)  # signal -> column (uint64/int64/float64 or object)
    phys: dict = field(default_factory=dict)  # signal -> column
    present: dict = field(default_factory=dict)  # signal -> bool column, None = every row
    bad_mux: np.ndarray | None = None  # bool column: frames cantools would refuse


def _conversion(signal):
    conv = signal.conversion
    return getattr(conv, "_conversion", conv)  # NamedSignalConversion wraps the numeric one


def _extract(mat: np.ndarray, signal) -> np.ndarray:
    """The raw bits of `signal` in every row of `mat`, as uint64 (unsigned)."""
    n = mat.shape[0]
    value = np.zeros(n, dtype=np.uint64)
    for lane in lanes(signal.start, signal.length, signal.byte_order):
        for seg in lane.segments:
            col = mat[:, seg.byte].astype(np.uint64)
            if seg.shift:
                col >>= np.uint64(seg.shift)
            if seg.width < 8:
                col &= np.uint64((1 << seg.width) - 1)
            at = lane.base + seg.pos
            if at:
                col <<= np.uint64(at)
            value |= col
    return value


def words(mat: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """A classic payload (at most 8 bytes) per row as one 64-bit word read little-endian
    and one read big-endian: any signal is then one shift and mask (None: CAN FD)."""
    n, width = mat.shape
    if width > 8:
        return None
    padded = np.zeros((n, 8), dtype=np.uint8)
    padded[:, :width] = mat
    return padded.view("<u8").ravel(), padded.view(">u8").ravel().astype(np.uint64)


def _from_words(pair: tuple[np.ndarray, np.ndarray], signal) -> np.ndarray:
    """_extract's bits from the words: a little-endian signal is bits start.. of the
    little-endian word; a big-endian one runs down from its MSB (byte start // 8, bit
    start % 8) through the big-endian word, where byte b's bit k is bit (7 - b) * 8 + k."""
    length = signal.length
    if signal.byte_order == "little_endian":
        word, low = pair[0], signal.start
    else:
        word, low = pair[1], (7 - signal.start // 8) * 8 + signal.start % 8 - (length - 1)
    value = word >> np.uint64(low) if low else word.copy()
    if length < 64:
        value &= np.uint64((1 << length) - 1)
    return value


def _fits(signal) -> bool:
    if signal.byte_order == "little_endian":
        return signal.start + signal.length <= 64
    return (7 - signal.start // 8) * 8 + signal.start % 8 - (signal.length - 1) >= 0


def raw_column(mat: np.ndarray, signal, pair: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    bits = _extract(mat, signal) if pair is None or not _fits(signal) else _from_words(pair, signal)
    length = signal.length
    if signal.is_float:
        if length == 32:
            with np.errstate(invalid="ignore"):  # NaNs widen as in C (cantools' struct.unpack)
                return bits.astype(np.uint32).view(np.float32).astype(np.float64)
        return bits.view(np.float64)
    if signal.is_signed:
        up = np.uint64(64 - length)
        return (bits << up).view(np.int64) >> np.int64(64 - length)  # sign-extend
    if length < 64:
        return bits.astype(np.int64)
    return bits


def phys_column(raw: np.ndarray, signal) -> np.ndarray:
    conv = _conversion(signal)
    name = type(conv).__name__
    if name == "IdentityConversion":
        return raw
    scale, offset = conv.scale, conv.offset
    if raw.dtype == np.float64:
        return raw * scale + offset
    if name == "LinearIntegerConversion":
        if (1 << signal.length) * abs(scale) + abs(offset) < (1 << 62):
            return raw.astype(np.int64) * np.int64(scale) + np.int64(offset)
    elif (1 << signal.length) * abs(scale) < (1 << 53):
        # every raw value and raw * scale exact in float64: one rounding, as in Python
        return raw.astype(np.float64) * scale + offset
    # Python's int arithmetic, as cantools does; float64 could round differently
    return np.array([r * scale + offset for r in raw.tolist()], dtype=object)


def decode_matrix(message, mat: np.ndarray, rows: np.ndarray) -> MessageColumns:
    """Decode every row of `mat` (frames of `message`, one payload length)."""
    out = MessageColumns(message, rows)
    n = mat.shape[0]
    by_name = {s.name: s for s in message.signals}
    bad = np.zeros(n, dtype=bool)
    cache: dict[str, np.ndarray] = {}
    pair = words(mat)

    def raw_of(name: str) -> np.ndarray:
        col = cache.get(name)
        if col is None:
            col = cache[name] = raw_column(mat, by_name[name], pair)
        return col

    def walk(node: dict, mask: np.ndarray | None) -> None:
        nonlocal bad
        if unpack_fails(node, message.length):
            # cantools (non-strict) cannot unpack this level at all: every frame reaching it
            # fails to decode (the firmware decoder's ERR_MUX there, docs/dbc.md)
            bad = bad | (np.ones(n, dtype=bool) if mask is None else mask)
            return
        for sig in node["signals"]:
            raw_of(sig.name)
            if mask is None:
                out.present[sig.name] = None
            else:
                prev = out.present.get(sig.name, False)
                out.present[sig.name] = mask if prev is False else (prev | mask)
        for mux_name, children in node["multiplexers"].items():
            mux = raw_of(mux_name)
            covered = np.isin(mux, np.array(list(children), dtype=mux.dtype))
            miss = ~covered if mask is None else (mask & ~covered)
            bad = bad | miss
            for value, child in children.items():
                hit = mux == value
                walk(child, hit if mask is None else (mask & hit))

    walk(message._codecs, None)
    out.bad_mux = bad
    for sig in message.signals:
        if sig.name in out.present:
            raw = cache[sig.name]
            out.raw[sig.name] = raw
            out.phys[sig.name] = phys_column(raw, sig)
    return out


@dataclass
class FrameTable:
    """Data frames as columns: what decode_table takes (from Frames, or a fast reader)."""

    t: np.ndarray  # float64, as the log gives it
    can_id: np.ndarray  # int64
    ext: np.ndarray  # bool
    length: np.ndarray  # int64 payload lengths
    payload: np.ndarray  # uint8, n x max length (zero-padded)
    channel: list | None  # per frame, or None with channel_codes
    where: list | None = None  # per frame "path:LINE", or None with where_of
    where_of: object = None  # callable(i) -> "path:LINE" when `where` is None
    frames: list | None = None  # the Frames it came from, if any
    channel_codes: tuple | None = None  # (int32 code per frame, the channels the codes name)

    def __len__(self) -> int:
        return len(self.t)

    def codes(self) -> tuple[np.ndarray, list]:
        """Channels as (int32 code per frame, distinct channels): a log has a handful."""
        if self.channel_codes is None:
            index: dict = {}
            codes = np.fromiter((index.setdefault(c, len(index)) for c in self.channel), dtype=np.int32,
                                count=len(self.channel))
            self.channel_codes = (codes, list(index))
        return self.channel_codes

    def channels(self) -> list:
        """The channel of each frame."""
        if self.channel is None:
            codes, names = self.channel_codes
            self.channel = [names[i] for i in codes.tolist()]
        return self.channel

    def place(self, i: int) -> str:
        return self.where[i] if self.where is not None else self.where_of(i)  # type: ignore[operator]

    @classmethod
    def from_frames(cls, frames: list) -> "FrameTable":
        n = len(frames)
        lengths = np.fromiter((len(f.data) for f in frames), dtype=np.int64, count=n)
        width = int(lengths.max()) if n else 0
        if n and (lengths == width).all():
            payload = np.frombuffer(b"".join([f.data for f in frames]), dtype=np.uint8).reshape(n, width)
        else:
            payload = np.zeros((n, width), dtype=np.uint8)
            for i, f in enumerate(frames):
                payload[i, : len(f.data)] = np.frombuffer(f.data, dtype=np.uint8)
        return cls(np.fromiter((f.t for f in frames), dtype=np.float64, count=n),
                   np.fromiter((f.can_id for f in frames), dtype=np.int64, count=n),
                   np.fromiter((f.ext for f in frames), dtype=bool, count=n),
                   lengths, payload, [f.channel for f in frames], [f.where for f in frames], None, frames)


@dataclass
class Batch:
    """A batch of frames decoded column-wise: per message, and what was not decoded."""

    table: FrameTable
    status: np.ndarray  # per frame: 0 decoded, 1 unknown id, 2 wrong length, 3 bad mux
    messages: list  # MessageColumns
    names: dict  # frame index -> message name, for frames not decoded

    @property
    def frames(self) -> list:
        return self.table.frames  # type: ignore[return-value]


_STATUS = (DECODED, UNKNOWN_ID, WRONG_LENGTH, BAD_MUX)


def decode_batch(dbc: Dbc, frames: list) -> Batch:
    """Decode a list of data frames column-wise."""
    return decode_table(dbc, FrameTable.from_frames(frames))


def decode_table(dbc: Dbc, table: FrameTable) -> Batch:
    n = len(table)
    status = np.zeros(n, dtype=np.int8)
    names: dict = {}
    keys = np.where(table.ext, table.can_id | (1 << 29), table.can_id) * 128 + table.length
    uniq, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    lookup = dbc.by_key
    out: list = []
    for g, combined in enumerate(uniq.tolist()):
        rows = order[bounds[g]:bounds[g + 1]]
        key, length = divmod(combined, 128)
        message = lookup.get(key)
        if message is None:
            status[rows] = 1
            continue
        if length not in payload_lengths(message):
            status[rows] = 2
            names.update(dict.fromkeys(rows.tolist(), message.name))
            continue
        mat = table.payload[rows, :length]
        cols = decode_matrix(message, mat, rows)
        if cols.bad_mux is not None and cols.bad_mux.any():
            status[rows[cols.bad_mux]] = 3
            names.update(dict.fromkeys(rows[cols.bad_mux].tolist(), message.name))
        out.append(cols)
    return Batch(table, status, out, names)


def outcomes(batch: Batch) -> list[Outcome]:
    """One Outcome per frame, as the other engines give them (Python ints and floats)."""
    result: list = [None] * len(batch.table)
    for cols in batch.messages:
        rows = cols.rows.tolist()
        ok = ~cols.bad_mux if cols.bad_mux is not None else np.ones(len(rows), bool)
        order = [s.name for s in cols.message.signals if s.name in cols.raw]
        raw_lists = {k: cols.raw[k].tolist() for k in order}
        phys_lists = {k: cols.phys[k].tolist() for k in order}
        present = {k: (None if cols.present[k] is None else cols.present[k].tolist()) for k in order}
        okl = ok.tolist()
        name = cols.message.name
        for j, i in enumerate(rows):
            if not okl[j]:
                continue
            keys = [k for k in order if present[k] is None or present[k][j]]
            result[i] = Outcome(DECODED, name, {k: raw_lists[k][j] for k in keys},
                                {k: phys_lists[k][j] for k in keys})
    status = batch.status.tolist()
    for i, s in enumerate(status):
        if s:
            result[i] = Outcome(_STATUS[s], batch.names.get(i))
    return result


class VectorEngine(InProcessEngine):
    name = "vector"

    def batches(self, frames: Iterable, chunk: int = CHUNK) -> Iterator[Batch]:
        buf: list = []
        for f in frames:
            buf.append(f)
            if len(buf) >= chunk:
                yield decode_batch(self.dbc, buf)
                buf = []
        if buf:
            yield decode_batch(self.dbc, buf)

    def decode(self, frames: Iterable) -> Iterator[tuple[object, Outcome]]:
        for batch in self.batches(frames):
            yield from zip(batch.frames, outcomes(batch))
