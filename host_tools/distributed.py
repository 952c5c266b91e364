"""Many logs: a glob or a folder, decoded to Parquet in parallel, one task per whole log.

Every way runs the same task (decode_one_log: the worker decodes a log and writes its
Parquet partitions itself, returning only counts and the summary lines):
  - one worker: in this process;
  - `--workers N`: a pool of N local processes (on Linux forked from this one, which has
    imported everything: they start in milliseconds);
  - `--scheduler tcp://host:8786`: a running Dask cluster.
Dask rather than Ray: it is pure pip (no daemon beyond `dask scheduler`/`dask worker`), a
LocalCluster runs on loopback in CI, and its workers are plain Python processes that
import this package. A cluster's workers need the package installed (pip install mule)
and must see the logs, the DBC and the output folder at the same paths. A Dask
LocalCluster for `--workers` was dropped: its start-up (1.5-2 s on 2 cores) cost more
than two one-hour logs take to decode.

Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536; with it set, glibc stops
adapting its mmap threshold, so every column buffer above 128 KB is a fresh mmap whose
pages fault in: the vector path ran 3-5x slower in a Dask worker than in a plain process.
A task raises the thresholds while it runs (roomy_malloc) and trims when done.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from host_tools.logfile import _log_kind

TOPIC = "mule-progress"  # Dask event topic of the workers' progress reports


def expand_logs(specs: list[str | Path]) -> list[Path]:
    """Files named, folders (every log in them, recursively) and globs, sorted, each once."""
    out: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.is_file() and _log_kind(q)[0]))
        elif any(c in str(spec) for c in "*?["):
            out.extend(sorted(Path(q) for q in glob.glob(str(spec), recursive=True)
                              if Path(q).is_file() and _log_kind(Path(q))[0]))
        else:
            out.append(p)
    seen: set = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]


# --------------------------------------------------------------------------- the task

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_malloc_lock = threading.Lock()
_malloc_users = 0


def _mallopt() -> Callable[[int, int], int] | None:
    try:
        libc = ctypes.CDLL(None)
        return libc.mallopt if hasattr(libc, "malloc_trim") else None  # glibc only
    except (OSError, AttributeError):
        return None


@contextmanager
def roomy_malloc():
    """While a task runs in a process started with MALLOC_TRIM_THRESHOLD_ (Dask's nanny):
    large buffers from the heap, not one mmap each; afterwards Dask's setting and a trim."""
    global _malloc_users
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
    mallopt = _mallopt() if trim else None
    if mallopt is None:
        yield
        return
    with _malloc_lock:
        _malloc_users += 1
        if _malloc_users == 1:
            mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's own ceiling for its adaptive threshold
            mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    try:
        yield
    finally:
        with _malloc_lock:
            _malloc_users -= 1
            if _malloc_users == 0:
                mallopt(_M_MMAP_THRESHOLD, 128 << 10)  # glibc's default, fixed while the variable is set
                mallopt(_M_TRIM_THRESHOLD, int(trim) if trim.isdigit() else 128 << 10)
                ctypes.CDLL(None).malloc_trim(0)


_dbcs: dict = {}


def _dbc(dbc_path: str, strict: bool):
    """The DBC, loaded once per worker process (and again only when the file changes)."""
    from host_tools.dbc import load_dbc

    st = os.stat(dbc_path)
    key = (dbc_path, strict, st.st_mtime_ns, st.st_size)
    if key not in _dbcs:
        _dbcs.clear()
        _dbcs[key] = load_dbc(dbc_path, strict=strict, warn=None)
    return _dbcs[key]


_sink: Callable[[tuple], None] | None = None  # where this process's progress reports go


def _report(event: tuple) -> None:
    if _sink is not None:
        _sink(event)
        return
    try:
        from distributed import get_worker

        get_worker().log_event(TOPIC, event)
    except (ImportError, ValueError):  # not in a Dask worker: nobody asked
        pass


def decode_one_log(log: str, dbc_path: str, out_dir: str, options: dict) -> dict:
    """The task a worker runs: decode one log to Parquet partitions it writes itself;
    returns counts and summary lines only; never raises for a bad log or DBC. With
    options["progress"], reports (log, bytes read so far, frames so far) as it goes."""
    from host_tools.dbc import DbcError
    from host_tools.logfile import LogError
    from host_tools.parquet_out import decode_to_parquet
    from host_tools.progress import read_position

    progress = None
    if options.get("progress"):
        where = read_position(log)

        def progress(frames: int) -> None:
            _report((log, where(), frames))

        progress(0)
    cpu = time.process_time()
    try:
        with roomy_malloc():
            dbc = _dbc(dbc_path, options.get("strict_dbc", False))
            result = decode_to_parquet(Path(log), dbc, Path(out_dir), progress=progress,
                                       **options.get("parquet", {}))
        result["cpu_s"] = time.process_time() - cpu  # the worker process's CPU seconds on it
        return result
    except (LogError, DbcError, OSError) as exc:
        return {"log": log, "error": str(exc)}


# --------------------------------------------------------------------------- the runners

def _pool_init(queue) -> None:
    global _sink
    _sink = None if queue is None else queue.put
    # a forked worker writes through the real streams, never through a progress display's
    # proxy (its lock may have been held by the display's thread at the fork)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def _context():
    """fork on Linux: the workers start in milliseconds with everything imported here
    (a forkserver took 1.3 s and 0.6 CPU s on 2 busy cores to import it all again);
    elsewhere forkserver (macOS: fork is unsafe there) or spawn."""
    import multiprocessing

    if sys.platform.startswith("linux"):
        import host_tools.parquet_out  # noqa: F401  imported once, inherited by every worker

        return multiprocessing.get_context("fork")
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        # imported once, in the server the workers fork from (__main__: what spawn-like starts import)
        ctx.set_forkserver_preload(["__main__", "host_tools.parquet_out", "host_tools.distributed",
                                    "host_tools.progress"])
        return ctx
    return multiprocessing.get_context("spawn")


def _pool(workers: int, progress: Callable[[tuple], None] | None):
    from concurrent.futures import ProcessPoolExecutor

    ctx = _context()
    queue = ctx.SimpleQueue() if progress is not None else None
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_pool_init, initargs=(queue,))
    pool.submit(int).result()  # the workers start (fork) now, before this process starts a thread
    drain = None
    if queue is not None:
        def pump() -> None:
            while (event := queue.get()) is not None:
                progress(event)

        drain = threading.Thread(target=pump, daemon=True)
        drain.start()

    def close() -> None:
        pool.shutdown(wait=True, cancel_futures=True)
        if queue is not None:
            queue.put(None)
            drain.join(5)

    return pool, close


