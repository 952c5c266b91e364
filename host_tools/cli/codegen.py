"""`mule codegen DBC -o OUT.py`: generate the MicroPython decoder module for a DBC."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from host_tools.cli.args import writable_file
from host_tools.cli.options import add_command, add_strict
from host_tools.cli.selection import add_selection, selected
from host_tools.codegen.build import HOST_MARCH, PYBOARD_MARCH, compile_mpy, decoder_cost, write_decoder
from host_tools.codegen.emit import MODES
from host_tools.dbc import load_dbc
from host_tools.float_signals import float64_note
from host_tools.text import printable


def _do_codegen(args: argparse.Namespace) -> int:
    dbc = load_dbc(args.dbc, strict=args.strict)
    every = len(dbc.messages)
    dbc = selected(dbc, args)
    out = write_decoder(dbc, args.output, args.emit)
    chosen = f"{len(dbc.messages)} of {every} messages" if len(dbc.messages) < every else f"{every} messages"
    print(f"wrote {printable(out)} ({chosen}, DBC sha256 {dbc.sha256[:12]}…)", file=sys.stderr)
    print(f"{decoder_cost(out).text()}; a Pyboard v1.1 has ~100,000 bytes of heap for all of the firmware "
          f"(--messages/--nodes decode fewer)", file=sys.stderr)
    if float64_note(dbc):
        print(float64_note(dbc), file=sys.stderr)
    if args.mpy:
        mpy = compile_mpy(out, None if args.march == "none" else args.march)
        print(f"compiled {printable(mpy)} (-march={args.march})", file=sys.stderr)
    return 0


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "codegen", "generate a MicroPython decoder from a DBC",
        "Generate a MicroPython module that decodes the DBC's frames (API: docs/decoder.md).")
    parser.add_argument("dbc", type=Path, help="DBC file (any file cantools loads)")
    add_strict(parser)
    parser.add_argument("-o", "--output", type=writable_file, required=True,
                        help="output .py file; its name is the module name")
    parser.add_argument("--emit", choices=MODES, default="viper",
                        help="viper: native code, fastest, no allocation; plain: bytecode fallback")
    add_selection(parser, "decode")
    parser.add_argument("--mpy", action="store_true", help="also compile it with mpy-cross")
    parser.add_argument("--march", default=HOST_MARCH,
                        help=f"mpy-cross architecture for viper code ({HOST_MARCH}: unix port, "
                             f"{PYBOARD_MARCH}: Pyboard, none: bytecode only)")
    parser.set_defaults(func=_do_codegen)
