"""Supervision rule tables from the DBC and a config, and the host's reference: the board's
own firmware/supervise.py loaded in CPython and fed frames, so any log can be checked on
a laptop and the board's alerts verified (docs/supervision.md)."""

from __future__ import annotations

import copy
import dataclasses
from fractions import Fraction
import importlib.util
import math
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import types
from array import array
from dataclasses import dataclass
from pathlib import Path

from host_tools import REPO_ROOT
from host_tools.codegen import layout
from host_tools.dbc import Dbc
from host_tools.e2e import _e2e, protection
from host_tools.engines import BAD_MUX, DECODED, UNKNOWN_ID, WRONG_LENGTH
from host_tools.engines.cantools_engine import decode_one
from host_tools.link.messages import Alert, TowRange

RULES_MODULE = "supervise_rules"  # the name firmware/app.py imports


def _load_firmware_supervise():
    spec = importlib.util.spec_from_file_location("mule_firmware_supervise", REPO_ROOT / "firmware" / "supervise.py")
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("e2e")
    sys.modules["e2e"] = _e2e  # the board's `import e2e`: the same file, as host_tools.e2e loads it
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["e2e"]
        else:
            sys.modules["e2e"] = saved
    return module


firmware = _load_firmware_supervise()
KINDS: tuple = firmware.KINDS
CLEARED: int = firmware.CLEARED
MASK = 0x3FFFFFFF
BIAS = firmware._BIAS  # raw bounds are stored + BIAS (docs/supervision.md)

# Thresholds as the simulator's sidecar `limits` gives them (docs/simulator.md).
DEFAULT_CONFIG = {
    "timeout_periods": 3.0,
    "scan_ms": 5,  # how often timeouts are checked against frames of other ids
    "max_counter_delta": 2,
    "mean_ring": 128,  # samples kept per windowed rule
    "gates": {"HitchLoad": {"signal": "hitch_sensor_status", "value": "OK"}},
    # km left at the consumption of the last window_s: TOW_RANGE messages once every_s
    "tow_range": {"pack_kwh": 100.0, "window_s": 60, "every_s": 1.0, "min_window_m": 200,
                  "soc_signal": "soc_pct", "voltage_signal": "pack_voltage_v", "current_signal": "pack_current_a",
                  "speed_signal": "vehicle_speed_kph"},
    "rules": [
        {"kind": "sensor_fault", "type": "status", "signal": "hitch_sensor_status", "fine": ["OK", "INITIALISING"]},
        {"kind": "tongue_overload", "type": "mean", "signal": "tongue_load_kg", "window_s": 1.0,
         "on_above": 550.0, "off_at_or_below": 522.5},
        {"kind": "trailer_disconnected_moving", "type": "edge", "signal": "trailer_connected",
         "from": "CONNECTED", "to": "NOT_CONNECTED", "speed_signal": "vehicle_speed_kph", "speed_above": 5.0},
        {"kind": "soc_low_for_tow", "type": "low_while", "signal": "soc_pct", "on_below": 20.0,
         "off_at_or_above": 21.0, "while_signal": "trailer_connected", "while_value": "CONNECTED"},
        {"kind": "cell_spread", "type": "spread", "signal": "cell_v_max_mv", "minus": "cell_v_min_mv",
         "on_above": 100.0, "off_at_or_below": 80.0},
        {"kind": "overtemperature", "type": "above", "signal": "cell_t_max_c", "on_above": 55.0,
         "off_at_or_below": 52.0},
        # |force| beyond the hitch's rating (tension or compression)
        {"kind": "drawbar_overload", "type": "outside", "signal": "drawbar_force_n", "on_beyond": 40000.0,
         "off_within": 36000.0},
        # the pack's current beyond what the BMS allows now (BmsPowerLimits), in amperes
        {"kind": "pack_current_beyond_limits", "type": "limits", "signal": "pack_current_a",
         "upper_signal": "max_discharge_current_a", "lower_signal": "max_charge_current_a",
         "margin": 10.0, "clear_margin": 0.0},
        # hitch-angle oscillation: half cycles (turning points a band apart) of 0.5-1.5 Hz and at
        # least 2 deg amplitude, three in a row; cleared below 1 deg, out of band, or quiet
        {"kind": "trailer_sway", "type": "sway", "signal": "hitch_angle_deg", "band_deg": 1.0,
         "on_amplitude_deg": 2.0, "off_amplitude_deg": 1.0, "min_hz": 0.5, "max_hz": 1.5, "half_cycles": 3},
        # plausibility: the pack's voltage against the sum of its 96 cells (1 mV = 0.001 V)
        {"kind": "pack_voltage_vs_cells", "type": "sum", "signal": "pack_voltage_v",
         "sum_message": "BmsCellVoltages", "sum_scale": 0.001, "on_above": 30.0, "off_at_or_below": 15.0,
         "debounce": 5},
        # plausibility: the hitch module says OK (the gate) while its load is beyond its own
        # overload threshold
        {"kind": "hitch_status_vs_load", "type": "outside", "signal": "tongue_load_kg", "on_beyond": 1000.0,
         "off_within": 900.0, "debounce": 5},
        # plausibility: the SOC a BMS state allows
        {"kind": "soc_vs_bms_state", "type": "band", "signal": "soc_pct", "state_signal": "bms_state",
         "bands": {"CHARGE_AC": [0.0, 99.5], "CHARGE_DC": [0.0, 99.5], "DRIVE": [0.5, 100.0]}, "debounce": 3},
    ],
}

_TYPES = {"status": firmware.T_STATUS, "above": firmware.T_ABOVE, "spread": firmware.T_SPREAD,
          "mean": firmware.T_MEAN, "edge": firmware.T_EDGE, "low_while": firmware.T_LOW_WHILE,
          "outside": firmware.T_OUTSIDE, "limits": firmware.T_LIMITS, "sway": firmware.T_SWAY,
          "sum": firmware.T_SUM, "band": firmware.T_BAND}
