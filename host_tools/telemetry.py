"""Turn the board's TELEMETRY lanes back into raw and physical values with the DBC: the
board sends raw bits (docs/protocol.md), physical values follow from the shared DBC."""

from __future__ import annotations

import struct

from host_tools.dbc import Dbc
from host_tools.link.messages import Signal


def raw_value(signal, lanes: Signal):
    """The raw value cantools gives for `signal`, from the lanes the board sent."""
    if signal.is_float:
        low = lanes.v0 & 0xFFFFFFFF
        if signal.length == 32:
            return struct.unpack("<f", struct.pack("<I", low))[0]
        return struct.unpack("<d", struct.pack("<II", low, (lanes.v1 or 0) & 0xFFFFFFFF))[0]
    return lanes.raw(signal.length, signal.is_signed)


class TelemetryDecoder:
    """A decoded message's signals → (message name, raw dict, phys dict), in DBC order."""

    def __init__(self, dbc: Dbc):
        self.dbc = dbc

    def values(self, mi: int, signals: list[Signal]) -> tuple[str, dict, dict]:
        message = self.dbc.messages[mi]
        raw = {}
        for lanes in sorted(signals, key=lambda s: s.si):
            signal = message.signals[lanes.si]
            raw[signal.name] = raw_value(signal, lanes)
        phys = {name: message.get_signal_by_name(name).conversion.raw_to_scaled(value, decode_choices=False)
                for name, value in raw.items()}
        return message.name, raw, phys
