"""`make bench`: decoding logs at fleet scale (issue 15).

One hour of `highway_tow` (mule simulate, cached under build/bench_logs/) as a candump
.log and a .blf. For each: frames/s per stage (read, decode, write) and end to end for
  - the cantools engine writing JSON lines (`mule decode`), and
  - the vector engine writing Parquet (`mule decode --format parquet`),
in the same run, and their end-to-end ratio against the target of 20x. Then the speed-up
of 2 local workers over 1 on the two logs (a process pool, its start-up included; target
> 1.0x) and the same on a running Dask cluster, with the load average at the time.
Figures are noisy on a shared machine; the ratios are what counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.decode import DecodeSummary, decoded_records, write_records  # noqa: E402
from host_tools.distributed import run_many  # noqa: E402
from host_tools.engines.cantools_engine import decode_one  # noqa: E402
from host_tools.logfile import read_frames  # noqa: E402
from host_tools.parquet_out import decode_to_parquet  # noqa: E402

TARGET = 20.0
CACHE = REPO / "build" / "bench_logs"


def hour_logs(seconds: int) -> list[Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    out = []
    for suffix in (".log", ".blf"):
        path = CACHE / f"highway_tow_{seconds}s{suffix}"
        if not path.exists():
            print(f"simulating {seconds} s of highway_tow into {path} (cached) ...", flush=True)
            subprocess.run([str(REPO / ".venv" / "bin" / "mule"), "simulate", "highway_tow", "--duration",
                            str(seconds), "--seed", "15", "-o", str(path)], check=True, capture_output=True)
        out.append(path)
    return out


def cantools_json(log: Path, dbc, tmp: Path) -> dict:
    t0 = time.perf_counter()
    frames = [f for f in read_frames(log) if f.kind == "data"]
    t1 = time.perf_counter()
    outcomes = [decode_one(dbc, f.can_id, f.ext, f.data) for f in frames]
    t2 = time.perf_counter()
    with open(tmp / "stage.jsonl", "w") as out:
        for f, o in zip(frames, outcomes):
            if o.status == "decoded":
                out.write(json.dumps({"t": f.t, "id": f.can_id, "ext": f.ext, "msg": o.msg, "raw": o.raw,
                                      "phys": o.phys}) + "\n")
    t3 = time.perf_counter()
    n = len(frames)
    del frames, outcomes
    t4 = time.perf_counter()
    with open(tmp / "e2e.jsonl", "w") as out:
        write_records(decoded_records(log, dbc, "cantools", summary=DecodeSummary("cantools")), out, "jsonl")
    e2e = time.perf_counter() - t4
    return {"frames": n, "read": n / (t1 - t0), "decode": n / (t2 - t1), "write": n / (t3 - t2), "e2e": n / e2e}


def vector_parquet(log: Path, dbc, tmp: Path, runs: int = 3) -> dict:
    """The median of `runs` (a run takes a second or two: one busy moment of the shared
    machine would swing a single one; the cantools run lasts a minute and averages them)."""
    out = tmp / "pq"
    measured = []
    for _ in range(runs):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        result = decode_to_parquet(log, dbc, out)
        e2e = time.perf_counter() - t0
        n = result["data_frames"]
        measured.append({"frames": n, **{k: n / v for k, v in result["stages"].items()}, "e2e": n / e2e})
    return sorted(measured, key=lambda r: r["e2e"])[len(measured) // 2]


def row(name: str, r: dict) -> str:
    return (f"  {name:<22} read {r['read']:>11,.0f}  decode {r['decode']:>11,.0f}  write {r['write']:>11,.0f}"
            f"  end to end {r['e2e']:>11,.0f} frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=3600, help="simulated traffic per log")
    parser.add_argument("--only", choices=("e2e", "many"), help="run one part: end to end per log, or many logs")
    args = parser.parse_args()
    logs = hour_logs(args.seconds)
    dbc = load_dbc(DEFAULT_DBC)
    import os

    print(f"bench_logs: {args.seconds} s of highway_tow per log (frames/s; noisy, ratios count; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for log in logs if args.only != "many" else ():
            c = cantools_json(log, dbc, tmp)
            v = vector_parquet(log, dbc, tmp)
            ratio = v["e2e"] / c["e2e"]
            print(f"{log.suffix} ({c['frames']:,} frames)")
            print(row("cantools -> JSON lines", c))
            print(row("vector -> Parquet", v))
            print(f"  end to end: vector/Parquet (median of 3) {ratio:.1f}x cantools/JSON "
                  f"(target >= {TARGET:.0f}x: {'met' if ratio >= TARGET else 'NOT met'})")
        if args.only != "e2e":
            print(many_logs(logs, tmp))


def _spin(n: int) -> int:
    return sum(range(n))


def parallel_room() -> float:
    """How much more work 2 processes get done than 1 on this machine right now (2.0 on two
    idle cores; about 1.0 when other sessions hold the cores: Linux gives each session,
    not each process, its share of a busy CPU)."""
    from concurrent.futures import ProcessPoolExecutor

    walls = {}
    for n in (1, 2):
        with ProcessPoolExecutor(n) as pool:
            list(pool.map(_spin, [1000] * n))  # started
            t0 = time.perf_counter()
            list(pool.map(_spin, [3_000_000] * 4))
            walls[n] = time.perf_counter() - t0
    return walls[1] / walls[2]


def many_logs(logs: list[Path], tmp: Path) -> str:
    """The same logs by 1 worker (this process) and 2 local workers (a process pool, its
    start-up included), then on a running 2-worker Dask cluster (--scheduler)."""
    import logging
    import os

    from distributed import LocalCluster

    opts = {"parquet": {"values": "phys"}}
    load = os.getloadavg()[0]
    room = parallel_room()
    pairs = []
    for _ in range(3):  # 1 and 2 workers in turn, 3 times: the median pair (others' bursts swing one run)
        times, cpu = {}, {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            results = list(run_many(logs, DEFAULT_DBC, tmp / f"many{workers}", opts, workers=workers))
            times[workers] = time.perf_counter() - t0
            assert all("error" not in r for r in results), results
            cpu[workers] = sum(r["cpu_s"] for r in results)
        pairs.append((times[1] / times[2], times, cpu))
    _, times, cpu = sorted(pairs, key=lambda p: p[0])[1]
    t0 = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=logging.ERROR)
    start_up = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        results = list(run_many(logs, DEFAULT_DBC, tmp / "many_s", opts, scheduler=cluster.scheduler_address))
        running = time.perf_counter() - t0
    finally:
        cluster.close()
    speed_up = times[1] / times[2]
    return (f"many logs ({len(logs)}; load average {load:.1f} on {os.cpu_count()} cores; 2 processes did "
            f"{room:.2f}x the work of 1 just before): 1 worker {times[1]:.1f} s ({cpu[1]:.1f} CPU s), "
            f"2 local workers {times[2]:.1f} s ({cpu[2]:.1f} CPU s in the tasks; a process pool, its start-up "
            f"included): speed-up {speed_up:.2f}x (median of 3 pairs: "
            f"{', '.join(f'{p[0]:.2f}x' for p in pairs)}) (target > 1.0x: {'met' if speed_up > 1.0 else 'NOT met'}); "
            f"2 workers of a running Dask cluster (--scheduler) {running:.1f} s ({times[1] / running:.2f}x; "
            f"the cluster's start-up {start_up:.1f} s apart)")


if __name__ == "__main__":
    main()
