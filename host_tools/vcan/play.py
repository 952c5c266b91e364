"""Play a CAN log onto a bus in real time, as the truck's ECUs would send it: any python-can
channel, named `INTERFACE:CHANNEL` (`slcan:/dev/pts/3`, `socketcan:vcan0`, `virtual:x`)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import can

from host_tools.text import printable


class BusError(Exception):
    """A bus that cannot be opened or written, said for the user."""


def open_bus(spec: str, bitrate: int = 500000) -> can.BusABC:
    """A python-can bus from `INTERFACE:CHANNEL` (the channel may hold colons itself)."""
    interface, sep, channel = spec.partition(":")
    if not sep or not interface or not channel:
        raise BusError(f"--bus {printable(spec)!r}: give INTERFACE:CHANNEL, e.g. slcan:/dev/pts/3 "
                       "(the port `mule vboard` prints on its slcan line) or socketcan:can0")
    if interface not in can.VALID_INTERFACES:
        raise BusError(f"--bus {printable(spec)!r}: python-can has no interface {printable(interface)!r} "
                       f"(it has {', '.join(sorted(can.VALID_INTERFACES))})")
    kwargs: dict = {"bitrate": bitrate}
    if interface == "slcan":
        kwargs["sleep_after_open"] = 0  # a pty answers at once; a USB adapter's 2 s are for its reset
    try:
        return can.Bus(interface=interface, channel=channel, **kwargs)
    except (can.CanError, OSError, ValueError) as exc:
        raise BusError(f"--bus {printable(spec)}: cannot open it: {printable(exc)}") from None


@dataclass
class PlayResult:
    frames: int
    seconds: float  # wall time the playing took
    log_seconds: float  # the log's own span


def play(log: Path, bus: can.BusABC, speed: float = 1.0, stop=None) -> PlayResult:
    """Send every frame of `log` at its own time (relative to the first), `speed` times as
    fast. stop: a callable; True ends the playing early."""
    frames = 0
    first = None
    started = time.monotonic()
    last_ts = 0.0
    with can.LogReader(str(log)) as reader:
        for msg in reader:
            if stop is not None and stop():
                break
            if first is None:
                first = msg.timestamp
            last_ts = msg.timestamp - first
            due = started + last_ts / speed
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                bus.send(msg)
            except can.CanError as exc:
                raise BusError(f"{printable(log)}: frame {frames + 1} (id 0x{msg.arbitration_id:x}) "
                               f"not sent: {printable(exc)}") from None
            frames += 1
    return PlayResult(frames, time.monotonic() - started, last_ts)
