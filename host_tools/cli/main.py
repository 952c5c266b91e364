"""Entry point of the `mule` command: builds the parser and turns known errors into messages."""

from __future__ import annotations

import argparse
import os
import sys

from host_tools.cli import codegen, decode, demo, flash, monitor, replay, simulate, stop, vboard
from host_tools.cli.args import HelpFormatter
from host_tools.codegen.build import BuildError
from host_tools.dbc import DbcError
from host_tools.engines.firmware_engine import EngineError
from host_tools.flash import FlashError
from host_tools.link.session import LinkError
from host_tools.logfile import LogError
from host_tools.text import printable
from host_tools.tools import ToolMissing

SUBCOMMANDS = (codegen, decode, demo, flash, monitor, replay, simulate, stop, vboard)
USER_ERRORS = (BuildError, DbcError, EngineError, FlashError, LinkError, LogError, ToolMissing, OSError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mule", description="Telematics toolkit for the electric pickup test mule.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_subparser(subparsers)
    for sub in subparsers.choices.values():
        if sub.formatter_class is argparse.ArgumentDefaultsHelpFormatter:
            sub.formatter_class = HelpFormatter  # no "(default: None)"
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("mule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mule decode LOG | head`: the reader is done, so are we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except USER_ERRORS as exc:
        if args.debug:
            raise
        print(f"mule: error: {printable(exc, keep_newlines=True)}", file=sys.stderr)  # names files, DBC names
        return 1


if __name__ == "__main__":
    sys.exit(main())
