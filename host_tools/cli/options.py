"""What the `mule` subcommands share: how a subcommand's parser is made, the options several of
them take (a DBC, a virtual board, a reconnect wait) in one wording, and the hint a bad log
record's error gets (which option gets past it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from host_tools import DEFAULT_DBC
from host_tools.cli.args import HelpFormatter, non_negative_float
from host_tools.logfile import LogError
from host_tools.qemu_board.build import parse_heap
from host_tools.vboard import BOARDS

STRICT_HELP = ("refuse a DBC that cantools' strict load refuses (overlapping signals, signals past the "
               "message's end) instead of loading it as cantools' strict=False does, with a warning per problem")


def add_command(subparsers, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """The subcommand `name`'s parser: `summary` in `mule --help`, `description` in its own."""
    return subparsers.add_parser(name, help=summary, description=description, formatter_class=HelpFormatter)


def add_dbc(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument("--dbc", type=Path, default=DEFAULT_DBC, help="DBC file" + (f" ({note})" if note else ""))


def add_strict(parser: argparse.ArgumentParser, also: str = "") -> None:
    """--strict: cantools' strict DBC load; `also` says what else it refuses."""
    parser.add_argument("--strict", action="store_true", help=STRICT_HELP + (f"; and {also}" if also else ""))


def heap_arg(text: str) -> str:
    """argparse type for --heap: bytes, or a message naming the setting and what to give."""
    try:
        parse_heap(text)
        return text
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_virtual_board(parser: argparse.ArgumentParser, heap_help: str, board_help: str) -> None:
    """--heap and --board of the virtual board a command starts itself."""
    parser.add_argument("--heap", type=heap_arg, default="100K", help=heap_help)
    parser.add_argument("--board", choices=BOARDS, default="unix", help=board_help)


def add_reconnect_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reconnect-timeout", type=non_negative_float, default=30.0,
                        help="seconds to wait for a board that went away to come back")


def log_error_hint(exc: LogError, skip_bad: bool, truncated_hint: str) -> LogError:
    """`exc` with the option that gets past it: `truncated_hint` for a cut-off log, --skip-bad for
    a bad record; `exc` itself when no option helps (--skip-bad already given, or the error is
    not about one record)."""
    if exc.truncated:
        hint = truncated_hint
    elif skip_bad or exc.line is None and exc.index is None:
        return exc
    else:
        hint = "--skip-bad counts and skips such records"
    return LogError(exc.path, exc.line, f"{exc.reason} ({hint})", index=exc.index, truncated=exc.truncated)
