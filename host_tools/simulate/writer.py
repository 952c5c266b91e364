"""The two files a run leaves: the CAN log, in the format its extension names (python-can's
writers, made byte-identical from run to run), and the ground-truth sidecar FILE.truth.json."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import can

from host_tools.simulate.errors import SimulateError

EPOCH = 1_700_000_000.0  # t = 0 of every simulated log (2023-11-14 22:13:20 UTC)
FORMATS = (".log", ".asc", ".blf")


class _AscWriter(can.ASCWriter):
    """python-can's ASC writer, with the header dated at the epoch (not now, not local time)
    and timestamps relative to the epoch, so t in the file is t of the simulation."""

    def __init__(self, path: str):
        super().__init__(path)
        self.started = self.last_timestamp = EPOCH
        self.file.write(f"Begin Triggerblock {self._format_header_datetime(None)}\n")
        self.header_written = True
        self.log_event("Start of measurement")

    def _format_header_datetime(self, dt) -> str:
        return super()._format_header_datetime(datetime.fromtimestamp(EPOCH, timezone.utc))


def check_format(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        what = f"{path.suffix!r} files" if path.suffix else "a file without an extension"
        raise SimulateError(f"{path}: cannot write {what}; name the log with one of {', '.join(FORMATS)}")


class LogSink:
    """Writes records to a log file chosen by extension."""

    def __init__(self, path: Path):
        check_format(path)
        suffix = path.suffix.lower()
        path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".blf":
            self.writer = can.BLFWriter(str(path))
            self.writer.start_timestamp = EPOCH  # times in the file count from the epoch
        elif suffix == ".asc":
            self.writer = _AscWriter(str(path))
        else:
            self.writer = can.CanutilsLogWriter(str(path), channel="can0")
        self.write_message = self.writer.on_message_received
        # one Message for every data frame, refilled each time: building a can.Message per frame
        # was a quarter of the writing, and these writers format it at once and keep nothing of it
        self._message = can.Message(channel=0, check=False)

    def frame(self, t_us: int, can_id: int, ext: bool, data: bytes) -> None:
        message = self._message
        message.timestamp = EPOCH + t_us / 1e6
        message.arbitration_id = can_id
        message.is_extended_id = ext
        message.data = data
        message.dlc = len(data)
        self.write_message(message)

    def error_frame(self, t_us: int) -> None:
        self.write_message(can.Message(timestamp=EPOCH + t_us / 1e6, is_error_frame=True, channel=0))

    def close(self) -> None:
        self.writer.stop()


def truth_path(log: Path) -> Path:
    return log.with_name(log.name + ".truth.json")


def write_truth(path: Path, truth: dict) -> None:
    path.write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
