"""Load a DBC with cantools and reject what the board could not decode faithfully.

cantools is the reference parser; this module adds the checks it only warns about (or
skips) and the few rules both decode engines share: frame keys and accepted lengths.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import cantools

from host_tools.codegen.layout import highest_byte

CANFD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
EXT_KEY = 1 << 29  # above every 29-bit id; the key stays a small int on a 32-bit board
MAX_MUX_BITS = 30


class DbcError(Exception):
    """A DBC that cannot be used; the message names the file and the offending item."""


@dataclass(frozen=True)
class Dbc:
    path: Path
    sha256: str
    database: cantools.database.can.Database
    messages: tuple = field(repr=False)
    by_key: dict = field(repr=False)

    def lookup(self, can_id: int, ext: bool):
        """The cantools Message for an id, or None."""
        return self.by_key.get(frame_key(can_id, ext))


def frame_key(can_id: int, ext: bool) -> int:
    """One int per (id, format): a standard and an extended 0x123 are different frames."""
    return can_id | EXT_KEY if ext else can_id


def payload_lengths(message) -> tuple[int, int]:
    """Payload lengths accepted for `message`: its own, and the CAN FD length it pads to."""
    length = message.length
    padded = next(n for n in CANFD_LENGTHS if n >= length)
    return (length, padded)


def load_dbc(path: str | Path) -> Dbc:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DbcError(f"{path}: cannot read DBC: {exc.strerror or exc}") from None
    cantools_log = logging.getLogger("cantools")
    level = cantools_log.level
    cantools_log.setLevel(logging.ERROR)  # its duplicate-id warning becomes our error below
    try:
        database = cantools.database.load_file(str(path), database_format="dbc")
    except Exception as exc:  # cantools raises many types; all mean "unusable file"
        reason = str(exc).strip() or type(exc).__name__
        raise DbcError(f"{path}: not a valid DBC: {reason}") from None
    finally:
        cantools_log.setLevel(level)
    return checked_dbc(database, path, hashlib.sha256(raw).hexdigest())


def checked_dbc(database, path: Path, sha256: str) -> Dbc:
    """A loaded cantools database (or one built in memory) with this module's checks."""
    messages = tuple(database.messages)
    if not messages:
        raise DbcError(f"{path}: the DBC defines no messages")
    by_key: dict = {}
    for message in messages:
        _check_message(path, message)
        key = frame_key(message.frame_id, message.is_extended_frame)
        if key in by_key:
            other = by_key[key]
            raise DbcError(
                f"{path}: messages {other.name!r} and {message.name!r} share frame id "
                f"{message.frame_id:#x} ({'extended' if message.is_extended_frame else 'standard'})")
        by_key[key] = message
    return Dbc(Path(path), sha256, database, messages, by_key)


def _check_message(path: Path, message) -> None:
    where = f"{path}: message {message.name!r} ({message.frame_id:#x})"
    if message.length > 64:
        raise DbcError(f"{where}: length {message.length} exceeds the 64 bytes of a CAN FD frame")
    limit = 0x1FFFFFFF if message.is_extended_frame else 0x7FF
    if message.frame_id > limit:
        raise DbcError(f"{where}: id does not fit a {'29' if message.is_extended_frame else '11'}-bit identifier")
    names = {signal.name for signal in message.signals}
    seen = set()
    for signal in message.signals:
        what = f"{where}: signal {signal.name!r}"
        if signal.name in seen:  # records key values by name, cantools' signal tree names signals
            raise DbcError(f"{what}: two signals of the message have this name; rename one")
        seen.add(signal.name)
        if signal.multiplexer_ids and signal.multiplexer_signal not in names:
            # cantools leaves such a signal out of every decode, silently
            raise DbcError(f"{what}: its multiplexer {signal.multiplexer_signal!r} is not a signal of the "
                           f"message by that name, so cantools would never decode it (a SystemSignalLongSymbol "
                           f"renames the multiplexer?); remove the multiplexer's long name")
        if not 1 <= signal.length <= 64:
            raise DbcError(f"{what}: length {signal.length} is outside 1..64 bits")
        if signal.is_float and signal.length not in (32, 64):
            raise DbcError(f"{what}: IEEE float signals must be 32 or 64 bits, not {signal.length}")
        for label, value in (("scale", signal.scale), ("offset", signal.offset)):
            if not math.isfinite(value):
                raise DbcError(f"{what}: {label} {value} is not a finite number")
        if signal.scale == 0:
            raise DbcError(f"{what}: scale 0 makes every value the same")
        last = highest_byte(signal.start, signal.length, signal.byte_order)
        if last >= message.length:
            raise DbcError(f"{what}: bits reach byte {last}, past the message length {message.length}")
        if signal.is_multiplexer and (signal.is_float or signal.length > MAX_MUX_BITS):
            raise DbcError(f"{what}: a multiplexer must be an integer of at most {MAX_MUX_BITS} bits")
