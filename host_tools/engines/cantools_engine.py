"""Reference decode engine: cantools in CPython, with the board's lookup and length rules."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from cantools.database.errors import DecodeError

from host_tools.dbc import Dbc, payload_lengths
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH, InProcessEngine, Outcome


def raw_outcome(message, data: bytes, lengths=None) -> tuple[str, dict | None]:
    """The board's rules once the id is known: a payload length the DBC does not give is
    WRONG_LENGTH, a multiplexer value it does not define BAD_MUX; else DECODED with the raw
    values (`lengths`: payload_lengths(message), when the caller keeps it)."""
    if len(data) not in (payload_lengths(message) if lengths is None else lengths):
        return WRONG_LENGTH, None
    try:
        # Raw first: the multiplexer selects signals by its raw value. (cantools' scaled
        # decode would look a scaled multiplexer up by its physical value.)
        return DECODED, message.decode(data, decode_choices=False, scaling=False)
    except DecodeError:
        return BAD_MUX, None


def decode_one(dbc: Dbc, can_id: int, ext: bool, data: bytes) -> Outcome:
    message = dbc.lookup(can_id, ext)
    if message is None:
        return Outcome(UNKNOWN_ID)
    status, raw = raw_outcome(message, data)
    if raw is None:
        return Outcome(status, message.name)
    ordered = {s.name: raw[s.name] for s in message.signals if s.name in raw}
    phys = {s.name: s.conversion.raw_to_scaled(ordered[s.name], decode_choices=False)
            for s in message.signals if s.name in ordered}
    return Outcome(DECODED, message.name, ordered, phys)


class CantoolsEngine(InProcessEngine):
    name = "cantools"

    def decode(self, frames: Iterable) -> Iterator[tuple[object, Outcome]]:
        for frame in frames:
            yield frame, decode_one(self.dbc, frame.can_id, frame.ext, bytes(frame.data))
