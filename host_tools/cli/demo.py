"""`mule demo`: the main job end to end on a virtual board. Start it, flash it with
mpremote, stream a short test-mule drive over the link, show the telemetry it sends back
next to cantools' values, account for every frame, stop the board."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rich.console import Console
from rich.table import Table

from host_tools import DEFAULT_DBC, REPO_ROOT
from host_tools.board_stream import stream_frames, verify
from host_tools.cli.args import positive_float, writable_file
from host_tools.text import printable
from host_tools.dbc import load_dbc
from host_tools.engines.cantools_engine import decode_one
from host_tools.flash import flash
from host_tools.link.messages import Stats
from host_tools.link.session import BoardLink
from host_tools.logfile import read_frames
from host_tools.simulate import simulate
from host_tools.cli.vboard import heap_arg
from host_tools.replay.board import DESCRIPTIONS
from host_tools.vboard import BOARDS, open_board

COLUMNS = (  # (message, signal, heading)
    ("HitchLoad", "tongue_load_kg", "tongue kg"),
    ("HitchLoad", "drawbar_force_n", "drawbar N"),
    ("HitchLoad", "hitch_angle_deg", "angle °"),
    ("BmsPackStatus", "pack_voltage_v", "pack V"),
    ("BmsPackStatus", "pack_current_a", "pack A"),
    ("BmsPackStatus", "soc_pct", "SOC %"),
    ("BmsCellStats", "cell_v_min_mv", "cell min mV"),
    ("BmsCellStats", "cell_v_max_mv", "cell max mV"),
)


def _do_demo(args: argparse.Namespace) -> int:
    console = Console()
    console.width = max(console.width, 110)  # the table needs it, even in a narrow CI log
    dbc = load_dbc(args.dbc)
    drive = simulate("highway_tow", args.log, duration_s=args.seconds, seed=1, bus_load_pct=4, dbc=dbc)
    background = drive.truth["frames"]["background"]
    console.print(f"1. Simulated {args.seconds:g} s of highway_tow (3.2 t trailer) with other ECUs on the bus: "
                  f"{drive.frames} frames ({background} with ids the DBC lacks), {printable(args.log)}", markup=False)
    frames = [f for f in read_frames(args.log) if f.kind == "data"]
    board_dir = args.log.parent / "vboard"
    shutil.rmtree(board_dir, ignore_errors=True)
    board_dir.mkdir(parents=True)
    with open_board(args.board, board_dir, args.heap) as board:
        console.print(f"2. Virtual board on {board.port} ({DESCRIPTIONS[board.kind]}, heap {board.heap // 1024}K)")
        flash(dbc, board.port, {"mode": "replay"}, args.log.parent / "flash",
              log=lambda text: console.print(f"   {printable(text)}", markup=False, highlight=False))
        with BoardLink(board.port, dbc) as link:
            link.sync()
            result = stream_frames(link, frames)
            report = verify(dbc, frames, result)
            stats = [s for s in (link.wait_for(Stats, timeout=3.0),) if s is not None]
            console.print(f"3. Streamed {result.sent} frames over the link in {result.seconds:.2f} s "
                          f"({result.frames_per_second:,.0f} frames/s, "
                          f"{result.wire_bytes / max(result.sent, 1):.1f} wire bytes per frame)")
            _table(console, dbc, frames, report.outcomes)
            link.stop()
    decoded = sum(1 for o in report.outcomes.values() if o.status == "decoded")
    unknown = sum(1 for o in report.outcomes.values() if o.status == "unknown_id")
    if stats:
        s = stats[-1]
        console.print(f"   board STATS: received {s.frames_received}, decoded {s.frames_decoded}, "
                      f"unknown ids {s.unknown_ids}, link errors {s.link_crc_errors + s.link_bad_frames}, "
                      f"heap free {s.heap_free} B")
    ok = report.ok and report.verified == len(frames)
    colour = "green" if ok else "red"
    console.print(f"[{colour}]4. Verified {report.verified} of {len(frames)} frames against cantools "
                  f"({decoded} decoded, {unknown} with ids the DBC lacks, counted), "
                  f"lost {len(report.lost)}, mismatched {len(report.problems)}[/{colour}]")
    for number, problem in report.problems[:20]:
        console.print(printable(f"  frame {number}: {problem}"), style="red", markup=False, highlight=False)
    console.print("5. Board stopped.")
    return 0 if ok else 1


def _table(console: Console, dbc, frames, outcomes: dict) -> None:
    """One row per second of the drive: the board's latest values, ticked where cantools agrees."""
    table = Table(title="Telemetry from the virtual board · ✓ = equals cantools")
    table.add_column("t s", justify="right")
    for _, _, heading in COLUMNS:
        table.add_column(heading, justify="right")
    latest: dict = {}
    start = frames[0].t if frames else 0.0
    next_row = start + 0.5  # every message has been sent at least once by then
    for number, frame in enumerate(frames):
        got = outcomes.get(number)
        if got is None or got.status != "decoded":
            continue
        latest[got.msg] = (frame, got)
        if frame.t < next_row:
            continue
        cells = []
        for msg, signal, _ in COLUMNS:
            if msg not in latest:
                cells.append("–")
                continue
            source, board_value = latest[msg]
            want = decode_one(dbc, source.can_id, source.ext, bytes(source.data))
            tick = "✓" if want.raw.get(signal) == board_value.raw.get(signal) else "✗"
            value = board_value.phys.get(signal)
            cells.append(f"{value:.1f} {tick}" if isinstance(value, float) else f"{value} {tick}")
        table.add_row(f"{frame.t - start:.1f}", *cells)
        next_row += 1.0
    console.print(table)


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="the main job on a virtual board: flash, stream a drive, verify",
        description="Start a virtual board, flash it with mpremote, stream a short test-mule drive "
                    "to it over the link, and show its telemetry next to cantools' values.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dbc", type=Path, default=DEFAULT_DBC, help="DBC file")
    parser.add_argument("--log", type=writable_file, default=REPO_ROOT / "build" / "demo" / "highway_tow.log",
                        help="where to write the drive's log")
    parser.add_argument("--seconds", type=positive_float, default=15.0, help="length of the drive")
    parser.add_argument("--heap", type=heap_arg, default="100K", help="the virtual board's heap (a Pyboard has ~100K)")
    parser.add_argument("--board", choices=BOARDS, default="unix",
                        help="the virtual board: unix = MicroPython's unix port, qemu = an emulated Pyboard "
                             "(Cortex-M4F, float32; docs/hardware.md)")
    parser.set_defaults(func=_do_demo)
