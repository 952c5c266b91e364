"""`make soak`: a long simulated drive through the virtual board under a Pyboard-sized heap.

Simulates a drive (highway_tow, 30 minutes by default, with a few dropouts, bad CRCs, an
out-of-range value and counter jumps so alerts are raised and cleared along the way),
flashes a virtual board (`-X heapsize=100K`) as `mule replay` does without --port, replays
the drive at the log's pace with every value verified, and keeps every STATS (one a
second) and LOG the board sends. It then sums up the heap (high-water mark, the live heap's
trend), the GC pauses the board measured and the loop times, and fails on a MemoryError or
any error the board logs, a lost or mismatched frame, a reset, or a heap that keeps growing.

    .venv/bin/python bench/soak.py                      # 30 minutes, real time (make soak)
    .venv/bin/python bench/soak.py --minutes 1 --speed max --out /tmp/soak.json

Exit status: 0 all well, 1 a failure (listed), 2 bad arguments, 130 interrupted (Ctrl-C or
SIGTERM: the frames in flight are answered, the summary is written, the board is stopped).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.cli.replay import ctrl_c_stops  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.link import messages as m  # noqa: E402
from host_tools.link.session import BoardLink  # noqa: E402
from host_tools.replay import Replay, parse_speed  # noqa: E402
from host_tools.replay.board import virtual_board  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402

SCHEMA = "mule-soak/1"
DEFAULT_OUT = REPO / "bench" / "results" / "soak.json"
# Words in the board's raw output (LOG lines, or a traceback printed outside any frame)
# that mean the firmware failed.
BAD_WORDS = (b"MemoryError", b"Traceback")
LOG_ERROR = 3


# ---- the drive ---------------------------------------------------------------------------
def fault_mix(duration_s: float) -> list[str]:
    """A few faults spread over the drive (at fixed fractions of it), so the board raises and
    clears alerts throughout: a sender dropout, a burst of bad CRCs, an out-of-range value,
    counter jumps."""
    def at(fraction: float) -> str:
        return f"{duration_s * fraction:.3f}"
    return [f"dropout:HitchLoad@{at(1 / 6)}+2",
            f"bad_crc:BmsPackStatus@{at(0.39)}+1",
            f"out_of_range:tongue_load_kg@{at(0.61)}+3",
            f"counter_jump:VcuVehicleStatus@{at(0.78)}",
            f"dropout:BmsTempStats@{at(0.9)}+1.5"]


def heap_bytes(heap: str) -> int:
    """MicroPython's -X heapsize: a number with an optional K or M (×1024)."""
    text = heap.strip().upper()
    scale = {"K": 1024, "M": 1024 * 1024}.get(text[-1:], 1)
    number = text[:-1] if scale > 1 else text
    try:
        value = int(number) * scale
    except ValueError:
        raise ValueError(f"--heap {heap!r}: give bytes, or a number with K or M such as 100K") from None
    if value <= 0:
        raise ValueError(f"--heap {heap!r}: must be positive")
    return value


# ---- what the board says -----------------------------------------------------------------
@dataclass
class Sample:
    """One STATS, as received."""

    t_s: float  # host time since the soak's replay started
    boot: int | None
    uptime_ms: int
    frames_received: int
    heap_free: int
    heap_min_free: int
    loop_us_max: int
    loop_us_avg: int
    gc_count: int | None  # None: the firmware's STATS has no such field
    gc_max_us: int | None


