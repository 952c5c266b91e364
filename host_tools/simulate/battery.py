"""The 96-cell traction pack: open-circuit voltage, internal resistance with one RC pair,
SOC integrated from current, per-cell spread, a lumped thermal model and the BMS limits.

One series element (two cells in parallel) is called a cell, as the BMS reports it.
The pack voltage is exactly the sum of the 96 cell voltages the BMS reports, before rounding.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from host_tools.simulate.profiles import Ramp

# Open-circuit voltage of one cell (V) against SOC (%), an NMC curve.
OCV_TABLE = ((0, 3.00), (5, 3.40), (10, 3.50), (20, 3.58), (30, 3.63), (40, 3.68), (50, 3.73),
             (60, 3.80), (70, 3.88), (80, 3.96), (90, 4.06), (100, 4.18))
_OCV_SOC = tuple(s for s, _ in OCV_TABLE)
_OCV_V = tuple(v for _, v in OCV_TABLE)

# BMS derating: fraction of the rated power against cell temperature (degC) and SOC (%).
DISCHARGE_TEMP = ((-30, 0.10), (-20, 0.18), (-10, 0.35), (0, 0.60), (15, 1.0), (45, 1.0), (55, 0.6),
                  (60, 0.3), (65, 0.0))
DISCHARGE_SOC = ((0, 0.0), (5, 0.3), (15, 0.8), (20, 1.0), (100, 1.0))
CHARGE_TEMP = ((-30, 0.0), (-20, 0.02), (-10, 0.06), (0, 0.2), (10, 0.5), (20, 1.0), (45, 1.0),
               (50, 0.6), (55, 0.2), (60, 0.0))
CHARGE_SOC = ((0, 1.0), (50, 1.0), (80, 0.28), (95, 0.08), (100, 0.0))  # the DC fast-charge taper


@dataclass(frozen=True)
class PackSpec:
    cells: int = 96
    capacity_ah: float = 282.0  # new; the usable capacity is this × SOH
    cell_resistance_mohm: float = 0.42  # ohmic, per cell at 25 degC
    rc_resistance_mohm: float = 0.21  # polarisation, per cell at 25 degC
    rc_time_constant_s: float = 40.0
    resistance_activation_k: float = 3500.0  # R(T) = R25 · exp(k · (1/T − 1/298.15 K))
    rated_discharge_kw: float = 300.0
    rated_charge_kw: float = 210.0
    heat_capacity_kj_per_k: float = 250.0  # the cells
    coolant_ua_w_per_k: float = 400.0  # cells ↔ cooling plate
    ambient_ua_w_per_k: float = 15.0  # pack case ↔ outside air
    chiller_max_kw: float = 6.0  # less when it is hot outside: -0.35 kW per degC above 30
    chiller_cop: float = 2.5
    heater_max_kw: float = 6.0
    hotspot_k_per_kw: float = 1.0  # hottest module above the mean, per kW of heat
    hotspot_time_constant_s: float = 25.0
    coolant_time_constant_s: float = 45.0
    temp_sensors: int = 32


def ocv_segment(soc: float) -> int:
    """The segment of OCV_TABLE that holds `soc` %, clamped to 0..100: i for soc_i <= soc < soc_i+1
    (the last one takes 100 too)."""
    soc = 0.0 if soc < 0.0 else 100.0 if soc > 100.0 else soc
    return min(bisect_right(_OCV_SOC, soc) - 1, len(_OCV_SOC) - 2)


def ocv_and_slope(soc: float) -> tuple[float, float]:
    """Open-circuit voltage of one cell at `soc` % and its slope dOCV/dSOC (V per %)."""
    soc = 0.0 if soc < 0.0 else 100.0 if soc > 100.0 else soc
    i = ocv_segment(soc)
    slope = (_OCV_V[i + 1] - _OCV_V[i]) / (_OCV_SOC[i + 1] - _OCV_SOC[i])
    return _OCV_V[i] + slope * (soc - _OCV_SOC[i]), slope


def ocv_cell(soc: float) -> float:
    """Open-circuit voltage of one cell at `soc` %."""
    return ocv_and_slope(soc)[0]


def stored_energy_kwh(spec: PackSpec, soh_pct: float, soc_from: float, soc_to: float) -> float:
    """Chemical energy released going from soc_from to soc_to (%): ∫ n·OCV dQ, in kWh."""
    capacity = spec.capacity_ah * soh_pct / 100
    steps = 400
    width = (soc_from - soc_to) / steps
    total = sum(ocv_cell(soc_to + (k + 0.5) * width) for k in range(steps)) * width
    return spec.cells * total * capacity / 100 / 1000


class Cells:
    """How each cell differs from the average one: capacity, starting SOC, resistance, and
    where each temperature sensor sits. Drawn once from the seed."""

    def __init__(self, spec: PackSpec, rng: random.Random, weak_cell: int = 0):
        n = spec.cells
        self.capacity = [1.0 + max(-0.02, min(0.02, rng.gauss(0.0, 0.006))) for _ in range(n)]
        offsets = [rng.gauss(0.0, 0.4) for _ in range(n)]  # SOC %, balancing is never perfect
        mean = sum(offsets) / n
        self.soc_offset = [o - mean for o in offsets]
        self.resistance = [1.0 + max(-0.08, min(0.08, rng.gauss(0.0, 0.03))) for _ in range(n)]
        if weak_cell:
            self.capacity[weak_cell - 1] *= 0.94
            self.resistance[weak_cell - 1] *= 1.5
        self.resistance_sum = sum(self.resistance)
        # e_i = SOC_i − SOC = offset_i + ΔSOC·(1/c_i − 1); the pack needs only the sums
        self.spread_gain = [1.0 / c - 1.0 for c in self.capacity]
        self.offset_sum = sum(self.soc_offset)
        self.gain_sum = sum(self.spread_gain)
        sensors = spec.temp_sensors
        self.sensor_offset = [rng.gauss(0.0, 0.5) for _ in range(sensors)]
        # middle modules run hotter and sit further from the coolant inlet
        self.sensor_hotspot = [0.25 + 0.75 * math.sin(math.pi * (j + 0.5) / sensors) ** 2 for j in range(sensors)]
        self.sensor_coolant = [0.08 * (1 - j / sensors) for j in range(sensors)]
        # the per-cell and per-sensor constants side by side: voltages() and temperatures() run
        # 10 times a simulated second each, and zipping the lists every time cost a tenth of it
        self._cells = list(zip(self.soc_offset, self.spread_gain, self.resistance))
        self._sensors = list(zip(self.sensor_offset, self.sensor_hotspot, self.sensor_coolant))

    def voltages(self, soc_delta: float, ocv: float, slope: float, current_a: float, r_cell: float,
                 v_rc: float) -> list[float]:
        """All cell voltages (V) at one instant; they sum to the pack voltage."""
        share = v_rc / self.resistance_sum
        drop = current_a * r_cell + share  # per unit of relative resistance (worked out once, not per cell)
        return [ocv + slope * (d + soc_delta * g) - drop * r for d, g, r in self._cells]

    def voltage(self, k: int, soc_delta: float, ocv: float, slope: float, current_a: float,
                r_cell: float, v_rc: float) -> float:
        """Voltage of cell k (0-based)."""
        r = self.resistance[k]
        return (ocv + slope * (self.soc_offset[k] + soc_delta * self.spread_gain[k])
                - (current_a * r_cell + v_rc / self.resistance_sum) * r)

    def temperatures(self, pack_c: float, hotspot_k: float, coolant_c: float) -> list[float]:
        """What the 32 temperature sensors read."""
        below = coolant_c - pack_c  # once, not per sensor
        return [pack_c + o + h * hotspot_k + c * below for o, h, c in self._sensors]


class Pack:
    """Pack state, advanced one time step at a time by the physics loop."""

    def __init__(self, spec: PackSpec, cells: Cells, soc_pct: float, temp_c: float, soh_pct: float,
                 ambient_c: float):
        self.spec = spec
        self.cells = cells
        self.capacity_as = spec.capacity_ah * soh_pct / 100 * 3600
        self.soc0 = self.soc = soc_pct
        self.temp = temp_c
        self.coolant = temp_c
        self.hotspot = 0.0
        self.v_rc = 0.0
        self.ambient = ambient_c
        self.conditioning = "off"  # "chill", "heat" or "off"
        self.chiller_limit_w = max(1000.0, (spec.chiller_max_kw - 0.35 * max(0.0, ambient_c - 30.0)) * 1000)
        self._r25 = spec.cell_resistance_mohm / 1000
        self._rc25 = spec.rc_resistance_mohm / 1000
        self._dis_t, self._dis_s = Ramp(DISCHARGE_TEMP), Ramp(DISCHARGE_SOC)
        self._ch_t, self._ch_s = Ramp(CHARGE_TEMP), Ramp(CHARGE_SOC)
        self._ocv_segment = (0.0, 0.0, 0.0)  # (SOC from, SOC to, OCV at from) of the last step's; empty
        self.refresh()

    def refresh(self, slow: bool = True) -> None:
        """Quantities that follow from SOC and temperature. The open-circuit voltage every
        step; resistance and limits (`slow`) may lag by a few steps, they change slowly."""
        spec = self.spec
        c = self.cells
        soc = self.soc
        lo, hi, ocv_lo = self._ocv_segment
        if lo <= soc < hi:  # SOC moves slowly: no search, ocv_and_slope's arithmetic in the same segment
            self.ocv = ocv_lo + self.slope * (soc - lo)
        else:
            self.ocv, self.slope = ocv_and_slope(soc)
            i = ocv_segment(soc)
            self._ocv_segment = (_OCV_SOC[i], _OCV_SOC[i + 1], _OCV_V[i])
        self.emf = spec.cells * self.ocv + self.slope * (c.offset_sum + (soc - self.soc0) * c.gain_sum)
        if not slow:
            return
        k = math.exp(spec.resistance_activation_k * (1 / (self.temp + 273.15) - 1 / 298.15))
        self.r_cell = self._r25 * k
        self.r_pack = self.r_cell * c.resistance_sum
        self.r_rc_pack = self._rc25 * k * spec.cells
        self.discharge_kw = spec.rated_discharge_kw * self._dis_t.at(self.temp) * self._dis_s.at(soc)
        self.charge_kw = spec.rated_charge_kw * self._ch_t.at(self.temp) * self._ch_s.at(soc)
        pack_ocv = spec.cells * self.ocv
        # the current that delivers the power limit at the terminals (their voltage sags
        # under it: OCV alone understated the current the powertrain may draw, most when cold)
        self.max_discharge_a = min(1500.0, self.current_for_power(self.discharge_kw * 1000))
        self.max_charge_a = min(1500.0, self.charge_kw * 1000 / pack_ocv)

    def current_for_power(self, power_w: float) -> float:
        """Current (A, + = discharge) that delivers `power_w` at the terminals."""
        e = self.emf - self.v_rc
        r = self.r_pack
        disc = e * e - 4 * r * power_w
        if disc < 0:  # beyond the maximum power point: deliver what the pack can
            return e / (2 * r)
        return (e - math.sqrt(disc)) / (2 * r)

    def terminal_voltage(self, current_a: float) -> float:
        return self.emf - current_a * self.r_pack - self.v_rc

    def conditioning_power_w(self, active: bool) -> float:
        """Electrical power the chiller or heater draws now; updates its on/off state.
        Thermostats with hysteresis; nothing runs while the HV system is off."""
        spec = self.spec
        t = self.temp
        if not active:
            self.conditioning = "off"
        elif self.conditioning == "chill" and t < 30.0 or self.conditioning == "heat" and t > 15.0:
            self.conditioning = "off"
        elif self.conditioning == "off" and t > 35.0:
            self.conditioning = "chill"
        elif self.conditioning == "off" and t < 5.0:
            self.conditioning = "heat"
        flow = spec.coolant_ua_w_per_k * (t - self.coolant)  # heat into the coolant
        # clamps written out: min() and max() calls cost more than the rest here, every step
        if self.conditioning == "chill":
            limit = self.chiller_limit_w
            chilled = limit if limit < flow else flow  # min(flow, limit)
            return (chilled if chilled > 0.0 else 0.0) / spec.chiller_cop  # max(0.0, chilled)
        if self.conditioning == "heat":
            heating = -flow if -flow > 0.0 else 0.0  # max(0.0, -flow)
            limit = spec.heater_max_kw * 1000
            return heating if heating < limit else limit  # min(limit, heating)
        return 0.0

    def step(self, dt: float, current_a: float) -> float:
        """Advance by dt with `current_a` flowing; returns the heat generated (W)."""
        spec = self.spec
        heat = current_a * current_a * self.r_pack + current_a * self.v_rc
        self.v_rc += dt * (current_a * self.r_rc_pack - self.v_rc) / spec.rc_time_constant_s
        self.soc -= current_a * dt / self.capacity_as * 100
        flow = spec.coolant_ua_w_per_k * (self.temp - self.coolant)
        if self.conditioning == "chill":
            limit = self.chiller_limit_w
            flow = limit if limit < flow else flow  # min(flow, limit)
            target = 15.0
        elif self.conditioning == "heat":
            limit = -spec.heater_max_kw * 1000
            flow = limit if limit > flow else flow  # max(flow, limit)
            target = 40.0
        else:
            target = self.temp  # pump only: the coolant follows the cells
        losses = flow + spec.ambient_ua_w_per_k * (self.temp - self.ambient)
        self.temp += dt * (heat - losses) / (spec.heat_capacity_kj_per_k * 1000)
        self.coolant += dt * (target - self.coolant) / spec.coolant_time_constant_s
        self.hotspot += dt * (spec.hotspot_k_per_kw * heat / 1000 - self.hotspot) / spec.hotspot_time_constant_s
        return heat
