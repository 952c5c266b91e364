"""`mule decode` on a terminal: a bar per log and one over all logs, fed by the readers'
position in each file, from this process, a local pool and a Dask cluster; nothing drawn
without a terminal or in CI. Dask workers' malloc setting undone for the vector path."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

import host_tools.progress as progress_mod
from host_tools.cli.main import main
from host_tools.decode import DecodeSummary, decoded_records
from host_tools.dbc import load_dbc
from mule_testing import PROJECT_DBC, simulated_tow_logs


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return simulated_tow_logs(tmp_path_factory.mktemp("progress"))


@pytest.fixture
def terminal(monkeypatch):
    """A recording console that takes itself for a terminal; every Bars made, with the reports it got."""
    monkeypatch.delenv("CI", raising=False)
    console = Console(file=io.StringIO(), force_terminal=True, record=True, width=120)
    made = []

    class Recording(progress_mod.Bars):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.reports = []
            made.append(self)

        def __call__(self, event):
            self.reports.append(event)
            super().__call__(event)

    monkeypatch.setattr(progress_mod, "make_console", lambda: console)
    monkeypatch.setattr(progress_mod, "Bars", Recording)
    return console, made


def finished(bars, logs: list[Path], frames: dict[str, int]) -> None:
    """The overall bar and each log's bar at their totals (bytes), frames counted."""
    tasks = {t.description: t for t in bars.progress.tasks}
    overall = bars.progress.tasks[0]
    assert overall.total == sum(p.stat().st_size for p in logs)
    assert overall.completed == overall.total
    assert overall.fields["frames"] == sum(frames.values())
    for log in logs:
        task = tasks[log.name]
        assert task.total == log.stat().st_size and task.completed == task.total
        assert task.fields["frames"] == frames[log.name]


def data_frames(log: Path) -> int:
    summary = DecodeSummary("cantools")
    list(decoded_records(log, load_dbc(PROJECT_DBC, warn=None), summary=summary))
    return summary.data_frames


def test_one_log_to_jsonl_draws_its_bar_to_the_end(logs, tmp_path, terminal, monkeypatch):
    console, made = terminal
    monkeypatch.setattr(progress_mod, "EVERY", 50)  # reports along the way, not only at the end
    log = logs / "tow1.log"
    assert main(["decode", str(log), "-o", str(tmp_path / "out.jsonl")]) == 0
    (bars,) = made
    finished(bars, [log], {log.name: data_frames(log)})
    size = log.stat().st_size
    assert any(0 < pos <= size for _, pos, _ in bars.reports)  # the reader's place in the file
    assert [n for *_, n in bars.reports] == sorted(n for *_, n in bars.reports)
    assert "tow1.log" in console.export_text()


@pytest.mark.parametrize("workers", [1, 2])
def test_many_logs_draw_a_bar_per_log_and_overall(logs, tmp_path, terminal, workers):
    console, made = terminal
    assert main(["decode", str(logs), "--format", "parquet", "-o", str(tmp_path / "out"),
                 "--workers", str(workers)]) == 0
    (bars,) = made
    found = [logs / "tow1.log", logs / "tow2.blf"]
    finished(bars, found, {p.name: data_frames(p) for p in found})
    # reported by the workers as they read (this process or the pool's), not only at the end
    assert {Path(log).name for log, pos, n in bars.reports if pos and n} == {p.name for p in found}
    assert "2 logs" in console.export_text()


def test_workers_of_a_dask_cluster_report_progress(logs, tmp_path):
    import logging

    from distributed import LocalCluster

    from host_tools.distributed import expand_logs, run_many

    events = []
    found = expand_logs([logs])
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tcp",
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1")
        results = list(run_many(found, PROJECT_DBC, tmp_path, {}, scheduler=cluster.scheduler_address,
                                progress=events.append))
        deadline = time.monotonic() + 10
        while len({e[0] for e in events if e[2]}) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # events travel through the scheduler, after the results maybe
    assert all(r["decoded"] > 0 for r in results)
    frames = {r["log"]: r["data_frames"] for r in results}
    last = {log: n for log, _, n in events}
    assert last == frames


def test_nothing_is_drawn_without_a_terminal_or_in_ci(logs, tmp_path, terminal, monkeypatch):
    console, made = terminal
    monkeypatch.setenv("CI", "true")
    assert main(["decode", str(logs / "tow1.log"), "-o", str(tmp_path / "a.jsonl")]) == 0
    assert main(["decode", str(logs), "--format", "parquet", "-o", str(tmp_path / "out")]) == 0
    assert made == [] and console.export_text() == ""
    plain = Console(file=io.StringIO(), record=True)  # a file, not a terminal
    monkeypatch.delenv("CI")
    monkeypatch.setattr(progress_mod, "make_console", lambda: plain)
    assert main(["decode", str(logs), "--format", "parquet", "-o", str(tmp_path / "out2")]) == 0
    assert made == [] and plain.export_text() == ""
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "decode", str(logs / "tow2.blf")],
                            capture_output=True, text=True, env={k: v for k, v in os.environ.items() if k != "CI"})
    assert result.returncode == 0 and "\x1b[" not in result.stderr and "━" not in result.stderr
    assert json.loads(result.stdout.splitlines()[0])["msg"]


def test_a_task_in_a_dask_worker_keeps_big_buffers_off_mmap(tmp_path):
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_ (glibc then mmaps every buffer above 128 KB:
    the vector path ran 3-5x slower in a worker); roomy_malloc lifts it while a task runs."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import ctypes, numpy as np\n"
        "from host_tools.distributed import roomy_malloc\n"
        "class Info(ctypes.Structure):\n"
        "    _fields_ = [(n, ctypes.c_size_t) for n in 'arena ordblks smblks hblks hblkhd usmblks fsmblks "
        "uordblks fordblks keepcost'.split()]\n"
        "libc = ctypes.CDLL(None); libc.mallinfo2.restype = Info\n"
        "def mapped():\n"
        "    a = np.ones(1 << 20); n = libc.mallinfo2().hblkhd; del a; return n\n"
        "before = mapped()\n"
        "with roomy_malloc():\n"
        "    during = mapped()\n"
        "print(before >= 8 << 20, during < 8 << 20, mapped() >= 8 << 20)\n")
    try:
        import ctypes

        ctypes.CDLL(None).mallinfo2
    except AttributeError:
        pytest.skip("glibc's mallinfo2 needed")
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, check=True,
                         env={**os.environ, "MALLOC_TRIM_THRESHOLD_": "65536"}).stdout
    assert out.split() == ["True", "True", "True"]  # mmapped before, heap during, Dask's way after
