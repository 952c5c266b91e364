"""Turn a validated DBC into the text of a MicroPython decoder module.

Layout arithmetic lives in layout.py and the fixed runtime part of the module in
runtime_template.py; this file only writes the per-message decode functions and tables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from cantools.database.conversion import IdentityConversion

from host_tools.codegen import layout
from host_tools.dbc import Dbc, frame_key, payload_lengths

MODES = ("viper", "plain")

# Flag bits of a signal's `kind` word; the low 7 bits hold its length. Mirrored in the
# runtime template, which is what the board reads.
KIND_SIGNED = 0x80
KIND_FLOAT = 0x100
KIND_IDENTITY = 0x200  # phys == raw (cantools' IdentityConversion)
KIND_INT_CONV = 0x400  # integer scale and offset: integer arithmetic
KIND_HAS_MIN = 0x800
KIND_HAS_MAX = 0x1000

ERR_UNKNOWN_ID = -1
ERR_LENGTH = -2
ERR_MUX = -3

RUNTIME_TEMPLATE = Path(__file__).with_name("runtime_template.py")


@dataclass
class _Counter:
    lanes: int = 0


def _segment_expr(seg: layout.Segment) -> str:
    expr = f"int(d[{seg.byte}])"
    if seg.shift:
        expr = f"({expr} >> {seg.shift})"
    if seg.shift + seg.width < 8:
        expr = f"({expr} & {hex((1 << seg.width) - 1)})"
    if seg.pos:
        expr = f"({expr} << {seg.pos})"
    return expr


def _lane_lines(lane: layout.Lane, signed: bool, index: int, mode: str) -> list[str]:
    lines = [f"v = {' | '.join(_segment_expr(s) for s in lane.segments)}"]
    w = lane.width
    if signed and w < 32:
        # Sign-extend with runtime shifts only: literals stay small ints on a 32-bit board.
        lines.append(f"v = v - ((v >> {w - 1}) << {w})")
    elif w == 32 and mode == "plain":
        # A plain int may exceed int32; fold it into the array's range (viper wraps by itself).
        lines.append("v = v - ((v >> 31) << 32)")
    lines.append(f"o[{index}] = v")
    return lines


def _kind(signal) -> int:
    conv = signal.conversion
    kind = signal.length
    if signal.is_signed:
        kind |= KIND_SIGNED
    if signal.is_float:
        kind |= KIND_FLOAT
    if isinstance(conv, IdentityConversion):
        kind |= KIND_IDENTITY
    if not signal.is_float and isinstance(conv.scale, int) and isinstance(conv.offset, int):
        kind |= KIND_INT_CONV  # cantools computes these in ints: so must the board
    if signal.minimum is not None:
        kind |= KIND_HAS_MIN
    if signal.maximum is not None:
        kind |= KIND_HAS_MAX
    return kind


def signal_record(signal, lane: int) -> bytes:
    """The signal's row of its message's layout bytes (format in runtime_template.py)."""
    kind = _kind(signal)
    conv = signal.conversion
    scale_offset = (struct.pack("<qq", conv.scale, conv.offset) if kind & KIND_INT_CONV
                    else struct.pack("<dd", conv.scale, conv.offset))
    limits = struct.pack("<dd", *(float("nan") if v is None else float(v)
                                  for v in (signal.minimum, signal.maximum)))
    return struct.pack("<HH", lane, kind) + scale_offset + limits


def _cycle(message) -> str:
    return "None" if message.cycle_time is None else str(int(message.cycle_time))


def _choices(message) -> str:
    """Value tables as one string, a line "signal<TAB>raw<TAB>label" per entry: one heap
    object instead of one per label."""
    lines = [f"{si}\t{int(raw)}\t{label}" for si, signal in enumerate(message.signals)
             for raw, label in sorted((signal.choices or {}).items())]
    return repr("\n".join(lines))


def _ranges(ids: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for i in sorted(ids):
        if ranges and ranges[-1][1] == i - 1:
            ranges[-1] = (ranges[-1][0], i)
        else:
            ranges.append((i, i))
    return ranges


def _condition(var: str, ids: list[int]) -> str:
    parts = []
    for lo, hi in _ranges(ids):
        parts.append(f"{var} == {lo}" if lo == hi else f"({var} >= {lo} and {var} <= {hi})")
    return " or ".join(parts)


class _MessageWriter:
    """Writes one message's decode function from cantools' signal tree."""

    def __init__(self, message, mode: str):
        self.message = message
        self.mode = mode
        self.index_of = {s.name: i for i, s in enumerate(message.signals)}
        self.lane_of: dict[str, int] = {}
        lanes = 0
        for s in message.signals:
            self.lane_of[s.name] = lanes
            lanes += len(layout.lanes(s.start, s.length, s.byte_order))
        self.lane_count = lanes
        self.muxed = any(isinstance(item, dict) for item in message.signal_tree)
        self.mux_depth = 0

    def function(self, name: str, mi: int) -> list[str]:
        """The message's decoder: checks the payload length `n`, fills lanes `o`, writes
        the present signals' count to s[0] and their indices to s[1..], returns `mi`."""
        if self.mode == "viper":
            head = ["@micropython.viper", f"def {name}(d: ptr8, o: ptr32, s: ptr16, n: int) -> int:"]
        else:
            head = [f"def {name}(d, o, s, n):"]
        length, padded = payload_lengths(self.message)
        check = f"n != {length}" if length == padded else f"n != {length} and n != {padded}"
        body = [f"if {check}:", f"    return {ERR_LENGTH}"]
        if self.muxed:
            body.append("c = 1")
            self._tree(self.message.signal_tree, body, "")
            body.append("s[0] = c - 1")
        else:
            for i, item in enumerate(self.message.signal_tree):
                self._signal(item, body, slot=i + 1)
            body.append(f"s[0] = {len(self.message.signal_tree)}")
        body.append(f"return {mi}")
        return head + ["    " + line for line in body]

    def _signal(self, name: str, out: list[str], slot: int | None = None,
                keep: str | None = None) -> None:
        """Decode one signal into its lanes; only its top lane carries the sign."""
        signal = self.message.get_signal_by_name(name)
        first = self.lane_of[name]
        lanes = layout.lanes(signal.start, signal.length, signal.byte_order)
        for k, lane in enumerate(lanes):
            top = k == len(lanes) - 1
            out.extend(_lane_lines(lane, signal.is_signed and top, first + k, self.mode))
        if keep:
            out.append(f"{keep} = v")
        if slot is None:
            out.extend([f"s[c] = {self.index_of[name]}", "c += 1"])
        else:
            out.append(f"s[{slot}] = {self.index_of[name]}")

    def _tree(self, items: list, out: list[str], indent: str) -> None:
        for item in items:
            if isinstance(item, str):
                self._lines(out, indent, lambda o: self._signal(item, o))
                continue
            for mux_name, children in item.items():
                var = f"m{self.mux_depth}"
                self.mux_depth += 1
                self._lines(out, indent, lambda o: self._signal(mux_name, o, keep=var))
                groups: dict[str, tuple[list[int], list]] = {}
                for mux_id, subtree in children.items():
                    groups.setdefault(repr(subtree), ([], subtree))[0].append(mux_id)
                keyword = "if"
                for ids, subtree in groups.values():
                    out.append(f"{indent}{keyword} {_condition(var, ids)}:")
                    inner: list[str] = []
                    self._tree(subtree, inner, indent + "    ")
                    out.extend(inner or [f"{indent}    pass"])
                    keyword = "elif"
                out.append(f"{indent}else:")
                out.append(f"{indent}    return {ERR_MUX}")

    @staticmethod
    def _lines(out: list[str], indent: str, write) -> None:
        lines: list[str] = []
        write(lines)
        out.extend(indent + line for line in lines)


