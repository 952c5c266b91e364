"""`mule stop --port PORT`: make running mule firmware return to the REPL (for mpremote)."""

from __future__ import annotations

import argparse
import sys

from host_tools.cli.args import positive_float
from host_tools.cli.options import add_command
from host_tools.link.session import BoardLink


def _do_stop(args: argparse.Namespace) -> int:
    with BoardLink(args.port) as link:
        if link.stop(timeout=args.timeout):
            print(f"mule stop: {args.port}: the firmware stopped; the REPL is free", file=sys.stderr)
            return 0
    print(f"mule stop: {args.port}: no answer (not running mule firmware, or already at the REPL)",
          file=sys.stderr)
    return 1


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "stop", "return a streaming board to its REPL",
        "Send the link's STOP message. While streaming, the firmware ignores Ctrl-C "
        "(binary data may contain 0x03), so mpremote cannot interrupt it; stop it first.")
    parser.add_argument("--port", required=True, help="serial port or pyserial URL")
    parser.add_argument("--timeout", type=positive_float, default=3.0, help="seconds to wait for the answer")
    parser.set_defaults(func=_do_stop)
