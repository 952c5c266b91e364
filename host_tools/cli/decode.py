"""`mule decode LOG`: decode every frame of a CAN log with cantools or the firmware decoder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools import DEFAULT_DBC
from host_tools.cli.args import writable_file
from host_tools.dbc import load_dbc
from host_tools.decode import FORMATS, DecodeSummary, decoded_records, write_records
from host_tools.engines import ENGINES
from host_tools.logfile import LogError


def _do_decode(args: argparse.Namespace) -> int:
    try:
        return _decode(args)
    except LogError as exc:
        if args.skip_bad or exc.line is None and exc.index is None:
            raise
        raise LogError(exc.path, exc.line, f"{exc.reason} (--skip-bad counts and skips such records)",
                       index=exc.index) from None


def _decode(args: argparse.Namespace) -> int:
    dbc = load_dbc(args.dbc)
    summary = DecodeSummary(args.engine)
    records = decoded_records(args.log, dbc, args.engine, skip_bad=args.skip_bad,
                              heap=args.heap, summary=summary)
    if args.output:
        with open(args.output, "w", newline="") as out:
            write_records(records, out, args.format)
    else:
        write_records(records, sys.stdout, args.format)
        sys.stdout.flush()
    for line in summary.lines():
        print(f"mule decode: {line}", file=sys.stderr)
    return 0


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "decode", help="decode a CAN log with the DBC",
        description="Decode every frame of a CAN log (candump .log, .asc, .blf, .trc, .csv). "
                    "Writes one record per decoded frame; everything else is counted on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("log", type=Path, help="CAN log file")
    parser.add_argument("--dbc", type=Path, default=DEFAULT_DBC, help="DBC file")
    parser.add_argument("--engine", choices=ENGINES, default="cantools",
                        help="cantools: reference in CPython; firmware: generated decoder "
                             "inside the MicroPython unix port")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output format")
    parser.add_argument("-o", "--output", type=writable_file, help="output file (default: stdout)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count and report malformed log records instead of stopping")
    parser.add_argument("--heap", help="MicroPython heap size for the firmware engine, e.g. 100K")
    parser.set_defaults(func=_do_decode)
