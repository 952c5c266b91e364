"""Options of the commands that choose what a board decodes and how it is set up: --messages and
--nodes (host_tools.dbc.select_messages, the one selection) and --set KEY=VALUE (a board setting,
checked against firmware/settings.py before a board is touched)."""

from __future__ import annotations

import argparse
import json

from host_tools.dbc import Dbc, select_messages
from host_tools.flash import check_settings


def names(text: str | None) -> list[str]:
    """NAME,NAME,... as a list (blanks dropped)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def add_selection(parser: argparse.ArgumentParser, what: str = "the board decodes") -> None:
    parser.add_argument("--messages", metavar="NAME,...",
                        help=f"{what} only these messages (and those of --nodes); other ids count as unknown")
    parser.add_argument("--nodes", metavar="ECU,...", help=f"{what} only the messages these nodes send or receive")


def selected(dbc: Dbc, args: argparse.Namespace) -> Dbc:
    """The DBC narrowed to --messages/--nodes (all of it without them); DbcError names a wrong name."""
    return select_messages(dbc, names(getattr(args, "messages", None)), names(getattr(args, "nodes", None)))


def add_settings(parser: argparse.ArgumentParser, note: str = "") -> None:
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="a board setting for mule_config.json (value as JSON, else a string), e.g. "
                             "--set supervise=false; every setting and its range: firmware/settings.py, "
                             "docs/hardware.md" + (f"; {note}" if note else ""))


def parse_settings(items: list[str] | None) -> tuple[dict, list[str]]:
    """--set's KEY=VALUE items as a config dict, and the problems (a malformed item, a setting the
    board would not use: unknown, wrong type, out of range)."""
    config: dict = {}
    problems = []
    for item in items or ():
        key, eq, value = item.partition("=")
        if not key or not eq:
            problems.append(f"--set {item!r}: give KEY=VALUE")
            continue
        try:
            config[key] = json.loads(value)
        except ValueError:
            config[key] = value
    return config, problems + check_settings(config)
