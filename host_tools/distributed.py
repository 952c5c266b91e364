"""Many logs: a glob or a folder, decoded to Parquet in parallel through Dask distributed.

`--workers N` starts a LocalCluster of N single-threaded worker processes on loopback;
`--scheduler tcp://host:8786` uses a running cluster instead. Both submit the same task
(decode_one_log) per log with Client.map, so the laptop and the cluster run one code path.
Dask rather than Ray: it is pure pip (no daemon beyond `dask scheduler`/`dask worker`),
a LocalCluster starts in about a second on loopback (CI), and its workers are plain Python
processes that import this package. A cluster's workers need the package installed
(pip install mule) and must see the logs, the DBC and the output folder at the same paths.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from pathlib import Path

from host_tools.logfile import _log_kind


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


def decode_one_log(log: str, dbc_path: str, out_dir: str, options: dict) -> dict:
    """The task a worker runs: load the DBC, decode one log to Parquet; never raises."""
    from host_tools.dbc import DbcError, load_dbc
    from host_tools.logfile import LogError
    from host_tools.parquet_out import decode_to_parquet

    try:
        dbc = load_dbc(dbc_path, strict=options.get("strict_dbc", False), warn=None)
        return decode_to_parquet(Path(log), dbc, Path(out_dir), **options.get("parquet", {}))
    except (LogError, DbcError) as exc:
        return {"log": log, "error": str(exc)}


def run_many(logs: list[Path], dbc_path: Path, out_dir: Path, options: dict, *, workers: int = 1,
             scheduler: str | None = None, on_done: Callable[[dict], None] | None = None) -> Iterator[dict]:
    """Decode every log; yields each log's result as it completes."""
    args = [str(p) for p in logs]
    if workers <= 1 and scheduler is None:
        for log in args:
            yield decode_one_log(log, str(dbc_path), str(out_dir), options)
        return
    import logging

    from distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="10s")
    try:
        futures = client.map(decode_one_log, args, dbc_path=str(dbc_path), out_dir=str(out_dir),
                             options=options, pure=False)
        for future in as_completed(futures):
            yield future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
