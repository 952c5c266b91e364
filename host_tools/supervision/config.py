"""Supervision's one threshold table (DEFAULT_CONFIG, physical units) and its one conversion
to raw units (raw_thresholds). The board's rule tables (rules.py) and the simulator's
expected alerts (host_tools/simulate/alerts.py) both derive from these two, so they agree
at any threshold, not only at the defaults (docs/supervision.md)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from fractions import Fraction


class SuperviseError(Exception):
    pass


TONGUE_RATING_KG = 550.0  # the receiver hitch's maximum tongue load (the simulated truck's too)

DEFAULT_CONFIG = {
    "timeout_periods": 3.0,
    "scan_ms": 5,  # how often timeouts are checked against frames of other ids
    "max_counter_delta": 2,  # a counter step of 1..2 (one lost frame) is tolerated; more is a jump
    "mean_ring": 128,  # samples kept per windowed rule
    "gates": {"HitchLoad": {"signal": "hitch_sensor_status", "value": "OK"}},
    # km left at the consumption of the last window_s: TOW_RANGE messages once every_s
    "tow_range": {"pack_kwh": 100.0, "window_s": 60, "every_s": 1.0, "min_window_m": 200,
                  "soc_signal": "soc_pct", "voltage_signal": "pack_voltage_v", "current_signal": "pack_current_a",
                  "speed_signal": "vehicle_speed_kph"},
    "rules": [
        {"kind": "sensor_fault", "type": "status", "signal": "hitch_sensor_status", "fine": ["OK", "INITIALISING"]},
        {"kind": "tongue_overload", "type": "mean", "signal": "tongue_load_kg", "window_s": 1.0,
         "on_above": TONGUE_RATING_KG, "off_at_or_below": 0.95 * TONGUE_RATING_KG},
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
        # plausibility: the pack's voltage against the sum of its 96 cells (1 mV = 0.001 V). Not
        # the 20 V first proposed: the cells come in 32 groups over 1 s, so while the current
        # changes the sum lags; a cold pack's load steps made up to 20.6 V over 5 frames
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


def rule_of(config: dict, kind: str) -> dict | None:
    """The enabled rule of that kind, or None."""
    return next((r for r in config["rules"] if r["kind"] == kind and r.get("enabled", True)), None)


# ---- the one conversion to raw units ------------------------------------------------------------
# A raw value r of a signal means r * scale + offset, computed as cantools computes it; every
# threshold becomes the raw value at which the physical comparison first (or last) holds.

class Step:
    """A difference (or sum) of raws of one scale, as a signal without offset; its scale is
    taken as the decimal it is written as (0.001, not 0.001000000000000000020816...), so
    30 V is 30000 mV steps."""

    def __init__(self, scale: float):
        self.scale, self.offset = Fraction(scale).limit_denominator(10**9), 0


def _phys(signal, raw: int) -> float:
    return raw * signal.scale + signal.offset


def first_raw_above(signal, x: float) -> int:
    """The smallest raw whose physical value is > x."""
    r = math.floor((x - signal.offset) / signal.scale) - 2
    while not _phys(signal, r) > x:
        r += 1
    return r


def first_raw_at_or_above(signal, x: float) -> int:
    """The smallest raw whose physical value is >= x."""
    r = math.floor((x - signal.offset) / signal.scale) - 2
    while not _phys(signal, r) >= x:
        r += 1
    return r


def last_raw_at_or_below(signal, x: float) -> int:
    return first_raw_above(signal, x) - 1


def last_raw_below(signal, x: float) -> int:
    return first_raw_at_or_above(signal, x) - 1


def raw_steps(signal, x: float) -> int:
    """A magnitude (a margin, a band, an amplitude) in whole raw steps."""
    return round(x / signal.scale)


def half_cycle_us(hz: float) -> int:
    """A half cycle's length in µs at a frequency."""
    return round(1e6 / (2 * hz))


def choice(signal, label) -> int:
    """The raw value of a choice's name (an int is taken as the raw value)."""
    if isinstance(label, int):
        return label
    for raw, name in (signal.choices or {}).items():
        if str(name) == label:
            return int(raw)
    raise SuperviseError(f"signal {signal.name} has no value {label!r} (choices: "
                         f"{', '.join(str(v) for v in (signal.choices or {}).values())})")


