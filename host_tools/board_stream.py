"""Stream CAN frames to a board in replay mode and account for every one: what the
board decoded (TELEMETRY), checked against cantools, and what never came back."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from host_tools.dbc import Dbc
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH, Outcome
from host_tools.engines.cantools_engine import decode_one
from host_tools.link import messages as m
from host_tools.link.session import BoardLink
from host_tools.telemetry import TelemetryDecoder
from host_tools.verify import mismatches

RESULT_STATUS = {-1: UNKNOWN_ID, -2: WRONG_LENGTH, -3: BAD_MUX}


@dataclass
class StreamResult:
    sent: int = 0
    wire_bytes: int = 0  # host→board bytes of CAN batches, delimiters included
    seconds: float = 0.0
    records: dict = field(default_factory=dict)  # frame number -> [TelemetryRecord parts]
    stats: m.Stats | None = None
    logs: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    tow_ranges: list = field(default_factory=list)  # TowRange messages, in order
    batches: list = field(default_factory=list)  # the CAN batches as sent

    @property
    def frames_per_second(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _collect(link: BoardLink, result: StreamResult) -> None:
    for message in link.messages():
        if isinstance(message, m.Telemetry):
            for record in message.records:
                result.records.setdefault(record.frame_no, []).append(record)
        elif isinstance(message, m.Stats):
            result.stats = message
        elif isinstance(message, m.Log):
            result.logs.append(message)
        elif isinstance(message, m.Alert):
            result.alerts.append(message)
        elif isinstance(message, m.TowRange):
            result.tow_ranges.append(message)


def stream_frames(link: BoardLink, frames, settle: float = 5.0, tamper=None) -> StreamResult:
    """Send `frames` (objects with t, can_id, ext, data) numbered 0, 1, 2 ...; wait until
    every one is accounted for, or nothing new arrived for `settle` seconds.
    `tamper(batch index, wire bytes) -> wire bytes` corrupts the link, for tests."""
    records = []
    t0 = None
    for frame in frames:
        t0 = frame.t if t0 is None else t0
        records.append(m.CanRecord(int((frame.t - t0) * 1e6) & 0xFFFFFFFF, frame.can_id, frame.ext,
                                   bytes(frame.data)))
    result = StreamResult(sent=len(records), batches=m.split_batches(records))
    start = time.monotonic()
    for k, batch in enumerate(result.batches):
        result.wire_bytes += link.send(batch, tamper=(lambda wire, k=k: tamper(k, wire)) if tamper else None)
        _collect(link, result)
    quiet_since = time.monotonic()
    while len(result.records) < result.sent and time.monotonic() - quiet_since < settle:
        seen = len(result.records)
        link.poll(0.05)
        _collect(link, result)
        if len(result.records) > seen:  # STATS and CREDIT keep coming: only results count
            quiet_since = time.monotonic()
    result.seconds = time.monotonic() - start
    return result


@dataclass
class Verification:
    checked: int = 0
    verified: int = 0
    lost: list = field(default_factory=list)  # frame numbers with no telemetry
    problems: list = field(default_factory=list)  # (frame number, what differs)
    outcomes: dict = field(default_factory=dict)  # frame number -> the board's Outcome

    @property
    def ok(self) -> bool:
        return not self.lost and not self.problems


def board_outcome(decoder: TelemetryDecoder, parts: list) -> Outcome:
    """One frame's telemetry (a record, or several parts of a split one) as an Outcome."""
    result = parts[0].result
    if result < 0:
        return Outcome(RESULT_STATUS.get(result, f"result {result}"), None)
    name, raw, phys = decoder.values(result, [s for part in parts for s in part.signals])
    return Outcome(DECODED, name, raw, phys)


def verify(dbc: Dbc, frames, result: StreamResult) -> Verification:
    """Every frame's telemetry against cantools: same fate, same raw values, physical
    values to float32."""
    decoder = TelemetryDecoder(dbc)
    report = Verification()
    for number, frame in enumerate(frames):
        report.checked += 1
        parts = result.records.get(number)
        if not parts:
            report.lost.append(number)
            continue
        want = decode_one(dbc, frame.can_id, frame.ext, bytes(frame.data))
        got = board_outcome(decoder, parts)
        report.outcomes[number] = got
        if want.status != got.status or (want.status == DECODED and want.msg != got.msg):
            report.problems.append((number, f"cantools {want.status} {want.msg}, board {got.status} {got.msg}"))
            continue
        if want.status == DECODED:
            message = dbc.lookup(frame.can_id, frame.ext)
            found = mismatches(message, want.raw, want.phys, got.raw, None)  # TELEMETRY carries raw values
            if found:
                report.problems.append((number, "; ".join(found)))
                continue
        report.verified += 1
    return report
