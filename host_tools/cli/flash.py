"""`mule flash [--port PORT]`: install the firmware and the DBC's decoder on a board."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from host_tools import BUILD_DIR
from host_tools.cli.vboard import DEFAULT_DIR
from host_tools.cli.selection import add_selection, parse_settings, selected
from host_tools.cli.options import add_command, add_dbc, add_strict
from host_tools.codegen.build import decoder_cost, write_decoder
from host_tools.float_signals import float64_note
from host_tools.dbc import load_dbc
from host_tools.flash import allowed_values, check_settings, flash
from host_tools.text import printable
from host_tools.vboard import VirtualBoard


def _do_flash(args: argparse.Namespace) -> int:
    dbc = load_dbc(args.dbc, strict=args.strict)
    every = len(dbc.messages)
    dbc = selected(dbc, args)
    config = {"mode": args.mode, "bitrate": args.bitrate, "bus": args.bus, "decimation": args.decimation,
              "can": args.can, "replay_path": args.replay_path}
    # anything else firmware/config.py reads, e.g. cs=17, crystal_hz=8000000; checked before a
    # board is touched: one table, firmware/settings.py
    settings, problems = parse_settings(args.set)
    config.update(settings)
    problems = [p for p in problems if p.startswith("--set ")] + check_settings(config)  # flags and --set
    if problems:
        for problem in problems:
            print(f"mule flash: {problem}", file=sys.stderr)
        print("mule flash: nothing was copied; fix the setting (docs/hardware.md lists them)", file=sys.stderr)
        return 2
    build_dir = BUILD_DIR / "flash"

    def log(text: str) -> None:  # the board's HELLO name and mpremote's output among it
        print(f"mule flash: {printable(text)}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="mule-cost-") as tmp:  # what the board will hold, first
        cost = decoder_cost(write_decoder(dbc, Path(tmp) / "dbc_decoder.py", board=True))
    chosen = f"{len(dbc.messages)} of {every}" if len(dbc.messages) < every else f"all {every}"
    log(f"decoder of {chosen} messages: {cost.text()}; a Pyboard v1.1 has ~100 KB of heap for all of the "
        f"firmware (--messages/--nodes decode fewer, --set supervise=false frees ~20 KB)")
    if float64_note(dbc):
        log(float64_note(dbc))
    if args.port:
        flash(dbc, args.port, config, build_dir, log)
        return 0
    args.vboard_dir.mkdir(parents=True, exist_ok=True)
    # The virtual board's folder is ours to write: it boots in safe mode, so no firmware in it
    # (one that does not read the port, say) can keep mpremote out. Copying removes the file.
    safe = args.vboard_dir / "SAFE_MODE"
    ours = not safe.exists()
    if ours:
        safe.write_text(_SAFE_MARK)
    try:
        with VirtualBoard(args.vboard_dir, can=True) as board:  # as `mule vboard` runs it: with machine.CAN
            log(f"virtual board on {board.port}, files in {args.vboard_dir}")
            flash(dbc, board.port, config, build_dir, log, stop_first=not ours)
    finally:
        if ours and safe.exists() and safe.read_text() == _SAFE_MARK:  # refused before copying
            safe.unlink()
    log(f"done: `mule vboard --dir {args.vboard_dir}` runs it")
    return 0


_SAFE_MARK = "mule flash: the virtual board boots to its REPL while it is flashed\n"


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "flash", "install the firmware and decoder on a board (default: the virtual board)",
        "Regenerate the decoder from the DBC, compile everything with mpy-cross for the "
        "board's architecture, copy it with mpremote, restart the board and check that "
        "its HELLO carries the DBC's SHA-256.")
    parser.add_argument("--port", help="serial port or pyserial URL; default: the virtual board")
    add_dbc(parser)
    add_selection(parser)
    add_strict(parser)
    parser.add_argument("--mode", choices=allowed_values("mode"), default="replay",
                        help="replay: CAN frames come over the link; live: from the board's CAN bus")
    parser.add_argument("--bus", type=int, default=1, help="CAN controller (live mode)")
    parser.add_argument("--bitrate", type=int, default=500000,
                        help="CAN bitrate (live mode): " + ", ".join(map(str, allowed_values("bitrate"))))
    parser.add_argument("--decimation", type=int, default=1, help="telemetry for 1 decoded frame in N")
    parser.add_argument("--can", choices=allowed_values("can"), default="auto",
                        help="the CAN controller: auto = machine.CAN where the firmware has it, else pyb.CAN; "
                             "mcp2515 = over SPI (docs/hardware.md)")
    parser.add_argument("--replay-path", choices=allowed_values("replay_path"), default="link",
                        help="replay mode: decode the link's frames (link), or send them through the "
                             "controller in silent loopback and read them back through its filters and FIFO")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="another board setting for mule_config.json (value as JSON, else a string), "
                             "e.g. --set cs=17 --set crystal_hz=8000000; every setting and its range: "
                             "firmware/config.py, docs/hardware.md")
    parser.add_argument("--vboard-dir", type=Path, default=DEFAULT_DIR,
                        help="the virtual board's filesystem (without --port)")
    parser.set_defaults(func=_do_flash)
