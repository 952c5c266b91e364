"""The physics loop: truck, trailer and pack advanced on a fixed 10 ms step from a scenario's
inputs, into a timeline the ECUs sample when they send.

Every quantity at step i holds for t in [i·dt, (i+1)·dt). Noise (road vibration, hitch
angle) comes from the seed's own stream, so the timeline never depends on the faults.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, repeat

from host_tools.simulate.battery import Cells, Pack, PackSpec
from host_tools.simulate.noise import gauss_stream
from host_tools.simulate.profiles import Ramp, Steps
from host_tools.simulate.vehicle import Rig, TrailerSpec, TruckSpec, tongue_load_kg

DT = 0.01  # s
DT_US = 10_000

# enum values of the DBC (VAL_ tables)
GEAR = {"P": 0, "R": 1, "N": 2, "D": 3}
DRIVE_MODE = {"NORMAL": 0, "ECO": 1, "SPORT": 2, "SNOW": 3, "MUD": 4, "SAND": 5, "TOW_HAUL": 6}
BMS_STATE = {"INIT": 0, "STANDBY": 1, "PRECHARGE": 2, "DRIVE": 3, "CHARGE_AC": 4, "CHARGE_DC": 5,
             "BALANCING": 6, "FAULT": 7, "SHUTDOWN": 8}
HITCH_STATUS = {"OK": 0, "INITIALISING": 1, "OVERLOAD": 2, "OPEN_CIRCUIT": 3, "SHORT_CIRCUIT": 4,
                "CALIBRATION_ERROR": 5, "SUPPLY_VOLTAGE_ERROR": 6, "INTERNAL_ERROR": 14}

DRIVER_TIME_CONSTANT_S = 0.8  # how quickly the driver closes a speed error
JERK_TIME_CONSTANT_S = 0.35  # acceleration follows the pedal with this lag
CHARGE_RAMP_A_PER_S = 100.0  # DC charger current slew rate
SWAY_TONGUE_KG_PER_DEG = 2.0  # tongue load swing per degree of sway angle
SWAY_DRAWBAR_N_PER_DEG = 60.0  # drawbar force swing (at twice the sway frequency) per degree of amplitude
_CHUNK_STEPS = 1000  # steps whose inputs are sampled at once


@dataclass
class Inputs:
    """What the scenario decides; the physics works out the rest."""

    speed_kph: Ramp  # the driver's target speed against time
    gear: Steps  # "P", "R", "N", "D"
    drive_mode: Steps  # DRIVE_MODE names
    grade_pct: Ramp  # road grade against distance travelled (m)
    trailer_mass_kg: Ramp
    tongue_fraction: Ramp
    tongue_carry: Ramp  # 0..1: share of the tongue load on the ball (0 = not coupled)
    plug: Steps  # 7-pin plug: 1 connected, 0 not
    hitch_status: Steps  # HITCH_STATUS names
    bms: Steps  # "INIT", "PRECHARGE", "DRIVE", "STANDBY", "CHARGE_DC"
    charger_a: Ramp  # current the DC charger offers (0: none)
    charge_target_pct: float = 100.0
    aux_kw: Ramp | None = None  # loads beyond the truck's base (cabin heater...)
    rough_road: float = 1.0  # scales road vibration
    sway_deg: Ramp | None = None  # trailer sway: amplitude of the hitch angle's oscillation against time
    sway_hz: float = 0.9
    trailer_brake_manual_pct: Ramp | None = None  # the controller's manual lever (output is the larger)


@dataclass
class Timeline:
    """The physics, step by step (index i ↔ t = i·DT)."""

    steps: int
    truck: TruckSpec
    trailer: TrailerSpec | None
    pack_spec: PackSpec
    cells: Cells
    soc0: float
    soh_pct: float
    ambient_c: float
    speed_kph: array
    gear: array
    drive_mode: array
    grade_pct: array
    trailer_mass_kg: array
    tongue_kg: array
    drawbar_n: array
    hitch_angle_deg: array
    plug: array
    trailer_brake_pct: array
    hitch_status: array
    bms_state: array
    pack_v: array
    pack_a: array
    soc: array
    ocv_cell: array
    ocv_slope: array
    r_cell: array
    v_rc: array
    pack_temp_c: array
    hotspot_k: array
    coolant_c: array
    discharge_kw: array
    charge_kw: array
    max_discharge_a: array
    max_charge_a: array
    summary: dict


_FLOATS = ("speed_kph", "grade_pct", "trailer_mass_kg", "tongue_kg", "drawbar_n", "hitch_angle_deg",
           "trailer_brake_pct", "pack_v", "pack_a", "soc", "ocv_cell", "ocv_slope", "r_cell", "v_rc",
           "pack_temp_c", "hotspot_k", "coolant_c", "discharge_kw", "charge_kw", "max_discharge_a",
           "max_charge_a")
_INTS = ("gear", "drive_mode", "plug", "hitch_status", "bms_state")


def _timed_inputs(inp: Inputs, steps: int) -> Iterator[tuple]:
    """(i, t, then every input that is a function of time) for each step. Sampled a chunk of
    steps at a time: a call per input and step was a fifth of the physics. The road's grade
    depends on the distance travelled, so the loop asks for it itself."""
    profiles = ((inp.gear, None), (inp.speed_kph, None), (inp.tongue_carry, None), (inp.trailer_mass_kg, None),
                (inp.tongue_fraction, None), (inp.plug, None), (inp.bms, None), (inp.charger_a, None),
                (inp.trailer_brake_manual_pct, 0.0), (inp.aux_kw, None), (inp.sway_deg, None),
                (inp.drive_mode, None), (inp.hitch_status, None))  # (profile, value if it has none)

    def chunks():
        for first in range(0, steps, _CHUNK_STEPS):
            end = min(steps, first + _CHUNK_STEPS)
            times = [i * DT for i in range(first, end)]  # as t = i * DT
            yield zip(range(first, end), times,
                      *(repeat(none) if profile is None else profile.sample(times) for profile, none in profiles))

    return chain.from_iterable(chunks())


def run(truck: TruckSpec, trailer: TrailerSpec | None, pack_spec: PackSpec, inputs: Inputs,
        duration_s: float, *, soc_pct: float, pack_temp_c: float, soh_pct: float, ambient_c: float,
        weak_cell: int, seed: int) -> Timeline:
    steps = int(math.ceil(duration_s / DT)) + 1
    cells = Cells(pack_spec, random.Random(f"{seed}:cells"), weak_cell)
    pack = Pack(pack_spec, cells, soc_pct, pack_temp_c, soh_pct, ambient_c)
    normal = gauss_stream(random.Random(f"{seed}:road")).__next__  # its gauss(0.0, 1.0), drawn in bulk
    forces = Rig(truck, trailer).forces

    floats = {name: array("d", bytes(8 * steps)) for name in _FLOATS}
    ints = {name: array("B", bytes(steps)) for name in _INTS}
    (o_speed, o_grade, o_mass, o_tongue, o_drawbar, o_angle, o_brake, o_volts, o_amps, o_soc, o_ocv,
     o_slope, o_rcell, o_vrc, o_temp, o_hot, o_cool, o_dis, o_ch, o_dis_a, o_ch_a) = (floats[n] for n in _FLOATS)
    o_gear, o_mode, o_plug, o_status, o_bms = (ints[n] for n in _INTS)

    v = 0.0  # speed magnitude, m/s
    a = 0.0  # acceleration along the direction of travel, m/s^2
    x = 0.0  # distance along the road, m (decreases in reverse)
    direction = 1.0
    vib = 0.0  # tongue vibration, normalised
    surge = 0.0  # drawbar vibration, normalised
    angle = 0.0  # hitch angle, deg
    steer = 0.0  # the angle the truck's steering asks of the trailer, deg
    charge_a = 0.0
    charge_done = False
    k_vib = math.sqrt(2 * DT / 0.12)
    k_surge = math.sqrt(2 * DT / 0.25)
    k_angle = math.sqrt(2 * DT / 4.0)
    energy_j = chem_j = charge_as = distance = heat_j = 0.0
    temp_max = pack.temp
    inp = inputs
    aux_base = truck.aux_load_kw * 1000
    mass_truck = truck.mass_kg
    max_brake, max_accel = truck.max_brake_ms2, truck.max_accel_ms2
    eff_drive, eff_regen = truck.drive_efficiency, truck.regen_efficiency
    charge_step = CHARGE_RAMP_A_PER_S * DT

    for (i, t, gear, speed_kph, carry, mass_kg, fraction, plug, bms, charger_a, manual, aux_kw, sway_deg, mode,
         status) in _timed_inputs(inp, steps):
        target = speed_kph / 3.6 if gear == "D" or gear == "R" else 0.0
        if gear == "R":
            direction = -1.0
        elif gear == "D":
            direction = 1.0
        m_tr = mass_kg if trailer is not None and carry > 0 else 0.0
        if trailer is None:
            plug = 0
        if bms == "CHARGE_DC" and charge_done and charge_a <= 0.0:
            bms = "STANDBY"
        hv = bms == "DRIVE" or bms == "CHARGE_DC"

        # the driver follows the target speed; the pedal lags
        a_cmd = (target - v) / DRIVER_TIME_CONSTANT_S
        a_cmd = -max_brake if a_cmd < -max_brake else max_accel if a_cmd > max_accel else a_cmd
        a += (a_cmd - a) * DT / JERK_TIME_CONSTANT_S
        if target == 0.0 and v < 0.05 and a <= 0.0:
            v = a = 0.0  # standing on the brakes
        u, a_x = direction * v, direction * a

        grade = inp.grade_pct.at(x)
        norm = math.sqrt(1 + grade * grade / 1e4)
        sin_t, cos_t = grade / 100 / norm, 1 / norm

        brake_pct, drawbar, traction = forces(m_tr, fraction, plug, u, a_x, sin_t, cos_t, manual)
        wheel_w = traction * u
        aux_w = aux_base + pack.conditioning_power_w(hv)
        if aux_kw is not None:
            aux_w += aux_kw * 1000
        limit_w = (pack.discharge_kw * 1000 - aux_w) * eff_drive
        if wheel_w > limit_w and abs(u) > 0.5:
            # the pack cannot deliver: the rig accelerates less (or slows on the grade)
            a_x -= (wheel_w - max(limit_w, 0.0)) / ((mass_truck + m_tr) * u)
            a = direction * a_x
            brake_pct, drawbar, traction = forces(m_tr, fraction, plug, u, a_x, sin_t, cos_t, manual)
            wheel_w = traction * u
        if wheel_w >= 0:
            motion_w = wheel_w / eff_drive
        else:  # regen up to what the motor and the pack accept; friction brakes do the rest
            motion_w = max(wheel_w * eff_regen, -min(truck.max_regen_kw, pack.charge_kw) * 1000)

        # the pack
        if bms == "CHARGE_DC":
            if pack.soc >= inp.charge_target_pct:
                charge_done = True
            want = 0.0 if charge_done else min(charger_a, pack.max_charge_a)
            charge_a = min(want, charge_a + charge_step) if want > charge_a else max(want, charge_a - charge_step)
            current = -charge_a + aux_w / pack.terminal_voltage(0.0)
        elif hv:
            current = pack.current_for_power(motion_w + aux_w)
        else:
            current = 0.0  # contactors open
        volts = pack.terminal_voltage(current)

        # the hitch: static share, load transfer, road vibration
        if m_tr > 0:
            speed_factor = v / 27.0
            if speed_factor > 1.3:  # min(v / 27.0, 1.3) without a builtin call in the hot loop
                speed_factor = 1.3
            static_kg = tongue_load_kg(trailer, m_tr, fraction, a_x, sin_t, cos_t)
            sigma_kg = inp.rough_road * (2.0 + fraction * m_tr * (0.01 + 0.06 * speed_factor))
            tongue = carry * (static_kg + sigma_kg * vib)
            drawbar += inp.rough_road * (60.0 + 250.0 * speed_factor) * surge
            # the driver's steering wanders (wider in town); the trailer follows it over its
            # hitch-to-axle length of road, so a parked trailer's angle holds and a slow one's is smooth
            steer += -steer * DT / 4.0 + (4.0 if v < 8 else 1.2) * k_angle * normal()
            follow = v * DT / trailer.hitch_to_axle_m
            angle += (steer - angle) * (follow if follow < 1.0 else 1.0)  # min(1.0, follow)
            swing = 0.0
            if sway_deg is not None:
                amplitude = sway_deg
                if amplitude > 0.0:
                    phase = 2 * math.pi * inp.sway_hz * t
                    swing = amplitude * math.sin(phase)
                    # the swinging trailer rolls a little onto the ball and tugs twice per cycle
                    tongue += carry * SWAY_TONGUE_KG_PER_DEG * swing
                    drawbar += SWAY_DRAWBAR_N_PER_DEG * amplitude * math.sin(2 * phase)
        else:
            tongue = 2.0 * vib if carry > 0 else 0.0
            angle = steer = swing = 0.0
        vib += -vib * DT / 0.12 + k_vib * normal()
        surge += -surge * DT / 0.25 + k_surge * normal()

        o_speed[i] = v * 3.6
        o_gear[i] = GEAR[gear]
        o_mode[i] = DRIVE_MODE[mode]
        o_grade[i] = grade
        o_mass[i] = m_tr
        o_tongue[i] = tongue
        o_drawbar[i] = drawbar
        o_angle[i] = angle + swing
        o_plug[i] = plug
        o_brake[i] = brake_pct
        o_status[i] = HITCH_STATUS[status]
        o_bms[i] = BMS_STATE[bms]
        o_volts[i] = volts
        o_amps[i] = current
        o_soc[i] = pack.soc
        o_ocv[i] = pack.ocv
        o_slope[i] = pack.slope
        o_rcell[i] = pack.r_cell
        o_vrc[i] = pack.v_rc
        o_temp[i] = pack.temp
        o_hot[i] = pack.hotspot
        o_cool[i] = pack.coolant
        o_dis[i] = pack.discharge_kw
        o_ch[i] = pack.charge_kw
        o_dis_a[i] = pack.max_discharge_a
        o_ch_a[i] = pack.max_charge_a

        if t < duration_s:  # the last step only closes the interval
            energy_j += volts * current * DT
            chem_j += pack.emf * current * DT
            charge_as += current * DT
            distance += v * DT
            heat_j += pack.step(DT, current) * DT
            pack.refresh(slow=i % 10 == 9)
            if pack.temp > temp_max:
                temp_max = pack.temp
        v += a * DT
        if v < 0.0:
            v = 0.0
        x += direction * v * DT

    summary = {
        "soc_start_pct": round(soc_pct, 4),
        "soc_end_pct": round(pack.soc, 4),
        "energy_from_pack_kwh": round(energy_j / 3.6e6, 4),
        "energy_from_cells_kwh": round(chem_j / 3.6e6, 4),
        "charge_from_pack_ah": round(charge_as / 3600, 4),
        "heat_in_pack_kwh": round(heat_j / 3.6e6, 4),
        "distance_km": round(distance / 1000, 4),
        "pack_temp_start_c": round(pack_temp_c, 2),
        "pack_temp_max_c": round(temp_max, 2),
        "pack_temp_end_c": round(pack.temp, 2),
    }
    return Timeline(steps, truck, trailer, pack_spec, cells, soc_pct, soh_pct, ambient_c,
                    summary=summary, **floats, **ints)
