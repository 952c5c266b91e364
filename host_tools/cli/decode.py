"""`mule decode LOG`: decode every frame of a CAN log with cantools or the firmware decoder."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

from host_tools.cli.args import writable_dir, writable_file
from host_tools.cli.selection import Unselected, add_selection, selected
from host_tools.cli.options import add_command, add_dbc, add_strict, log_error_hint
from host_tools.dbc import load_dbc
from host_tools.decode import FORMATS, TIME_HELP, DecodeSummary, decoded_records, write_records
from host_tools.engines import ENGINES
from host_tools.logfile import LogError
from host_tools.progress import bars_for, watched
from host_tools.text import printable


def _do_decode(args: argparse.Namespace) -> int:
    try:
        return _decode(args)
    except LogError as exc:
        raise log_error_hint(exc, args.skip_bad, "--accept-truncated decodes the frames before it") from None


def _many(args: argparse.Namespace, logs: list[Path]) -> int:
    from host_tools.distributed import run_many

    if args.format != "parquet" or args.output is None:
        print("mule decode: error: many logs (or --workers/--scheduler) need --format parquet -o DIR",
              file=sys.stderr)
        return 2
    if args.engine != "vector":
        print("mule decode: note: --format parquet decodes with the vector engine", file=sys.stderr)
    load_dbc(args.dbc, strict=args.strict)  # refuse a bad DBC once, here, with its warnings
    out = args.output
    options = {"strict_dbc": args.strict,
               "parquet": {"values": args.values, "skip_bad": args.skip_bad,
                           "accept_truncated": args.accept_truncated, "strict": args.strict}}
    failed = truncated = 0
    bars = bars_for(logs)
    with bars or nullcontext():
        for result in run_many(logs, args.dbc, out, options, workers=args.workers, scheduler=args.scheduler,
                               progress=bars):
            name = printable(result["log"])
            if bars is not None:
                bars.done(result["log"], result.get("data_frames"))
            if "error" in result:
                failed += 1
                print(f"mule decode: error: {printable(result['error'])}", file=sys.stderr)
            else:
                truncated += bool(result.get("truncated"))
                for line in result["lines"]:
                    print(f"mule decode: {name}: {printable(line)}", file=sys.stderr)
    print(f"mule decode: {len(logs) - failed} of {len(logs)} logs decoded into {printable(out)}", file=sys.stderr)
    return 1 if failed or (truncated and not args.accept_truncated) else 0


def _decode(args: argparse.Namespace) -> int:
    from host_tools.distributed import expand_logs

    logs = expand_logs(args.log)
    if not logs:
        print(f"mule decode: error: no log matches {' '.join(printable(str(x)) for x in args.log)}",
              file=sys.stderr)
        return 1
    if args.format == "parquet" or len(logs) > 1 or args.workers > 1 or args.scheduler:
        if args.messages or args.nodes:
            print("mule decode: error: --messages/--nodes decode one log (not with many logs, --format parquet, "
                  "--workers or --scheduler)", file=sys.stderr)
            return 2
        return _many(args, logs)
    args.log = logs[0]
    full = load_dbc(args.dbc, strict=args.strict)
    dbc = selected(full, args)
    summary = DecodeSummary(args.engine)
    records = decoded_records(args.log, dbc, args.engine, skip_bad=args.skip_bad,
                              heap=args.heap, summary=summary, accept_truncated=args.accept_truncated,
                              strict=args.strict, board=args.board)
    bars = bars_for([args.log], records_to_stdout=not args.output)
    records = watched(records, bars, args.log, lambda: summary.data_frames)
    with bars or nullcontext():
        if args.output:
            with open(args.output, "w", newline="") as out:
                write_records(records, out, args.format)
        else:
            write_records(records, sys.stdout, args.format)
            sys.stdout.flush()
    for line in summary.lines():
        print(f"mule decode: {printable(line)}", file=sys.stderr)  # names from the log and DBC
    left_out = Unselected(full, dbc)
    left_out.ids(summary.unknown_ids)
    if left_out.line("the decoder"):
        print(f"mule decode: {printable(left_out.line('the decoder'))}", file=sys.stderr)
    if summary.log.truncated and not args.accept_truncated:
        print(f"mule decode: error: {printable(args.log)} is truncated: not every frame was decoded "
              "(--accept-truncated exits 0 with the frames before the cut)", file=sys.stderr)
        return 1
    return 0


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "decode", "decode a CAN log with the DBC",
        "Decode every frame of CAN logs (candump .log incl. its screen formats, .asc, .blf, "
        ".trc, .csv, .mf4, .db; each but .mf4/.db also .gz). Writes one record per decoded "
        "frame; everything else is counted on stderr. " + TIME_HELP + ".")
    parser.add_argument("log", nargs="+", help="CAN log files, folders or globs (many: --format parquet -o DIR)")
    add_dbc(parser)
    add_selection(parser, "decode")
    add_strict(parser, also="refuse log records python-can reads only leniently (an ASC classic DLC "
                            "above 8, a CAN FD DLC that disagrees with its length)")
    parser.add_argument("--engine", choices=ENGINES, default="cantools",
                        help="cantools: reference in CPython; firmware: generated decoder "
                             "inside the MicroPython unix port; vector: numpy, whole columns per message "
                             "(equal to cantools; always used for --format parquet)")
    parser.add_argument("--format", choices=FORMATS, default="jsonl",
                        help="output format; parquet: one table per message under -o DIR, partitioned "
                             "message=<name>/log=<log file>")
    parser.add_argument("-o", "--output", type=Path, help="output file (default: stdout); a folder for parquet")
    parser.add_argument("--values", choices=("phys", "raw", "both"), default="phys",
                        help="parquet: physical values (column <signal>), raw (<signal>_raw) or both")
    parser.add_argument("--workers", type=int, default=1,
                        help="decode this many logs at once on local cores (a process pool)")
    parser.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:8786): decode the logs "
                                            "on that cluster (workers must see the same paths)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count and report malformed log records instead of stopping")
    parser.add_argument("--accept-truncated", action="store_true",
                        help="a log that ends early (a cut BLF): decode the frames before the cut and exit 0 "
                             "(the summary still says what was lost)")
    parser.add_argument("--heap", help="MicroPython heap size for the firmware engine, e.g. 100K")
    parser.add_argument("--board", choices=["unix", "qemu"], default="unix",
                        help="where --engine firmware runs: the unix port (doubles) or the emulated Pyboard "
                             "(armv7emsp, float32, 100K heap by default; physical values agree to float32)")
    parser.set_defaults(func=_do_decode)
    _check_output_when_parsed(parser)


def _check_output_when_parsed(parser: argparse.ArgumentParser) -> None:
    """-o is a file for jsonl/csv and a folder for parquet: checked once --format is known,
    still while parsing (a bad -o fails before any work, naming the flag)."""
    parse = parser.parse_known_args

    def parse_known_args(args=None, namespace=None):
        ns, rest = parse(args, namespace)
        out = getattr(ns, "output", None)
        if out is not None:
            check = writable_dir if ns.format == "parquet" else writable_file
            try:
                ns.output = check(str(out))
            except argparse.ArgumentTypeError as exc:
                parser.error(f"argument -o/--output: {exc}")
        if ns.workers < 1:
            parser.error("argument --workers: give 1 or more")
        return ns, rest

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]
