"""Physical values to payload bytes, fast: each signal's bits are placed with one shift,
worked out once per message from the DBC layout (host_tools/codegen/layout.py).

cantools `Message.encode` costs ~10 µs a frame; this costs ~1-2 µs and produces the same
bytes (tests/host/test_simulate_encoding.py holds the two together).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from host_tools.codegen.layout import payload_bits
from host_tools.simulate.errors import SimulateError

_NA = re.compile(r"Raw (0x[0-9A-Fa-f]+|\d+) = not available")


def not_available_raw(signal) -> int | None:
    """The raw "not available" code a signal's DBC comment names, if any."""
    comment = signal.comment or ""
    if isinstance(comment, dict):  # cantools keeps per-language comments in some versions
        comment = " ".join(comment.values())
    found = _NA.search(comment)
    return int(found.group(1), 0) if found else None


def raw_limits(signal) -> tuple[int, int]:
    """The raw values the signal's field can hold."""
    if signal.is_signed:
        return -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    return 0, (1 << signal.length) - 1


def raw_range(signal) -> tuple[int, int]:
    """The raw values inside the DBC's [min|max] (the whole field where none is given)."""
    lo, hi = raw_limits(signal)
    if signal.minimum is not None:
        lo = max(lo, math.ceil((signal.minimum - signal.offset) / signal.scale - 1e-9))
    if signal.maximum is not None:
        hi = min(hi, math.floor((signal.maximum - signal.offset) / signal.scale + 1e-9))
    return lo, hi


@dataclass(frozen=True)
class Field:
    name: str
    scale: float
    offset: float
    lo: int  # raw range the physics is clamped to
    hi: int
    na: int | None  # raw code sent for None
    mask: int
    shift: int
    big_endian: bool


def field_of(message, name: str) -> Field:
    try:
        signal = message.get_signal_by_name(name)
    except KeyError:
        raise SimulateError(f"the DBC's {message.name} has no signal {name!r}, which the simulator sends") from None
    if signal.is_float:
        raise SimulateError(f"{message.name}.{name}: float signals are not simulated")
    bits = payload_bits(signal.start, signal.length, signal.byte_order)
    n = message.length
    if signal.byte_order == "little_endian":
        positions = [byte * 8 + bit for byte, bit in bits]
    else:  # Motorola bits are contiguous in the payload read as one big-endian number
        positions = [(n - 1 - byte) * 8 + bit for byte, bit in bits]
    shift = positions[0]
    if positions != list(range(shift, shift + signal.length)):
        raise SimulateError(f"{message.name}.{name}: bit layout not contiguous")  # impossible in a DBC
    lo, hi = raw_range(signal)
    return Field(name, signal.scale, signal.offset, lo, hi, not_available_raw(signal),
                 (1 << signal.length) - 1, shift, signal.byte_order == "big_endian")


class Packer:
    """Encodes one message (or one group of the multiplexed one) from values in a fixed order."""

    def __init__(self, message, names: tuple[str, ...]):
        self.message = message
        self.length = message.length
        self.fields = tuple(field_of(message, name) for name in names)
        self.index = {f.name: k for k, f in enumerate(self.fields)}
        self._plan = tuple((f.scale, f.offset, f.lo, f.hi, f.na, f.mask, f.shift, f.big_endian) for f in self.fields)

    def raws(self, values) -> list[int]:
        """Physical values to raw, rounded and clamped into the DBC range (None: n/a code)."""
        out = []
        for (scale, offset, lo, hi, na, _, _, _), value in zip(self._plan, values):
            if value is None:
                out.append(na if na is not None else lo)
                continue
            raw = round((value - offset) / scale)
            out.append(lo if raw < lo else hi if raw > hi else raw)
        return out

    def encode(self, values, counter: int | None = None) -> tuple[list[int], bytearray]:
        """raws() and pack() in one pass, the per-frame fast path. With `counter`, the last two
        fields are the E2E counter (set to it) and CRC (left 0 for the caller to fill)."""
        le = be = 0
        raws = []
        append = raws.append
        for (scale, offset, lo, hi, na, mask, shift, big), value in zip(self._plan, values):
            if value is None:
                raw = na if na is not None else lo
            else:
                raw = round((value - offset) / scale)
                if raw < lo:
                    raw = lo
                elif raw > hi:
                    raw = hi
            append(raw)
            if big:
                be |= (raw & mask) << shift
            else:
                le |= (raw & mask) << shift
        if counter is not None:
            _, _, _, _, _, mask, shift, big = self._plan[-2]
            if big:
                be |= counter << shift
            else:
                le |= counter << shift
            append(counter)
            append(0)
        n = self.length
        if be:
            le |= int.from_bytes(be.to_bytes(n, "big"), "little")
        return raws, bytearray(le.to_bytes(n, "little"))

    def pack(self, raws) -> bytearray:
        le = be = 0
        for (_, _, _, _, _, mask, shift, big), raw in zip(self._plan, raws):
            if big:
                be |= (raw & mask) << shift
            else:
                le |= (raw & mask) << shift
        n = self.length
        if be:
            le |= int.from_bytes(be.to_bytes(n, "big"), "little")
        return bytearray(le.to_bytes(n, "little"))
