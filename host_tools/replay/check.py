"""One frame's TELEMETRY from the board against cantools: same fate (decoded, unknown id,
wrong length, undefined multiplexer value), same message, same signals, identical raw
values. TELEMETRY carries raw lanes only (docs/protocol.md): the host derives physical
values from them with the DBC's scale and offset, exactly as it does from cantools' raw
values, so identical raw values are the whole check (the board's own float32 arithmetic
never crosses the link). Same rules as host_tools.engines.cantools_engine.decode_one, with
its lookup and length checks, at about the cost of one cantools decode."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cantools.database.errors import DecodeError

from host_tools.board_codes import status_of
from host_tools.dbc import Dbc, frame_key, payload_lengths
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH
from host_tools.telemetry import raw_value
from host_tools.verify import same_raw


@dataclass(frozen=True)
class Mismatch:
    """One disagreement; `signal` is None when the frame's fate or message differs."""

    frame: int  # the replay's frame number
    where: str  # the frame's place in the log (file:line or file#N)
    message: str | None
    signal: str | None
    expected: object  # cantools' raw value (or fate)
    got: object  # the board's

    def as_dict(self) -> dict:
        return {"frame": self.frame, "where": self.where, "message": self.message, "signal": self.signal,
                "expected": _plain(self.expected), "got": _plain(self.got)}


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # JSON has no nan/inf
    return value


@dataclass
class Checked:
    status: str  # the board's outcome: decoded, unknown_id, wrong_length, bad_multiplexer, or "result N"
    mi: int  # the message index the board decoded, or -1
    raw: dict  # the board's raw values (decoded frames), by signal name
    mismatches: list


class Checker:
    def __init__(self, dbc: Dbc):
        self.dbc = dbc
        self._index = {frame_key(msg.frame_id, msg.is_extended_frame): mi for mi, msg in enumerate(dbc.messages)}
        self._signals = [list(msg.signals) for msg in dbc.messages]
        self._lengths = [payload_lengths(msg) for msg in dbc.messages]

    def expected(self, frame) -> tuple[str, int, dict | None]:
        """cantools' fate for a frame: (status, message index or -1, raw values or None)."""
        mi = self._index.get(frame_key(frame.can_id, frame.ext), -1)
        if mi < 0:
            return UNKNOWN_ID, -1, None
        data = frame.data
        if len(data) not in self._lengths[mi]:
            return WRONG_LENGTH, mi, None
        try:
            # raw first: the multiplexer selects signals by its raw value (as decode_one)
            raw = self.dbc.messages[mi].decode(data, decode_choices=False, scaling=False)
        except DecodeError:
            return BAD_MUX, mi, None
        return DECODED, mi, raw

    def check(self, number: int, frame, parts: list) -> Checked:
        """`parts`: the frame's TELEMETRY records (several only when the board split one)."""
        status, want_mi, want = self.expected(frame)
        result = parts[0].result
        if len(parts) > 1 and any(p.result != result for p in parts):
            return Checked(f"result {result}", -1, {}, [self._fate(number, frame, status, want_mi,
                                                                   [p.result for p in parts])])
        if result < 0 or result >= len(self._signals):
            got = status_of(result)
            if result < 0 and got == status:
                return Checked(got, -1, {}, [])
            return Checked(got, -1, {}, [self._fate(number, frame, status, want_mi, got)])
        signals = self._signals[result]
        name = self.dbc.messages[result].name
        if status != DECODED or want_mi != result:
            return Checked(DECODED, result, {}, [self._fate(number, frame, status, want_mi, f"decoded {name}")])
        got: dict = {}
        problems = []
        for part in parts:
            for lanes in part.signals:
                if lanes.si >= len(signals):
                    problems.append(Mismatch(number, frame.where, name, f"#{lanes.si}", None, lanes.v0))
                    continue
                signal = signals[lanes.si]
                got[signal.name] = raw_value(signal, lanes)
        if not problems and got == want and list(map(type, got.values())) == list(map(type, want.values())):
            return Checked(DECODED, result, got, problems)  # the common case, without a call per signal
        if len(got) != len(want) or problems:
            for signal_name in want.keys() - got.keys():
                problems.append(Mismatch(number, frame.where, name, signal_name, want[signal_name], None))
            for signal_name in got.keys() - want.keys():
                problems.append(Mismatch(number, frame.where, name, signal_name, None, got[signal_name]))
        for signal_name, value in got.items():
            expected = want.get(signal_name, value)
            if not same_raw(expected, value):
                problems.append(Mismatch(number, frame.where, name, signal_name, expected, value))
        return Checked(DECODED, result, got, problems)

    def _fate(self, number, frame, status, mi, got) -> Mismatch:
        name = self.dbc.messages[mi].name if mi >= 0 else None
        expected = f"decoded {name}" if status == DECODED else status
        return Mismatch(number, frame.where, name, None, expected, got)
