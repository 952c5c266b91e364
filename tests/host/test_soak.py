"""bench/soak.py (`make soak`): a short drive through a real 100 KB virtual board, checking
that the soak's figures are the board's own STATS; and the heap-trend rule on made-up series."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from mule_testing import REPO

SOAK_PATH = REPO / "bench" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("mule_bench_soak", SOAK_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def _micropython_children() -> list[int]:
    """Processes of ours running micropython (the virtual board)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and name.startswith("micropython"):
            out.append(int(entry.name))
    return out


def test_short_soak_sums_up_the_boards_stats(soak, tmp_path):
    lines: list[str] = []
    # 20 simulated seconds at 5x: about 4 s of streaming, enough STATS (one a second) for thirds
    summary = soak.run_soak(minutes=20 / 60, speed=5.0, seed=3, echo=lines.append)
    assert summary["ok"], summary["failures"]
    assert _micropython_children() == []  # the virtual board is gone

    frames = summary["frames"]
    assert frames["sent"] > 2000 and frames["verified"] == frames["sent"] and frames["lost"] == 0
    samples = summary["samples"]
    assert len(samples) >= 3
    assert [s["uptime_ms"] for s in samples] == sorted({s["uptime_ms"] for s in samples})
    assert frames["board_received"] == samples[-1]["frames_received"] == frames["sent"]  # the board counted them

    heap = summary["heap"]
    size = 100 * 1024
    low = min(s["heap_min_free"] for s in samples)
    assert heap["size_bytes"] == size
    assert heap["min_free_bytes"] == low and heap["high_water_bytes"] == size - low
    assert 0 < heap["high_water_bytes"] < size
    assert heap["high_water_pct"] == round(100 * (size - low) / size, 1)
    assert (heap["free_start"], heap["free_middle"], heap["free_end"]) == (
        samples[0]["heap_free"], samples[len(samples) // 2]["heap_free"], samples[-1]["heap_free"])
    third = len(samples) // 3
    trend = heap["trend"]
    assert trend["first_third_min_free"] == min(s["heap_free"] for s in samples[:third])
    assert trend["last_third_min_free"] == min(s["heap_free"] for s in samples[-third:])
    assert trend["bounded"] is True

    pauses = [s["gc_max_us"] for s in samples]
    loop_max = [s["loop_us_max"] for s in samples]
    if pauses[-1] is not None:  # a firmware that times its collections
        assert summary["gc"]["pause_us"]["max"] == max(pauses) > 0
        assert summary["gc"]["collections_during_soak"] == samples[-1]["gc_count"] - samples[0]["gc_count"] >= 2
    else:
        assert summary["gc"]["pause_us"]["max"] == max(loop_max)
    assert summary["loop_us"]["max"] == max(loop_max) > 0

    assert summary["alerts"]["raised"] > 0 and summary["alerts"]["check"] == "passed"  # the fault mix
    assert summary["memory_errors"] == 0
    assert any("replaying" in line for line in lines)
    json.dumps(summary)  # what --out writes


def _samples(soak, free_values):
    return [soak.Sample(t_s=float(k), boot=1, uptime_ms=1000 * k, frames_received=100 * k, heap_free=free,
                        heap_min_free=free - 5000, loop_us_max=300, loop_us_avg=100, gc_count=k, gc_max_us=60)
            for k, free in enumerate(free_values)]


def test_heap_trend_bounded_when_flat_or_noisy(soak):
    flat = soak.heap_trend(_samples(soak, [21664] * 30), tolerance=1024)
    assert flat["bounded"] is True and flat["drop_bytes"] == 0
    noisy = soak.heap_trend(_samples(soak, [21664 - (k % 4) * 200 for k in range(30)]), tolerance=1024)
    assert noisy["bounded"] is True


def test_heap_trend_catches_a_leak(soak):
    leak = soak.heap_trend(_samples(soak, [21664 - 100 * k for k in range(30)]), tolerance=1024)
    assert leak["bounded"] is False
    assert leak["drop_bytes"] == 21664 - 100 * 9 - (21664 - 100 * 29)
    assert leak["free_slope_bytes_per_hour"] == pytest.approx(-100 * 3600)


def test_heap_trend_needs_three_stats(soak):
    assert soak.heap_trend(_samples(soak, [1, 2]), tolerance=0)["bounded"] is None


def test_memory_error_split_across_reads_counts_once(soak):
    recorder = soak.BoardRecorder(echo=lambda text: None)
    recorder.raw(b"\x00garbage Memory")
    recorder.raw(b"Error: memory allocation failed\r\nTraceback (most recent")
    recorder.raw(b" call last)")
    assert recorder.bad_words == {"MemoryError": 1, "Traceback": 1}


@pytest.mark.parametrize("argv", [["--heap", "lots"], ["--minutes", "0"], ["--speed", "fast"]])
def test_bad_arguments_exit_2(soak, argv, capsys):
    assert soak.main(argv) == 2
    assert "soak: error:" in capsys.readouterr().err
