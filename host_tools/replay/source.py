"""The frames a replay sends: a log's data frames of one channel, in log order, with an
account of everything else in it (remote and error frames, other buses, damaged records,
timestamps that step back)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from host_tools.dbc import Dbc
from host_tools.logfile import Frame, LogStats, read_frames

AUTO = "auto"
_HOLD_MAX = 10_000  # frames held while looking for the DBC's ids before giving up on AUTO


@dataclass
class SourceStats:
    """What the log held besides the frames that were sent."""

    records: int = 0  # frames read from the log, every kind and channel
    data_frames: int = 0  # data frames of the replayed channel (what the board gets)
    remote_frames: int = 0
    error_frames: int = 0
    other_channels: dict[str, int] = field(default_factory=dict)  # channel -> data frames not sent
    backwards_timestamps: int = 0  # frames whose timestamp is below one already seen
    channel: str | None = None  # the channel replayed (None: the log names none)
    log: LogStats = field(default_factory=LogStats)  # bad records (with --skip-bad), ignored lines

    @property
    def bad_records(self) -> int:
        return len(self.log.bad_records)

    def as_dict(self) -> dict:
        return {"records": self.records, "data_frames": self.data_frames, "remote_frames": self.remote_frames,
                "error_frames": self.error_frames, "other_channels": dict(self.other_channels),
                "other_channel_frames": sum(self.other_channels.values()),
                "backwards_timestamps": self.backwards_timestamps, "channel": self.channel,
                "bad_records": self.bad_records,
                "bad_record_examples": [{"where": w, "reason": r} for w, r in self.log.bad_records[:20]],
                "ignored_lines": dict(self.log.ignored)}


def channel_name(channel) -> str | None:
    return None if channel is None else str(channel)


class LogSource:
    """Iterate once over the data frames to send. `channel`: the bus to replay, or AUTO:
    the channel of the first frame whose id the DBC knows (a real truck's log may carry
    several buses; the board listens to one)."""

    def __init__(self, path: str | Path, dbc: Dbc, *, channel: str = AUTO, skip_bad: bool = False):
        self.path = Path(path)
        self.dbc = dbc
        self.wanted = channel
        self.stats = SourceStats()
        self._frames = read_frames(self.path, skip_bad=skip_bad, stats=self.stats.log)  # LogError at once

    def __iter__(self) -> Iterator[Frame]:
        stats = self.stats
        latest = float("-inf")
        held: list[Frame] = []  # data frames read before the channel is known (AUTO)
        chosen = None if self.wanted == AUTO else self.wanted
        known = self.dbc.lookup
        for frame in self._frames:
            stats.records += 1
            if frame.kind == "error":
                stats.error_frames += 1
                continue
            if frame.kind == "remote":
                stats.remote_frames += 1
                continue
            name = channel_name(frame.channel)
            if chosen is None:
                if known(frame.can_id, frame.ext) is None and len(held) < _HOLD_MAX:
                    held.append(frame)
                    continue
                chosen = name if not held or known(frame.can_id, frame.ext) else channel_name(held[0].channel)
                stats.channel = name
                for early in held:
                    latest = yield from self._emit(early, chosen, latest)
                held = []
            latest = yield from self._emit(frame, chosen, latest)
        if held:  # no frame the DBC knows: replay the first channel seen
            chosen = channel_name(held[0].channel)
            stats.channel = chosen
            for frame in held:
                latest = yield from self._emit(frame, chosen, latest)
        elif stats.channel is None and chosen is not None:
            stats.channel = chosen

    def _emit(self, frame: Frame, chosen, latest: float):
        name = channel_name(frame.channel)
        if name != chosen:
            self.stats.other_channels[name or "none"] = self.stats.other_channels.get(name or "none", 0) + 1
            return latest
        if frame.t < latest:
            self.stats.backwards_timestamps += 1
        else:
            latest = frame.t
        self.stats.data_frames += 1
        yield frame
        return latest


class FrameSource:
    """Frames already in memory (a test's, a benchmark's, the demo's), sent as they are:
    the same interface as LogSource, with nothing to account for but their number."""

    def __init__(self, frames, name: str = "<frames>"):
        self.path = Path(name)
        self.stats = SourceStats()
        self._frames = frames

    def __iter__(self) -> Iterator:
        stats = self.stats
        for frame in self._frames:
            stats.records += 1
            stats.data_frames += 1
            yield frame


def estimate_records(path: str | Path) -> int | None:
    """About how many records the log holds, cheaply, for a progress bar (None: unknown)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".blf":
            from can.io.blf import BLFReader

            with open(path, "rb") as fh:
                return BLFReader(fh).object_count
        count = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                count += chunk.count(b"\n")
        return count
    except Exception:  # only a progress hint: the real reading reports real problems
        return None
