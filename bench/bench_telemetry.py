"""TELEMETRY bytes per frame, telemetry "all" vs "changed" (docs/protocol.md), on a busy
bus: the simulator's highway_tow at 60 % bus load replayed to the board (app.Board in the
unix port, the firmware mule flash builds); what the board wrote, counted on the wire
(frames, COBS and delimiters included), against a UART at 115,200 baud (~11.5 kB/s)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "firmware"))

from host_tools import DEFAULT_DBC  # noqa: E402
from host_tools.dbc import load_dbc  # noqa: E402
from host_tools.flash import build_firmware  # noqa: E402
from host_tools.link import messages as m  # noqa: E402
from host_tools.logfile import read_frames  # noqa: E402
from host_tools.link.wire import encode_frame  # noqa: E402
from host_tools.simulate.run import simulate  # noqa: E402
from host_tools.telemetry_changed import deadband_bytes, deadbands  # noqa: E402
from test_telemetry_changed import deadband_table, run_board  # noqa: E402

UART_115200 = 11_520  # bytes/s: 10 bits a byte


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenario", default="highway_tow")
    parser.add_argument("--bus-load", type=float, default=60)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--refresh-ms", type=int, default=1000)
    args = parser.parse_args()
    dbc = load_dbc(DEFAULT_DBC)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        log = tmp / "busy.log"
        simulate(args.scenario, log, duration_s=args.seconds, bus_load_pct=args.bus_load, dbc=dbc)
        frames = list(read_frames(log))
        span = frames[-1].t - frames[0].t
        fw = tmp / "fw"
        build_firmware(dbc, fw, "x64", {"mode": "replay"})
        runs = [("all", {"telemetry": "all"}, None),  # None: the DBC's deadbands, as mule flash ships them
                ("changed", {"telemetry": "changed", "refresh_ms": args.refresh_ms}, None),
                ("changed, 2 raw steps", {"telemetry": "changed", "refresh_ms": args.refresh_ms},
                 deadband_bytes(deadband_table(dbc, 2)))]
        print(f"TELEMETRY on {args.seconds:g} s of {args.scenario} at {args.bus_load:g} % bus load "
              f"({len(frames):,} frames, {len(frames) / span:,.0f}/s), refresh {args.refresh_ms} ms:")
        for name, config, table in runs:
            out, _ = run_board(fw, frames, tmp, table or deadband_bytes(deadbands(dbc)), **config)
            tm = [f for f in out if f.type == m.TELEMETRY]
            wire = sum(len(encode_frame(f.type, f.seq, f.body)) for f in tm)
            per_s = wire / span
            print(f"  {name:<22} {wire / len(frames):6.2f} B/frame on the wire, {per_s / 1000:7.1f} kB/s: "
                  f"{100 * per_s / UART_115200:5.0f} % of a UART at 115,200 baud")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