class BoardRecorder:
    """Everything the board sends that the soak sums up: every STATS, every LOG line, and
    the raw bytes searched for MemoryError / Traceback (a crash prints outside any frame)."""

    def __init__(self, every_s: float = 60.0, echo=print):
        self.started = time.perf_counter()
        self.samples: list[Sample] = []
        self.logs: list[dict] = []
        self.bad_words = {word.decode(): 0 for word in BAD_WORDS}
        self.every_s = every_s
        self.echo = echo
        self._tail = b""
        self._last_echo = -math.inf
        self.tally = None  # the replay's frame tally, for the progress line

    def now(self) -> float:
        return time.perf_counter() - self.started

    def raw(self, data: bytes) -> None:
        if not data:
            return
        keep = max(len(w) for w in BAD_WORDS) - 1
        window = self._tail + data
        for word in BAD_WORDS:
            # count only hits that end in the new bytes, so none is counted twice
            start = 0
            while (i := window.find(word, start)) >= 0:
                if i + len(word) > len(self._tail):
                    self.bad_words[word.decode()] += 1
                start = i + 1
        self._tail = window[-keep:]

    def message(self, message, boot: int | None) -> None:
        if isinstance(message, m.Stats):
            sample = Sample(self.now(), boot, message.uptime_ms, message.frames_received, message.heap_free,
                            message.heap_min_free, message.loop_us_max, message.loop_us_avg,
                            getattr(message, "gc_count", None), getattr(message, "gc_max_us", None))
            self.samples.append(sample)
            self._progress(sample)
        elif isinstance(message, m.Log):
            self.logs.append({"t_s": round(self.now(), 3), "level": message.level, "text": message.text})
            if message.level >= LOG_ERROR or "Error" in message.text:
                self.echo(f"soak: board LOG (level {message.level}) at {self.now():.1f} s: {message.text}")

    def _progress(self, s: Sample) -> None:
        if s.t_s - self._last_echo < self.every_s:
            return
        self._last_echo = s.t_s
        t = self.tally
        frames = (f"sent {t.sent:,} verified {t.verified:,} lost {t.lost:,} mismatched {t.mismatched:,}; "
                  if t is not None else "")
        gc = f"gc max {s.gc_max_us:,} µs (#{s.gc_count:,}); " if s.gc_max_us is not None else ""
        self.echo(f"soak: {s.t_s / 60:5.1f} min: {frames}heap free {s.heap_free:,} B (min {s.heap_min_free:,}); "
                  f"{gc}loop max {s.loop_us_max:,} µs", )


class RecordingLink(BoardLink):
    """A BoardLink that shows the recorder every message and every byte it takes in; the
    replay runs on it unchanged."""

    def __init__(self, port: str, dbc, recorder: BoardRecorder):
        super().__init__(port, dbc)
        self.recorder = recorder
        read = self.serial.read

        def read_and_record(size: int = 1) -> bytes:
            data = read(size)
            recorder.raw(data)
            return data
        self.serial.read = read_and_record

    def messages(self):
        for message in super().messages():
            self.recorder.message(message, self.hello.boot_id if self.hello else None)
            yield message


