"""Options of the commands that choose what a board decodes and how it is set up: --messages and
--nodes (host_tools.dbc.select_messages, the one selection) and --set KEY=VALUE (a board setting,
checked against firmware/settings.py before a board is touched)."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from host_tools.dbc import Dbc, frame_key, select_messages
from host_tools.flash import check_settings


def names(text: str | None) -> list[str]:
    """NAME,NAME,... as a list (blanks dropped)."""
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def add_selection(parser: argparse.ArgumentParser, who: str = "the board decodes") -> None:
    parser.add_argument("--messages", metavar="NAME,...",
                        help=f"{who} only these messages (and those of --nodes); other ids count as unknown")
    parser.add_argument("--nodes", metavar="ECU,...",
                        help=f"{who} only the messages these nodes send or receive")


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


class Unselected:
    """The frames of DBC messages that --messages/--nodes left out, per message: the board (or
    the engine) counts them as unknown ids, and the user is told which they were."""

    def __init__(self, full: Dbc, chosen: Dbc):
        left_out = [m for m in full.messages if frame_key(m.frame_id, m.is_extended_frame) not in chosen.by_key]
        self.names = {frame_key(m.frame_id, m.is_extended_frame): m.name for m in left_out}
        self.counts: Counter = Counter()

    def frame(self, frame) -> None:
        """Count one frame (anything with can_id and ext) if its message was left out."""
        key = frame_key(frame.can_id, frame.ext)
        if key in self.names:
            self.counts[key] += 1

    def ids(self, unknown_ids: dict) -> None:
        """Count from a tally of unknown ids, (can_id, ext) -> frames (mule decode's summary)."""
        for (can_id, ext), n in unknown_ids.items():
            key = frame_key(can_id, ext)
            if key in self.names:
                self.counts[key] += n

    def line(self, who: str = "the board") -> str | None:
        """One line for the user, or None when no frame of a left-out message was seen."""
        if not self.counts:
            return None
        names = [self.names[key] for key, _ in self.counts.most_common()]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        frames = sum(self.counts.values())
        return (f"{frames:,} frame{'s' if frames != 1 else ''} of {len(names)} DBC message"
                f"{'s' if len(names) != 1 else ''} not among --messages/--nodes ({shown}): {who} does not "
                "decode them; counted as unknown ids")
