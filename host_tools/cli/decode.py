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
from host_tools.text import printable


def _do_decode(args: argparse.Namespace) -> int:
    try:
        return _decode(args)
    except LogError as exc:
        if exc.truncated:
            hint = "--accept-truncated decodes the frames before it"
        elif args.skip_bad or exc.line is None and exc.index is None:
            raise
        else:
            hint = "--skip-bad counts and skips such records"
        raise LogError(exc.path, exc.line, f"{exc.reason} ({hint})", index=exc.index,
                       truncated=exc.truncated) from None


def _decode(args: argparse.Namespace) -> int:
    dbc = load_dbc(args.dbc, strict=args.strict)
    summary = DecodeSummary(args.engine)
    records = decoded_records(args.log, dbc, args.engine, skip_bad=args.skip_bad,
                              heap=args.heap, summary=summary, accept_truncated=args.accept_truncated)
    if args.output:
        with open(args.output, "w", newline="") as out:
            write_records(records, out, args.format)
    else:
        write_records(records, sys.stdout, args.format)
        sys.stdout.flush()
    for line in summary.lines():
        print(f"mule decode: {printable(line)}", file=sys.stderr)  # names from the log and DBC
    if summary.log.truncated and not args.accept_truncated:
        print(f"mule decode: error: {printable(args.log)} is truncated: not every frame was decoded "
              "(--accept-truncated exits 0 with the frames before the cut)", file=sys.stderr)
        return 1
    return 0


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "decode", help="decode a CAN log with the DBC",
        description="Decode every frame of a CAN log (candump .log, .asc, .blf, .trc, .csv). "
                    "Writes one record per decoded frame; everything else is counted on stderr.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("log", type=Path, help="CAN log file")
    parser.add_argument("--dbc", type=Path, default=DEFAULT_DBC, help="DBC file")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a DBC that cantools' strict load refuses (overlapping signals, signals "
                             "past the message's end) instead of loading it as cantools' strict=False does, "
                             "with a warning per problem")
    parser.add_argument("--engine", choices=ENGINES, default="cantools",
                        help="cantools: reference in CPython; firmware: generated decoder "
                             "inside the MicroPython unix port")
    parser.add_argument("--format", choices=FORMATS, default="jsonl", help="output format")
    parser.add_argument("-o", "--output", type=writable_file, help="output file (default: stdout)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="count and report malformed log records instead of stopping")
    parser.add_argument("--accept-truncated", action="store_true",
                        help="a log that ends early (a cut BLF): decode the frames before the cut and exit 0 "
                             "(the summary still says what was lost)")
    parser.add_argument("--heap", help="MicroPython heap size for the firmware engine, e.g. 100K")
    parser.set_defaults(func=_do_decode)
