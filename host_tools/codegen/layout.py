"""Bit layout arithmetic: where each bit of a signal's raw value sits in the payload.

The generated decoder assembles every signal from byte-sized pieces ("segments") into
32-bit lanes, because a 32-bit board has 31-bit small ints and must never build one big
integer from the whole payload. Nothing here knows about code text; see emit.py.
"""

from __future__ import annotations

from dataclasses import dataclass

LANE_BITS = 32


@dataclass(frozen=True)
class Segment:
    """Bits `shift .. shift+width-1` of payload byte `byte` land at bit `pos` of a lane."""

    byte: int
    shift: int
    width: int
    pos: int


@dataclass(frozen=True)
class Lane:
    """One 32-bit slot of a signal's raw value: bits `base .. base+width-1`."""

    base: int
    width: int
    segments: tuple[Segment, ...]


def payload_bits(start: int, length: int, byte_order: str) -> list[tuple[int, int]]:
    """(byte, bit) of each raw-value bit, least significant first.

    `start` is the DBC start bit as cantools reports it: the LSB for little-endian
    (Intel) signals, the MSB in sawtooth numbering for big-endian (Motorola) ones.
    """
    if byte_order == "little_endian":
        return [((start + k) // 8, (start + k) % 8) for k in range(length)]
    bits: list[tuple[int, int]] = [(0, 0)] * length
    pos = start
    for k in range(length - 1, -1, -1):  # MSB first, walking the sawtooth
        bits[k] = (pos // 8, pos % 8)
        pos = pos + 15 if pos % 8 == 0 else pos - 1
    return bits


def lanes(start: int, length: int, byte_order: str) -> tuple[Lane, ...]:
    """Split a signal into lanes of at most 32 bits, each a list of byte segments."""
    bits = payload_bits(start, length, byte_order)
    result = []
    for base in range(0, length, LANE_BITS):
        width = min(LANE_BITS, length - base)
        segments: list[Segment] = []
        for k in range(base, base + width):
            byte, bit = bits[k]
            last = segments[-1] if segments else None
            if last and last.byte == byte and last.shift + last.width == bit:
                segments[-1] = Segment(byte, last.shift, last.width + 1, last.pos)
            else:
                segments.append(Segment(byte, bit, 1, k - base))
        result.append(Lane(base, width, tuple(segments)))
    return tuple(result)


def highest_byte(start: int, length: int, byte_order: str) -> int:
    """Index of the last payload byte the signal touches."""
    return max(byte for byte, _ in payload_bits(start, length, byte_order))


def unpack_fails(codec: dict, length: int) -> bool:
    """True when cantools cannot unpack any frame at this level of a message's tree.

    cantools (non-strict) lays a level's signals end to end in one bit format per byte
    order; signals that overlap in one byte order, or reach past the message, make that
    format longer than the payload, and every decode of it raises "unpacking failed".
    The failure depends on lengths only, so an all-zero payload finds it.
    """
    zeros = bytes(length)
    try:
        codec["formats"].big_endian.unpack(zeros)
        codec["formats"].little_endian.unpack(zeros)
    except Exception:  # bitstruct raises ValueError or its own Error
        return True
    return False
