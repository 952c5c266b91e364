"""Load a DBC with cantools and reject what the board could not decode faithfully.

cantools is the reference parser; this module adds the checks it only warns about (or
skips) and the few rules both decode engines share: frame keys and accepted lengths.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cantools

from host_tools.codegen.layout import highest_byte, payload_bits, unpack_fails

CANFD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)
EXT_KEY = 1 << 29  # above every 29-bit id; the key stays a small int on a 32-bit board
MAX_MUX_BITS = 30
# what load_dbc reads: a DBC (any other extension is read as one), and by extension the
# other formats cantools loads
DATABASE_SUFFIXES = (".dbc", ".arxml", ".kcd", ".sym")


class DbcError(Exception):
    """A DBC that cannot be used; the message names the file and the offending item."""


@dataclass(frozen=True)
class Dbc:
    path: Path
    sha256: str
    database: cantools.database.can.Database
    messages: tuple = field(repr=False)
    by_key: dict = field(repr=False)
    warnings: tuple = ()  # problems cantools' strict load refuses, loaded non-strictly

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


def _stderr_warning(text: str) -> None:
    print(f"mule: warning: {text}", file=sys.stderr)


def load_dbc(path: str | Path, strict: bool = False,
             warn: Callable[[str], None] | None = _stderr_warning) -> Dbc:
    """Load as cantools does: strictly first; a DBC its strict checks refuse (overlapping
    signals, signals past the message's end) loads non-strictly with one `warn()` per
    problem, or raises DbcError naming them all with `strict`."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DbcError(f"{path}: cannot read DBC: {exc.strerror or exc}") from None
    cantools_log = logging.getLogger("cantools")
    level = cantools_log.level
    cantools_log.setLevel(logging.ERROR)  # its duplicate-id warning becomes our error below
    refusal = None  # cantools' own words when its strict load refuses the file
    # any database cantools loads: DBC, or ARXML, KCD, SYM by their extension; a UTF-8 BOM
    # is read as one (cantools' default encodings would garble it into the first name)
    fmt = None if path.suffix.lower() in DATABASE_SUFFIXES[1:] else "dbc"
    kw = {"encoding": "utf-8-sig"} if raw.startswith(b"\xef\xbb\xbf") else {}
    what = "DBC" if fmt else path.suffix[1:].upper() + " database"
    try:
        try:
            database = cantools.database.load_file(str(path), database_format=fmt, **kw)
        except Exception as exc:  # cantools raises many types; all mean "unusable file"
            reason = refusal = str(exc).strip() or type(exc).__name__
            try:
                database = cantools.database.load_file(str(path), database_format=fmt, strict=False, **kw)
            except Exception:
                raise DbcError(f"{path}: not a valid {what}: {reason} (mule reads DBC, or "
                               f"{', '.join(DATABASE_SUFFIXES[1:])} by their extension)") from None
    finally:
        cantools_log.setLevel(level)
    dbc = checked_dbc(database, path, hashlib.sha256(raw).hexdigest())
    if strict and dbc.warnings:
        raise DbcError(f"{path}: not a valid DBC with --strict" + (f" ({refusal})" if refusal else "")
                       + "; without --strict mule loads it as cantools' strict=False does, with warnings:\n  "
                       + "\n  ".join(dbc.warnings))
    if warn is not None:
        for text in dbc.warnings:
            warn(text)
    return dbc


def _bits(signal) -> set[tuple[int, int]]:
    return set(payload_bits(signal.start, signal.length, signal.byte_order))


def _levels(codec: dict, above: tuple = ()):
    """(signals decoded above this level, this level's signals, its codec) for every level
    of cantools' decode plan (one level per multiplexer value)."""
    yield above, tuple(codec["signals"]), codec
    for children in codec["multiplexers"].values():
        for child in children.values():
            yield from _levels(child, above + tuple(codec["signals"]))


def layout_problems(database, path: Path) -> list[str]:
    """What cantools' strict load refuses, one line per problem: signals sharing bits in one
    decode, signals past the message's end; and whether cantools can decode such frames."""
    problems = []
    for message in database.messages:
        where = f"message {message.name!r} ({message.frame_id:#x})"
        pairs = set()
        for above, level, codec in _levels(message._codecs):
            broken = unpack_fails(codec, message.length)
            consequence = ("cantools cannot decode such frames (unpacking fails), so mule counts them as "
                           "bad_multiplexer" if broken else "each is decoded from its own bits, as cantools does")
            for signal in level:
                last = highest_byte(signal.start, signal.length, signal.byte_order)
                if last >= message.length and signal.name not in pairs:
                    pairs.add(signal.name)
                    problems.append(f"{where}: signal {signal.name!r} reaches byte {last}, past the message "
                                    f"length {message.length}; {consequence}")
            for i, signal in enumerate(level):
                mine = _bits(signal)
                for other in (*above, *level[:i]):
                    shared = mine & _bits(other)
                    key = frozenset((id(signal), id(other)))
                    if shared and key not in pairs:
                        pairs.add(key)
                        byte_list = sorted({b for b, _ in shared})
                        problems.append(
                            f"{where}: signals {other.name!r} and {signal.name!r} overlap in {len(shared)} "
                            f"bit(s) of byte(s) {', '.join(map(str, byte_list))}; {consequence}")
    return problems


def checked_dbc(database, path: Path, sha256: str) -> Dbc:
    """A loaded cantools database (or one built in memory) with this module's checks."""
    messages = tuple(database.messages)
    if not messages:
        raise DbcError(f"{path}: the DBC defines no messages")
    found = layout_problems(database, path)
    by_key: dict = {}
    for message in messages:
        found += _check_message(path, message)
        key = frame_key(message.frame_id, message.is_extended_frame)
        if key in by_key:
            other = by_key[key]
            raise DbcError(
                f"{path}: messages {other.name!r} and {message.name!r} share frame id "
                f"{message.frame_id:#x} ({'extended' if message.is_extended_frame else 'standard'})")
        by_key[key] = message
    warnings = tuple(f"{path}: {text}" for text in found)
    return Dbc(Path(path), sha256, database, messages, by_key, warnings)


def select_messages(dbc: Dbc, messages: list[str] | None = None, nodes: list[str] | None = None) -> Dbc:
    """The DBC narrowed to the named messages and the messages the named nodes send or receive
    (a board decodes only these; other ids are unknown to it). No selection: all of them."""
    if not messages and not nodes:
        return dbc
    by_name = {m.name: m for m in dbc.messages}
    missing = [name for name in messages or () if name not in by_name]
    if missing:
        raise DbcError(f"{dbc.path}: no message named {', '.join(map(repr, missing))} "
                       f"(names as in the DBC's BO_ lines, case-sensitive)")
    known = {node.name for node in dbc.database.nodes}
    known |= {n for m in dbc.messages for n in m.senders}
    known |= {n for m in dbc.messages for s in m.signals for n in s.receivers}
    missing = [node for node in nodes or () if node not in known]
    if missing:
        raise DbcError(f"{dbc.path}: no node named {', '.join(map(repr, missing))}; "
                       f"the DBC's nodes: {', '.join(sorted(known))}")
    wanted = set(messages or ())
    for message in dbc.messages:
        talks = set(message.senders) | {n for s in message.signals for n in s.receivers}
        if talks & set(nodes or ()):
            wanted.add(message.name)
    chosen = tuple(m for m in dbc.messages if m.name in wanted)
    by_key = {frame_key(m.frame_id, m.is_extended_frame): m for m in chosen}
    return Dbc(dbc.path, dbc.sha256, dbc.database, chosen, by_key, dbc.warnings)


def _check_message(path: Path, message) -> list[str]:
    """Raise DbcError for what the board cannot decode faithfully; return what cantools
    decodes in its own way (warnings)."""
    found = []
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
            # cantools leaves such a signal out of every decode, silently; so does mule, loudly
            found.append(f"message {message.name!r} ({message.frame_id:#x}): signal {signal.name!r}: its "
                         f"multiplexer {signal.multiplexer_signal!r} is not a signal of the message by that "
                         f"name (a SystemSignalLongSymbol renames it?), so cantools never decodes it and "
                         f"neither does mule; remove the multiplexer's long name")
        if not 1 <= signal.length <= 64:
            raise DbcError(f"{what}: length {signal.length} is outside 1..64 bits")
        if signal.is_float and signal.length not in (32, 64):
            raise DbcError(f"{what}: IEEE float signals must be 32 or 64 bits, not {signal.length}")
        for label, value in (("scale", signal.scale), ("offset", signal.offset)):
            if not math.isfinite(value):
                raise DbcError(f"{what}: {label} {value} is not a finite number")
        if signal.scale == 0:
            raise DbcError(f"{what}: scale 0 makes every value the same")
        if signal.is_multiplexer and (signal.is_float or signal.length > MAX_MUX_BITS):
            raise DbcError(f"{what}: a multiplexer must be an integer of at most {MAX_MUX_BITS} bits")
    return found
