"""`mule decode --format parquet -o DIR`: one table per message, decoded column-wise.

Layout (hive partitions, so DuckDB, polars and pyarrow datasets prune by message and log):

    DIR/message=<Message>/log=<log file name>/part-<k>.parquet

Columns: t (float64, TIME_HELP), channel (string), then one column per signal: the
physical value under the signal's name and/or the raw value as <signal>_raw; null where
the frame's multiplexer leaves the signal out. Schema metadata: mule.log, mule.dbc,
mule.time; each signal field's metadata: unit (the DBC's).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from host_tools.decode import TIME_HELP, DecodeSummary, data_frames, epoch_shift
from host_tools.engines import Outcome
from host_tools.engines.vector_engine import _STATUS, VectorEngine, decode_batch

VALUES = ("phys", "raw", "both")
CHUNK = 500_000


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "_"


def _column(values: np.ndarray, present) -> pa.Array:
    mask = None if present is None else ~present
    if values.dtype == object:
        return pa.array(values.tolist(), mask=mask)  # exact Python results (int64, or double)
    return pa.array(values, mask=mask)


def message_table(cols, frames, shift: float, values: str, log_name: str, dbc_name: str) -> pa.Table:
    ok = ~cols.bad_mux
    rows = cols.rows[ok]
    t = np.fromiter((frames[i].t for i in rows.tolist()), dtype=np.float64, count=len(rows)) + shift
    chan = [None if frames[i].channel is None else str(frames[i].channel) for i in rows.tolist()]
    arrays = [pa.array(t), pa.array(chan, type=pa.string())]
    fields = [pa.field("t", pa.float64()), pa.field("channel", pa.string())]
    for sig in cols.message.signals:
        if sig.name not in cols.raw:
            continue
        present = cols.present[sig.name]
        present = None if present is None else present[ok]
        meta = {"unit": sig.unit or ""}
        wanted = []
        if values in ("phys", "both"):
            wanted.append((sig.name, cols.phys[sig.name]))
        if values in ("raw", "both"):
            wanted.append((f"{sig.name}_raw", cols.raw[sig.name]))
        for name, col in wanted:
            arr = _column(col[ok], present)
            arrays.append(arr)
            fields.append(pa.field(name, arr.type, metadata=meta))
    schema = pa.schema(fields, metadata={"mule.log": log_name, "mule.dbc": dbc_name, "mule.time": TIME_HELP,
                                         "mule.message": cols.message.name})
    return pa.Table.from_arrays(arrays, schema=schema)


def decode_to_parquet(log: Path, dbc, out_dir: Path, *, values: str = "phys", skip_bad: bool = False,
                      accept_truncated: bool = False, strict: bool = False, chunk: int = CHUNK,
                      progress=None) -> dict:
    """Decode one log into out_dir; returns the summary lines, counts and seconds per stage."""
    log = Path(log)
    summary = DecodeSummary("vector")
    stages = {"read": 0.0, "decode": 0.0, "write": 0.0}
    written = 0
    parts: dict[str, int] = {}
    frames_iter = data_frames(log, summary, skip_bad=skip_bad, accept_truncated=accept_truncated, strict=strict)
    shift = None
    engine = VectorEngine(dbc)
    while True:
        t0 = time.perf_counter()
        batch_frames = []
        for f in frames_iter:
            batch_frames.append(f)
            if len(batch_frames) >= chunk:
                break
        t1 = time.perf_counter()
        stages["read"] += t1 - t0
        if not batch_frames:
            break
        if shift is None:
            shift = epoch_shift(summary.log, batch_frames[0].t)
        batch = decode_batch(engine.dbc, batch_frames)
        for i in np.flatnonzero(batch.status).tolist():
            summary.note(batch_frames[i], Outcome(_STATUS[batch.status[i]], batch.names[i]))
        t2 = time.perf_counter()
        stages["decode"] += t2 - t1
        for cols in batch.messages:
            good = int((~cols.bad_mux).sum())
            summary.decoded += good
            if not good:
                continue
            table = message_table(cols, batch_frames, shift, values, log.name, str(dbc.path.name))
            folder = out_dir / f"message={_safe(cols.message.name)}" / f"log={_safe(log.name)}"
            folder.mkdir(parents=True, exist_ok=True)
            k = parts.get(cols.message.name, 0)
            parts[cols.message.name] = k + 1
            pq.write_table(table, folder / f"part-{k}.parquet")
            written += good
        stages["write"] += time.perf_counter() - t2
        if progress is not None:
            progress(len(batch_frames))
    return {"log": str(log), "lines": summary.lines(), "data_frames": summary.data_frames,
            "decoded": summary.decoded, "written": written, "stages": stages,
            "truncated": summary.log.truncated}
