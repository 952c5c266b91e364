"""Telemetry "changed" (a board setting, docs/protocol.md "TELEMETRY"): the board sends a
signal only when its raw value moved by more than its deadband since the value last sent,
or when that value is `refresh_ms` of frame time old; a frame with nothing to send is
counted in a run of suppressed frames. Here: the deadband table `mule flash` ships
(derived from the DBC) and the board's rule in Python (tests and `make bench` compare the
board against it); the replay's check of the records is host_tools/replay/changed.py."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from host_tools.board_codes import TIME_MASK
from host_tools.dbc import Dbc
from host_tools.e2e import protection

DEADBAND_FILE = "telemetry_deadband.bin"  # beside the decoder on the board: i16 per signal
DEADBAND_ATTRIBUTE = "MuleDeadband"  # a signal's deadband in physical units (the DBC's BA_ SG_)
UNTRACKED = -1  # E2E counters and CRCs: they change every frame; supervision checks them
MAX_DEADBAND = 0x7FFF


def deadbands(dbc: Dbc) -> list[list[int]]:
    """Per message, per signal (the decoder's order): the deadband in raw steps. A signal's
    `MuleDeadband` attribute (physical units) over its resolution |scale|, rounded down;
    none: 0 (any change is sent). Exact (0) for floats and for integers of 31 bits or more
    (the board compares those bit for bit); UNTRACKED for E2E counters and CRCs."""
    out = []
    for message in dbc.messages:
        guard = protection(message)
        e2e = {guard.counter, guard.crc} if guard else set()
        row = []
        for signal in message.signals:
            if signal.name in e2e:
                row.append(UNTRACKED)
                continue
            attribute = signal.dbc.attributes.get(DEADBAND_ATTRIBUTE) if signal.dbc else None
            band = 0
            if attribute is not None and not signal.is_float and signal.length < 31 and signal.scale:
                band = min(MAX_DEADBAND, max(0, math.floor(float(attribute.value) / abs(signal.scale) + 1e-9)))
            row.append(band)
        out.append(row)
    return out


def deadband_bytes(table: list[list[int]]) -> bytes:
    """The board's file: i16 little-endian per signal, messages in order."""
    flat = [band for row in table for band in row]
    return struct.pack(f"<{len(flat)}h", *flat)


def write_deadbands(dbc: Dbc, out_dir: Path) -> Path:
    """The board's DEADBAND_FILE for this DBC, in out_dir."""
    path = out_dir / DEADBAND_FILE
    path.write_bytes(deadband_bytes(deadbands(dbc)))
    return path


def value_key(signal, value):
    """What the board compares: the raw integer, or a float's bits."""
    if isinstance(value, float):
        return struct.unpack("<Q", struct.pack("<d", value))[0] if signal.length == 64 else \
            struct.unpack("<I", struct.pack("<f", value))[0]
    return value


def moved(key: int, last_key: int, band: int) -> bool:
    """The board's rule for one signal: its value moved by more than its deadband since the
    value last sent (any change when the deadband is 0; never for an UNTRACKED one)."""
    if band == UNTRACKED:
        return False
    return key != last_key if band == 0 else abs(key - last_key) > band


def held_exactly(band: int) -> bool:
    """Is a value the board did not send the last one it sent, bit for bit? Only with a
    deadband of 0 (moved: any change is sent); within the deadband otherwise, and for an
    UNTRACKED one (E2E counter, CRC) unknown."""
    return band == 0


class BoardRule:
    """The board's choice in Python (firmware/changed.py): which signals of a decoded frame
    go out. `carried(mi, t_us, raw)` → the names sent, in the decoder's order."""

    def __init__(self, dbc: Dbc, table: list[list[int]], refresh_ms: int):
        self.dbc = dbc
        self.table = table
        self.refresh_us = refresh_ms * 1000
        self.reset()

    def reset(self) -> None:
        """A new session (HELLO): no value sent yet."""
        self.last: dict = {}  # (mi, name) -> (key, t)

    def carried(self, mi: int, t_us: int, raw: dict) -> list[str]:
        message = self.dbc.messages[mi]
        t = t_us & TIME_MASK
        out = []
        for si, signal in enumerate(message.signals):
            if signal.name not in raw:
                continue
            key = value_key(signal, raw[signal.name])
            last = self.last.get((mi, signal.name))
            band = self.table[mi][si]
            if last is None or (t - last[1]) & TIME_MASK >= self.refresh_us or moved(key, last[0], band):
                self.last[(mi, signal.name)] = (key, t)
                out.append(signal.name)
        return out


__all__ = ["BoardRule", "DEADBAND_FILE", "held_exactly", "moved", "UNTRACKED", "deadband_bytes", "deadbands", "value_key", "write_deadbands"]
