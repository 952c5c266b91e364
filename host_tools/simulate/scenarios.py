"""The drives testers can ask for: each a set of parameters (overridable with --set) and a
timeline of what the driver, the hitch and the charger do, as physics inputs."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from host_tools.simulate.errors import SimulateError
from host_tools.simulate.physics import Inputs
from host_tools.simulate.profiles import Ramp, Steps
from host_tools.simulate.vehicle import TruckSpec


@dataclass(frozen=True)
class Params:
    """Parameters every scenario has. trailer_mass_kg 0 means no trailer."""

    truck_mass_kg: float = TruckSpec.mass_kg
    trailer_mass_kg: float = 0.0
    tongue_fraction: float = 0.12
    trailer_frontal_area_m2: float = 6.0
    soc_pct: float = 70.0
    pack_temp_c: float = 25.0
    ambient_temp_c: float = 20.0
    soh_pct: float = 97.0
    weak_cell: int = 0  # 1..96: a cell with 1.5× resistance and 94 % capacity; 0: none


@dataclass(frozen=True)
class CityParams(Params):
    max_speed_kph: float = 50.0
    hills_pct: float = 3.0


@dataclass(frozen=True)
class TowParams(Params):
    cruise_kph: float = 95.0
    grade_start_km: float = 2.0
    grade_pct: float = 6.0
    grade_length_km: float = 8.0
    descent_pct: float = 4.0
    descent_length_km: float = 3.0


@dataclass(frozen=True)
class OverloadParams(Params):
    cargo_kg: float = 2200.0
    loaded_tongue_fraction: float = 0.175
    drive_kph: float = 35.0


@dataclass(frozen=True)
class RehitchParams(Params):
    plug_bounce: bool = True


@dataclass(frozen=True)
class ChargeParams(Params):
    charger_max_a: float = 500.0
    target_soc_pct: float = 80.0


@dataclass(frozen=True)
class ColdParams(Params):
    cabin_heater_kw: float = 4.0
    max_speed_kph: float = 60.0


@dataclass(frozen=True)
class SensorParams(Params):
    cruise_kph: float = 80.0


@dataclass(frozen=True)
class SwayParams(Params):
    cruise_kph: float = 95.0
    sway_start_s: float = 60.0
    sway_hz: float = 0.9
    sway_amplitude_deg: float = 5.0
    sway_grow_s: float = 4.0  # 0 to the full swing
    sway_hold_s: float = 3.0  # until the driver reacts
    sway_damp_s: float = 4.0  # the trailer brakes pull it straight
    trailer_brake_pct: float = 25.0  # the driver's manual lever on the brake controller
    slow_to_kph: float = 80.0


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    story: str  # what happens when, for --list and docs/simulator.md
    alerts: str  # which alerts the board should raise
    duration_s: float
    params: Params
    build: Callable[[Params, random.Random], Inputs] = field(repr=False)

    def with_overrides(self, settings: list[str]) -> Params:
        """The parameters after `--set NAME=VALUE` settings."""
        fields = {f.name: f for f in dataclasses.fields(self.params)}
        changes = {}
        for setting in settings:
            name, eq, text = setting.partition("=")
            name = name.strip()
            if not eq or name not in fields:
                raise SimulateError(
                    f"--set {setting!r}: {'expected NAME=VALUE' if not eq else f'unknown parameter {name!r}'}; "
                    f"{self.name} has: {', '.join(fields)}")
            kind = type(getattr(self.params, name))
            try:
                if kind is bool:
                    if text.strip().lower() not in ("0", "1", "true", "false", "yes", "no"):
                        raise ValueError
                    value = text.strip().lower() in ("1", "true", "yes")
                else:
                    value = kind(text)
            except ValueError:
                raise SimulateError(f"--set {setting!r}: {name} takes a {kind.__name__}, not {text!r}") from None
            changes[name] = value
        params = dataclasses.replace(self.params, **changes)
        _check(self.name, params)
        return params


# Every parameter's physical range, inclusive (checked before anything is computed or
# written: an inf or nan would otherwise reach the encoder or the sidecar's JSON).
LIMITS: dict[str, tuple[float, float]] = {
    "truck_mass_kg": (500.0, 20_000.0),
    "trailer_mass_kg": (0.0, 20_000.0),  # 0: no trailer
    "tongue_fraction": (0.0, 0.5),
    "trailer_frontal_area_m2": (0.1, 20.0),
    "soc_pct": (0.0, 100.0),
    "pack_temp_c": (-40.0, 60.0),
    "ambient_temp_c": (-40.0, 50.0),
    "soh_pct": (50.0, 100.0),
    "weak_cell": (0, 96),  # 0: none
    "max_speed_kph": (1.0, 180.0),
    "hills_pct": (0.0, 30.0),
    "cruise_kph": (1.0, 180.0),
    "grade_start_km": (0.0, 500.0),
    "grade_pct": (0.0, 30.0),
    "grade_length_km": (0.0, 500.0),
    "descent_pct": (0.0, 30.0),
    "descent_length_km": (0.0, 500.0),
    "cargo_kg": (0.0, 20_000.0),
    "loaded_tongue_fraction": (0.0, 0.5),
    "drive_kph": (1.0, 180.0),
    "charger_max_a": (0.0, 1000.0),
    "target_soc_pct": (0.0, 100.0),
    "cabin_heater_kw": (0.0, 20.0),
    "sway_start_s": (0.0, 7200.0),
    "sway_hz": (0.1, 5.0),
    "sway_amplitude_deg": (0.0, 45.0),
    "sway_grow_s": (0.0, 600.0),
    "sway_hold_s": (0.0, 600.0),
    "sway_damp_s": (0.0, 600.0),
    "trailer_brake_pct": (0.0, 100.0),
    "slow_to_kph": (1.0, 180.0),
}


def _check(name: str, p: Params) -> None:
    problems = []
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        if isinstance(value, bool):
            continue
        lo, hi = LIMITS[f.name]  # a new parameter needs its range here
        if not lo <= value <= hi:  # False for nan too
            problems.append(f"{f.name} {value} is outside {lo:g}..{hi:g}")
    if problems:
        raise SimulateError(f"{name}: " + "; ".join(problems))


# -- timeline pieces ------------------------------------------------------------------------

def _startup(state: str = "DRIVE") -> list:
    """Contactors close half a second after wake-up."""
    return [(0.0, "INIT"), (0.1, "PRECHARGE"), (0.5, state)]


def _hitch_ok() -> list:
    return [(0.0, "INITIALISING"), (0.3, "OK")]


def _stop_and_go(rng: random.Random, start: float, end: float, low: float, high: float) -> list:
    """Target speeds of city traffic: pull away, cruise, brake, wait at a light."""
    points = [(0.0, 0.0), (start, 0.0)]
    t = start
    while t < end:
        v = rng.uniform(low, high)
        accel = v / 3.6 / rng.uniform(1.3, 1.9)
        cruise = rng.uniform(10.0, 30.0)
        brake = v / 3.6 / rng.uniform(1.5, 2.2)
        dwell = rng.uniform(5.0, 14.0)
        points += [(t + accel, v), (t + accel + cruise, v), (t + accel + cruise + brake, 0.0),
                   (t + accel + cruise + brake + dwell, 0.0)]
        t += accel + cruise + brake + dwell
    return points


def _cruise(rng: random.Random, start: float, end: float, kph: float, ramp_s: float) -> list:
    """Pull onto the highway, then hold speed with the small corrections a driver makes."""
    points = [(0.0, 0.0), (start, 0.0), (start + ramp_s, kph)]
    t = start + ramp_s
    while t < end:
        t += rng.uniform(30.0, 70.0)
        points += [(t, kph + rng.uniform(-4.0, 3.0)), (t + 8.0, kph)]
        t += 8.0
    return points


def _rolling_hills(rng: random.Random, pct: float, length_m: float = 60_000) -> list:
    points = [(0.0, 0.0)]
    x = 300.0
    sign = 1.0
    while x < length_m:
        points.append((x, sign * pct * rng.uniform(0.4, 1.0)))
        x += rng.uniform(250.0, 600.0)
        sign = -sign
    return points


def _inputs(p: Params, *, speed, gear, bms, grade=None, mode="NORMAL", carry=None, plug=None,
            mass=None, fraction=None, status=None, charger=None, target=100.0, aux=None,
            rough=1.0) -> Inputs:
    towing = p.trailer_mass_kg > 0
    return Inputs(
        speed_kph=Ramp(speed), gear=Steps(gear), drive_mode=Steps(mode if isinstance(mode, list) else [(0, mode)]),
        grade_pct=Ramp(grade or [(0.0, 0.0)]),
        trailer_mass_kg=Ramp(mass or [(0.0, p.trailer_mass_kg)]),
        tongue_fraction=Ramp(fraction or [(0.0, p.tongue_fraction)]),
        tongue_carry=Ramp(carry or [(0.0, 1.0 if towing else 0.0)]),
        plug=Steps(plug or [(0.0, 1 if towing else 0)]),
        hitch_status=Steps(status or _hitch_ok()), bms=Steps(bms),
        charger_a=Ramp(charger or [(0.0, 0.0)]), charge_target_pct=target,
        aux_kw=Ramp(aux) if aux else None, rough_road=rough)


# -- the scenarios --------------------------------------------------------------------------

def _city(p: CityParams, rng: random.Random) -> Inputs:
    return _inputs(p, speed=_stop_and_go(rng, 3.0, 10_000.0, 0.5 * p.max_speed_kph, p.max_speed_kph),
                   gear=[(0, "P"), (2.0, "D")], bms=_startup(), grade=_rolling_hills(rng, p.hills_pct),
                   mode="TOW_HAUL" if p.trailer_mass_kg > 0 else "NORMAL")


def _highway_tow(p: TowParams, rng: random.Random) -> Inputs:
    start = p.grade_start_km * 1000
    top = start + p.grade_length_km * 1000
    bottom = top + 200 + p.descent_length_km * 1000
    grade = [(0.0, 0.0), (start, 0.0), (start + 200, p.grade_pct), (top, p.grade_pct),
             (top + 200, -p.descent_pct), (bottom, -p.descent_pct), (bottom + 200, 0.0)]
    return _inputs(p, speed=_cruise(rng, 3.0, 10_000.0, p.cruise_kph, 25.0), gear=[(0, "P"), (2.0, "D")],
                   bms=_startup(), grade=grade, mode="TOW_HAUL" if p.trailer_mass_kg > 0 else "NORMAL")


def _trailer_sway(p: SwayParams, rng: random.Random) -> Inputs:
    start = p.sway_start_s
    react = start + p.sway_grow_s + p.sway_hold_s  # the driver lets off and pulls the brake lever
    calm = react + p.sway_damp_s
    speed = [pt for pt in _cruise(rng, 3.0, 10_000.0, p.cruise_kph, 25.0) if pt[0] < start - 10.0]
    slow = max(4.0, (p.cruise_kph - p.slow_to_kph) / 3.6 / 1.0)  # coasting on the trailer brakes, ~1 m/s^2
    speed += [(start - 8.0, p.cruise_kph), (react, p.cruise_kph), (react + slow, p.slow_to_kph),
              (calm + 10.0, p.slow_to_kph), (calm + 25.0, p.cruise_kph)]
    sway = [(0.0, 0.0), (start, 0.0), (start + p.sway_grow_s, p.sway_amplitude_deg), (react, p.sway_amplitude_deg),
            (calm, 0.0)]
    lever = [(0.0, 0.0), (react + 0.3, 0.0), (react + 0.8, p.trailer_brake_pct), (calm, p.trailer_brake_pct),
             (calm + 1.0, 0.0)]
    inputs = _inputs(p, speed=speed, gear=[(0, "P"), (2.0, "D")], bms=_startup(), mode="TOW_HAUL")
    inputs.sway_deg, inputs.sway_hz, inputs.trailer_brake_manual_pct = Ramp(sway), p.sway_hz, Ramp(lever)
    return inputs


def _hitch_overload(p: OverloadParams, rng: random.Random) -> Inputs:
    empty = p.trailer_mass_kg
    loaded = empty + p.cargo_kg
    speed = [(0.0, 0.0), (92.0, 0.0), (105.0, p.drive_kph), (165.0, p.drive_kph), (175.0, 0.0)]
    return _inputs(p, speed=speed, gear=[(0, "P"), (90.0, "D")], bms=_startup(), mode="TOW_HAUL",
                   mass=[(0.0, empty), (10.0, empty), (70.0, loaded)],
                   fraction=[(0.0, p.tongue_fraction), (10.0, p.tongue_fraction), (70.0, p.loaded_tongue_fraction)],
                   rough=2.0)


def _unhitch_rehitch(p: RehitchParams, rng: random.Random) -> Inputs:
    speed = [(0.0, 0.0), (3.0, 0.0), (15.0, 40.0), (30.0, 40.0), (40.0, 0.0),  # towing, stop
             (63.0, 0.0), (72.0, 50.0), (95.0, 50.0), (105.0, 0.0),  # solo loop
             (109.0, 0.0), (111.0, 4.0), (116.0, 4.0), (118.0, 0.0),  # reverse up to the trailer
             (141.0, 0.0), (160.0, 55.0), (230.0, 55.0), (240.0, 0.0)]  # towing again
    gear = [(0, "P"), (2.0, "D"), (42.0, "P"), (62.0, "D"), (108.0, "R"), (120.0, "P"), (140.0, "D")]
    carry = [(0.0, 1.0), (52.0, 1.0), (57.0, 0.0), (125.0, 0.0), (130.0, 1.0)]
    plug = [(0.0, 1), (50.0, 0), (134.0, 1)]
    if p.plug_bounce:
        plug += [(200.0, 0), (200.6, 1)]
    mode = [(0.0, "TOW_HAUL"), (60.0, "NORMAL"), (136.0, "TOW_HAUL")]
    return _inputs(p, speed=speed, gear=gear, bms=_startup(), mode=mode, carry=carry, plug=plug)


def _dc_fast_charge(p: ChargeParams, rng: random.Random) -> Inputs:
    charger = [(0.0, 0.0), (10.0, 0.0), (11.0, p.charger_max_a)]
    return _inputs(p, speed=[(0.0, 0.0)], gear=[(0, "P")], bms=_startup("STANDBY") + [(10.0, "CHARGE_DC")],
                   charger=charger, target=p.target_soc_pct)


def _cold_soak(p: ColdParams, rng: random.Random) -> Inputs:
    return _inputs(p, speed=_stop_and_go(rng, 5.0, 10_000.0, 0.6 * p.max_speed_kph, p.max_speed_kph),
                   gear=[(0, "P"), (4.0, "D")], bms=_startup(), mode="SNOW",
                   grade=_rolling_hills(rng, 2.0), aux=[(0.0, p.cabin_heater_kw)])


SENSOR_FAULTS = ((30.0, 33.0, "OPEN_CIRCUIT"), (70.0, 70.5, "SHORT_CIRCUIT"), (95.0, 105.0, "SUPPLY_VOLTAGE_ERROR"))


def _sensor_fault(p: SensorParams, rng: random.Random) -> Inputs:
    status = _hitch_ok()
    for start, end, what in SENSOR_FAULTS:
        status += [(start, what), (end, "OK")]
    return _inputs(p, speed=_cruise(rng, 3.0, 10_000.0, p.cruise_kph, 22.0), gear=[(0, "P"), (2.0, "D")],
                   bms=_startup(), mode="TOW_HAUL", status=status)


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("city_drive", "stop-and-go city traffic, no trailer, rolling hills",
             "P for 2 s, then D; pull away, cruise 10-30 s at 25-50 km/h, brake, wait 5-14 s at a light, "
             "repeat (the seed draws the speeds and times); hills of up to ±3 % every few hundred metres. "
             "Regen on every stop.",
             "none", 300.0,
             CityParams(soc_pct=62.0, pack_temp_c=24.0, ambient_temp_c=21.0), _city),
    Scenario("highway_tow", "3.2 t enclosed trailer at 95 km/h up a long grade in the heat",
             "P for 2 s, then onto the highway: 0-95 km/h in about 25 s, small speed corrections every "
             "30-70 s. Flat for 2 km, then 6 % for 8 km, 4 % down for 3 km (regen, trailer brakes idle), flat. "
             "38 °C outside; the pack starts at 48 °C and 44 % SOC. The chiller is weak in the heat, so the "
             "pack warms on the grade, and the BMS derates discharge power; SOC falls below 20 % late in the drive.",
             "overtemperature near the top of the grade, soc_low_for_tow late in the drive", 900.0,
             TowParams(trailer_mass_kg=3200.0, tongue_fraction=0.12, trailer_frontal_area_m2=7.0, soc_pct=44.0,
                       pack_temp_c=48.0, ambient_temp_c=38.0), _highway_tow),
    Scenario("trailer_sway", "a light-tongued 3.2 t trailer starts to sway at 95 km/h",
             "P for 2 s, then 0-95 km/h in about 25 s on a flat highway, small speed corrections. At 60 s "
             "(sway_start_s) the trailer starts to sway: the hitch angle oscillates at 0.9 Hz, the swing "
             "growing from 0 to ±5° in 4 s and held 3 s, on top of the usual slow wander. At 67 s the "
             "driver lets off and pulls the trailer brake controller's lever to 25 %: the rig slows to "
             "80 km/h at about 1 m/s² and the swing dies out in 4 s; the lever is released at 72 s and the "
             "driver is back at 95 km/h about 25 s later. The drawbar force and tongue load wobble a "
             "little with the swing.",
             "trailer_sway once: from a few half cycles after the swing passes ±2° until it has died down", 120.0,
             SwayParams(trailer_mass_kg=3200.0, tongue_fraction=0.09, trailer_frontal_area_m2=7.0, soc_pct=80.0,
                        pack_temp_c=30.0, ambient_temp_c=25.0), _trailer_sway),
    Scenario("hitch_overload", "a trailer loaded nose-heavy while hitched, then driven on a rough road",
             "Parked with a 1.4 t trailer (11 % tongue). From 10 s to 70 s 2.2 t of cargo goes on well forward "
             "of the axle: trailer 3.6 t, tongue share 17.5 %, about 630 kg on a 550 kg hitch. At 90 s the "
             "driver sets off regardless: 35 km/h on a rough road from 105 s to 165 s, stop at 175 s.",
             "tongue_overload from when the 1 s mean passes 550 kg, to the end", 180.0,
             OverloadParams(trailer_mass_kg=1400.0, tongue_fraction=0.11, trailer_frontal_area_m2=3.0), _hitch_overload),
    Scenario("unhitch_rehitch", "drop the trailer, a solo loop, back up and hitch again",
             "Tow 2.5 t at 40 km/h, stop (40 s), P (42 s); unplug the 7-pin (50 s), jack the tongue off "
             "the ball (52-57 s). Solo loop at 50 km/h (62-105 s), reverse at 4 km/h to the trailer "
             "(108-118 s), P; lower the tongue onto the ball (125-130 s), plug in (134 s), tow again at "
             "55 km/h from 140 s. With plug_bounce, the plug works loose at 200.0-200.6 s at 55 km/h.",
             "trailer_disconnected_moving for the plug bounce (none for the parked unhitch)", 240.0,
             RehitchParams(trailer_mass_kg=2500.0, trailer_frontal_area_m2=4.0, soc_pct=75.0), _unhitch_rehitch),
    Scenario("dc_fast_charge", "DC fast charge from 10 % to 80 % with the taper",
             "Parked. The BMS wakes to STANDBY, starts CHARGE_DC at 10 s; the charger offers 500 A from "
             "11 s. The BMS limit (210 kW, derated above 50 % SOC and by temperature) tapers the current; "
             "at 80 % the current ramps to 0 and the BMS returns to STANDBY.",
             "none", 1800.0,
             ChargeParams(soc_pct=10.0, pack_temp_c=32.0, ambient_temp_c=30.0), _dc_fast_charge),
    Scenario("cold_soak", "a night at -20 °C, then city driving with a weak cell",
             "Pack soaked to -18 °C, ambient -20 °C, an older pack (SOH 93 %) whose cell 37 has 1.5× the "
             "resistance. Stop-and-go at 36-60 km/h in SNOW mode with a 4 kW cabin heater and the pack "
             "heater on. Internal resistance is about 7× normal: voltage sags, the BMS allows little power "
             "and almost no regen, and the weak cell drops away from the others under load.",
             "cell_spread during accelerations", 300.0,
             ColdParams(soc_pct=65.0, pack_temp_c=-18.0, ambient_temp_c=-20.0, soh_pct=93.0, weak_cell=37), _cold_soak),
    Scenario("sensor_fault", "towing at 80 km/h while the hitch sensor's harness fails now and then",
             "2.8 t trailer at 80 km/h on a flat road. The hitch sensor reports OPEN_CIRCUIT at 30-33 s, "
             "SHORT_CIRCUIT at 70-70.5 s and SUPPLY_VOLTAGE_ERROR at 95-105 s; while it does, its load, "
             "force and angle read 0.",
             "sensor_fault for each of the three periods", 120.0,
             SensorParams(trailer_mass_kg=2800.0, trailer_frontal_area_m2=5.0, soc_pct=80.0), _sensor_fault),
)}


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise SimulateError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}") from None
