"""`mule demo`: a short test-mule drive decoded by cantools and by the board's decoder
(inside the MicroPython unix port), shown side by side with their agreement count."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from host_tools import DEFAULT_DBC, REPO_ROOT
from host_tools.dbc import load_dbc
from host_tools.decode import DecodeSummary, decoded_records
from host_tools.demo_drive import write_demo_log
from host_tools.verify import mismatches

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
    frames = write_demo_log(dbc, args.log, args.seconds)
    console.print(f"Wrote {frames} frames of a {args.seconds:g} s drive (2.5 t trailer, 2 % grade) to {args.log}")
    summaries = {name: DecodeSummary(name) for name in ("cantools", "firmware")}
    records = {name: list(decoded_records(args.log, dbc, name, summary=summaries[name]))
               for name in summaries}
    reference, board = records["cantools"], records["firmware"]
    disagreements = []
    if len(reference) != len(board):
        disagreements.append(f"cantools decoded {len(reference)} frames, the firmware {len(board)}")
    for want, got in zip(reference, board):
        where = f"t={want['t']:.3f} {want['msg']}"
        if (want["t"], want["id"], want["msg"]) != (got["t"], got["id"], got["msg"]):
            disagreements.append(f"{where}: frame order differs")
            continue
        message = dbc.database.get_message_by_name(want["msg"])
        disagreements += [f"{where}: {p}" for p in
                          mismatches(message, want["raw"], want["phys"], got["raw"], got["phys"])]
    _table(console, reference, board)
    for summary in summaries.values():
        for line in summary.lines():
            console.print(f"  {line}")
    agreed = len(reference) - len({d.split(":")[0] for d in disagreements})
    colour = "green" if not disagreements else "red"
    console.print(f"[{colour}]Agreement: {agreed} of {len(reference)} decoded frames identical "
                  f"(raw bit for bit, physical to float32)[/{colour}]")
    for line in disagreements[:20]:
        console.print(f"  [red]{line}[/red]")
    return 0 if not disagreements else 1


def _table(console: Console, reference: list, board: list) -> None:
    """One row per second: the board's latest values, ticked where cantools agrees."""
    table = Table(title="Test mule, decoded on the (virtual) board · ✓ = equals cantools")
    table.add_column("t s", justify="right")
    for _, _, heading in COLUMNS:
        table.add_column(heading, justify="right")
    latest: dict = {}
    start = reference[0]["t"] if reference else 0.0
    next_row = start + 0.5  # every message has been sent at least once by then
    for want, got in zip(reference, board):
        latest[want["msg"]] = (want, got)
        if want["t"] >= next_row:
            cells = []
            for msg, signal, _ in COLUMNS:
                if msg not in latest:
                    cells.append("–")
                    continue
                w, g = latest[msg]
                tick = "✓" if w["raw"].get(signal) == g["raw"].get(signal) else "✗"
                value = g["phys"].get(signal)
                cells.append(f"{value:.1f} {tick}" if isinstance(value, float) else f"{value} {tick}")
            table.add_row(f"{want['t'] - start:.1f}", *cells)
            next_row += 1.0
    console.print(table)


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="decode a short test-mule drive with cantools and the board's decoder",
        description="Write a short test-mule drive as a candump log, decode it with cantools "
                    "and with the generated decoder inside MicroPython, and compare.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dbc", type=Path, default=DEFAULT_DBC, help="DBC file")
    parser.add_argument("--log", type=Path, default=REPO_ROOT / "build" / "demo" / "demo_drive.log",
                        help="where to write the drive's log")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the drive")
    parser.set_defaults(func=_do_demo)
