"""Progress of `mule decode` on a terminal: a bar per log in flight and one over all logs.

Measured in bytes of the log files: how far the reader has got in each is read from the
file descriptor it has open on that file (read_position), whichever library opened it
(python-can, asammdf, the fast readers), so every format and every runner (this process,
a pool, a Dask cluster) reports the same way. Drawn on stderr only when it is a terminal,
CI is not set and the records themselves do not go to that terminal (wanted()).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

_FD_DIRS = ("/proc/self/fd", "/dev/fd")
EVERY = 8192  # records between two reports of a single log's progress


def _open_fds() -> list[int]:
    for folder in _FD_DIRS:
        try:
            return [int(name) for name in os.listdir(folder) if name.isdigit()]
        except OSError:
            continue
    return []


def read_position(path: str | Path) -> Callable[[], int | None]:
    """A probe: how many bytes of `path` this process has read so far (the furthest offset
    of any descriptor open on it), or None when none is open (not started, or done)."""
    try:
        st = os.stat(path)
    except OSError:
        return lambda: None
    key = (st.st_dev, st.st_ino)

    def where() -> int | None:
        best = None
        for fd in _open_fds():
            try:
                fs = os.fstat(fd)
                if (fs.st_dev, fs.st_ino) == key:
                    pos = os.lseek(fd, 0, os.SEEK_CUR)
                    best = pos if best is None else max(best, pos)
            except OSError:
                continue
        return best

    return where


def wanted(console, records_to_stdout: bool = False) -> bool:
    """Bars only on a terminal, never in CI, never over records written to the terminal."""
    if os.environ.get("CI", "").strip().lower() in ("1", "true", "yes"):
        return False
    if not console.is_terminal:
        return False
    return not (records_to_stdout and sys.stdout.isatty())


def make_console():
    from rich.console import Console

    return Console(stderr=True)


class Bars:
    """Thread-safe: workers' reports may arrive on any thread. Call as bars((log, bytes, frames))."""

    def __init__(self, logs: Iterable[str | Path], console) -> None:
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        self.sizes = {}
        for log in logs:
            try:
                self.sizes[str(log)] = max(os.path.getsize(log), 1)
            except OSError:
                self.sizes[str(log)] = 1
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TextColumn("{task.fields[frames]:>12,} frames"), TimeRemainingColumn(),
                                 console=console, transient=True)
        n = len(self.sizes)
        self.overall = self.progress.add_task(f"{n} log{'s' if n != 1 else ''}", total=sum(self.sizes.values()),
                                              frames=0)
        self.files: dict[str, list] = {}  # log -> [task, bytes counted in overall, frames, done, size]
        self.frames = 0
        self.lock = threading.Lock()
        self.started = False

    def __enter__(self) -> Bars:
        return self  # drawn from the first report on: a local pool's workers fork before

    def __exit__(self, *exc) -> None:
        if self.started:
            self.progress.stop()

    def _start(self) -> None:
        if not self.started:
            self.started = True
            self.progress.start()

    def _file(self, log: str) -> list:
        entry = self.files.get(log)
        if entry is None:
            name = Path(log).name
            size = self.sizes.get(log, 1)
            task = self.progress.add_task(name if len(name) <= 40 else "…" + name[-39:], total=size, frames=0)
            entry = self.files[log] = [task, 0, 0, False, size]
        return entry

    def _move(self, entry: list, pos: int, frames: int) -> None:
        self.frames += max(frames - entry[2], 0)
        entry[2] = max(entry[2], frames)
        pos = max(min(pos, entry[4]), entry[1])  # never past the file's size, never back
        self.progress.update(entry[0], completed=pos, frames=entry[2])
        self.progress.advance(self.overall, pos - entry[1])
        self.progress.update(self.overall, frames=self.frames)
        entry[1] = pos

    def __call__(self, event: tuple) -> None:
        log, pos, frames = event
        with self.lock:
            self._start()
            entry = self._file(str(log))
            if entry[3]:
                return  # a late report of a log already done
            self._move(entry, entry[1] if pos is None else pos, frames)

    def done(self, log: str | Path, frames: int | None = None) -> None:
        """The log is finished (decoded or refused): its bar full, then out of the way."""
        with self.lock:
            self._start()
            entry = self._file(str(log))
            if entry[3]:
                return
            self._move(entry, self.sizes.get(str(log), 1), entry[2] if frames is None else frames)
            entry[3] = True
            self.progress.update(entry[0], visible=False)


def bars_for(logs: list, records_to_stdout: bool = False) -> Bars | None:
    console = make_console()
    return Bars(logs, console) if wanted(console, records_to_stdout) else None


def watched(records: Iterator, bars: Bars | None, log: str | Path, frames: Callable[[], int],
            every: int | None = None) -> Iterator:
    """Records passed through, reporting the log's progress every `every` of them."""
    if bars is None:
        yield from records
        return
    where = read_position(log)
    every = every or EVERY
    for n, rec in enumerate(records, 1):
        if n % every == 0:
            bars((str(log), where(), frames()))
        yield rec
    bars.done(log, frames())
