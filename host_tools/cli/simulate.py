"""`mule simulate SCENARIO -o FILE`: realistic test-mule CAN traffic with injected faults, and
beside the log a FILE.truth.json saying what the board should make of it."""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
from dataclasses import fields
from pathlib import Path

from host_tools.cli.args import non_negative_float, positive_float, writable_file
from host_tools.cli.options import add_command, add_dbc
from host_tools.simulate import FORMATS, SCENARIOS, SimulateError, simulate, syntax_help
from host_tools.text import plural, printable
from host_tools.vcan.bus import SLCAN_BITRATES


def _do_simulate(args: argparse.Namespace) -> int:
    if args.list:
        print(describe_scenarios())
        return 0
    if args.scenario is None or (args.output is None and args.bus is None):
        print("mule simulate: error: give a SCENARIO and -o FILE or --bus INTERFACE:CHANNEL "
              "(or --list to see the scenarios)", file=sys.stderr)
        return 2
    if args.bus is not None:
        return _play_onto_bus(args)
    return _write_log(args, args.output)


def _play_onto_bus(args: argparse.Namespace) -> int:
    """Simulate into a log (-o FILE, or a temporary one), then play it onto the bus in real time."""
    import tempfile

    from host_tools.cli.replay import ctrl_c_stops
    from host_tools.vcan.play import BusError, open_bus, play

    with tempfile.TemporaryDirectory(prefix="mule-simulate-") as tmp:
        log = args.output or Path(tmp) / f"{args.scenario}.log"
        status = _write_log(args, log)
        if status:
            return status
        try:
            bus = open_bus(args.bus, args.bitrate)
        except BusError as exc:
            print(f"mule simulate: error: {exc}", file=sys.stderr)
            return 2
        print(f"playing onto {printable(args.bus)} in real time (Ctrl-C stops)", flush=True)
        try:
            with ctrl_c_stops() as stop:
                result = play(log, bus, stop=stop)
        except BusError as exc:
            print(f"mule simulate: error: {exc}", file=sys.stderr)
            return 1
        finally:
            bus.shutdown()
    print(f"played {plural(result.frames, 'frame')} ({result.log_seconds:.1f} s of log) onto {printable(args.bus)} "
          f"in {result.seconds:.1f} s")
    return 0


def _write_log(args: argparse.Namespace, output: Path) -> int:
    started = time.perf_counter()
    try:
        result = simulate(args.scenario, output, duration_s=args.duration, seed=args.seed,
                          faults=args.fault or (), bus_load_pct=args.bus_load, settings=args.set or (),
                          dbc=args.dbc)
    except SimulateError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"mule simulate: error: {printable(exc, keep_newlines=True)}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    truth = result.truth
    duration = truth["duration_s"]
    print(f"{truth['scenario']['name']}, {duration:g} s, seed {truth['seed']}: {plural(result.frames, 'frame')} "
          f"to {printable(result.log)} in {elapsed:.1f} s ({duration / elapsed:,.0f}x real time)")
    alerts = truth["expected_alerts"]
    kinds = sorted({a["kind"] for a in alerts})
    print(f"ground truth: {printable(result.truth_file)}: {plural(len(truth['faults']), 'fault')}, "
          f"{plural(len(alerts), 'expected alert')}"
          + (f" ({', '.join(kinds)})" if kinds else ""))
    return 0


def describe_scenarios() -> str:
    """The text of `mule simulate --list`."""
    out = ["Scenarios (mule simulate SCENARIO -o FILE; parameters change with --set NAME=VALUE):", ""]
    wrap = textwrap.TextWrapper(width=96, initial_indent="    ", subsequent_indent="    ")
    for scenario in SCENARIOS.values():
        out.append(f"  {scenario.name}  ({scenario.duration_s:g} s): {scenario.summary}")
        out += wrap.wrap(scenario.story)
        out += wrap.wrap(f"Expected alerts: {scenario.alerts}.")
        params = ", ".join(f"{f.name}={getattr(scenario.params, f.name)}" for f in fields(scenario.params))
        out += wrap.wrap(f"Parameters: {params}")
        out.append("")
    out.append("Faults (--fault SPEC, repeatable): " + syntax_help())
    return "\n".join(out)


def add_subparser(subparsers) -> None:
    parser = add_command(
        subparsers, "simulate", "write realistic test-mule CAN traffic, with faults and its ground truth",
        "Simulate the test mule (physics of truck, trailer and pack) and write its CAN "
        "traffic as a log (format by extension: " + ", ".join(FORMATS) + "), with FILE.truth.json "
        "beside it: parameters, injected faults and the alerts the board should raise. "
        "Same seed, same bytes. See docs/simulator.md.")
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO", help=f"one of: {', '.join(SCENARIOS)}")
    parser.add_argument("-o", "--output", type=writable_file, metavar="FILE", help="the log to write (.log, .asc or .blf)")
    parser.add_argument("--list", action="store_true", help="describe the scenarios and the fault syntax, then exit")
    parser.add_argument("--duration", type=positive_float, metavar="S",
                        help="seconds to simulate (default: the scenario's own length)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed: same seed, same bytes")
    parser.add_argument("--fault", action="append", metavar="SPEC",
                        help="inject a fault, e.g. dropout:HitchLoad@30+2 (repeat for more; --list shows all)")
    parser.add_argument("--bus-load", type=non_negative_float, metavar="PCT",
                        help="add other ECUs' traffic (unknown ids) up to this bus load at 500 kbit/s")
    parser.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="change a scenario parameter, e.g. trailer_mass_kg=0 (repeatable)")
    add_dbc(parser)
    parser.add_argument("--bus", metavar="INTERFACE:CHANNEL",
                        help="play the traffic onto a CAN bus in real time, through python-can: slcan:PORT (the "
                             "slcan line of `mule vboard`, or a USB slcan adapter), socketcan:can0, ...; "
                             "-o FILE also keeps the log")
    parser.add_argument("--bitrate", type=int, default=500000, choices=sorted(SLCAN_BITRATES.values()),
                        help="the bus's bitrate (with --bus)")
    parser.set_defaults(func=_do_simulate)
