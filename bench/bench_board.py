"""`make bench`: frames per second end to end through the virtual board, and wire bytes
per CAN frame against the minimum (4-byte id + DLC + data).

The host streams random valid frames of the project DBC over the link as fast as the
board's credit allows; the board decodes each and sends TELEMETRY back; the host checks
every value against cantools. Zero loss is part of the figure. Targets (issue 3): at
least 5,000 frames/s sustained, at most 6 bytes of overhead per frame.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.flash import build_firmware  # noqa: E402
from host_tools.replay import replay  # noqa: E402
from host_tools.sample_frames import random_frame  # noqa: E402
from host_tools.vboard import VirtualBoard  # noqa: E402


def run(dbc, frames, heap):
    """`mule replay`'s streamer and checker, as fast as credit allows; the host's supervision
    reference is not part of the figure."""
    with tempfile.TemporaryDirectory() as tmp:
        build_firmware(dbc, Path(tmp), "x64", {"mode": "replay"})
        with VirtualBoard(tmp, heap=heap) as board:
            return replay(frames, dbc, board.port, board_stats=False, reference=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50000)
    args = parser.parse_args()
    dbc = load_dbc(DEFAULT_DBC)
    rnd = random.Random(3)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(args.frames)]
    minimum = sum(4 + 1 + len(f.data) for f in frames) / len(frames)
    print(f"\nvirtual board end to end: {len(frames)} random valid frames of {DEFAULT_DBC.name}, "
          "replayed at full speed under credit flow control, every value checked against cantools\n")
    print(f"{'board heap':12} {'frames/s':>10} {'verified':>10} {'lost':>6} {'wire B/frame':>13} "
          f"{'minimum':>8} {'overhead':>9}")
    ok = True
    for heap in ("100K", None):
        result = run(dbc, frames, heap)
        t = result.tally
        per_frame = result.wire_bytes / t.sent
        print(f"{heap or 'default':12} {result.frames_per_second:10,.0f} {t.verified:10,} "
              f"{t.lost:6} {per_frame:13.2f} {minimum:8.2f} {per_frame - minimum:9.2f}")
        ok &= result.frames_per_second >= 5000 and result.ok and per_frame - minimum <= 6
    print(f"\ntargets (≥ 5,000 frames/s with zero loss, ≤ 6 bytes overhead per frame): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