def run_many(logs: list[Path], dbc_path: Path, out_dir: Path, options: dict, *, workers: int = 1,
             scheduler: str | None = None, progress: Callable[[tuple], None] | None = None) -> Iterator[dict]:
    """Decode every log (one task each); yields each log's result as it completes.
    progress (called on any thread): (log, bytes read or None, frames) as workers go."""
    global _sink
    args = [str(p) for p in logs]
    options = {**options, "progress": progress is not None}
    if workers <= 1 and scheduler is None:
        _sink = progress
        try:
            for log in args:
                yield decode_one_log(log, str(dbc_path), str(out_dir), options)
        finally:
            _sink = None
        return
    if scheduler is None:
        from concurrent.futures import as_completed

        pool, close = _pool(min(workers, len(args)) or 1, progress)
        try:
            futures = [pool.submit(decode_one_log, log, str(dbc_path), str(out_dir), options) for log in args]
            for future in as_completed(futures):
                yield future.result()
        finally:
            close()
        return
    import logging

    from distributed import Client, as_completed

    logging.getLogger("distributed").setLevel(logging.ERROR)
    client = Client(scheduler, timeout="10s")
    try:
        if progress is not None:
            client.subscribe_topic(TOPIC, lambda event: progress(tuple(event[1])))
        futures = client.map(decode_one_log, args, dbc_path=str(dbc_path), out_dir=str(out_dir),
                             options=options, pure=False)
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
