"""`make bench`: `mule replay` through the virtual board.

1. Throughput at --speed max: a simulated tow drive (its own traffic only, then on a busy
   bus) streamed under credit flow control, every value verified against cantools.
2. Verification per frame against cantools decoding alone: what the host spends on one
   frame's answer (TELEMETRY parsed, checked against cantools' raw values) vs
   `decode_message(..., scaling=False, decode_choices=False)`, the raw decode it includes;
   median and best of 7 passes.
3. Timing at --speed 1: a log at 5,000 frames/s (python-can's player needs 324 s for 120 s
   of such a log, python-can#1372); the replay's duration against the log's, and each
   frame's send time against its schedule.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import can  # noqa: E402

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.flash import build_firmware  # noqa: E402
from host_tools.link import messages as m  # noqa: E402
from host_tools.logfile import read_frames  # noqa: E402
from host_tools.replay import replay  # noqa: E402
from host_tools.replay.check import Checker  # noqa: E402
from host_tools.replay.loopback import LoopbackBoard  # noqa: E402
from host_tools.sample_frames import random_frame  # noqa: E402
from host_tools.simulate import simulate  # noqa: E402
from host_tools.vboard import VirtualBoard  # noqa: E402


def throughput(dbc, port, folder: Path) -> None:
    print("1. --speed max through the virtual board (heap 100K), every frame verified")
    print(f"   {'log':34} {'frames':>8} {'decoded':>8} {'frames/s':>9} {'verified':>9} {'lost':>5} "
          f"{'p50 ms':>7} {'p99 ms':>7}")
    for label, load in (("highway_tow 60 s, truck only", None), ("highway_tow 20 s, bus load 60 %", 60)):
        seconds = 60 if load is None else 20
        log = simulate("highway_tow", folder / f"tow_{load}.log", duration_s=seconds, seed=1, bus_load_pct=load,
                       dbc=dbc).log
        result = replay(log, dbc, port, speed=None, board_stats=False)
        d = result.as_dict()
        print(f"   {label:34} {d['frames_sent']:8,} {d['frames_decoded']:8,} {d['throughput_fps']:9,.0f} "
              f"{d['frames_verified']:9,} {d['frames_lost']:5} {d['latency']['p50_ms']:7.2f} "
              f"{d['latency']['p99_ms']:7.2f}")


def verification_cost(dbc, folder: Path) -> None:
    log = simulate("highway_tow", folder / "cost.log", duration_s=120, seed=2, dbc=dbc).log
    frames = [f for f in read_frames(log) if f.kind == "data"]  # the truck's own: all decoded
    board = LoopbackBoard(dbc)  # the board's answers, built once, as the wire carries them
    records = [board._decode(n, m.CanRecord(0, f.can_id, f.ext, bytes(f.data))) for n, f in enumerate(frames)]
    bodies = [m.Telemetry(tuple(records[k:k + 20])).encode() for k in range(0, len(records), 20)]
    wide = m.wide_signals(dbc)
    database = dbc.database
    checker = Checker(dbc)

    def per_frame(fn, rounds=7) -> tuple[float, float]:
        """(median, best) µs per frame."""
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return statistics.median(times) / len(frames) * 1e6, min(times) / len(frames) * 1e6

    def cantools_alone():  # the raw decode the check makes: like against like
        for f in frames:
            database.decode_message(f.can_id, f.data, scaling=False, decode_choices=False)

    def check_only():
        for n, f in enumerate(frames):
            checker.check(n, f, [records[n]])

    def parse_and_check():
        n = 0
        for body in bodies:
            for record in m.Telemetry.decode(body, wide).records:
                checker.check(n, frames[n], [record])
                n += 1

    alone = per_frame(cantools_alone)
    check = per_frame(check_only)
    full = per_frame(parse_and_check)
    print(f"\n2. verification per decoded frame ({len(frames):,} frames of a 120 s tow, all of the DBC), "
          "µs median (best) of 7 passes, CPython; ratios of medians")
    print(f"   cantools raw decode_message alone           {alone[0]:6.2f} ({alone[1]:5.2f})")
    print(f"   check against cantools (replay.check)       {check[0]:6.2f} ({check[1]:5.2f})   "
          f"{check[0] / alone[0]:4.1f}×")
    print(f"   TELEMETRY parsed + checked (the replay's)   {full[0]:6.2f} ({full[1]:5.2f})   "
          f"{full[0] / alone[0]:4.1f}×")


def timing(dbc, port, folder: Path, seconds: float, rate: int) -> None:
    rnd = random.Random(5)
    log = folder / "steady.log"
    with can.Logger(str(log)) as writer:
        for k in range(int(seconds * rate)):
            f = random_frame(dbc, rnd, faults=False)
            writer.on_message_received(can.Message(timestamp=1_700_000_000 + k / rate, arbitration_id=f.can_id,
                                                   is_extended_id=f.ext, data=f.data, channel="can0"))
    started = time.perf_counter()
    result = replay(log, dbc, port, speed=1.0, board_stats=False)
    d = result.as_dict()
    t, du = d["timing_error"], d["duration"]
    print(f"\n3. --speed 1: {du['log_s']:.1f} s of log at {rate:,} frames/s ({d['frames_sent']:,} frames), "
          f"verified {d['frames_verified']:,}, lost {d['frames_lost']}")
    print(f"   replay took {du['wall_s']:.3f} s (error {du['error_pct']:+.3f} %); whole run "
          f"{time.perf_counter() - started:.1f} s")
    print(f"   send time vs schedule: p50 {t['p50_ms']:.3f} ms, p99 {t['p99_ms']:.3f} ms, max {t['max_ms']:.3f} ms")
    print(f"   target: duration within ±1 % of the log's: {'met' if abs(du['error_pct']) <= 1 else 'NOT met'} "
          f"({du['error_pct']:+.3f} %)")
    print(f"   target: every frame sent within 2 ms of its schedule: "
          f"{'met' if t['within_2ms_pct'] >= 100 else 'NOT met'} ({t['within_2ms_pct']:.2f} % within 2 ms)")
    print(f"   target: no frame lost: {'met' if d['frames_lost'] == 0 else 'NOT met'} ({d['frames_lost']} lost)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the --speed 1 log")
    parser.add_argument("--rate", type=int, default=5000, help="frames per second of the --speed 1 log")
    args = parser.parse_args()
    dbc = load_dbc(DEFAULT_DBC)
    print("\nmule replay benchmarks (virtual board: MicroPython unix port, in this process's relay thread)\n")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        board_dir = folder / "board"
        build_firmware(dbc, board_dir, "x64", {"mode": "replay"})
        with VirtualBoard(board_dir, heap="100K") as board:
            throughput(dbc, board.port, folder)
            verification_cost(dbc, folder)
            timing(dbc, board.port, folder, args.seconds, args.rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
