"""--format parquet: one table per message, readable by pyarrow (and so pandas, polars, DuckDB), partitioned by
message and log; many logs in parallel through a Dask LocalCluster on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from host_tools import DEFAULT_DBC
from host_tools.dbc import load_dbc
from host_tools.distributed import expand_logs, run_many
from host_tools.parquet_out import decode_to_parquet
from mule_testing import simulated_tow_logs

FORMATS = Path(__file__).resolve().parents[1] / "files" / "logs" / "formats"


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return simulated_tow_logs(tmp_path_factory.mktemp("logs"))


def test_parquet_equals_cantools_jsonl(logs, tmp_path):
    log = logs / "tow1.log"
    dbc = load_dbc(DEFAULT_DBC, warn=None)
    result = decode_to_parquet(log, dbc, tmp_path, values="both")
    assert result["decoded"] == result["data_frames"] > 0
    out = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "decode", str(log)], check=True,
                         capture_output=True, text=True).stdout
    want = [json.loads(line) for line in out.splitlines()]
    total = sum(pq.read_metadata(p).num_rows for p in tmp_path.rglob("*.parquet"))
    assert total == len(want)
    msg = want[0]["msg"]
    # read back with pyarrow alone (pandas, polars and DuckDB read the same files; none is a dependency)
    rows = ds.dataset(tmp_path / f"message={msg}", format="parquet", partitioning="hive").to_table()
    rows = rows.sort_by("t").to_pydict()
    ref = [r for r in want if r["msg"] == msg]
    for name in ref[0]["raw"]:
        assert list(rows[f"{name}_raw"]) == [r["raw"][name] for r in ref]
        assert list(rows[name]) == [r["phys"][name] for r in ref]
    assert list(rows["t"]) == [r["t"] for r in ref]
    one = pq.read_table(next(tmp_path.glob(f"message={msg}/log=tow1.log/*.parquet")))
    assert one.schema.metadata[b"mule.log"] == b"tow1.log"
    sig = dbc.lookup(want[0]["id"], want[0]["ext"]).signals[0]
    assert one.schema.field(sig.name).metadata[b"unit"] == (sig.unit or "").encode()


def test_multiplexed_signals_are_null_where_absent(tmp_path):
    from host_tools.engines.vector_engine import decode_batch
    from host_tools.logfile import Frame
    from host_tools.parquet_out import message_table

    dbc = load_dbc(Path(__file__).resolve().parents[1] / "files" / "dbc" / "mux_simple.dbc", warn=None)
    m = dbc.messages[0]
    frames = [Frame(float(i), m.frame_id, m.is_extended_frame, bytes([v] + [0] * (m.length - 1)), "data", False,
                    0, "x") for i, v in enumerate((0, 3))]
    batch = decode_batch(dbc, frames)
    table = message_table(batch.messages[0], batch.table, 0.0, "phys", "x", "y").to_pydict()
    signals = {s.name for s in m.signals}
    assert any(None in v for k, v in table.items() if k in signals)


def test_many_logs_on_a_local_dask_cluster(logs, tmp_path):
    found = expand_logs([logs])
    assert [p.name for p in found] == ["tow1.log", "tow2.blf"]
    assert expand_logs([str(logs / "*.blf")]) == [logs / "tow2.blf"]
    import logging

    from distributed import LocalCluster

    # --scheduler's path: a cluster of 2 worker processes on loopback, as `dask scheduler`/`dask worker` run
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        results = list(run_many(found, DEFAULT_DBC, tmp_path, {"parquet": {"values": "phys"}},
                                scheduler=cluster.scheduler_address))
    assert sorted(Path(r["log"]).name for r in results) == ["tow1.log", "tow2.blf"]
    assert all(r["decoded"] == r["data_frames"] > 0 for r in results)
    rows = sum(pq.read_metadata(p).num_rows for p in tmp_path.glob("message=*/log=tow2.blf/*.parquet"))
    assert rows == [r for r in results if r["log"].endswith("blf")][0]["decoded"]


def test_a_bad_log_among_many_is_reported_not_raised(tmp_path):
    bad = tmp_path / "bad.asc"
    bad.write_bytes(b"\x00\x01garbage\n")
    (result,) = run_many([bad], DEFAULT_DBC, tmp_path / "out", {})
    assert "error" in result and "bad.asc" in result["error"]


def mule(*argv, check=True):
    return subprocess.run([sys.executable, "-m", "host_tools.cli.main", *map(str, argv)], check=check,
                          capture_output=True, text=True)


def test_cli_vector_jsonl_equals_cantools_and_parquet_of_a_folder(logs, tmp_path):
    log = logs / "tow2.blf"
    assert mule("decode", log, "--engine", "vector").stdout == mule("decode", log).stdout
    result = mule("decode", logs, "--format", "parquet", "-o", tmp_path / "out")
    assert "2 of 2 logs decoded" in result.stderr and "tow1.log:" in result.stderr
    assert list((tmp_path / "out").glob("message=*/log=tow1.log/part-0.parquet"))
    refused = mule("decode", logs, check=False)
    assert refused.returncode == 2 and "need --format parquet -o DIR" in refused.stderr


def test_a_log_in_many_chunks_is_one_file_per_message_with_a_row_group_each(logs, tmp_path):
    dbc = load_dbc(DEFAULT_DBC, warn=None)
    result = decode_to_parquet(logs / "tow1.log", dbc, tmp_path, chunk=100, fast=False)
    files = sorted(tmp_path.rglob("*.parquet"))
    assert {p.name for p in files} == {"part-0.parquet"}  # not a small file per chunk
    assert sum(pq.read_metadata(p).num_rows for p in files) == result["decoded"] > 100
    assert max(pq.read_metadata(p).num_row_groups for p in files) > 1
    # dictionary pages for integer signals and the channel, not for floats (work thrown away)
    kinds = {"int": set(), "double": set()}
    for p in files:
        meta = pq.read_metadata(p)
        for i, field in enumerate(pq.read_schema(p)):
            kind = "int" if str(field.type) == "int64" else "double" if str(field.type) == "double" else None
            if kind and field.name != "t":
                kinds[kind].add("RLE_DICTIONARY" in meta.row_group(0).column(i).encodings)
    assert kinds == {"int": {True}, "double": {False}}
