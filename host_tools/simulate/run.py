"""One simulation from start to finish: scenario → physics → frames → faults → log + truth."""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import random
from dataclasses import dataclass, field
from pathlib import Path

from host_tools import DEFAULT_DBC
from host_tools.collector import collector_paused
from host_tools.dbc import Dbc, frame_key, load_dbc
from host_tools.simulate import physics
from host_tools.simulate.alerts import Limits, Receiver
from host_tools.simulate.battery import PackSpec
from host_tools.simulate.ecus import Ecus
from host_tools.simulate.errors import SimulateError
from host_tools.simulate.faults import Fault, parse_fault
from host_tools.simulate.scenarios import get_scenario
from host_tools.simulate.traffic import (BITRATE, FLAG_MISSING, FRAME_FAULTS, KEY_BACKGROUND, Sender, apply_bus_off,
                                         apply_out_of_order, background_frames, background_plan, check_messages,
                                         merged, truck_bus_load_pct)
from host_tools.simulate.vehicle import TrailerSpec, TruckSpec
from host_tools.simulate.writer import EPOCH, LogSink, check_format, truth_path, write_truth

SCHEMA = "mule-simulate-truth/1"
MAX_DURATION_S = 7200.0


@dataclass
class Result:
    log: Path
    truth_file: Path
    frames: int
    truth: dict


def simulate(scenario: str, output: str | Path, *, duration_s: float | None = None, seed: int = 0,
             faults: list[str] | tuple[str, ...] = (), bus_load_pct: float | None = None,
             settings: list[str] | tuple[str, ...] = (), dbc: str | Path | Dbc = DEFAULT_DBC) -> Result:
    """Write the scenario's CAN log to `output` and its ground truth beside it.
    Everything the user gave is checked before anything is computed or written."""
    with collector_paused():
        return _simulate(scenario, Path(output), duration_s, seed, faults, bus_load_pct, settings, dbc)


def _simulate(scenario: str, output: Path, duration_s: float | None, seed: int, faults, bus_load_pct: float | None,
              settings, dbc: str | Path | Dbc) -> Result:
    check_format(output)
    dbc = dbc if isinstance(dbc, Dbc) else load_dbc(dbc)
    story = get_scenario(scenario)
    params = story.with_overrides(list(settings))
    duration = story.duration_s if duration_s is None else float(duration_s)
    if not 0 < duration <= MAX_DURATION_S:
        raise SimulateError(f"duration {duration:g} s: give 0 < duration <= {MAX_DURATION_S:g} s")
    check_messages(dbc.messages)
    fault_list = _faults(faults, bus_load_pct, dbc, duration)
    truck_load = truck_bus_load_pct(dbc.messages)
    taken = {frame_key(m.frame_id, m.is_extended_frame) for m in dbc.messages}
    plans = {i: background_plan(i, f, seed, taken, truck_load) for i, f in enumerate(fault_list)
             if f.kind == "background"}

    truck = TruckSpec(mass_kg=params.truck_mass_kg)
    trailer = (TrailerSpec(params.trailer_mass_kg, params.tongue_fraction, params.trailer_frontal_area_m2)
               if params.trailer_mass_kg > 0 else None)
    pack = PackSpec()
    timeline = physics.run(truck, trailer, pack, story.build(params, random.Random(f"{seed}:scenario")), duration,
                           soc_pct=params.soc_pct, pack_temp_c=params.pack_temp_c, soh_pct=params.soh_pct,
                           ambient_c=params.ambient_temp_c, weak_cell=params.weak_cell, seed=seed)

    duration_us = round(duration * 1e6)
    ecus = Ecus(timeline)
    senders = [Sender(key, message, ecus, seed, duration_us,
                      [(i, f) for i, f in enumerate(fault_list) if f.kind in FRAME_FAULTS and f.message == message.name])
               for key, message in enumerate(dbc.messages)]
    streams = [s.frames() for s in senders]
    for i, plan in plans.items():
        start, end = _us(fault_list[i].start), min(duration_us, _us(fault_list[i].end))
        streams += [background_frames(i, item, seed, start, end) for item in plan]
    stream = merged(streams)
    bus_off = [(i, _us(f.start), _us(f.end)) for i, f in enumerate(fault_list) if f.kind == "bus_off"]
    if bus_off:
        stream = apply_bus_off(stream, bus_off)
    swaps = [(i, _us(f.start)) for i, f in enumerate(fault_list) if f.kind == "out_of_order"]
    if swaps:
        stream = apply_out_of_order(stream, swaps)

    receiver = Receiver(senders, Limits(tongue_rating_kg=truck.tongue_rating_kg), duration_us,
                        value_faults={i for i, f in enumerate(fault_list) if f.kind == "value"})
    tally = _write_log(stream, output, senders, fault_list, receiver)
    truth = {
        "schema": SCHEMA,
        "tool": {"name": "mule simulate", "version": _version()},
        "dbc": {"file": dbc.path.name, "sha256": dbc.sha256},
        "log": {"file": output.name, "format": output.suffix.lower().lstrip("."), "epoch": EPOCH,
                "times": "seconds after epoch; a frame's log timestamp is epoch + t",
                "index": "0-based position among the log's frames (error frames included)"},
        "scenario": {"name": story.name, "summary": story.summary, "parameters": dataclasses.asdict(params),
                     "truck": dataclasses.asdict(truck), "trailer": dataclasses.asdict(trailer) if trailer else None,
                     "pack": dataclasses.asdict(pack)},
        "seed": seed,
        "duration_s": duration,
        "bus": {"bitrate": BITRATE, "truck_load_pct": round(truck_load, 3)},
        "limits": receiver.limits.as_dict(),
        "messages": {s.name: {"id": f"{s.can_id:#x}", "extended": s.ext, "cycle_ms": s.message.cycle_time,
                              "frame_period_ms": s.period_us / 1000, "protected": s.protected,
                              "timeout_s": round(receiver.messages[k].timeout_us / 1e6, 6),
                              "frames": tally.counts[k]}
                     for k, s in enumerate(senders)},
        "frames": {"total": tally.index, "messages": sum(tally.counts),
                   "background": sum(tally.background.values()), "error": tally.errors},
        "summary": timeline.summary,
        "faults": [_fault_entry(i, f, tally, plans.get(i)) for i, f in enumerate(fault_list)],
        "expected_alerts": receiver.finish(bus_off),
    }
    truth_file = truth_path(output)
    write_truth(truth_file, truth)
    return Result(output, truth_file, tally.index, truth)


