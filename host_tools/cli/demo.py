"""`mule demo`: the main job end to end on a virtual board. Start it, flash it with
mpremote, stream a short test-mule drive over the link, show the telemetry it sends back
next to cantools' values, account for every frame, stop the board."""

from __future__ import annotations

import argparse
import shutil

from rich.console import Console
from rich.table import Table

from host_tools import BUILD_DIR
from host_tools.cli.args import positive_float, writable_file
from host_tools.text import printable
from host_tools.dbc import load_dbc
from host_tools.flash import flash
from host_tools.link.session import BoardLink
from host_tools.simulate import simulate
from host_tools.cli.options import add_command, add_dbc, add_virtual_board
from host_tools.replay import replay
from host_tools.replay.board import DESCRIPTIONS
from host_tools.vboard import open_board

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
    board_dir = args.log.parent / "vboard"
    shutil.rmtree(board_dir, ignore_errors=True)
    board_dir.mkdir(parents=True)
    table = _Table(dbc)
    with open_board(args.board, board_dir, args.heap) as board:
        console.print(f"2. Virtual board on {board.port} ({DESCRIPTIONS[board.kind]}, heap {board.heap // 1024}K)")
        flash(dbc, board.port, {"mode": "replay"}, args.log.parent / "flash",
              log=lambda text: console.print(f"   {printable(text)}", markup=False, highlight=False))
        # the log as `mule replay` streams it, as fast as the board's credit allows: every frame
        # checked against cantools, every alert against the simulator's sidecar
        result = replay(args.log, dbc, board.port, on_decoded=table.add)
        with BoardLink(board.port, dbc) as link:
            link.stop()  # back to its REPL
    t = result.tally
    console.print(f"3. Streamed {t.sent} frames over the link in {result.seconds:.2f} s "
                  f"({result.frames_per_second:,.0f} frames/s, "
                  f"{result.wire_bytes / max(t.sent, 1):.1f} wire bytes per frame)")
    console.print(table.render())
    s = result.board_stats
    if s:
        console.print(f"   board STATS: received {s['frames_received']}, decoded {s['frames_decoded']}, "
                      f"unknown ids {s['unknown_ids']}, link errors {s['link_crc_errors'] + s['link_bad_frames']}, "
                      f"heap free {s['heap_free']} B")
    ok = result.ok
    colour = "green" if ok else "red"
    lost = t.sent - t.verified - t.mismatched
    console.print(f"[{colour}]4. Verified {t.verified} of {t.sent} frames against cantools "
                  f"({t.outcomes.get('decoded', 0)} decoded, {t.outcomes.get('unknown_id', 0)} with ids the DBC "
                  f"lacks, counted), lost {lost}, mismatched {t.mismatched}; alerts: "
                  f"{result.alert_check.status}[/{colour}]")
    for mismatch in result.mismatches[:20]:
        console.print(printable(f"  frame {mismatch.frame}: {mismatch.message} {mismatch.signal}: "
                                f"cantools {mismatch.expected!r}, board {mismatch.got!r}"),
                      style="red", markup=False, highlight=False)
    console.print("5. Board stopped.")
    return 0 if ok else 1


class _Table:
    """One row per second of the drive: the board's latest values (each frame's raw values
    verified against cantools before it gets here; physical values as scale and offset
    give them)."""

    def __init__(self, dbc):
        self.messages = dbc.messages
        self.latest: dict = {}
        self.rows: list = []
        self.start = None
        self.next_row = None

    def add(self, mi: int, t: float, raw: dict) -> None:
        if self.start is None:
            self.start, self.next_row = t, t + 0.5  # every message has been sent at least once by then
        self.latest[self.messages[mi].name] = (mi, raw)
        if t < self.next_row:
            return
        cells = []
        for msg, signal, _ in COLUMNS:
            if msg not in self.latest:
                cells.append("–")
                continue
            mi, values = self.latest[msg]
            sig = self.messages[mi].get_signal_by_name(signal)
            value = values[signal] * sig.scale + sig.offset
            cells.append(f"{value:.1f} ✓" if isinstance(value, float) else f"{value} ✓")
        self.rows.append((f"{t - self.start:.1f}", cells))
        self.next_row += 1.0

    def render(self) -> Table:
        table = Table(title="Telemetry from the virtual board · ✓ = raw value equals cantools'")
        table.add_column("t s", justify="right")
        for _, _, heading in COLUMNS:
            table.add_column(heading, justify="right")
        for t, cells in self.rows:
            table.add_row(t, *cells)
        return table


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "demo", "the main job on a virtual board: flash, stream a drive, verify",
        "Start a virtual board, flash it with mpremote, stream a short test-mule drive "
        "to it over the link, and show its telemetry next to cantools' values.")
    add_dbc(parser)
    parser.add_argument("--log", type=writable_file, default=BUILD_DIR / "demo" / "highway_tow.log",
                        help="where to write the drive's log")
    parser.add_argument("--seconds", type=positive_float, default=15.0, help="length of the drive")
    add_virtual_board(parser, "the virtual board's heap (a Pyboard has ~100K)",
                      "the virtual board: unix = MicroPython's unix port, qemu = an emulated Pyboard "
                      "(Cortex-M4F, float32; docs/hardware.md)")
    parser.set_defaults(func=_do_demo)
