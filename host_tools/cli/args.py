"""argparse types every subcommand shares: numbers that must be finite and in range, and
paths that must be writable, refused when the command line is read (exit 2, naming the flag)
rather than after minutes of work -- or never."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

from host_tools.text import printable

__all__ = ["non_negative_float", "positive_float", "writable_dir", "writable_file"]


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, lengths)."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number greater than 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (a wait that may be none)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of 0 or more")
    return value


def _nearest_existing(path: Path) -> Path:
    for parent in (path, *path.parents):
        if parent.exists():
            return parent
    return Path(".")


def _probe(folder: Path, what: str) -> None:
    """Create and delete a file in `folder`: the only test that holds for root, read-only
    mounts and /proc alike."""
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{what}: {printable(folder)} is not a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=".mule-probe-", dir=folder)
    except OSError as exc:
        raise argparse.ArgumentTypeError(
            f"{what}: cannot write in {printable(folder)} ({exc.strerror or exc}); choose another place") from None
    os.close(fd)
    os.unlink(name)


def writable_dir(text: str) -> Path:
    """A folder to write into: an existing writable one, or one that can be created
    (checked by writing a probe file in its nearest existing parent; nothing is created)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{printable(text)} exists and is not a directory")
    _probe(_nearest_existing(path), printable(text))
    return path


def writable_file(text: str) -> Path:
    """A file to write: not a directory, and its folder (or the nearest existing parent of
    a folder still to be made) writable. An existing file is left untouched."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{printable(text)} is a directory; give a file name")
    if path.is_file():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"cannot write {printable(text)} ({exc.strerror or exc})") from None
        return path
    if path.exists():  # a device or pipe: opening it could block, let the command try
        return path
    _probe(_nearest_existing(path.parent), printable(text))
    return path


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in --help, but only real ones: no "(default: None)", and none added to a
    help text that already says its default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)