def generate(dbc: Dbc, mode: str = "viper") -> str:
    """Return the source text of a MicroPython decoder module for `dbc`."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    messages = dbc.messages
    functions: list[str] = []
    message_rows: list[str] = []
    index_rows: list[str] = []
    decoder_rows: list[str] = []
    max_lanes = 1
    max_signals = 1
    for mi, message in enumerate(messages):
        writer = _MessageWriter(message, mode)
        functions.extend(writer.function(f"_d{mi}", mi) + [""])
        max_lanes = max(max_lanes, writer.lane_count)
        max_signals = max(max_signals, len(message.signals))
        # Strings joined per message: a MicroPython str costs ~70 bytes of heap apiece.
        names = " ".join(s.name for s in message.signals)
        units = "\t".join((s.unit or "").replace("\t", " ") for s in message.signals)
        records = b"".join(signal_record(s, writer.lane_of[s.name]) for s in message.signals)
        message_rows.append(
            f"    ({message.name!r}, {message.frame_id}, {message.is_extended_frame}, "
            f"{message.length}, {_cycle(message)},\n     {names!r},\n     {units!r},\n"
            f"     {records!r},\n     {_choices(message)}),")
        key = frame_key(message.frame_id, message.is_extended_frame)
        index_rows.append(f"    {key}: {mi},")
        decoder_rows.append(f"    {key}: _d{mi},")
    runtime = RUNTIME_TEMPLATE.read_text()
    if mode == "plain":  # for ports without a native emitter
        runtime = runtime.replace("@micropython.native\n", "")
    header = f'''# Generated by `mule codegen` from {dbc.path.name}. Do not edit: regenerate.
# DBC sha256 {dbc.sha256}
"""MicroPython decoder for {dbc.path.name}, specialized per message.

API (docs/decoder.md): decode() into preallocated buffers from new_buffers(),
raw_value(), phys_value(), lookup(), and the MESSAGES metadata table.
"""
'''
    tables = "\n".join([
        f"DBC_NAME = {dbc.path.name!r}",
        f"DBC_SHA256 = {dbc.sha256!r}",
        f"EMIT = {mode!r}",
        f"MAX_LANES = const({max_lanes})",
        f"MAX_SIGNALS = const({max_signals})",
        "",
        "# (name, frame_id, ext, length, cycle_ms, signal names, units, layout, value tables)",
        "MESSAGES = (",
        *message_rows,
        ")",
        "",
        "_INDEX = {",
        *index_rows,
        "}",
        "",
        *functions,
        "# Frame key -> that message's decoder: the hot loop's one dictionary look-up.",
        "DECODERS = {",
        *decoder_rows,
        "}",
        "",
    ])
    return header + runtime + "\n" + tables
