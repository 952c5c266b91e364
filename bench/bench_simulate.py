"""`make bench`: how fast `mule simulate` makes traffic, in simulated seconds per wall second.

Every scenario, full traffic of the truck (143 frames/s, no faults), written as .blf and as
.log; the median and the best of a few runs, each from scratch (DBC load, physics, frames,
sidecar). The target: highway_tow as .blf at least 200x real time, judged on the median.
Figures are noisy (±30 %).
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

from host_tools.simulate import SCENARIOS, simulate  # noqa: E402
from host_tools.simulate import physics  # noqa: E402
from host_tools.simulate.battery import PackSpec  # noqa: E402
from host_tools.simulate.vehicle import TrailerSpec, TruckSpec  # noqa: E402

TARGET = 200.0


def rate(scenario: str, suffix: str, seconds: float, folder: Path, repeats: int,
         bus_load: float | None = None) -> tuple[float, float, int]:
    """(median, best simulated s per wall s, frames) for one scenario and format over `repeats` runs."""
    speeds = []
    frames = 0
    for k in range(repeats):
        start = time.perf_counter()
        result = simulate(scenario, folder / f"{scenario}{suffix}", duration_s=seconds, seed=k,
                          bus_load_pct=bus_load)
        speeds.append(seconds / (time.perf_counter() - start))
        frames = result.frames
    return statistics.median(speeds), max(speeds), frames


def physics_rate(seconds: float) -> float:
    """highway_tow's physics alone, simulated s per wall s."""
    story = SCENARIOS["highway_tow"]
    p = story.params
    start = time.perf_counter()
    physics.run(TruckSpec(), TrailerSpec(p.trailer_mass_kg, p.tongue_fraction, p.trailer_frontal_area_m2),
                PackSpec(), story.build(p, random.Random(0)), seconds, soc_pct=p.soc_pct,
                pack_temp_c=p.pack_temp_c, soh_pct=p.soh_pct, ambient_c=p.ambient_temp_c, weak_cell=0, seed=0)
    return seconds / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="simulated seconds per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median and best shown)")
    args = parser.parse_args()

    print(f"mule simulate benchmark: {args.seconds:g} simulated s per run, median (best) of {args.repeats}\n")
    print(f"{'scenario':22} {'format':6} {'frames':>8} {'sim s / wall s':>20} {'vs 200x':>8}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in SCENARIOS:
            for suffix in (".blf", ".log"):
                speed, best, frames = rate(name, suffix, args.seconds, folder, args.repeats)
                results[(name, suffix)] = speed
                figure = f"{speed:,.0f}x ({best:,.0f}x)"
                print(f"{name:22} {suffix:6} {frames:8,} {figure:>20} {speed / TARGET:7.2f}")
        busy, _, frames = rate("highway_tow", ".blf", args.seconds / 4, folder, 1, bus_load=30)
        print(f"{'highway_tow, 30% load':22} {'.blf':6} {frames:8,} {busy:19,.0f}x  (one run; other ECUs' frames too)")
    print(f"\nhighway_tow physics alone (10 ms steps, one run): {physics_rate(args.seconds):,.0f}x real time")
    speed = results[("highway_tow", ".blf")]
    verdict = "met" if speed >= TARGET else "NOT met"
    print(f"target (highway_tow as .blf >= {TARGET:.0f}x real time, median): {verdict} at {speed:,.0f}x "
          f"({speed / TARGET:.2f} of the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