# ---- the figures -------------------------------------------------------------------------
def percentile(values: list[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def spread(values: list[float]) -> dict:
    if not values:
        return {"max": None, "p99": None, "median": None}
    return {"max": max(values), "p99": percentile(values, 99), "median": statistics.median(values)}


def heap_trend(samples: list[Sample], tolerance: int) -> dict:
    """The live heap over the run: bounded when the lowest heap_free of the last third is no
    more than `tolerance` bytes below the lowest of the first third (a leak shows as a
    steady fall), with the least-squares slope for scale."""
    if len(samples) < 3:
        return {"samples": len(samples), "bounded": None,
                "reason": f"{len(samples)} STATS: at least 3 are needed to compare the first and last thirds"}
    third = len(samples) // 3
    first = min(s.heap_free for s in samples[:third])
    last = min(s.heap_free for s in samples[-third:])
    drop = first - last
    ts = [s.t_s for s in samples]
    mean_t = statistics.fmean(ts)
    mean_f = statistics.fmean(s.heap_free for s in samples)
    var = sum((t - mean_t) ** 2 for t in ts)
    slope = (sum((s.t_s - mean_t) * (s.heap_free - mean_f) for s in samples) / var) if var else 0.0
    return {"samples": len(samples), "first_third_min_free": first, "last_third_min_free": last,
            "drop_bytes": drop, "tolerance_bytes": tolerance, "bounded": drop <= tolerance,
            "free_slope_bytes_per_hour": round(slope * 3600, 1)}


def summarise(result, recorder: BoardRecorder, *, heap: str, tolerance: int, options: dict) -> dict:
    """The soak's figures and verdict, all computed from the STATS and LOGs the board sent
    and the replay's own accounting."""
    d = result.as_dict()
    size = heap_bytes(heap)
    samples = recorder.samples
    boots = sorted({s.boot for s in samples if s.boot is not None})
    has_gc = bool(samples) and samples[-1].gc_max_us is not None
    failures: list[str] = []

    heap_figures: dict = {"size_bytes": size, "stats": len(samples)}
    if samples:
        low = min(samples, key=lambda s: s.heap_min_free)
        high_water = size - low.heap_min_free
        middle = samples[len(samples) // 2]
        heap_figures |= {
            "high_water_bytes": high_water, "high_water_pct": round(100 * high_water / size, 1),
            "min_free_bytes": low.heap_min_free, "min_free_at_s": round(low.t_s, 1),
            "free_start": samples[0].heap_free, "free_middle": middle.heap_free, "free_end": samples[-1].heap_free,
            "trend": heap_trend(samples, tolerance)}
        if heap_figures["trend"]["bounded"] is False:
            t = heap_figures["trend"]
            failures.append(f"heap not bounded: the live heap's lowest free fell from {t['first_third_min_free']:,} B "
                            f"(first third) to {t['last_third_min_free']:,} B (last third), {t['drop_bytes']:,} B "
                            f"> tolerance {tolerance:,} B")
        elif heap_figures["trend"]["bounded"] is None:
            failures.append(f"heap trend unknown: {heap_figures['trend']['reason']}")
    else:
        failures.append("the board sent no STATS")

    loop_max = [s.loop_us_max for s in samples]
    if has_gc:
        pauses = [s.gc_max_us for s in samples if s.gc_max_us is not None]
        gc = {"source": "STATS gc_max_us (the board times its gc.collect() before each STATS)",
              "collections_at_end": samples[-1].gc_count,
              "collections_during_soak": samples[-1].gc_count - samples[0].gc_count, "pause_us": spread(pauses)}
    else:
        gc = {"source": "STATS has no gc_max_us: loop_us_max bounds any collection's pause",
              "collections_at_end": None, "collections_during_soak": None, "pause_us": spread(loop_max)}

    errors = [entry for entry in recorder.logs if entry["level"] >= LOG_ERROR]
    memory_errors = sum("MemoryError" in entry["text"] for entry in recorder.logs)
    raw_memory_errors = recorder.bad_words["MemoryError"]
    if memory_errors or raw_memory_errors:
        failures.append(f"MemoryError: {memory_errors} in LOG lines, {raw_memory_errors} in the board's raw output")
    if errors:
        failures.append(f"{len(errors)} error LOG lines from the board, the first: {errors[0]['text']!r} "
                        f"at {errors[0]['t_s']} s")
    if recorder.bad_words["Traceback"]:
        failures.append(f"{recorder.bad_words['Traceback']} tracebacks in the board's raw output (a crash)")
    if d["frames_lost"]:
        failures.append(f"{d['frames_lost']:,} frames lost")
    if d["mismatches"]:
        failures.append(f"{d['mismatches']:,} frames mismatched against cantools")
    if d["frames_sent"] == 0 or d["frames_verified"] != d["frames_sent"]:
        failures.append(f"verified {d['frames_verified']:,} of {d['frames_sent']:,} frames sent")
    if d["frames_not_sent"]:
        failures.append(f"{d['frames_not_sent']:,} frames of the log not sent")
    if d["gaps"] or len(boots) > 1:
        failures.append(f"the board reset or went away {len(d['gaps'])} times (boots {len(boots)})")
    if d["link_errors"]:
        failures.append(f"{d['link_errors']:,} link errors")
    if d["alert_check"]["status"] == "failed":
        failures.append(f"alert check failed: {d['alert_check']['reason']}")
    if d["aborted"]:
        failures.append(f"the replay stopped early: {d['aborted']}")
    if d["interrupted"]:
        failures.append("interrupted: the figures cover the part that ran")

    return {
        "schema": SCHEMA,
        "ok": not failures,
        "failures": failures,
        "options": options,
        "duration": {"log_s": d["duration"]["log_s"], "replay_wall_s": d["duration"]["wall_s"],
                     "board_uptime_s": round(samples[-1].uptime_ms / 1000, 1) if samples else None},
        "frames": {"sent": d["frames_sent"], "decoded": d["frames_decoded"], "verified": d["frames_verified"],
                   "mismatched": d["mismatches"], "lost": d["frames_lost"], "not_sent": d["frames_not_sent"],
                   "board_received": samples[-1].frames_received if samples else None},
        "alerts": {"raised": len(result.alerts), "expected": d["alerts_expected"],
                   "intervals_raised": d["alerts_raised"], "matched": d["alerts_matched"],
                   "check": d["alert_check"]["status"], "reason": d["alert_check"]["reason"]},
        "boots": [f"{b:#010x}" for b in boots],
        "resets": d["resets"],
        "heap": heap_figures,
        "gc": gc,
        "loop_us": spread(loop_max) | {"avg_median": statistics.median([s.loop_us_avg for s in samples])
                                       if samples else None},
        "memory_errors": memory_errors + raw_memory_errors,
        "board_logs": recorder.logs,
        "replay": {k: v for k, v in d.items() if k != "lost_frames"},
        "samples": [asdict(s) for s in samples],
    }


def summary_lines(s: dict) -> list[str]:
    h, g, f, a, loop = s["heap"], s["gc"], s["frames"], s["alerts"], s["loop_us"]
    lines = [f"drive: {s['options']['scenario']} seed {s['options']['seed']}, {s['duration']['log_s']:,.1f} s of log "
             f"replayed in {s['duration']['replay_wall_s']:,.1f} s at --speed {s['options']['speed']}; "
             f"board up {s['duration']['board_uptime_s']} s, boots {len(s['boots'])}",
             f"frames sent {f['sent']:,}, verified {f['verified']:,}, mismatched {f['mismatched']:,}, "
             f"lost {f['lost']:,}, not sent {f['not_sent']:,} (board received {f['board_received']})",
             f"alerts: {a['raised']} ALERTs, {a['intervals_raised']} intervals; expected {a['expected']}, "
             f"matched {a['matched']}: {a['check']}"]
    if "high_water_bytes" in h:
        t = h["trend"]
        lines += [f"heap {h['size_bytes']:,} B: high-water {h['high_water_bytes']:,} B ({h['high_water_pct']} %), "
                  f"lowest free {h['min_free_bytes']:,} B at {h['min_free_at_s']} s; {h['stats']:,} STATS",
                  f"live heap free start {h['free_start']:,} / middle {h['free_middle']:,} / end {h['free_end']:,} B"]
        if t["bounded"] is not None:
            lines.append(f"trend: lowest free first third {t['first_third_min_free']:,} B, last third "
                         f"{t['last_third_min_free']:,} B (drop {t['drop_bytes']:,} B, tolerance "
                         f"{t['tolerance_bytes']:,}): {'bounded' if t['bounded'] else 'NOT bounded'}; "
                         f"slope {t['free_slope_bytes_per_hour']:+,.0f} B/h")
    p = g["pause_us"]
    if p["max"] is not None:
        lines.append(f"GC pause (µs): max {p['max']:,}, p99 {p['p99']:,}, median {p['median']:,.0f}; "
                     f"collections {g['collections_during_soak']} during the soak ({g['source']})")
    if loop["max"] is not None:
        lines.append(f"loop (µs, per-second max): max {loop['max']:,}, p99 {loop['p99']:,}, "
                     f"median {loop['median']:,.0f}; loop avg median {loop['avg_median']:,.0f}")
    lines.append(f"MemoryError: {s['memory_errors']}; board LOG lines {len(s['board_logs'])}")
    return lines


# ---- the run -----------------------------------------------------------------------------
@contextlib.contextmanager
def sigterm_interrupts():
    """SIGTERM stops the soak as Ctrl-C does (the board and its processes go away cleanly)."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_soak(*, minutes: float = 30.0, speed: float | None = 1.0, scenario: str = "highway_tow",
             heap: str = "100K", seed: int = 1, faults: bool = True, tolerance: int = 1024,
             every_s: float = 60.0, echo=print) -> dict:
    """Simulate, flash, replay and sum up; returns the summary (see summarise)."""
    heap_bytes(heap)  # a bad --heap fails before anything starts
    duration = minutes * 60
    dbc = load_dbc(DEFAULT_DBC)
    fault_specs = fault_mix(duration) if faults else []
    options = {"minutes": minutes, "speed": "max" if speed is None else speed, "scenario": scenario, "heap": heap,
               "seed": seed, "faults": fault_specs, "tolerance_bytes": tolerance}
    with tempfile.TemporaryDirectory(prefix="mule-soak-") as tmp:
        started = time.perf_counter()
        sim = simulate(scenario, Path(tmp) / "drive.log", duration_s=duration, seed=seed, faults=fault_specs,
                       dbc=dbc)
        echo(f"soak: simulated {scenario}, {duration:g} s, seed {seed}: {sim.frames:,} frames, "
             f"{len(sim.truth['expected_alerts'])} expected alerts, in {time.perf_counter() - started:.1f} s")
        recorder = BoardRecorder(every_s, echo)
        with contextlib.ExitStack() as stack:
            board = stack.enter_context(virtual_board(dbc, heap=heap, log=lambda text: echo(f"soak: {text}")))
            stop = stack.enter_context(ctrl_c_stops())
            stack.enter_context(sigterm_interrupts())
            port = board.port
            replay = Replay(sim.log, dbc, lambda: RecordingLink(port, dbc, recorder), port=port, speed=speed,
                            stop=stop)
            recorder.tally = replay.book.tally
            recorder.started = time.perf_counter()
            echo(f"soak: replaying {duration / 60:g} min at --speed {options['speed']} "
                 f"(Ctrl-C stops after the frames in flight)")
            result = replay.run()
    return summarise(result, recorder, heap=heap, tolerance=tolerance, options=options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the simulated drive (default 30)")
    parser.add_argument("--speed", default="1", metavar="1|N|max",
                        help="1: real time (default, the soak is a 30-minute run); N: N× faster; max")
    parser.add_argument("--scenario", default="highway_tow", help="mule simulate scenario (default highway_tow)")
    parser.add_argument("--heap", default="100K", help="the virtual board's heap (default 100K, a Pyboard's)")
    parser.add_argument("--seed", type=int, default=1, help="simulation seed (default 1)")
    parser.add_argument("--no-faults", action="store_true", help="drive without the fault mix")
    parser.add_argument("--tolerance", type=int, default=1024,
                        help="bytes the live heap's lowest free may fall from the first third to the last "
                             "before the heap counts as growing (default 1024)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between progress lines (default 60)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"summary JSON (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        speed = parse_speed(args.speed)
        heap_bytes(args.heap)
    except ValueError as exc:
        print(f"soak: error: {exc}", file=sys.stderr)
        return 2
    if not 0 < args.minutes <= 120:
        print(f"soak: error: --minutes {args.minutes:g}: give 0 < minutes <= 120", file=sys.stderr)
        return 2
    summary = run_soak(minutes=args.minutes, speed=speed, scenario=args.scenario, heap=args.heap, seed=args.seed,
                       faults=not args.no_faults, tolerance=args.tolerance, every_s=args.every)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"\nsoak: {'PASSED' if summary['ok'] else 'FAILED'}")
    for line in summary_lines(summary):
        print(f"  {line}")
    for failure in summary["failures"]:
        print(f"  failure: {failure}")
    print(f"  summary: {args.out}")
    if summary["replay"]["interrupted"]:
        return 130
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
