"""Random frames for any DBC: valid payloads (every multiplexer set to a defined value)
and, on request, undecodable ones. For tests and benchmarks; the simulator makes real traffic."""

from __future__ import annotations

import random
from dataclasses import dataclass

from host_tools.codegen.layout import payload_bits


@dataclass(frozen=True)
class SampleFrame:
    can_id: int
    ext: bool
    data: bytes
    t: float = 0.0
    where: str = "sample"
    kind: str = "data"


def set_bits(data: bytearray, signal, value: int) -> None:
    """Write `value` (two's complement, truncated) into the signal's bits of `data`."""
    for k, (byte, bit) in enumerate(payload_bits(signal.start, signal.length, signal.byte_order)):
        if (value >> k) & 1:
            data[byte] |= 1 << bit
        else:
            data[byte] &= ~(1 << bit) & 0xFF


def choose_mux(message, tree: list, data: bytearray, pick) -> None:
    """Write a defined multiplexer value (chosen by `pick` from a sorted list) at every level."""
    for item in tree:
        if isinstance(item, dict):
            for mux_name, children in item.items():
                mux_id = pick(sorted(children))
                set_bits(data, message.get_signal_by_name(mux_name), mux_id)
                choose_mux(message, children[mux_id], data, pick)


def random_frame(dbc, rnd: random.Random, faults: bool = True) -> SampleFrame:
    """A random frame of a random message; with `faults`, about 10 % cannot be decoded
    (undefined multiplexer value, wrong length, or an id the DBC probably lacks)."""
    message = rnd.choice(dbc.messages)
    data = bytearray(rnd.getrandbits(8) for _ in range(message.length))
    if rnd.random() < 0.1:
        data = bytearray(rnd.choice((0x00, 0xFF)) for _ in range(message.length))
    roll = rnd.random() if faults else 1.0
    if roll >= 0.05:  # else: leave the multiplexer random (maybe undefined)
        choose_mux(message, message.signal_tree, data, rnd.choice)
    if 0.05 <= roll < 0.08:
        longer = len(data) < 64 and (not data or rnd.random() < 0.5)  # CAN FD carries 64 at most
        data = data + b"\x00" if longer else data[:-1]
    if 0.08 <= roll < 0.1:
        return SampleFrame(rnd.getrandbits(11), False, bytes(data))
    return SampleFrame(message.frame_id, message.is_extended_frame, bytes(data))
