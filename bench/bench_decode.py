"""`make bench`: decoder speed and heap, measured in one run against cantools.

Same random valid frames of the project DBC for every contender:
  - cantools `Database.decode_message` in CPython (the reference),
  - the generated decoder inside the MicroPython unix port: raw path (lookup +
    decode_raw, what the board does per frame) and physical path (+ phys_value of every
    signal), viper and plain bytecode, and heap bytes allocated per frame,
  - `mule decode` end to end on a candump log, both engines.
Figures are noisy (±30 %); the ratios are what counts.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import can

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.decode import DecodeSummary, decoded_records  # noqa: E402
from host_tools.mp_bench import measure_decoder  # noqa: E402
from host_tools.sample_frames import random_frame  # noqa: E402


def cantools_rate(dbc, frames, rounds: int) -> float:
    """Frames/s of the best of `rounds` passes, as the MicroPython side is measured."""
    decode = dbc.database.decode_message
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in frames:
            decode(frame.can_id, frame.data)
        best = min(best, time.perf_counter() - start)
    return len(frames) / best


def mp_rates(dbc, frames, rounds: int, heap="16M", mode="viper") -> dict:
    result = measure_decoder(dbc, frames, rounds=rounds, heap=heap, mode=mode)
    n = result["frames"]
    return {
        "raw_fps": n / (result["raw"]["us"] / 1e6),
        "hot_fps": n / (result["hot"]["us"] / 1e6),
        "hot_alloc": result["hot"]["alloc_bytes"] / n,
        "phys_fps": n / (result["phys"]["us"] / 1e6),
        "raw_alloc": result["raw"]["alloc_bytes"] / n,
        "phys_alloc": result["phys"]["alloc_bytes"] / n,
    }


def decode_log_rate(dbc, frames, engine: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "bench.log"
        with can.CanutilsLogWriter(str(log)) as writer:
            for i, f in enumerate(frames):
                writer.on_message_received(can.Message(timestamp=i * 1e-4, arbitration_id=f.can_id,
                                                       is_extended_id=f.ext, data=f.data))
        start = time.perf_counter()
        summary = DecodeSummary(engine)
        count = sum(1 for _ in decoded_records(log, dbc, engine, summary=summary))
        elapsed = time.perf_counter() - start
    assert count == len(frames), summary.lines()
    return count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    dbc = load_dbc(DEFAULT_DBC)
    rnd = random.Random(2026)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(args.frames)]
    print(f"mule decode benchmark: {len(frames)} random valid frames of {DEFAULT_DBC.name}, "
          f"{len(dbc.messages)} messages\n")

    reference = cantools_rate(dbc, frames, max(3, args.rounds // 4))
    rows = [("cantools decode_message (CPython)", reference, None, None)]
    for mode in ("viper", "plain"):
        r = mp_rates(dbc, frames, args.rounds, mode=mode)
        rows.append((f"generated {mode}, raw: decode() (MicroPython)", r["raw_fps"], r["raw_alloc"], None))
        rows.append((f"generated {mode}, raw: hot loop (MicroPython)", r["hot_fps"], r["hot_alloc"], None))
        rows.append((f"generated {mode}, physical (MicroPython)", r["phys_fps"], r["phys_alloc"], None))
    small = mp_rates(dbc, frames[:150], args.rounds * 60, heap="100K")
    rows.append(("generated viper, raw: decode(), 100K heap", small["raw_fps"], small["raw_alloc"], None))

    print(f"{'decoder':44} {'frames/s':>12} {'× cantools':>11} {'heap B/frame':>13}")
    for name, fps, alloc, _ in rows:
        alloc_text = "-" if alloc is None else f"{alloc:.1f}"
        print(f"{name:44} {fps:12,.0f} {fps / reference:10.1f}× {alloc_text:>13}")

    print("\nmule decode, end to end on a candump log (read + decode + JSON):")
    ref_log = decode_log_rate(dbc, frames, "cantools")
    fw_log = decode_log_rate(dbc, frames, "firmware")
    print(f"{'  --engine cantools':44} {ref_log:12,.0f} {1.0:10.1f}×")
    print(f"{'  --engine firmware':44} {fw_log:12,.0f} {fw_log / ref_log:10.1f}×")

    decode_row, hot_row = rows[1], rows[2]
    hot_ok = hot_row[1] >= 10 * reference and hot_row[2] == 0 and decode_row[2] == 0
    print(f"\ntarget (raw decoder ≥ 10× cantools, 0 B/frame): {'met' if hot_ok else 'NOT met'} by the "
          f"firmware's hot loop ({hot_row[1] / reference:.1f}×, {hot_row[2]:.1f} B/frame); "
          f"the one-call decode() reaches {decode_row[1] / reference:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
