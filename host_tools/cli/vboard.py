"""`mule vboard`: run a virtual board (the MicroPython unix port behind a pty) until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from host_tools import REPO_ROOT
from host_tools.vboard import VirtualBoard

DEFAULT_DIR = REPO_ROOT / "build" / "vboard"


def _do_vboard(args: argparse.Namespace) -> int:
    args.dir.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with VirtualBoard(args.dir, heap=args.heap) as board:
        print(board.port, flush=True)
        print(f"virtual board up: files in {args.dir}, heap {args.heap or 'default'}; "
              f"try `mpremote connect {board.port} resume fs ls`. Ctrl-C stops it.", file=sys.stderr)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    print("virtual board stopped", file=sys.stderr)
    return 0


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "vboard", help="run a virtual board and print its serial port",
        description="Run the MicroPython unix port as a board behind a pseudo-terminal. "
                    "It prints the port to use (mpremote, mule flash --port, the link) and "
                    "stays up until Ctrl-C. A soft reset restarts MicroPython in DIR and "
                    "runs main.py, as a real board does.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="the board's filesystem")
    parser.add_argument("--heap", help="heap size, e.g. 100K for a Pyboard-sized heap")
    parser.set_defaults(func=_do_vboard)
