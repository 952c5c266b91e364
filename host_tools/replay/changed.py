"""The replay's check of a board with telemetry "changed" (host_tools/telemetry_changed.py,
docs/protocol.md "TELEMETRY"): every frame verified exactly; a value the board did not
send is checked within its deadband of the last value it sent."""

from __future__ import annotations

from array import array

from host_tools.engines import DECODED
from host_tools.link.messages import SUPPRESSED, TelemetryRecord
from host_tools.replay.check import Checked, Checker, Mismatch
from host_tools.telemetry import raw_value
from host_tools.telemetry_changed import moved, value_key
from host_tools.verify import same_raw


class ChangedCheck:
    """The replay's check of a board with telemetry "changed": the frames' records in the
    order they arrive (FrameBook settles them so). Values sent are checked as in "all" mode;
    a value not sent must be within its deadband of the last value the board sent (a frame
    in a run of suppressed frames: all of its values). After a frame without a record (lost
    on the way, or never taken) the last values sent are not known: a value not sent is then
    `unchecked` (the frame is not verified) until the board sends that signal again (at the
    latest `refresh_ms` later)."""

    def __init__(self, checker: Checker, table: list[list[int]]):
        self.checker = checker
        self.dbc = checker.dbc
        self.table = table
        self.last: list[array] = [array("q", [0]) * len(row) for row in table]  # keys of the values sent
        self.raw: list[list] = [[None] * len(row) for row in table]  # the values sent (raw), for on_decoded
        self.known: list[bytearray] = [bytearray(len(row)) for row in table]
        self.index = [{s.name: si for si, s in enumerate(m.signals)} for m in self.dbc.messages]
        self.last_n = -1

    def forget(self) -> None:
        for row in self.known:
            row[:] = bytes(len(row))

    def _plain(self, number: int, frame, parts: list) -> ChangedChecked:
        c = self.checker.check(number, frame, parts)
        return ChangedChecked(c.status, c.mi, c.raw, c.mismatches)

    def check(self, number: int, frame, parts: list) -> Checked:
        if number != self.last_n + 1:
            self.forget()  # a record we never saw may have moved the board's last values
        self.last_n = number
        result = parts[0].result
        if result != SUPPRESSED and (result < 0 or any(p.result != result for p in parts)):
            return self._plain(number, frame, parts)  # errors: as in "all" mode
        status, want_mi, want = self.checker.expected(frame)
        if status != DECODED:
            return self._plain(number, frame, [TelemetryRecord(parts[0].frame_no, result)]) \
                if result >= 0 else Checked(status, -1, {}, [self.checker._fate(number, frame, status, want_mi,
                                                                                   "suppressed (unchanged)")])
        if result >= 0 and want_mi != result:
            return self._plain(number, frame, parts)
        mi = want_mi
        message = self.dbc.messages[mi]
        signals = message.signals
        index = self.index[mi]
        got: dict = {}
        problems: list = []
        if result >= 0:
            for part in parts:
                for lanes in part.signals:
                    if lanes.si >= len(signals):
                        problems.append(Mismatch(number, frame.where, message.name, f"#{lanes.si}", None, lanes.v0))
                        continue
                    got[signals[lanes.si].name] = raw_value(signals[lanes.si], lanes)
        last, known, band_row, raw_row = self.last[mi], self.known[mi], self.table[mi], self.raw[mi]
        values: dict = {}
        unchecked = False
        for name, expected in want.items():
            si = index[name]
            signal = signals[si]
            if name in got:
                value = got.pop(name)
                if not same_raw(expected, value):
                    problems.append(Mismatch(number, frame.where, message.name, name, expected, value))
                last[si] = _signed64(value_key(signal, value))
                raw_row[si] = value
                known[si] = 1
                values[name] = value
                continue
            if not known[si]:
                unchecked = True
                continue
            values[name] = raw_row[si]
            band = band_row[si]
            if moved(_signed64(value_key(signal, expected)), last[si], band):
                problems.append(Mismatch(number, frame.where, message.name, name, expected,
                                         f"not sent: {raw_row[si]!r} ± {band}"))
        for name, value in got.items():  # sent, but not a signal of this frame
            problems.append(Mismatch(number, frame.where, message.name, name, None, value))
        out = ChangedChecked(DECODED, mi, values, problems)
        out.suppressed = result == SUPPRESSED
        out.unchecked = unchecked and not problems
        return out


def _signed64(key: int) -> int:
    key &= 0xFFFFFFFFFFFFFFFF
    return key - (1 << 64) if key >> 63 else key


class ChangedChecked(Checked):
    """Checked, and whether the board sent no record (suppressed) or a value could not be
    checked (unchecked: its last value sent was in a record that never came)."""

    suppressed = False
    unchecked = False


__all__ = ["ChangedCheck", "ChangedChecked"]
