"""A short, plausible test-mule drive for `mule demo`: a pickup towing a 2.5 t trailer
pulls away up a 2 % grade. Not the simulator (that has real physics and faults); just
enough traffic, with valid counters and CRCs, to show both decode engines at work."""

from __future__ import annotations

import math
from pathlib import Path

import can

from host_tools.dbc import Dbc
from host_tools.e2e import next_counter, payload_crc, protection

TRAILER_KG = 2500.0
TONGUE_FRACTION = 0.12
GRADE_PCT = 2.0
OTHER_ECU_ID = 0x7DF  # an OBD request on the bus: an id the DBC lacks, on purpose


def _state(t: float) -> dict:
    accel = 1.6 if t < 10 else 0.0  # m/s^2
    speed = accel * min(t, 10.0)  # m/s
    slope = GRADE_PCT / 100
    drawbar = TRAILER_KG * (accel + 9.81 * slope) + TRAILER_KG * 9.81 * 0.012 + 0.35 * speed ** 2
    power_kw = (2600 + TRAILER_KG) * (accel + 9.81 * slope) * speed / 1000 / 0.9 + 1.5
    voltage = 381.0 - 0.08 * power_kw * 1000 / 381.0
    current = power_kw * 1000 / voltage
    cell = voltage / 96
    return {
        "speed_kph": speed * 3.6,
        "tongue_kg": TRAILER_KG * TONGUE_FRACTION + 18 * math.sin(2 * math.pi * 2.3 * t) - 25 * accel,
        "drawbar_n": drawbar,
        "angle_deg": 1.2 * math.sin(2 * math.pi * 0.2 * t),
        "voltage": voltage,
        "current": current,
        "soc": 78.0 - 0.05 * t,  # a little fast, so it shows in 12 s
        "cell_mv": [cell * 1000 + 9 * math.sin(i * 1.7) for i in range(96)],
    }


def _values(name: str, s: dict, group: int) -> dict:
    cells = s["cell_mv"]
    if name == "HitchLoad":
        return {"tongue_load_kg": round(s["tongue_kg"]), "hitch_sensor_status": 0,
                "drawbar_force_n": 2 * round(s["drawbar_n"] / 2), "hitch_angle_deg": round(s["angle_deg"], 1),
                "trailer_connected": 1, "trailer_brake_output_pct": 0}
    if name == "BmsPackStatus":
        return {"pack_voltage_v": round(s["voltage"], 1), "pack_current_a": round(s["current"], 1),
                "soc_pct": round(s["soc"] * 2) / 2, "soh_pct": 97.5, "bms_state": 3}
    if name == "BmsCellStats":
        hi = max(range(96), key=cells.__getitem__)
        lo = min(range(96), key=cells.__getitem__)
        return {"cell_v_max_mv": round(cells[hi]), "cell_v_max_index": hi + 1,
                "cell_v_min_mv": round(cells[lo]), "cell_v_min_index": lo + 1}
    if name == "BmsTempStats":
        return {"cell_t_max_c": 31, "cell_t_max_index": 7, "cell_t_min_c": 27, "cell_t_min_index": 22,
                "cell_t_avg_c": 29, "coolant_inlet_temp_c": 24}
    if name == "BmsPowerLimits":
        return {"charge_power_limit_kw": 180.0, "discharge_power_limit_kw": 250.0,
                "max_charge_current_a": 450.0, "max_discharge_current_a": 650.0}
    if name == "BmsCellVoltages":
        first = 3 * group
        return {"cell_group": group, **{f"cell_{first + k + 1:03d}_mv": round(cells[first + k]) for k in range(3)}}
    if name == "VcuVehicleStatus":
        return {"vehicle_speed_kph": round(s["speed_kph"], 2), "gear": 3, "drive_mode": 6,
                "road_grade_pct": GRADE_PCT}
    if name == "VcuEnvironment":
        return {"ambient_temp_c": 18.5}
    raise KeyError(name)


def write_demo_log(dbc: Dbc, path: Path, seconds: float = 12.0) -> int:
    """Write the drive as a candump log; returns the number of frames."""
    frames = []
    for mi, message in enumerate(dbc.messages):
        guard = protection(message)
        counter = 0
        period = message.cycle_time / 1000
        if message.is_multiplexed():
            period /= 32  # one cell group per frame, every group once per cycle (docs/dbc.md)
        for n in range(int(seconds / period)):
            t = n * period + 0.0013 * (mi % 7)  # senders are not in phase
            values = _values(message.name, _state(t), n % 32)
            if guard:
                values[guard.counter] = counter
                values[guard.crc] = 0
                counter = next_counter(counter)
            data = bytearray(message.encode(values, strict=True))
            if guard:
                data[-1] = payload_crc(data)  # docs/dbc.md: the CRC is the last byte
            frames.append(can.Message(timestamp=1_700_000_000 + t, arbitration_id=message.frame_id,
                                      is_extended_id=message.is_extended_frame, data=data, channel="can0"))
    for n in range(int(seconds)):
        frames.append(can.Message(timestamp=1_700_000_000 + n + 0.5, arbitration_id=OTHER_ECU_ID,
                                  is_extended_id=False, data=bytes([2, 1, 0x0D, 0, 0, 0, 0, 0]), channel="can0"))
    frames.sort(key=lambda m: m.timestamp)
    path.parent.mkdir(parents=True, exist_ok=True)
    with can.CanutilsLogWriter(str(path)) as writer:
        for frame in frames:
            writer.on_message_received(frame)
    return len(frames)