def raw_thresholds(rule: dict, signal_of: Callable, summed_scale: float | None = None) -> dict:
    """A rule's thresholds in raw units, by name; `signal_of(name)` gives a signal (scale,
    offset, choices); `summed_scale`: a sum rule's summed signals' scale. What each name means is the rule type's test (docs/supervision.md):
    `on_*`/`off_*` are inclusive raw bounds unless the name says otherwise."""
    typ = rule["type"]
    s = signal_of(rule["signal"])
    if typ == "status":
        return {"fine": tuple(choice(s, v) for v in rule["fine"])}
    if typ == "above":  # on raw >= on_from, off raw <= off_to
        return {"on_from": first_raw_above(s, rule["on_above"]), "off_to": last_raw_at_or_below(s, rule["off_at_or_below"])}
    if typ == "spread":  # on a - b >= on_from, off a - b <= off_to
        d = Step(s.scale)
        return {"on_from": first_raw_above(d, rule["on_above"]), "off_to": last_raw_at_or_below(d, rule["off_at_or_below"])}
    if typ == "mean":  # on 1000 * mean raw > on_milli, off 1000 * mean raw <= off_milli
        return {"window_us": round(rule["window_s"] * 1e6),
                "on_milli": round(1000 * (rule["on_above"] - s.offset) / s.scale),
                "off_milli": round(1000 * (rule["off_at_or_below"] - s.offset) / s.scale)}
    if typ == "edge":  # from -> to while the speed raw >= speed_from; off on from
        return {"from": choice(s, rule["from"]), "to": choice(s, rule["to"]),
                "speed_from": first_raw_above(signal_of(rule["speed_signal"]), rule["speed_above"])}
    if typ == "low_while":  # on raw <= on_to while the signal is while_value, off raw >= off_from
        return {"on_to": last_raw_below(s, rule["on_below"]), "off_from": first_raw_at_or_above(s, rule["off_at_or_above"]),
                "while_value": choice(signal_of(rule["while_signal"]), rule["while_value"])}
    if typ == "outside":  # on raw >= on_from or raw <= on_to_low, off off_from <= raw <= off_to
        return {"on_from": first_raw_above(s, rule["on_beyond"]), "on_to_low": last_raw_below(s, -rule["on_beyond"]),
                "off_from": first_raw_at_or_above(s, -rule["off_within"]), "off_to": last_raw_at_or_below(s, rule["off_within"])}
    if typ == "limits":  # on raw > per * upper + margin or < -(per * lower + margin); off within clear
        per = signal_of(rule["upper_signal"]).scale / s.scale
        return {"per": round(per), "per_exact": abs(per - round(per)) < 1e-9 and round(per) >= 1,
                "margin": raw_steps(s, rule["margin"]), "clear": raw_steps(s, rule["clear_margin"])}
    if typ == "sway":  # peak-to-peak >= on_p2p and lo_half_us <= half cycle <= hi_half_us
        return {"band": max(1, raw_steps(s, rule["band_deg"])), "on_p2p": raw_steps(s, 2 * rule["on_amplitude_deg"]),
                "off_p2p": raw_steps(s, 2 * rule["off_amplitude_deg"]), "lo_half_us": half_cycle_us(rule["max_hz"]),
                "hi_half_us": half_cycle_us(rule["min_hz"]), "half_cycles": int(rule["half_cycles"])}
    if typ == "sum":  # |per * raw - sum of the summed raws| > on_above_to, off <= off_to
        unit = Step(summed_scale * rule["sum_scale"])  # one summed raw in s's unit
        per = s.scale / float(unit.scale)
        return {"per": round(per), "per_exact": abs(per - round(per)) < 1e-9 and round(per) >= 1 and not s.offset,
                "on_above": last_raw_at_or_below(unit, rule["on_above"]),
                "off_to": last_raw_at_or_below(unit, rule["off_at_or_below"])}
    if typ == "band":  # per state: on raw < lo or raw > hi
        state = signal_of(rule["state_signal"])
        return {"bands": tuple((choice(state, name), first_raw_at_or_above(s, lo), last_raw_at_or_below(s, hi))
                               for name, (lo, hi) in rule["bands"].items())}
    raise SuperviseError(f"supervision rule {rule['kind']}: type {typ!r}")