def _faults(specs, bus_load_pct: float | None, dbc: Dbc, duration: float) -> list[Fault]:
    faults = [parse_fault(spec, dbc, duration) for spec in specs]
    if bus_load_pct is not None:
        spec, flag = f"background:{bus_load_pct:g}", f"--bus-load {bus_load_pct:g}"
        try:
            faults.append(dataclasses.replace(parse_fault(spec, dbc, duration), spec=flag))
        except SimulateError as exc:
            raise SimulateError(str(exc).replace(f"fault {spec!r}", flag)) from None
    return faults


@dataclass
class _Tally:
    """What went into the log, for the sidecar."""

    counts: list[int]  # frames per message
    touched: dict[int, list] = field(default_factory=dict)  # fault -> frames it put in the log or changed
    missing: dict[int, list] = field(default_factory=dict)  # fault -> frames it kept off the bus
    background: dict[tuple[int, int], int] = field(default_factory=dict)  # (fault, id) -> frames
    errors: int = 0
    index: int = 0  # frames written


def _write_log(stream, output: Path, senders: list[Sender], faults: list[Fault], receiver: Receiver) -> _Tally:
    """Write every frame, feed the model receiver, and note where each fault landed."""
    feed = receiver.feed
    names = [s.name for s in senders]
    ids = [(s.can_id, s.ext) for s in senders]
    listed = [f.kind != "background" for f in faults]  # background frames are counted, not listed
    tally = _Tally([0] * len(senders), {i: [] for i in range(len(faults))}, {i: [] for i in range(len(faults))})
    counts, background = tally.counts, tally.background
    sink = LogSink(output)
    write = sink.frame
    index = 0  # frames written
    try:
        for record in stream:
            feed(record)
            t, _, key, data, hits, raws, flags = record
            if flags & FLAG_MISSING:
                for i in hits:
                    if listed[i]:
                        tally.missing[i].append({"t": _seconds(t), "message": _name(key, raws, names)})
                continue
            if key >= 0:
                can_id, ext = ids[key]
                write(t, can_id, ext, data)
                counts[key] += 1
            elif key == KEY_BACKGROUND:
                write(t, raws[0], raws[1], data)
                background[(hits[0], raws[0])] = background.get((hits[0], raws[0]), 0) + 1
            else:
                sink.error_frame(t)
                tally.errors += 1
            for i in hits:
                if listed[i]:
                    tally.touched[i].append({"index": index, "t": _seconds(t), "message": _name(key, raws, names)})
            index += 1
    finally:
        sink.close()
    tally.index = index
    return tally


def _name(key: int, raws, names: list[str]) -> str | None:
    """What the sidecar calls a frame's message: the DBC's name, another ECU's id, None for an error frame."""
    if key >= 0:
        return names[key]
    return f"{raws[0]:#x}" if key == KEY_BACKGROUND else None


def _fault_entry(index: int, fault: Fault, tally: _Tally, plan) -> dict:
    entry = {"index": index, "kind": fault.kind, "spec": fault.spec, "message": fault.message,
             "signal": fault.signal, "value": fault.value, "start": fault.start,
             "end": None if fault.end is None else round(fault.end, 6)}
    if fault.raw is not None:
        entry["raw"] = fault.raw
    if plan is not None:
        entry["ids"] = [{"id": f"{item.can_id:#x}", "extended": item.ext, "period_ms": item.period_us / 1000,
                         "length": item.length, "frames": tally.background.get((index, item.can_id), 0)}
                        for item in plan]
        entry["frame_count"] = sum(i["frames"] for i in entry["ids"])
    else:
        entry["frames"] = tally.touched[index]
        entry["missing"] = tally.missing[index]
    return entry


def _us(seconds: float) -> int:
    return round(seconds * 1e6)


def _seconds(t_us: int) -> float:
    return round(t_us / 1e6, 6)


@functools.cache  # reading the installed package's metadata took ~1 ms a run
def _version() -> str:
    try:
        return importlib.metadata.version("mule")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
