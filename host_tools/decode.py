"""`mule decode` as a library: log → engine → JSON lines or CSV, plus an honest summary.

Every frame of the log ends up either in the output or counted in the summary
(unknown ids, wrong lengths, bad multiplexer values, remote/error frames, bad records).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from host_tools.dbc import Dbc
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH, Outcome
from host_tools.engines.cantools_engine import CantoolsEngine
from host_tools.engines.firmware_engine import FirmwareEngine
from host_tools.logfile import LogStats, read_frames

FORMATS = ("jsonl", "csv", "parquet")
# Times in every output: Unix epoch seconds (UTC) when the log records when it started
# (BLF, candump -L/-ta, TRC, ASC with a date line: its relative times are shifted by it);
# else seconds from the log's start as the log gives them (candump -tz/-td/no time).
TIME_HELP = ("t: Unix epoch seconds (UTC) where the log says when it started (BLF, candump -L "
             "and -ta, TRC, ASC with its date line); else seconds from the log's start")
_FIRST_PLACES = 3  # how many log locations the summary names per problem


@dataclass
class DecodeSummary:
    engine: str
    data_frames: int = 0
    decoded: int = 0
    remote_frames: int = 0
    error_frames: int = 0
    unknown_ids: Counter = field(default_factory=Counter)  # (id, ext) -> frames
    undecodable: Counter = field(default_factory=Counter)  # (status, message) -> frames
    places: dict = field(default_factory=dict)  # (status, message) -> first locations
    log: LogStats = field(default_factory=LogStats)

    def note(self, frame, outcome: Outcome) -> None:
        if outcome.status == DECODED:
            self.decoded += 1
        elif outcome.status == UNKNOWN_ID:
            self.unknown_ids[(frame.can_id, frame.ext)] += 1
        else:
            key = (outcome.status, outcome.msg)
            self.undecodable[key] += 1
            seen = self.places.setdefault(key, [])
            if len(seen) < _FIRST_PLACES:
                seen.append(frame.where)

    def lines(self) -> list[str]:
        out = [f"{self.decoded} of {self.data_frames} data frames decoded ({self.engine} engine)"]
        if self.unknown_ids:
            total = sum(self.unknown_ids.values())
            ids = ", ".join(f"{cid:#x} {'ext' if ext else 'std'} x{n}"
                            for (cid, ext), n in sorted(self.unknown_ids.items()))
            out.append(f"{total} frames with ids the DBC lacks: {ids}")
        reasons = {WRONG_LENGTH: "wrong payload length for", BAD_MUX: "multiplexer value undefined in"}
        for (status, msg), n in sorted(self.undecodable.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            places = ", ".join(self.places[(status, msg)])
            out.append(f"{n} frames with {reasons[status]} {msg} (first at {places})")
        if self.remote_frames or self.error_frames:
            out.append(f"not decoded: {self.remote_frames} remote frames, {self.error_frames} error frames")
        if self.log.bad_records:
            first = "; ".join(f"{where}: {why}" for where, why in self.log.bad_records[:_FIRST_PLACES])
            out.append(f"{len(self.log.bad_records)} malformed records skipped (first: {first})")
        for kind, n in sorted(self.log.ignored.items()):
            out.append(f"{n} non-frame records ignored ({kind})")
        if self.log.library_message_count:
            first = "; ".join(self.log.library_messages[:_FIRST_PLACES])
            out.append(f"{self.log.library_message_count} warnings from python-can (first: {first})")
        if self.log.oddity_count:
            first = "; ".join(f"{where}: {why}" for where, why in self.log.oddities[:_FIRST_PLACES])
            out.append(f"{self.log.oddity_count} records read leniently, as python-can reads them "
                       f"(--strict refuses them; first: {first})")
        if self.log.truncated:
            out.append(f"log truncated: {self.log.truncated}")
        return out


def record(frame, outcome: Outcome) -> dict:
    """One decoded frame in the schema both engines share."""
    return {"t": frame.t, "id": frame.can_id, "ext": frame.ext, "msg": outcome.msg,
            "raw": outcome.raw, "phys": outcome.phys}


def make_engine(name: str, dbc: Dbc, heap: str | None = None, board: str = "unix"):
    if name == "cantools":
        return CantoolsEngine(dbc)
    if name == "firmware" and board == "qemu":  # the emulated Pyboard: armv7emsp, float32
        from host_tools.qemu_board.engine import QemuFirmwareEngine

        return QemuFirmwareEngine(dbc, heap=heap)
    if name == "firmware":
        return FirmwareEngine(dbc, heap=heap)
    if name == "vector":
        from host_tools.engines.vector_engine import VectorEngine

        return VectorEngine(dbc)
    raise ValueError(f"unknown engine {name!r}")


def epoch_shift(stats: LogStats, first_t: float) -> float:
    """What to add to a log's times for the one time convention (TIME_HELP)."""
    if stats.epoch_offset:  # ASC: times count from its date line
        return stats.epoch_offset
    return 0.0


def data_frames(log: Path, summary: DecodeSummary, *, skip_bad: bool = False,
                accept_truncated: bool = False, strict: bool = False) -> Iterator:
    """The data frames of a log, counting the others in `summary`."""
    for frame in read_frames(log, skip_bad=skip_bad, stats=summary.log, accept_truncated=accept_truncated,
                             strict=strict):
        if frame.kind == "data":
            summary.data_frames += 1
            yield frame
        elif frame.kind == "remote":
            summary.remote_frames += 1
        else:
            summary.error_frames += 1


def decoded_records(log: Path, dbc: Dbc, engine: str = "cantools", *, skip_bad: bool = False,
                    heap: str | None = None, summary: DecodeSummary | None = None,
                    accept_truncated: bool = False, strict: bool = False, board: str = "unix") -> Iterator[dict]:
    """Decode every frame of `log`; yields records in log order and fills `summary`
    (summary.log.truncated: the log ends early, see read_frames). Times follow TIME_HELP."""
    summary = summary if summary is not None else DecodeSummary(engine)
    frames = data_frames(log, summary, skip_bad=skip_bad, accept_truncated=accept_truncated, strict=strict)
    with make_engine(engine, dbc, heap, board) as decoder:
        shift = None
        for frame, outcome in decoder.decode(frames):
            summary.note(frame, outcome)
            if outcome.status == DECODED:
                rec = record(frame, outcome)
                if shift is None:
                    shift = epoch_shift(summary.log, frame.t)
                if shift:
                    rec["t"] = frame.t + shift
                yield rec


def write_records(records, out: TextIO, fmt: str) -> int:
    count = 0
    if fmt == "jsonl":
        for rec in records:
            out.write(json.dumps(rec) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["t", "id", "ext", "msg", "signal", "raw", "phys"])
        for rec in records:
            for name, raw in rec["raw"].items():
                writer.writerow([rec["t"], rec["id"], int(rec["ext"]), rec["msg"], name, raw,
                                 rec["phys"][name]])
            count += 1
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return count
