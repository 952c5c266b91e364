"""Physical values to payload bytes, fast: each signal's bits are placed with one shift,
worked out once per message from the DBC layout (host_tools/codegen/layout.py).

cantools `Message.encode` costs ~10 µs a frame; a loop over the fields ~6 µs on a slow
machine; the straight-line function each Packer compiles from its plan ~3 µs. All three
give the same bytes (tests/host/test_simulate_encoding.py holds them together).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from host_tools.codegen.layout import payload_bits
from host_tools.dbc_conventions import not_available_raw, raw_limits, raw_range  # noqa: F401 (used here and re-exported)
from host_tools.simulate.errors import SimulateError

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
    """Encodes one message (or one group of the multiplexed one) from values in a fixed order.

    `raws()` and `pack()` are the plain reference; `encoder()` is the per-frame fast path,
    the same arithmetic compiled once into straight-line code."""

    def __init__(self, message, names: tuple[str, ...]):
        self.message = message
        self.length = message.length
        self.fields = tuple(field_of(message, name) for name in names)
        self.index = {f.name: k for k, f in enumerate(self.fields)}
        self._plan = tuple((f.scale, f.offset, f.lo, f.hi, f.na, f.mask, f.shift, f.big_endian) for f in self.fields)
        self._encoders: dict[bool, Callable] = {}

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

    def encoder(self, counted: bool) -> Callable[..., tuple[list[int], int]]:
        """raws() and pack() in one call: f(values) -> (raws, payload as a little-endian
        int). With `counted`, f(values, counter): the last two fields are the E2E counter
        (set to it) and CRC (left 0 for the caller to fill), and `values` has the others."""
        encode = self._encoders.get(counted)
        if encode is None:
            encode = self._encoders[counted] = _compile(self._plan, self.length, counted)
        return encode

    def encode(self, values, counter: int | None = None) -> tuple[list[int], bytearray]:
        """The encoder's result with the payload as bytes (counter: as for encoder(True))."""
        if counter is None:
            raws, payload = self.encoder(False)(values)
        else:
            raws, payload = self.encoder(True)(values, counter)
        return raws, bytearray(payload.to_bytes(self.length, "little"))


@functools.lru_cache(maxsize=256)
def _compile(plan: tuple, length: int, counted: bool) -> Callable:
    """The plan as Python source, constants inlined, one statement per step: no loop, no
    tuple unpacking per field. Same operations in the same order as raws() and pack(), so
    the same floats round to the same ints. Cached by plan: compiling costs ~0.7 ms, the 32
    cell groups share one layout, and every run the same ones."""
    values = plan[:-2] if counted else plan
    args = "values, counter" if counted else "values"
    lines = [f"def encode({args}):"]
    if values:
        lines.append(f"    {''.join(f'v{k}, ' for k in range(len(values)))}= values")
    le, be, raws = [], [], []
    for k, (scale, offset, lo, hi, na, mask, shift, big) in enumerate(values):
        na = na if na is not None else lo
        lines += [f"    if v{k} is None:",
                  f"        r{k} = {na!r}",
                  "    else:",
                  f"        r{k} = round({_scaled(f'v{k}', scale, offset, mask)})",
                  f"        if r{k} < {lo!r}:",
                  f"            r{k} = {lo!r}",
                  f"        elif r{k} > {hi!r}:",
                  f"            r{k} = {hi!r}"]
        # a raw clamped into [lo, hi] of an unsigned field needs no mask
        masked = f"r{k}" if 0 <= min(lo, na) and max(hi, na) <= mask else f"(r{k} & {mask:#x})"
        (be if big else le).append(f"{masked} << {shift}")
        raws.append(f"r{k}")
    if counted:
        _, _, _, _, _, _, shift, big = plan[-2]
        (be if big else le).append(f"counter << {shift}")
        raws += ["counter", "0"]
    lines.append(f"    le = {' | '.join(le) or '0'}")
    if be:  # Motorola fields were placed in the payload read as one big-endian number
        lines.append(f"    le |= int.from_bytes(({' | '.join(be)}).to_bytes({length}, 'big'), 'little')")
    lines.append(f"    return [{', '.join(raws)}], le")
    namespace: dict = {}
    exec(compile("\n".join(lines) + "\n", "<simulate encoder>", "exec"), namespace)
    return namespace["encode"]


def _scaled(value: str, scale, offset, mask: int) -> str:
    """(value - offset) / scale, leaving out a subtraction of 0 and a division by 1: both give
    back exactly what they get (floats, and the small ints a field can hold)."""
    if mask < 1 << 53:  # ints up to 2**53 survive true division unchanged
        if offset == 0:
            return value if scale == 1 else f"{value} / {scale!r}"
        if scale == 1:
            return f"({value} - {offset!r})"
    return f"({value} - ({offset!r})) / ({scale!r})"
