"""The truck and its trailer on the road: driving resistances, traction, trailer brakes,
drawbar force and tongue load with load transfer.

Forces are along the truck's forward axis; `u` is the signed speed (negative in reverse),
`a` the signed acceleration and `sin_t`/`cos_t` the road grade (positive = nose up).
"""

from __future__ import annotations

from dataclasses import dataclass

from host_tools.supervision.config import TONGUE_RATING_KG

G = 9.81  # m/s^2
RHO_AIR = 1.2  # kg/m^3


@dataclass(frozen=True)
class TruckSpec:
    mass_kg: float = 2600.0
    frontal_area_m2: float = 3.4
    drag_coefficient: float = 0.42
    rolling_resistance: float = 0.011
    drive_efficiency: float = 0.90  # pack → wheels
    regen_efficiency: float = 0.75  # wheels → pack
    max_regen_kw: float = 150.0
    max_accel_ms2: float = 2.5
    max_brake_ms2: float = 4.0
    aux_load_kw: float = 1.2  # 12 V system, pumps, fans
    tongue_rating_kg: float = TONGUE_RATING_KG  # the receiver hitch's maximum tongue load


@dataclass(frozen=True)
class TrailerSpec:
    mass_kg: float
    tongue_fraction: float  # share of the trailer's weight on the ball, standing level
    frontal_area_m2: float
    drag_coefficient: float = 0.35  # behind the truck, so less than on its own
    cg_above_hitch_m: float = 0.6  # lever of the load transfer
    hitch_to_axle_m: float = 4.5
    brake_gain: float = 0.8  # electric brake controller: share of the trailer's own deceleration force
    rolling_resistance: float = 0.011


def sign(x: float) -> float:
    return 1.0 if x > 0 else -1.0 if x < 0 else 0.0


def aero_drag_n(cda_m2: float, u: float) -> float:
    return 0.5 * RHO_AIR * cda_m2 * u * u


def trailer_brake_pct(trailer: TrailerSpec, u: float, a: float) -> float:
    """Brake controller output (% of full) while the rig decelerates; 0 otherwise."""
    decel = -a * sign(u)
    if decel <= 0.3:
        return 0.0
    return min(100.0, 100.0 * trailer.brake_gain * decel / (0.5 * G))


def trailer_brake_force_n(trailer: TrailerSpec, mass_kg: float, brake_pct: float) -> float:
    """Retarding force of the trailer's brakes; full output decelerates the trailer at g/2."""
    return brake_pct / 100 * 0.5 * G * mass_kg


def drawbar_force_n(trailer: TrailerSpec, mass_kg: float, tongue_fraction: float, u: float, a: float,
                    sin_t: float, cos_t: float, brake_n: float) -> float:
    """Force the truck applies to the trailer (+ = tension): the trailer's mass times
    (acceleration + grade), plus its rolling and aero drag and its own brakes."""
    rolling = trailer.rolling_resistance * mass_kg * (1 - tongue_fraction) * G * cos_t
    aero = aero_drag_n(trailer.drag_coefficient * trailer.frontal_area_m2, u)
    return mass_kg * (a + G * sin_t) + sign(u) * (rolling + aero + brake_n)


def tongue_load_kg(trailer: TrailerSpec, mass_kg: float, tongue_fraction: float, a: float,
                   sin_t: float, cos_t: float) -> float:
    """Vertical load on the ball (kg, + = down), without vibration: the static share, less
    the load the trailer's inertia and the grade shift to its axle (accelerating or
    climbing unloads the ball, braking loads it)."""
    transfer = mass_kg * (a + G * sin_t) * trailer.cg_above_hitch_m / (trailer.hitch_to_axle_m * G)
    return tongue_fraction * mass_kg * cos_t - transfer


def traction_force_n(truck: TruckSpec, tongue_kg: float, u: float, a: float, sin_t: float,
                     cos_t: float, drawbar_n: float) -> float:
    """Force the truck's wheels must apply to the road to follow (u, a) while pulling the
    trailer with `drawbar_n`; its tyres also carry the static tongue load."""
    rolling = truck.rolling_resistance * (truck.mass_kg + tongue_kg) * G * cos_t
    aero = aero_drag_n(truck.drag_coefficient * truck.frontal_area_m2, u)
    return truck.mass_kg * (a + G * sin_t) + sign(u) * (rolling + aero) + drawbar_n


class Rig:
    """The truck and its trailer (None: solo), the forces of one step in one call.

    The functions above say what each force is; the physics asks for them 100 times per
    simulated second, and a call per force (and per sign and drag) cost more than the
    arithmetic. forces() does the same operations in the same order, so the same floats
    come out (tests/host/test_simulate_physics.py holds the two together)."""

    def __init__(self, truck: TruckSpec, trailer: TrailerSpec | None):
        self.truck = truck
        self.trailer = trailer
        self._truck_drag = 0.5 * RHO_AIR * (truck.drag_coefficient * truck.frontal_area_m2)  # aero_drag_n / u²
        self._trailer_drag = 0.5 * RHO_AIR * (trailer.drag_coefficient * trailer.frontal_area_m2) if trailer else 0.0
        self._brake_per_decel = 100.0 * trailer.brake_gain if trailer else 0.0  # % per m/s², before / (g/2)

    def forces(self, m_tr: float, fraction: float, plug: int, u: float, a: float, sin_t: float, cos_t: float,
               manual_pct: float = 0.0) -> tuple[float, float, float]:
        """(trailer brake %, drawbar N, traction N) with a trailer of `m_tr` kg (0: none coupled)
        carrying `fraction` on the ball; `manual_pct` is the brake controller's lever (the
        controller puts out the larger of it and its automatic output; nothing unplugged)."""
        truck = self.truck
        direction = 1.0 if u > 0 else -1.0 if u < 0 else 0.0  # sign(u)
        climb = a + G * sin_t  # per kg of mass: acceleration plus the grade
        truck_aero = self._truck_drag * u * u
        if m_tr <= 0:  # traction_force_n without tongue load or drawbar
            rolling = truck.rolling_resistance * (truck.mass_kg + 0.0) * G * cos_t
            return 0.0, 0.0, truck.mass_kg * climb + direction * (rolling + truck_aero) + 0.0
        trailer = self.trailer
        brake_pct = 0.0
        if plug:  # trailer_brake_pct, then the lever
            decel = -a * direction
            auto = 0.0
            if decel > 0.3:
                auto = self._brake_per_decel * decel / (0.5 * G)
                auto = auto if auto < 100.0 else 100.0  # min(100.0, auto)
            brake_pct = manual_pct if manual_pct > auto else auto  # max(auto, manual_pct)
        brake_n = brake_pct / 100 * 0.5 * G * m_tr if brake_pct else 0.0  # trailer_brake_force_n
        rolling = trailer.rolling_resistance * m_tr * (1 - fraction) * G * cos_t  # drawbar_force_n
        drawbar = m_tr * climb + direction * (rolling + self._trailer_drag * u * u + brake_n)
        rolling = truck.rolling_resistance * (truck.mass_kg + fraction * m_tr * cos_t) * G * cos_t  # traction_force_n
        return brake_pct, drawbar, truck.mass_kg * climb + direction * (rolling + truck_aero) + drawbar