_NO_DEBOUNCE = {firmware.T_MEAN: "its window", firmware.T_EDGE: "an edge is one frame",
                firmware.T_SWAY: "half_cycles"}


class SuperviseError(Exception):
    pass


def merged_config(overrides: dict | None) -> dict:
    """DEFAULT_CONFIG with the keys of `overrides` replaced (rules: by kind)."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in (overrides or {}).items():
        if key == "rules":
            by_kind = {r["kind"]: r for r in config["rules"]}
            for rule in value:
                by_kind.setdefault(rule["kind"], {}).update(rule)
            config["rules"] = list(by_kind.values())
        elif isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(copy.deepcopy(value))  # "gates", "tow_range": only the keys given
        else:
            config[key] = copy.deepcopy(value)
    return config


def _not_available_raw(signal):
    from host_tools.simulate.encoding import not_available_raw  # the DBC comment convention

    return not_available_raw(signal)


def _raw_range(signal) -> tuple[int, int]:
    from host_tools.simulate.encoding import raw_range

    return raw_range(signal)


def _phys(signal, raw):
    return raw * signal.scale + signal.offset


def _first_raw_above(signal, x: float) -> int:
    """The smallest raw whose physical value (as cantools computes it) is > x."""
    r = math.floor((x - signal.offset) / signal.scale) - 2
    while not _phys(signal, r) > x:
        r += 1
    return r


def _last_raw_at_or_below(signal, x: float) -> int:
    return _first_raw_above(signal, x) - 1


def _first_raw_at_or_above(signal, x: float) -> int:
    r = math.floor((x - signal.offset) / signal.scale) - 2
    while not _phys(signal, r) >= x:
        r += 1
    return r


def _choice(signal, label) -> int:
    if isinstance(label, int):
        return label
    for raw, name in (signal.choices or {}).items():
        if str(name) == label:
            return int(raw)
    raise SuperviseError(f"signal {signal.name} has no value {label!r} (choices: "
                         f"{', '.join(str(v) for v in (signal.choices or {}).values())})")


def _lanes(message) -> dict[str, int]:
    at, lanes = 0, {}
    for s in message.signals:
        lanes[s.name] = at
        at += len(layout.lanes(s.start, s.length, s.byte_order))
    return lanes


def frame_period_us(message) -> int:
    """Time between frames of the id; a multiplexed message sends one group per frame."""
    period = (message.cycle_time or 1000) * 1000
    if message.is_multiplexed():
        groups = {v for s in message.signals for v in (s.multiplexer_ids or ())}
        period //= max(1, len(groups))
    return period


def _deps(rule):
    # a rule's input slots (-1: evaluated on every trigger: the window moves)
    typ = rule[1]
    if typ == firmware.T_ABOVE:
        return rule[4], rule[4]
    if typ == firmware.T_SPREAD:
        return rule[4], rule[5]
    if typ == firmware.T_EDGE or typ == firmware.T_LOW_WHILE:
        return rule[4], rule[7]
    if typ == firmware.T_OUTSIDE:
        return rule[4], rule[4]
    if typ == firmware.T_BAND:
        return rule[4], rule[5]
    return -1, -1  # T_MEAN, T_LIMITS (three inputs), T_STATUS (a gate rule), T_SWAY, T_SUM


def _cond_table(rules: dict, rows: int, extra: dict) -> bytes:
    """Supervisor.cx, the conditions' int32 array (firmware/supervise.py, _CX_*): where each
    message's tracked signals, triggers and gate rules are, the windowed means' constants,
    and zeroed state. Built here so the board needs no code for it."""
    st = [0] * rows + list(struct.unpack(f"<{len(rules['SIG_TAB']) // 4}i", rules["SIG_TAB"]))
    nm = len(rules["TIMEOUT_US"])
    ns = len(rules["SLOT_LANE"])
    nr = len(rules["RULES"])
    at = size = firmware._CX_MSG + firmware._CXW * nm  # the per-message lists start after the header
    for mi in range(nm):
        if len(rules["PRE_RULES"][mi]) + len(rules["TRIGGERS"][mi]) // 2 > firmware._MAX_TODO:
            raise SuperviseError(f"message {mi}: more than {firmware._MAX_TODO} condition rules")
        size += len(rules["SLOTS_OF"][mi]) + len(rules["TRIGGERS"][mi]) + 2 * len(rules["PRE_RULES"][mi])
    size += 7 * ns + (firmware._MNW + 5) * nr  # memo, active, pend, the entry, two deps
    cx = [0] * size
    for mi in range(nm):
        h = firmware._CX_MSG + firmware._CXW * mi
        cx[h] = at
        cx[h + 1] = len(rules["SLOTS_OF"][mi])
        for s in rules["SLOTS_OF"][mi]:
            cx[at] = s
            at += 1
        cx[h + 2] = at
        triggers = rules["TRIGGERS"][mi]
        cx[h + 3] = len(triggers) // 2
        for j in range(0, len(triggers), 2):
            cx[at] = triggers[j]
            cx[at + 1] = triggers[j + 1] + 1  # 0: no slot must be fresh
            at += 2
        cx[h + 4] = at
        cx[h + 5] = len(rules["PRE_RULES"][mi])
        for k in rules["PRE_RULES"][mi]:  # status rules on the gate signal: before the gate
            cx[at] = k
            cx[at + 1] = rules["RULES"][k][4]
            at += 2
        cx[h + 6] = rules["GATE_LANE"][mi] + 1
        cx[h + 7] = rules["GATE_VALUE"][mi]
    for part in (firmware._CX_CUR, firmware._CX_PREV, firmware._CX_KNOWN, firmware._CX_FRESH, firmware._CX_VER,
                 firmware._CX_ROW, firmware._CX_CURB):
        cx[part] = at
        at += ns
    cx[firmware._CX_MEMO] = at
    at += nr
    cx[firmware._CX_ACTIVE] = at
    at += nr
    cx[firmware._CX_PEND] = at
    at += nr
    cx[firmware._CX_MEAN] = at
    at += firmware._MNW * nr
    cx[firmware._CX_DEP] = at
    for s in range(ns):
        cx[cx[firmware._CX_ROW] + s] = rows + firmware._RW * rules["SLOT_ROW"][s]
    for k in range(nr):
        a, b = _deps(rules["RULES"][k])
        cx[at + 2 * k] = a + 1
        cx[at + 2 * k + 1] = b + 1

    def bound(slot):
        return _bound(rows, st, rules["SLOT_ROW"][slot])

    def small(*terms):  # a sum of these magnitudes stays an int on a 32-bit board, biased too
        return None not in terms and sum(terms) < _SMALL

    for k in range(nr):
        rule = rules["RULES"][k]
        at = cx[firmware._CX_MEAN] + firmware._MNW * k
        B = firmware._BIAS
        # _slots tests a rule (firmware/supervise.py, _acts) only when its arithmetic cannot
        # overflow there; else _MN_ALWAYS: bytecode evaluates it on every trigger
        if rule[1] == firmware.T_ABOVE:  # raised at >= p1, cleared at <= p2
            cx[at:at + 6] = [firmware._MN_LEVEL, rule[4], rule[5] + B, 0, 0, rule[6] + B]
        elif rule[1] == firmware.T_OUTSIDE:  # raised at >= p1 or <= p2, cleared within p3 .. p4
            cx[at:at + 6] = [firmware._MN_LEVEL, rule[4], rule[5] + B, rule[6] + B + 1, rule[7] + B, rule[8] + B]
        elif rule[1] == firmware.T_SWAY:  # the band and the longest half cycle; the rest is state
            cx[at:at + 12] = [firmware._MN_SWAY, rule[4], extra[k], 0, 0, 0, 0, rule[8], 0, 0, 0, B]
        elif rule[1] == firmware.T_SUM:
            g = extra[k]
            summed = [_bound(rows, st, g["first_row"] + i * g["group_step"] + j * g["signal_step"])
                      for i in range(g["groups"]) for j in range(g["per_group"])]
            b = bound(rule[4])
            fast = b is not None and None not in summed and small(b * rule[5], sum(summed), abs(rule[6]), abs(rule[7]))
            cx[at:at + 16] = [firmware._MN_SUM, g["mux_lane"], firmware._RW * g["group_step"], g["per_group"],
                              rows + firmware._RW * g["first_row"], g["mi"], g["groups"], g["ring_at"],
                              firmware._RW * g["signal_step"], 0, 0, B,
                              rule[4], rule[5] if fast else 0, rule[6] + B if fast else 0, rule[7] + B if fast else 0]
        elif rule[1] == firmware.T_SPREAD:
            if small(bound(rule[4]), bound(rule[5]), abs(rule[6]), abs(rule[7])):
                cx[at:at + 5] = [firmware._MN_SPREAD, rule[4], rule[5], rule[6] + B, rule[7] + B]
        elif rule[1] == firmware.T_EDGE:
            if small(bound(rule[7]), abs(rule[8])):
                cx[at:at + 6] = [firmware._MN_EDGE, rule[4], rule[7], rule[5], rule[6], rule[8] + B]
        elif rule[1] == firmware.T_LIMITS:
            limits = [bound(rule[5]), bound(rule[6])]
            if None not in limits and small(bound(rule[4]), rule[7] * max(limits), max(abs(rule[8]), abs(rule[9]))):
                cx[at:at + 7] = [firmware._MN_LIMITS, rule[4], rule[5], rule[6], rule[7], rule[8] + B, rule[9] + B]
        if rule[1] != firmware.T_MEAN:
            continue
        row = rows + firmware._RW * rules["SLOT_ROW"][rule[4]]
        at = cx[firmware._CX_MEAN] + firmware._MNW * k
        q_on, r_on = rule[6] // 1000, rule[6] % 1000
        q_off, r_off = rule[7] // 1000, rule[7] % 1000
        ring = rule[9]
        # the ring's sums must stay small ints on a 32-bit board, else Supervisor._mean runs it
        big = max(abs(st[row + 2] - firmware._BIAS), abs(st[row + 3] - firmware._BIAS), abs(q_on), abs(q_off))
        fast = st[row + 1] != firmware._SKIP and big < (1 << 28) // ring and rule[5] < firmware._HALF
        values = (firmware._MN_MEAN if fast else firmware._MN_ALWAYS, rule[4], rule[5], q_on + firmware._BIAS, r_on,
                  q_off + firmware._BIAS, r_off, rule[8], ring)
        cx[at:at + len(values)] = values
    return struct.pack(f"<{len(cx)}i", *cx)


_SMALL = 1 << 29  # what _slots computes with stays below this: + _BIAS, an int32 on any board


def _bound(rows: int, st: list, row: int) -> int | None:
    """The largest |raw| signal `row` (of st's rows) has once range-checked; None: unchecked."""
    at = rows + firmware._RW * row
    if st[at + 1] == firmware._SKIP:
        return None
    return max(abs(st[at + 2] - firmware._BIAS), abs(st[at + 3] - firmware._BIAS))


def _sum_rule(kind, rule, s, messages, lanes_of, sig_start, ring_at):
    """T_SUM's params and its cx entry: the summed message's multiplexed signals, groups
    0, 1, ... of the same size, each signal one lane, at evenly spaced rows (cantools
    orders a message's signals by start bit: cell 1, 4, 7 ... then 2, 5, 8 ...)."""
    mi = next((i for i, m in enumerate(messages) if m.name == rule["sum_message"]), None)
    if mi is None:
        raise SuperviseError(f"supervision rule {kind}: no message {rule['sum_message']!r}")
    message = messages[mi]
    mux = [x for x in message.signals if x.is_multiplexer]
    summed = [x for x in message.signals if x.multiplexer_ids]
    index = {x.name: i for i, x in enumerate(message.signals)}
    by_group: dict = {}
    for x in summed:
        by_group.setdefault(x.multiplexer_ids[0], []).append(x)
    groups = sorted(by_group)
    per = len(by_group[groups[0]]) if groups else 0
    ok = len(mux) == 1 and groups == list(range(len(groups))) and per and all(
        len(v) == per for v in by_group.values())
    ok = ok and all(len(x.multiplexer_ids) == 1 and not x.is_float and not x.is_signed and x.length <= 30
                    and x.offset == 0 and x.scale == summed[0].scale
                    and len(layout.lanes(x.start, x.length, x.byte_order)) == 1 for x in summed)
    if ok:
        rows = [[index[x.name] for x in sorted(by_group[g], key=lambda x: x.start)] for g in groups]
        first = rows[0][0]
        g_step = rows[1][0] - first if len(groups) > 1 else 0
        j_step = rows[0][1] - first if per > 1 else 0
        lanes = lanes_of[mi]
        ok = all(rows[g][j] == first + g * g_step + j * j_step for g in groups for j in range(per)) and all(
            lanes[x.name] - lanes[message.signals[first].name] == index[x.name] - first for x in summed)
    if not ok:
        raise SuperviseError(f"supervision rule {kind}: {message.name} must carry groups 0, 1, ... of the same number "
                             f"of unsigned integer signals (same scale, no offset) at evenly spaced positions")
    unit = summed[0].scale * rule["sum_scale"]  # one summed raw unit in the signal's unit
    factor = s.scale / unit
    if s.offset or abs(factor - round(factor)) > 1e-9 or round(factor) < 1:
        raise SuperviseError(f"supervision rule {kind}: {s.name}'s scale must be a whole multiple of the summed "
                             f"signals' ({unit:g} {s.unit or ''}), without offset")
    p = [round(factor), math.floor(rule["on_above"] / unit + 1e-9), math.floor(rule["off_at_or_below"] / unit + 1e-9)]
    entry = {"mi": mi, "mux_lane": lanes_of[mi][mux[0].name], "first_row": sig_start[mi] + first,
             "group_step": g_step, "signal_step": j_step, "per_group": per, "groups": len(groups), "ring_at": ring_at}
    return p, entry


def _tow_range(cfg: dict, by_signal: dict, slot) -> tuple:
    """TOW_RANGE: (soc, voltage, current, speed slots, Wh per SOC raw unit, samples, µs between
    samples, power divisor, cm per speed raw unit as a fraction, least window in m), or ()
    when off or when the DBC lacks a signal."""
    keys = ("soc_signal", "voltage_signal", "current_signal", "speed_signal")
    if not cfg or not cfg.get("enabled", True) or any(cfg.get(k) not in by_signal for k in keys):
        return ()
    soc, volt, amp, speed = (by_signal[cfg[k]][2] for k in keys)
    per_w = Fraction(volt.scale).limit_denominator(10**6) * Fraction(amp.scale).limit_denominator(10**6)
    if volt.offset or amp.offset or speed.offset or soc.offset or per_w.numerator != 1:
        raise SuperviseError("tow_range: voltage x current must be 1/N W per raw unit, and no signal may have an "
                             f"offset ({volt.name}, {amp.name}, {speed.name}, {soc.name})")
    cm = Fraction(speed.scale).limit_denominator(10**6) * Fraction(100_000, 3600)  # one second at 1 raw unit
    samples = max(1, round(cfg["window_s"] / cfg["every_s"]))
    every_us = round(cfg["every_s"] * 1e6)
    if every_us != 1_000_000:
        raise SuperviseError("tow_range: every_s must be 1 (a sample is one second's energy and distance)")
    wh_per_raw = round(cfg["pack_kwh"] * 1000 * soc.scale / 100)
    return (slot(soc.name), slot(volt.name), slot(amp.name), slot(speed.name), wh_per_raw, samples, every_us,
            per_w.denominator, cm.numerator, cm.denominator, int(cfg["min_window_m"]))


def build_tables(dbc: Dbc, overrides: dict | None = None) -> dict:
    """The rule tables the board reads, as plain ints and tuples."""
    config = merged_config(overrides)
    messages = list(dbc.messages)
    by_signal = {}
    for mi, message in enumerate(messages):
        for si, s in enumerate(message.signals):
            by_signal[s.name] = (mi, si, s)

    def find(name):
        try:
            return by_signal[name]
        except KeyError:
            raise SuperviseError(f"{dbc.path.name}: no signal {name!r} (a supervision rule names it)") from None

    t = {"TIMEOUT_US": [], "COUNTER_LANE": [], "CRC_LANE": [], "COUNTER_MASK": [], "SIG_START": [],
         "RAW_LO": [], "RAW_HI": [], "RAW_NA": [], "SIG_LANE": [], "SIG_BITS": [], "GATE_LANE": [], "GATE_VALUE": []}
    lanes_of = [_lanes(m) for m in messages]
    for mi, message in enumerate(messages):
        t["TIMEOUT_US"].append(round(config["timeout_periods"] * frame_period_us(message)))
        prot = protection(message)
        lanes = lanes_of[mi]
        if prot is not None:
            counter = message.get_signal_by_name(prot.counter)
            t["COUNTER_LANE"].append(lanes[prot.counter])
            t["CRC_LANE"].append(lanes[prot.crc])
            t["COUNTER_MASK"].append((1 << counter.length) - 1)
        else:
            t["COUNTER_LANE"].append(-1)
            t["CRC_LANE"].append(-1)
            t["COUNTER_MASK"].append(0)
        t["SIG_START"].append(len(t["RAW_LO"]))
        for s in message.signals:
            # raw values + BIAS must be positive int32s: wider signals are not range-checked
            wide = s.length > 30 or s.is_float
            lo, hi = _raw_range(s) if not wide else (0, 0)
            na = _not_available_raw(s)
            t["SIG_BITS"].append(0xFF if wide else s.length if s.is_signed else 0)
            t["RAW_LO"].append(lo + BIAS)
            t["RAW_HI"].append(hi + BIAS)
            t["RAW_NA"].append(0 if wide or na is None else na + BIAS)  # 0: no raw is
            t["SIG_LANE"].append(lanes[s.name])
        gate = config["gates"].get(message.name)
        if gate and gate["signal"] in lanes:
            signal = message.get_signal_by_name(gate["signal"])
            t["GATE_LANE"].append(lanes[signal.name])
            t["GATE_VALUE"].append(_choice(signal, gate["value"]))
        else:
            t["GATE_LANE"].append(-1)
            t["GATE_VALUE"].append(0)
    t["SIG_START"].append(len(t["RAW_LO"]))

    slots: list[tuple[int, int]] = []  # (mi, si)

    def slot(name):
        mi, si, _ = find(name)
        if (mi, si) not in slots:
            slots.append((mi, si))
        return slots.index((mi, si))

    rules, pre = [], [[] for _ in messages]
    triggers = [[] for _ in messages]
    ring_at = 0
    given = {r["kind"] for r in (overrides or {}).get("rules", ())}
    skipped = []
    usable = []
    extra: dict = {}  # per rule, what only the cx table needs
    debounce = []
    for rule in config["rules"]:
        if not rule.get("enabled", True):
            continue
        names = [rule[key] for key in ("signal", "minus", "speed_signal", "while_signal", "upper_signal",
                                       "lower_signal", "state_signal") if key in rule]
        if "sum_message" in rule and not any(m.name == rule["sum_message"] for m in messages):
            names.append(rule["sum_message"])
        if rule["kind"] not in given and any(name not in by_signal for name in names):
            skipped.append(rule["kind"])  # a default rule for signals this DBC does not have
        else:
            usable.append(rule)
    for k, rule in enumerate(usable):
        kind = rule["kind"]
        if kind not in KINDS:
            raise SuperviseError(f"supervision rule {kind!r}: the board knows {', '.join(KINDS)}")
        typ = _TYPES.get(rule.get("type"))
        if typ is None:
            raise SuperviseError(f"supervision rule {kind}: type {rule.get('type')!r}, choose from {', '.join(_TYPES)}")
        mi, si, s = find(rule["signal"])
        if s.scale <= 0:
            raise SuperviseError(f"{s.name}: rules need a positive scale")
        p = []
        if typ == firmware.T_STATUS:
            fine = [_choice(s, v) for v in rule["fine"]] + [_choice(s, rule["fine"][0])]
            p = [lanes_of[mi][s.name], fine[0], fine[1]]
            pre[mi].append(k)
        elif typ == firmware.T_ABOVE:
            p = [slot(s.name), _first_raw_above(s, rule["on_above"]), _last_raw_at_or_below(s, rule["off_at_or_below"])]
            triggers[mi] += [k, p[0]]
        elif typ == firmware.T_SPREAD:
            mi_b, _, sb = find(rule["minus"])
            if mi_b != mi or sb.scale != s.scale:
                raise SuperviseError(f"{kind}: {s.name} and {sb.name} must share a message and a scale")
            on = math.floor(rule["on_above"] / s.scale + 1e-9) + 1
            off = math.floor(rule["off_at_or_below"] / s.scale + 1e-9)
            p = [slot(s.name), slot(sb.name), on, off]
            triggers[mi] += [k, -1]
        elif typ == firmware.T_MEAN:
            size = int(config["mean_ring"])
            p = [slot(s.name), round(rule["window_s"] * 1e6), round(1000 * (rule["on_above"] - s.offset) / s.scale),
                 round(1000 * (rule["off_at_or_below"] - s.offset) / s.scale), ring_at, size]
            ring_at += size
            triggers[mi] += [k, -1]
        elif typ == firmware.T_EDGE:
            _, _, sp = find(rule["speed_signal"])
            p = [slot(s.name), _choice(s, rule["from"]), _choice(s, rule["to"]), slot(sp.name),
                 _first_raw_above(sp, rule["speed_above"])]
            triggers[mi] += [k, -1]
        elif typ == firmware.T_LOW_WHILE:
            mi_w, _, sw = find(rule["while_signal"])
            p = [slot(s.name), _first_raw_at_or_above(s, rule["on_below"]) - 1,
                 _first_raw_at_or_above(s, rule["off_at_or_above"]), slot(sw.name), _choice(sw, rule["while_value"])]
            triggers[mi] += [k, p[0]]
            if mi_w != mi:
                triggers[mi_w] += [k, -1]
        elif typ == firmware.T_OUTSIDE:
            p = [slot(s.name), _first_raw_above(s, rule["on_beyond"]),
                 _first_raw_at_or_above(s, -rule["on_beyond"]) - 1,
                 _first_raw_at_or_above(s, -rule["off_within"]), _last_raw_at_or_below(s, rule["off_within"])]
            triggers[mi] += [k, p[0]]
        elif typ == firmware.T_SWAY:
            if s.is_float or s.length > 30:
                raise SuperviseError(f"{kind}: {s.name} must be an integer signal of at most 30 bits")
            p = [slot(s.name), round(2 * rule["on_amplitude_deg"] / s.scale), round(2 * rule["off_amplitude_deg"] / s.scale),
                 math.floor(1e6 / (2 * rule["max_hz"])), round(1e6 / (2 * rule["min_hz"])), int(rule["half_cycles"])]
            if not 0 < p[3] < p[4] < firmware._HALF or p[5] < 1:
                raise SuperviseError(f"{kind}: needs 0 < min_hz < max_hz and half_cycles >= 1")
            extra[k] = max(1, round(rule["band_deg"] / s.scale))
            triggers[mi] += [k, p[0]]
        elif typ == firmware.T_SUM:
            p, extra[k] = _sum_rule(kind, rule, s, messages, lanes_of, t["SIG_START"], ring_at)
            p = [slot(s.name)] + p
            ring_at += extra[k]["groups"]
            triggers[extra[k]["mi"]] += [k, -1]
            triggers[mi] += [k, p[0]]
        elif typ == firmware.T_BAND:
            mi_c, _, sc = find(rule["state_signal"])
            if not rule.get("bands"):
                raise SuperviseError(f"supervision rule {kind}: give the bands, e.g. {{\"DRIVE\": [0.5, 100]}}")
            p = [slot(s.name), slot(sc.name)]
            for state, (lo, hi) in rule["bands"].items():
                p += [_choice(sc, state), _first_raw_at_or_above(s, lo), _last_raw_at_or_below(s, hi)]
            triggers[mi] += [k, p[0]]
            if mi_c != mi:
                triggers[mi_c] += [k, p[1]]
        elif typ == firmware.T_LIMITS:
            mi_u, _, su = find(rule["upper_signal"])
            mi_l, _, sl = find(rule["lower_signal"])
            mul = su.scale / s.scale
            whole = abs(mul - round(mul)) < 1e-9 and round(mul) >= 1
            if mi_u != mi_l or sl.scale != su.scale or s.offset or su.offset or sl.offset or not whole:
                raise SuperviseError(f"{kind}: {su.name} and {sl.name} must share a message and a scale that is a "
                                     f"whole multiple of {s.name}'s, all without offset")
            p = [slot(s.name), slot(su.name), slot(sl.name), round(mul), round(rule["margin"] / s.scale),
                 round(rule["clear_margin"] / s.scale)]
            triggers[mi] += [k, p[0]]
            triggers[mi_u] += [k, p[1]]
        rules.append(tuple([KINDS.index(kind) + 1, typ, mi, si] + p + [0] * (6 - len(p))))
        n = int(rule.get("debounce", 1))
        if not 1 <= n <= 255 or (n > 1 and typ in _NO_DEBOUNCE):
            why = f" ({_NO_DEBOUNCE[typ]} is its debounce)" if typ in _NO_DEBOUNCE else ""
            raise SuperviseError(f"supervision rule {kind}: debounce {rule.get('debounce')!r} not allowed{why}; "
                                 f"give a count of evaluations from 1 to 255")
        debounce.append(n)
    t["TOW_RANGE"] = _tow_range(config.get("tow_range") or {}, by_signal, slot)  # its signals are slots too
    t["SLOT_LANE"] = [lanes_of[mi][messages[mi].signals[si].name] for mi, si in slots]
    t["SLOT_ROW"] = [t["SIG_START"][mi] + si for mi, si in slots]
    t["SLOTS_OF"] = [tuple(k for k, (m, _) in enumerate(slots) if m == mi) for mi in range(len(messages))]
    t["RULES"] = rules
    t["DEBOUNCE"] = bytes(debounce)
    t["PRE_RULES"] = [tuple(x) for x in pre]
    t["TRIGGERS"] = [tuple(x) for x in triggers]
    t["RING_SIZE"] = max(1, ring_at)
    t["SCAN_US"] = round(config["scan_ms"] * 1000)
    t["MAX_COUNTER_DELTA"] = int(config["max_counter_delta"])
    rows = zip(t.pop("SIG_LANE"), t.pop("SIG_BITS"), t.pop("RAW_LO"), t.pop("RAW_HI"), t.pop("RAW_NA"))
    t["SIG_TAB"] = b"".join(struct.pack("<5i", *row) for row in rows)
    t["CX"] = _cond_table(t, firmware._MSG + firmware._MW * len(messages), extra)
    t["SKIPPED_RULES"] = skipped
    t["DBC_SHA256"] = dbc.sha256
    return t


def render(tables: dict) -> str:
    """The tables as a MicroPython module: ints, strs and tuples only."""
    lines = ["# Supervision rule tables, generated by host_tools/supervise.py from the DBC and the",
             "# config (docs/supervision.md). Do not edit: run `mule flash` again."]
    for key, value in tables.items():
        lines.append(f"{key} = {_literal(value)}")
    return "\n".join(lines) + "\n"


def _literal(value) -> str:
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


TABLES_FILE = f"{RULES_MODULE}.bin"  # beside the module on the board: SIG_TAB, then CX


def write_rules(dbc: Dbc, path, overrides: dict | None = None) -> tuple[Path, Path]:
    """The board's rule tables: the module at `path` and, beside it, TABLES_FILE with the two
    int32 tables, which the board reads straight into its arrays (a bytes constant in the
    module would sit in its RAM beside the copy). Returns both paths."""
    path = Path(path)
    tables = build_tables(dbc, overrides)
    blob = path.with_name(TABLES_FILE)
    blob.write_bytes(tables["SIG_TAB"] + tables["CX"])
    tables["TABLES"] = TABLES_FILE
    tables["SIG_TAB_BYTES"] = len(tables.pop("SIG_TAB"))
    tables["CX_BYTES"] = len(tables.pop("CX"))
    path.write_text(render(tables))
    return path, blob


def rules_module(dbc: Dbc, overrides: dict | None = None) -> types.ModuleType:
    """The tables as the board sees them: the rendered module, executed."""
    module = types.ModuleType(RULES_MODULE)
    exec(compile(render(build_tables(dbc, overrides)), RULES_MODULE, "exec"), module.__dict__)
    return module


# ---- the reference ----------------------------------------------------------------------------

@dataclass(frozen=True)
class AlertEvent(Alert):
    """One ALERT as the board sends it (the link's message), read with the rule table."""

    @property
    def kind(self) -> str:
        code = self.code & 0xFF
        # 1..31 supervision's; 32.. the board's own (can_bus_state: docs/protocol.md), named by the text
        return KINDS[code - 1] if 1 <= code <= len(KINDS) else (self.text.split() or [f"code {code}"])[0]

    @property
    def cleared(self) -> bool:
        return bool(self.code & CLEARED)

    def key(self) -> tuple:
        return (self.frame_no, self.code, self.severity, self.mi, self.si, self.value)


_RESULT = {UNKNOWN_ID: -1, WRONG_LENGTH: -2, BAD_MUX: -3}


def with_values(dbc: Dbc, frame, values: dict):
    """`frame` with some of its signals set to physical `values` and, for a protected
    message, its CRC recomputed: faults the simulator does not make, for tests."""
    message = dbc.lookup(frame.can_id, frame.ext)
    decoded = message.decode(bytes(frame.data), decode_choices=False, scaling=True)
    decoded.update(values)
    data = bytearray(message.encode(decoded, scaling=True, strict=False))
    prot = protection(message)
    if prot is not None:
        decoded = message.decode(bytes(data), decode_choices=False, scaling=True)
        decoded[prot.crc] = _e2e.payload_crc(data)
        data = bytearray(message.encode(decoded, scaling=True, strict=False))
    return dataclasses.replace(frame, data=bytes(data))


def replay_times(frames) -> list[int]:
    """Each frame's time as the board sees it in replay mode (board_stream.stream_frames)."""
    if not frames:
        return []
    t0 = frames[0].t
    return [int((f.t - t0) * 1e6) & 0xFFFFFFFF & MASK for f in frames]


def check_frames(dbc: Dbc, frames, overrides: dict | None = None, rules=None,
                 tow_out: list | None = None) -> list[AlertEvent]:
    """Run the board's supervision in CPython over `frames` (objects with t, can_id, ext,
    data), numbered 0, 1, 2 ... as board_stream numbers them. The alerts, in order; the
    towing range estimates (TowRange messages) go to `tow_out` when given."""
    rules = rules or rules_module(dbc, overrides)
    messages = list(dbc.messages)
    index = {m.name: mi for mi, m in enumerate(messages)}
    lanes_of = [_lanes(m) for m in messages]
    order = [{s.name: si for si, s in enumerate(m.signals)} for m in messages]
    n_lanes = max([1] + [sum(len(layout.lanes(s.start, s.length, s.byte_order)) for s in m.signals)
                         for m in messages])
    n_sel = max([1] + [len(m.signals) for m in messages])
    lanes = array("i", bytes(4 * n_lanes))
    selected = array("H", bytes(2 * (n_sel + 1)))
    out: list[AlertEvent] = []

    def emit(frame_no, code, severity, mi, si, value, text):
        out.append(AlertEvent(int(frame_no), code, severity, mi, si, int(value), bytes(text).decode()))

    def lookup(can_id, ext):
        message = dbc.lookup(can_id, ext)
        return -1 if message is None else index[message.name]

    def tow(frame_no, range_dkm, wh_per_km, window_m):
        tow_out.append(TowRange(int(frame_no), range_dkm, wh_per_km, window_m))

    sup = firmware.Supervisor(rules, lookup, emit, tow if tow_out is not None else None)
    for frame_no, (frame, t) in enumerate(zip(frames, replay_times(frames))):
        data = bytearray(bytes(frame.data))
        outcome = decode_one(dbc, frame.can_id, frame.ext, bytes(data))
        if outcome.status == DECODED:
            mi = index[outcome.msg]
            selected[0] = len(outcome.raw)
            for k, (name, raw) in enumerate(outcome.raw.items()):
                lanes[lanes_of[mi][name]] = int(raw)
                selected[k + 1] = order[mi][name]
            result = mi
        else:
            result = _RESULT[outcome.status]
        sup.frame(frame_no, t, result, frame.can_id, frame.ext, data, len(data), lanes, selected)
    return out


def board_events(alerts) -> list[AlertEvent]:
    """The ALERT messages a board sent (StreamResult.alerts) as AlertEvents."""
    return [AlertEvent(a.frame_no, a.code, a.severity, a.mi, a.si, a.value, a.text) for a in alerts]


def intervals(dbc: Dbc, events: list[AlertEvent], frame_times: list[float], first_t: float) -> list[dict]:
    """Raised/cleared pairs as the sidecar's alerts: {kind, message, signal, start, end[, frames]}.
    frame_times: each frame's time in seconds (the sidecar's clock); first_t: frame 0's."""
    messages = list(dbc.messages)
    open_: dict = {}
    done: list[dict] = []
    base_us = round(first_t * 1e6)

    def board_time(value: int, near: float) -> float:
        # a board time (µs mod 2**30 since frame 0) back on the sidecar's clock, near `near`
        rel = round(near * 1e6) - base_us
        v = value + ((rel - value) // (MASK + 1)) * (MASK + 1)
        if rel - v > (MASK + 1) // 2:
            v += MASK + 1
        return round((v + base_us) / 1e6, 6)

    for e in events:
        kind = e.kind
        if e.mi >= 0:
            message = messages[e.mi].name
        else:
            message = None
        signal = None
        if kind == "range":
            signal = messages[e.mi].signals[e.si].name
        elif e.si >= 0 and e.mi >= 0:
            signal = messages[e.mi].signals[e.si].name
        at = frame_times[e.frame_no]
        if e.mi < 0:  # out_of_order of another ECU's frame: raised with its id, then cleared
            if not e.cleared:
                done.append({"kind": kind, "message": f"{e.value:#x}", "signal": None, "start": at, "end": at,
                             "frames": 1})
            continue
        key = (kind, message, signal)
        if not e.cleared:
            start = board_time(e.value, at) if kind == "timeout" else at
            open_[key] = {"kind": kind, "message": message, "signal": signal, "start": start, "end": None}
        else:
            alert = open_.pop(key, None)
            if alert is None:
                continue
            alert["end"] = at
            if kind in ("dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order"):
                alert["frames"] = e.value
            done.append(alert)
    done.extend(open_.values())
    done.sort(key=lambda a: (a["start"], a["kind"], a["message"] or ""))
    return done


def expected(truth: dict) -> list[dict]:
    """The sidecar's expected alerts in the form intervals() gives (bus_off left out: the
    board cannot see the logger's own bus-off in a replay)."""
    out = []
    for a in truth["expected_alerts"]:
        if a["kind"] == "bus_off":
            continue
        item = {k: a[k] for k in ("kind", "message", "signal", "start", "end")}
        if "frames" in a:
            item["frames"] = a["frames"]
        out.append(item)
    out.sort(key=lambda a: (a["start"], a["kind"], a["message"] or ""))
    return out


def same_alerts(got: list[dict], want: list[dict], tolerance_s: float = 2e-6) -> bool:
    """Alert lists equal, times to `tolerance_s` (replay times are whole µs since frame 0,
    truncated from the log's float seconds, so a timeout's start may differ by 1 µs)."""
    if len(got) != len(want):
        return False
    for a, b in zip(got, want):
        if {k: v for k, v in a.items() if k not in ("start", "end")} != \
                {k: v for k, v in b.items() if k not in ("start", "end")}:
            return False
        for k in ("start", "end"):
            if (a[k] is None) != (b[k] is None) or (a[k] is not None and abs(a[k] - b[k]) > tolerance_s):
                return False
    return True


# ---- cost on the board --------------------------------------------------------------------------

BENCH_SCRIPT = Path(__file__).resolve().parent / "mp" / "supervise_bench.py"


def pack_frames(frames) -> bytes:
    out = bytearray()
    for frame, t in zip(frames, replay_times(frames)):
        data = bytes(frame.data)[:8]
        out += struct.pack("<IIBB", t, frame.can_id, int(frame.ext), len(data)) + data.ljust(8, b"\0")
    return bytes(out)


def _bench_firmware(dbc: Dbc, directory: Path, frames, arch: str | None, overrides: dict | None) -> tuple[Path, Path]:
    """The firmware as `mule flash` builds it and the frames as supervise_bench.py reads them."""
    from host_tools.flash import build_firmware  # flash imports this module

    fw = directory / "fw"
    build_firmware(dbc, fw, arch, {"mode": "replay", "supervision": overrides or {}})
    blob = directory / "frames.bin"
    blob.write_bytes(pack_frames(frames))
    return fw, blob


def measure(dbc: Dbc, frames, rounds: int = 3, heap: str | None = "100K", arch: str | None = "x64",
            overrides: dict | None = None) -> dict:
    """For `frames`: µs per frame of the decoder call alone and with supervision (decode_us,
    supervised_us, added_pct), of the board's per-frame path (app.Board.decode: decode and
    TELEMETRY) without and with it (board_path_us, board_path_supervised_us,
    board_added_pct; only without a heap limit: the board and the frames do not fit
    100 KB together), heap bytes over the steady frames, and alerts raised. Each figure
    includes the benchmark's own unpacking of the frame record, given alone as unpack_us
    (a difference of two noisy minimums: see measure_instructions for the costs without it)."""
    from host_tools.tools import tool

    with tempfile.TemporaryDirectory(prefix="mule-supervise-") as tmp:
        fw, blob = _bench_firmware(dbc, Path(tmp), frames, arch, overrides)
        cmd = [tool("micropython")] + (["-X", f"heapsize={heap}"] if heap else [])
        cmd += [str(BENCH_SCRIPT), str(fw), str(blob), str(len(frames)), str(rounds), "0" if heap else "1"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"MicroPython supervision benchmark failed: {(result.stdout + result.stderr).strip()}")
    decode_us, supervised_us, heap_bytes, steady, alerts, path_us, path_sup_us, unpack_us = result.stdout.split()[-8:]
    decode_us, supervised_us, path_us, path_sup_us, unpack_us = map(
        float, (decode_us, supervised_us, path_us, path_sup_us, unpack_us))
    return {"decode_us": decode_us, "supervised_us": supervised_us, "unpack_us": unpack_us,
            "added_pct": 100 * (supervised_us - decode_us) / decode_us,
            "board_path_us": path_us, "board_path_supervised_us": path_sup_us,
            "board_added_pct": 100 * (path_sup_us - path_us) / path_us if path_us else None,
            "heap_bytes": int(heap_bytes), "steady_frames": int(steady), "alerts": int(alerts)}


INSTRUCTION_VARIANTS = ("decode", "supervised", "board_path", "board_path_supervised", "unpack")


def measure_instructions(dbc: Dbc, frames, arch: str | None = "x64") -> dict | None:
    """Machine instructions per frame of the four variants `measure` times (valgrind's
    callgrind counts them: the same figure on every run, however busy the machine), or None
    without valgrind. Each variant runs alone, once with one round and once with three; the
    difference is two rounds of it and nothing else. The unpacking of each frame record
    ("unpack") is taken off the others, as in `measure`."""
    from host_tools.tools import tool

    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="mule-supervise-") as tmp:
        fw, blob = _bench_firmware(dbc, Path(tmp), frames, arch, None)
        for v, name in enumerate(INSTRUCTION_VARIANTS):
            counts = []
            for rounds in (1, 3):
                cmd = [valgrind, "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out", tool("micropython"),
                       str(BENCH_SCRIPT), str(fw), str(blob), str(len(frames)), str(rounds), "1", str(v)]
                result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                found = re.search(r"Collected : (\d+)", result.stderr)
                if result.returncode != 0 or found is None:
                    raise RuntimeError(f"valgrind on the supervision benchmark failed: {result.stderr.strip()[-2000:]}")
                counts.append(int(found.group(1)))
            out[name] = (counts[1] - counts[0]) / (2 * len(frames))
    for name in INSTRUCTION_VARIANTS[:-1]:
        out[name] -= out["unpack"]
    out["added_pct"] = 100 * (out["supervised"] - out["decode"]) / out["decode"]
    out["board_added_pct"] = 100 * (out["board_path_supervised"] - out["board_path"]) / out["board_path"]
    return out
