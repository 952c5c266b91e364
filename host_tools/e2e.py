"""The E2E rules of firmware/e2e.py for host tools: the same file, loaded in CPython,
plus where each protected message keeps its counter and CRC (the DBC's attributes)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from host_tools import FIRMWARE_DIR

_spec = importlib.util.spec_from_file_location("mule_firmware_e2e", FIRMWARE_DIR / "e2e.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

crc8_j1850 = _e2e.crc8_j1850
payload_crc = _e2e.payload_crc
next_counter = _e2e.next_counter


@dataclass(frozen=True)
class Protection:
    counter: str  # signal names
    crc: str


def protection(message) -> Protection | None:
    """Counter and CRC signals named by the message's E2E attributes, or None."""
    attributes = message.dbc.attributes if message.dbc else {}
    counter = attributes.get("E2ECounterSignal")
    crc = attributes.get("E2ECrcSignal")
    if counter is None or crc is None or not counter.value or not crc.value:
        return None
    return Protection(counter.value, crc.value)
