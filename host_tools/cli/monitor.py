"""`mule monitor --port PORT`: a live dashboard of a board's telemetry, optionally recorded
as a CAN log that `mule replay` and `mule decode` read back."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.live import Live

from host_tools.cli.args import positive_float, writable_file
from host_tools.cli.options import add_command, add_dbc, add_reconnect_timeout
from host_tools.cli.replay import ctrl_c_stops
from host_tools.dbc import load_dbc
from host_tools.link.session import BoardLink
from host_tools.monitor import Dashboard, Recorder, run_monitor
from host_tools.text import printable


def _do_monitor(args: argparse.Namespace) -> int:
    dbc = load_dbc(args.dbc)
    console = Console()
    dashboard = Dashboard(dbc, args.port)
    try:
        recorder = Recorder(args.record, dbc) if args.record else None
    except ValueError as exc:
        Console(stderr=True).print(f"mule monitor: error: {printable(exc)}", markup=False, highlight=False)
        return 2
    try:
        with ctrl_c_stops() as stop:
            if console.is_terminal:
                with Live(dashboard.render(), console=console, refresh_per_second=4, screen=False) as live:
                    run_monitor(lambda: BoardLink(args.port, dbc), dbc, dashboard, recorder=recorder,
                                duration=args.duration, stop=stop, refresh=lambda: live.update(dashboard.render()),
                                reconnect_s=args.reconnect_timeout)
                    live.update(dashboard.render())
            else:  # a pipe or CI: no redrawing, one picture at the end
                run_monitor(lambda: BoardLink(args.port, dbc), dbc, dashboard, recorder=recorder,
                            duration=args.duration, stop=stop, reconnect_s=args.reconnect_timeout)
                console.width = max(console.width, 150)
                console.print(dashboard.render())
    finally:
        if recorder is not None:
            recorder.close()
    if recorder is not None:
        console.print(f"mule monitor: {printable(recorder.summary())}", markup=False, highlight=False, soft_wrap=True)
    return 0


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "monitor", "live dashboard of a board's telemetry",
        "Show a board's telemetry as it comes: hitch and battery panels, alerts, link and "
        "board counters, and each message's measured cycle time against the DBC's. Ctrl-C "
        "stops; the board keeps running.")
    parser.add_argument("--port", required=True, help="the board's serial port or a pyserial URL")
    add_dbc(parser, "the board's decoder")
    parser.add_argument("--record", type=writable_file, metavar="FILE",
                        help="save the frames the board decoded, re-encoded with cantools, as a CAN log "
                             "(.log: candump) for mule replay / mule decode; a board with telemetry changed: "
                             "only the frames rebuilt bit for bit, the rest counted")
    parser.add_argument("--duration", type=positive_float, help="stop after this many seconds (none: until Ctrl-C)")
    add_reconnect_timeout(parser)
    parser.set_defaults(func=_do_monitor)
