"""`mule replay LOG`: stream a CAN log to a board, verify every value it sends back against
cantools, and sum it up (docs/replay.md). No --port: a virtual board flashed on the fly."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from host_tools.cli.replay_view import make_view
from host_tools.cli.args import non_negative_float, writable_dir
from host_tools.cli.options import (add_command, add_dbc, add_reconnect_timeout, add_strict, add_virtual_board,
                                    log_error_hint)
from host_tools.cli.selection import Unselected, add_selection, add_settings, parse_settings, selected
from host_tools.dbc import load_dbc
from host_tools.link.session import BoardLink, LinkError
from host_tools.logfile import LogError
from host_tools.replay import Replay, ReplayError, parse_speed
from host_tools.replay.source import AUTO, estimate_records
from host_tools.text import printable


def _speed(text: str) -> float | None:
    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@contextlib.contextmanager
def ctrl_c_stops():
    """The first Ctrl-C asks the replay to stop and report; a second one aborts."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested.is_set
        return

    def handler(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        print("\nmule replay: stopping after the frames in flight (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested.is_set
    finally:
        signal.signal(signal.SIGINT, previous)


def _do_replay(args: argparse.Namespace) -> int:
    err = Console(stderr=True, soft_wrap=True)
    try:
        return _replay(args, err)
    except ReplayError as exc:
        if getattr(args, "debug", False):
            raise
        err.print(f"mule replay: error: {printable(exc)}", markup=False, highlight=False)
        return 2
    except LogError as exc:
        raise log_error_hint(exc, args.skip_bad,
                             "--skip-bad replays the frames before the cut; the verdict still fails") from None


def _replay(args: argparse.Namespace, err: Console) -> int:
    from host_tools.report import SeriesCollector, write_report

    settings, problems = parse_settings(args.set)  # before a board is started
    if problems or args.set and args.port:
        raise ReplayError("; ".join(problems) + " (docs/hardware.md lists the settings)" if problems else
                          "--set sets up the virtual board mule replay flashes (without --port); "
                          "set up your board with mule flash --set")
    full = load_dbc(args.dbc, strict=args.strict)
    dbc = selected(full, args)  # the board decodes these; the others' frames are unknown ids to both sides
    left_out = Unselected(full, dbc)
    collector = SeriesCollector(dbc) if args.report else None
    total = estimate_records(args.log)
    view = make_view(dbc, err) if args.dashboard else None  # None: no terminal, said on err
    progress = Progress(TextColumn("[bold]replay"), BarColumn(), TextColumn("{task.fields[line]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True,
                        disable=not err.is_terminal or view is not None)

    def show(state: dict) -> None:
        line = (f"sent {state['sent']:,} verified {state['verified']:,} lost {state['lost']:,} "
                f"mismatched {state['mismatched']:,}" + (f" gaps {state['gaps']}" if state["gaps"] else ""))
        progress.update(task, completed=state["records"], line=line)

    def log(text: str) -> None:  # the board's HELLO name and LOG text among it
        err.print(f"mule replay: {printable(text)}", markup=False, highlight=False)

    with contextlib.ExitStack() as stack:
        if args.port:
            port = args.port
        else:
            from host_tools.replay.board import virtual_board

            port = stack.enter_context(virtual_board(dbc, heap=args.heap, log=log, board=args.board,
                                                     settings=settings)).port
        stop = stack.enter_context(ctrl_c_stops())
        replay = Replay(args.log, dbc, lambda: BoardLink(port, dbc), port=port, speed=args.speed,
                        channel=args.channel, skip_bad=args.skip_bad, settle_s=args.settle,
                        reconnect_s=args.reconnect_timeout, stop=stop, progress=show,
                        on_decoded=collector.add if collector else None,
                        on_message=view.on_message if view is not None else None,
                        on_frame=left_out.frame if left_out.names else None)
        if view is not None:
            stack.enter_context(view.attach(replay, port))
        with progress:
            task = progress.add_task("replay", total=total, line="")
            try:
                result = replay.run()
            except LinkError as exc:
                raise ReplayError(f"{exc}") from None
    if collector is not None:
        result.series = collector.series
    out = Console(soft_wrap=True)
    colour = "green" if result.ok else "red"
    verdict = "everything verified" if result.ok else "NOT everything verified"
    # everything printed from here names things from the log, the DBC or the board: printable,
    # and never rich markup
    out.print(f"mule replay: {printable(args.log)}: {verdict}", style=colour, markup=False, highlight=False)
    for line in result.lines() + ([left_out.line()] if left_out.counts else []):
        out.print(f"  {printable(line)}", markup=False, highlight=False)
    for problem in result.mismatches[:10]:
        out.print(printable(f"  mismatch: frame {problem.frame} ({problem.where}) {problem.message}.{problem.signal}: "
                            f"expected {problem.expected!r}, got {problem.got!r}"), markup=False, highlight=False)
    if args.report:
        paths = write_report(args.report, result)
        out.print(f"  report: {printable(paths[-1])} ({len(paths)} files)", markup=False, highlight=False)
    if result.interrupted:
        return 130
    return 0 if result.ok else 1


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "replay", "stream a log to a board and verify everything it sends back",
        "Stream a CAN log's frames to a board over the link (at the log's pace, N times "
        "faster, or as fast as flow control allows), verify every decoded value against "
        "cantools and the board's alerts against the simulator's sidecar, and sum it up. "
        "Exit status 0 only when everything verified.")
    parser.add_argument("log", type=Path, help="CAN log (.log, .asc, .blf, .trc, .csv); a FILE.truth.json "
                                               "beside it (mule simulate) adds the expected alerts")
    parser.add_argument("--port", help="the board's serial port or a pyserial URL; default: a virtual board, "
                                       "flashed on the fly")
    parser.add_argument("--speed", type=_speed, default="1", metavar="1|N|max",
                        help="1: the log's timing; N: N times faster; max: as fast as the board's credit allows")
    add_dbc(parser, "the board must run its decoder")
    add_strict(parser)
    add_selection(parser, "the board decodes")
    parser.add_argument("--dashboard", action="store_true",
                        help="show mule monitor's live view of the board while it replays (needs a terminal; "
                             "without one the replay runs without it)")
    parser.add_argument("--report", type=writable_dir, metavar="DIR",
                        help="write summary.json, mismatches.jsonl, alerts.jsonl, plots and index.html to DIR")
    parser.add_argument("--channel", default=AUTO,
                        help="the log channel (bus) to replay; auto: the first one carrying an id of the DBC")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count and report malformed log records instead of stopping")
    parser.add_argument("--settle", type=non_negative_float, default=3.0,
                        help="seconds to wait for the answers to the last frames")
    add_reconnect_timeout(parser)
    add_virtual_board(parser, "the virtual board's heap (without --port)",
                      "the virtual board (without --port): unix = MicroPython's unix port, qemu = an "
                      "emulated Pyboard (Cortex-M4F, float32; docs/hardware.md)")
    add_settings(parser, "the virtual board's (without --port); by default supervision is on if it fits "
                         "beside the decoder, else off, and the replay says so")
    parser.set_defaults(func=_do_replay)
