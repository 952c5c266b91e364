"""What each ECU puts in its messages: physical signal values read from the physics
timeline at the step the frame is sent. Names are the DBC's (docs/dbc.md); None means the
signal's "not available" code. Counters and CRCs are traffic.py's job."""

from __future__ import annotations

from collections.abc import Callable

from host_tools.simulate.physics import HITCH_STATUS, Timeline

_OK = HITCH_STATUS["OK"]

# message -> the signals its sampler returns, in order (the multiplexed message: per group)
SIGNALS: dict[str, tuple[str, ...]] = {
    "VcuVehicleStatus": ("vehicle_speed_kph", "gear", "drive_mode", "road_grade_pct"),
    "VcuEnvironment": ("ambient_temp_c",),
    "BmsPackStatus": ("pack_voltage_v", "pack_current_a", "soc_pct", "soh_pct", "bms_state"),
    "BmsCellStats": ("cell_v_max_mv", "cell_v_max_index", "cell_v_min_mv", "cell_v_min_index"),
    "BmsTempStats": ("cell_t_max_c", "cell_t_max_index", "cell_t_min_c", "cell_t_min_index", "cell_t_avg_c",
                     "coolant_inlet_temp_c"),
    "BmsPowerLimits": ("charge_power_limit_kw", "discharge_power_limit_kw", "max_charge_current_a",
                       "max_discharge_current_a"),
    "HitchLoad": ("tongue_load_kg", "hitch_sensor_status", "drawbar_force_n", "hitch_angle_deg",
                  "trailer_connected", "trailer_brake_output_pct"),
}
MUX_MESSAGE = "BmsCellVoltages"
GROUPS = 32


def cell_group_signals(group: int) -> tuple[str, ...]:
    first = 3 * group + 1
    return ("cell_group", f"cell_{first:03d}_mv", f"cell_{first + 1:03d}_mv", f"cell_{first + 2:03d}_mv")


class Ecus:
    """Samplers over one timeline: sampler(name)(i, n) -> values, where i is the physics
    step and n the frame number of the message (the multiplexed one picks its group by n)."""

    def __init__(self, timeline: Timeline):
        self.tl = timeline
        self._cells_at = -1
        self._cells: list[float] = []

    def sampler(self, message: str) -> Callable[[int, int], tuple]:
        return {
            "VcuVehicleStatus": self.vehicle_status,
            "VcuEnvironment": self.environment,
            "BmsPackStatus": self.pack_status,
            "BmsCellStats": self.cell_stats,
            "BmsTempStats": self.temp_stats,
            "BmsPowerLimits": self.power_limits,
            "BmsCellVoltages": self.cell_voltages,
            "HitchLoad": self.hitch_load,
        }[message]

    def vehicle_status(self, i: int, n: int) -> tuple:
        tl = self.tl
        return (tl.speed_kph[i], tl.gear[i], tl.drive_mode[i], tl.grade_pct[i])

    def environment(self, i: int, n: int) -> tuple:
        return (self.tl.ambient_c,)

    def pack_status(self, i: int, n: int) -> tuple:
        tl = self.tl
        return (tl.pack_v[i], tl.pack_a[i], tl.soc[i], tl.soh_pct, tl.bms_state[i])

    def _cell_voltages(self, i: int) -> list[float]:
        if i != self._cells_at:
            tl = self.tl
            self._cells = tl.cells.voltages(tl.soc[i] - tl.soc0, tl.ocv_cell[i], tl.ocv_slope[i],
                                            tl.pack_a[i], tl.r_cell[i], tl.v_rc[i])
            self._cells_at = i
        return self._cells

    def cell_stats(self, i: int, n: int) -> tuple:
        volts = self._cell_voltages(i)
        high = max(volts)
        low = min(volts)
        return (high * 1000, volts.index(high) + 1, low * 1000, volts.index(low) + 1)

    def temp_stats(self, i: int, n: int) -> tuple:
        tl = self.tl
        readings = tl.cells.temperatures(tl.pack_temp_c[i], tl.hotspot_k[i], tl.coolant_c[i])
        high = max(readings)
        low = min(readings)
        average = sum(readings) / len(readings)
        return (high, readings.index(high) + 1, low, readings.index(low) + 1, average, tl.coolant_c[i])

    def power_limits(self, i: int, n: int) -> tuple:
        tl = self.tl
        return (tl.charge_kw[i], tl.discharge_kw[i], tl.max_charge_a[i], tl.max_discharge_a[i])

    def cell_voltages(self, i: int, n: int) -> tuple:
        group = n % GROUPS
        tl = self.tl
        if i == self._cells_at:
            cells = self._cells
            return (group, cells[3 * group] * 1000, cells[3 * group + 1] * 1000, cells[3 * group + 2] * 1000)
        args = (tl.soc[i] - tl.soc0, tl.ocv_cell[i], tl.ocv_slope[i], tl.pack_a[i], tl.r_cell[i], tl.v_rc[i])
        voltage = tl.cells.voltage
        return (group, voltage(3 * group, *args) * 1000, voltage(3 * group + 1, *args) * 1000,
                voltage(3 * group + 2, *args) * 1000)

    def hitch_load(self, i: int, n: int) -> tuple:
        tl = self.tl
        status = tl.hitch_status[i]
        plug = tl.plug[i]
        brake = tl.trailer_brake_pct[i] if plug else None
        if status != _OK:  # measurements are only valid with OK (the DBC's comment)
            return (0, status, 0, 0, plug, brake)
        return (tl.tongue_kg[i], status, tl.drawbar_n[i], tl.hitch_angle_deg[i], plug, brake)
