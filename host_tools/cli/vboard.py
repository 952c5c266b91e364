"""`mule vboard`: run a virtual board (the unix port, or the emulated Pyboard in QEMU)
behind a pty until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from host_tools import BUILD_DIR
from host_tools.cli.options import add_command, heap_arg
from host_tools.qemu_board.build import BuildError
from host_tools.vboard import BOARDS, open_board

DEFAULT_DIR = BUILD_DIR / "vboard"
DEFAULT_DIRS = {"unix": DEFAULT_DIR, "qemu": BUILD_DIR / "vboard-qemu"}
DESCRIPTIONS = {"unix": "MicroPython unix port, 64-bit", "qemu": "emulated Pyboard: Cortex-M4F in QEMU"}


def _do_vboard(args: argparse.Namespace) -> int:
    folder = args.dir or DEFAULT_DIRS[args.board]
    folder.mkdir(parents=True, exist_ok=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        board = open_board(args.board, folder, args.heap, can=args.can)
    except ValueError as exc:
        print(f"mule vboard: --heap: {exc}", file=sys.stderr)
        return 2
    if args.board == "qemu":
        print("mule vboard: building or reusing the emulated Pyboard's firmware (the first build takes ~1 min)",
              file=sys.stderr)
    try:
        board.start()
    except BuildError as exc:
        print(f"mule vboard: {exc}", file=sys.stderr)
        return 1
    try:
        print(board.port, flush=True)
        if board.can_bus is not None:
            print(f"slcan {board.can_bus.port}", flush=True)
            print(f"virtual CAN bus: an slcan (LAWICEL) adapter on {board.can_bus.port}, "
                  f"{board.can_bus.bitrate // 1000} kbit/s until S<n> sets another; the board's machine.CAN is on it "
                  f"(mule flash --mode live; python-can interface='slcan', channel='{board.can_bus.port}')",
                  file=sys.stderr)
        print(f"virtual board up ({DESCRIPTIONS[args.board]}): files in {folder}, heap {board.heap // 1024}K; "
              f"try `mpremote connect {board.port} fs ls`. Ctrl-C stops it.", file=sys.stderr)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    finally:
        board.stop()
    print("virtual board stopped", file=sys.stderr)
    return 0


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "vboard", "run a virtual board and print its serial port",
        "Run a virtual board behind a pseudo-terminal: the MicroPython unix port (--board unix, "
        "fast) or an emulated Pyboard v1.1 in QEMU (--board qemu: Cortex-M4F, 32-bit, float32, "
        "armv7emsp code; docs/hardware.md). It prints the port to use (mpremote, mule flash --port, "
        "the link, mule replay --port) and stays up until Ctrl-C. A soft reset reruns main.py, "
        "as a real board does.")
    parser.add_argument("--board", choices=BOARDS, default="unix", help="which virtual board")
    parser.add_argument("--dir", type=Path, default=None,
                        help="the board's files (unix: the folder itself; qemu: its /flash drive image "
                             "mule_flash.img); default build/vboard or build/vboard-qemu")
    parser.add_argument("--heap", type=heap_arg, default="100K",
                        help="heap size, e.g. 100K (a Pyboard v1.1's); at least 32K")
    parser.add_argument("--can", action=argparse.BooleanOptionalAction, default=True,
                        help="give the board a machine.CAN on a virtual CAN bus, with an slcan adapter "
                             "on a second pty (printed as `slcan PORT`)")
    parser.set_defaults(func=_do_vboard)
