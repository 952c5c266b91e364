"""`make bench`: decoder speed and heap, measured in one run against cantools.

Same random valid frames of the project DBC for every contender, like against like:
  - raw values: cantools `decode_message(id, data, scaling=False, decode_choices=False)`
    in CPython against the generated decoder's raw path in the MicroPython unix port
    (decode(), and the firmware's hot loop with the key and length computed per frame);
  - physical values: cantools `decode_message(id, data, decode_choices=False)` against
    decode() + phys_value of every signal (neither names choices);
  - viper and plain bytecode, and heap bytes allocated per frame;
  - `mule decode` end to end on a candump log, both engines.
Every rate is shown for the median and the best pass; the ratios use the median of each
side. Figures are noisy (±30 %) on a shared machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
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


def cantools_rates(dbc, frames, rounds: int, **options) -> tuple[float, float]:
    """(median, best) frames/s of `rounds` passes of decode_message with `options`."""
    decode = dbc.database.decode_message
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for frame in frames:
            decode(frame.can_id, frame.data, **options)
        times.append(time.perf_counter() - start)
    return len(frames) / statistics.median(times), len(frames) / min(times)


def mp_rates(dbc, frames, rounds: int, heap="16M", mode="viper") -> dict:
    """path -> (median frames/s, best frames/s, heap bytes per frame)."""
    result = measure_decoder(dbc, frames, rounds=rounds, heap=heap, mode=mode)
    n = result["frames"]
    return {path: (n / (result[path]["median_us"] / 1e6), n / (result[path]["us"] / 1e6),
                   result[path]["alloc_bytes"] / n) for path in ("raw", "hot", "phys")}


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
          f"{len(dbc.messages)} messages; frames/s as median (best) of the passes, ratios of medians\n")

    cantools_rounds = max(5, args.rounds // 4)
    ref = {"raw": cantools_rates(dbc, frames, cantools_rounds, scaling=False, decode_choices=False),
           "phys": cantools_rates(dbc, frames, cantools_rounds, decode_choices=False)}
    rows = [("raw", "cantools, scaling=False, decode_choices=False", ref["raw"], None),
            ("phys", "cantools, decode_choices=False", ref["phys"], None)]
    measured = {}
    for mode in ("viper", "plain"):
        r = measured[mode] = mp_rates(dbc, frames, args.rounds, mode=mode)
        rows.append(("raw", f"generated {mode}: decode()", r["raw"][:2], r["raw"][2]))
        rows.append(("raw", f"generated {mode}: firmware hot loop", r["hot"][:2], r["hot"][2]))
        rows.append(("phys", f"generated {mode}: decode() + phys_value", r["phys"][:2], r["phys"][2]))
    small = mp_rates(dbc, frames[:150], args.rounds * 60, heap="100K")
    rows.append(("raw", "generated viper: decode(), 100K heap", small["raw"][:2], small["raw"][2]))

    for kind, title in (("raw", "raw values"), ("phys", "physical values")):
        print(f"{title:48} {'frames/s median (best)':>24} {'× cantools':>11} {'heap B/frame':>13}")
        for row_kind, name, (median, best), alloc in rows:
            if row_kind != kind:
                continue
            alloc_text = "-" if alloc is None else f"{alloc:.1f}"
            rate = f"{median:,.0f} ({best:,.0f})"
            print(f"  {name:46} {rate:>24} {median / ref[kind][0]:10.1f}× {alloc_text:>13}")
        print()

    print("mule decode, end to end on a candump log (read + decode + JSON), one pass each:")
    ref_log = decode_log_rate(dbc, frames, "cantools")
    fw_log = decode_log_rate(dbc, frames, "firmware")
    print(f"  {'--engine cantools':46} {ref_log:>24,.0f} {1.0:10.1f}×")
    print(f"  {'--engine firmware':46} {fw_log:>24,.0f} {fw_log / ref_log:10.1f}×")

    hot_median, _, hot_alloc = measured["viper"]["hot"]
    raw_alloc = measured["viper"]["raw"][2]
    ratio = hot_median / ref["raw"][0]
    print("\ntargets (issue 1):")
    print(f"  raw decode ≥ 10× cantools' raw decode, firmware hot loop (median): {ratio:.1f}× — "
          f"{'met' if ratio >= 10 else 'NOT met'}")
    print(f"  0 heap bytes per frame on the raw path (hot loop {hot_alloc:.1f}, decode() {raw_alloc:.1f}): "
          f"{'met' if hot_alloc == 0 and raw_alloc == 0 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
