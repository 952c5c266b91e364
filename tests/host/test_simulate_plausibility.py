"""The plausibility rules of the simulator's model receiver (docs/simulator.md, "Alert rules"):
trailer_sway, pack_voltage_vs_cells, hitch_status_vs_load and soc_vs_bms_state, fed crafted
frames one by one. Each expected time below is worked out by hand from the rule's text."""

from __future__ import annotations

import dataclasses

import pytest

from host_tools.dbc import load_dbc
from host_tools.simulate.alerts import Limits, Receiver
from host_tools.simulate.physics import BMS_STATE, HITCH_STATUS
from host_tools.simulate.traffic import FLAG_CRC, FLAG_RANGE, Sender
from mule_testing import PROJECT_DBC

DBC = load_dbc(PROJECT_DBC)
MS = 1000
NEW = ("trailer_sway", "pack_voltage_vs_cells", "hitch_status_vs_load", "soc_vs_bms_state")


class _NoEcus:
    def sampler(self, name):
        return None


SENDERS = [Sender(k, m, _NoEcus(), 0, 10**9, []) for k, m in enumerate(DBC.messages)]
BY_NAME = {s.name: s for s in SENDERS}
HITCH = {"tongue_load_kg": 300, "hitch_sensor_status": HITCH_STATUS["OK"], "drawbar_force_n": 1000,
         "hitch_angle_deg": 0, "trailer_connected": 1, "trailer_brake_output_pct": 0}
PACK = {"pack_voltage_v": 364.8, "pack_current_a": 10, "soc_pct": 60, "soh_pct": 97,
        "bms_state": BMS_STATE["DRIVE"]}


class Bus:
    """Frames into a Receiver as the traffic module makes them: raws in packer order, then the
    E2E counter (one up per frame of the id) and the CRC."""

    def __init__(self, limits: Limits | None = None, value_faults=()):
        self.rx = Receiver(SENDERS, limits or Limits(), 10**9, value_faults)
        self.counter = {}

    def send(self, name, t_us, values=None, *, group=0, raw=None, faults=(), flags=0):
        sender = BY_NAME[name]
        packer = sender.packers[group]
        base = {"HitchLoad": HITCH, "BmsPackStatus": PACK}.get(name, {})
        values = {**base, **(values or {})}
        data_fields = packer.fields[:-2] if sender.protected else packer.fields
        raws = packer.raws([values[f.name] for f in data_fields])
        for signal, value in (raw or {}).items():  # raw values, e.g. out of range
            raws[packer.index[signal]] = value
        if sender.protected:
            count = self.counter.get(name, -1) + 1 & 15
            self.counter[name] = count
            raws += [count, 0]
        self.rx.feed((t_us, sender.prio, sender.key, b"", faults, raws, flags))

    def hitch(self, t_us, **values):
        self.send("HitchLoad", t_us, values)

    def alerts(self, kind):
        """(start µs, end µs or None[, value]) of each alert of `kind`."""
        out = []
        for a in self.rx.alerts:
            if a["kind"] == kind:
                out.append((a["start"], a["end"]) + ((a["value"],) if "value" in a else ()))
        return out


# -- trailer_sway ---------------------------------------------------------------------------

def square_wave(bus, start_us, halves, level, half_us=500 * MS, frame_us=20 * MS):
    """The angle holds +level / -level (raw 0.1°) for half_us each, `halves` times, starting
    with +level at start_us; returns the time after the last half."""
    t = start_us
    for k in range(halves):
        sign = 1 if k % 2 == 0 else -1
        for _ in range(half_us // frame_us):
            bus.hitch(t, hitch_angle_deg=sign * level / 10)
            t += frame_us
    return t


def test_sway_raises_on_the_third_wide_half_cycle_and_clears_on_a_small_one():
    bus = Bus()
    # ±3.0° flips every 0.5 s (1 Hz). Turning points are confirmed on the first frame of each
    # flip: 0.5 s (the first, no previous), 1.0, 1.5, 2.0 s: p2p 60 ≥ 40 in 0.5 s → counts 1, 2, 3.
    t = square_wave(bus, 0, 6, 30)
    assert bus.alerts("trailer_sway") == [(2000 * MS, None, 60)]
    # then ±0.8°: the flip at 3.0 s turns at +3.0 (p2p 60), at 3.5 s at -0.8 (p2p 38 ≥ 20: still
    # swaying), at 4.0 s at +0.8: p2p 16 < 20 → clear
    square_wave(bus, t, 4, 8)
    assert bus.alerts("trailer_sway") == [(2000 * MS, 4000 * MS, 60)]


def test_sway_clears_after_a_second_without_a_turning_point():
    bus = Bus()
    t = square_wave(bus, 0, 5, 30)  # raised at 2.0 s; the last turning point at 2.0 s
    for _ in range(100):
        bus.hitch(t, hitch_angle_deg=3.0)  # holds (the second half of a +3.0 half cycle)
        t += 20 * MS
    # 2.0 + 1.0 s is not "more than" a second; the next frame, 3.02 s, is
    assert bus.alerts("trailer_sway") == [(2000 * MS, 3020 * MS, 60)]


@pytest.mark.parametrize("half_us,why", [(300 * MS, "1.67 Hz: above max_hz"), (1040 * MS, "0.48 Hz: below min_hz")])
def test_sway_outside_the_frequency_band_is_not_sway(half_us, why):
    bus = Bus()
    square_wave(bus, 0, 12, 50, half_us=half_us)
    assert bus.alerts("trailer_sway") == [], why


def levels(bus, values, start_us=0, half_us=500 * MS, frame_us=20 * MS):
    """The angle holds each raw value in turn for half_us; returns the time after the last."""
    t = start_us
    for level in values:
        for _ in range(half_us // frame_us):
            bus.hitch(t, hitch_angle_deg=level / 10)
            t += frame_us
    return t


def test_two_wide_half_cycles_are_not_enough():
    bus = Bus()
    levels(bus, [30, -30, 30, -30, -30, -30, -30])  # counts 1, 2 at 1.0 s and 1.5 s, then it holds
    assert bus.alerts("trailer_sway") == []


def test_a_narrow_half_cycle_resets_the_count():
    bus = Bus()
    # turning points (confirmed as each half starts): 0.5 s peak +30 (the first), 1.0 trough -30
    # (p2p 60: 1), 1.5 peak +30 (2), 2.0 trough +5 (p2p 25: 0), 2.5 peak +30 (25: 0),
    # 3.0 trough -30 (1), 3.5 (2), 4.0 (3: raised)
    levels(bus, [30, -30, 30, 5, 30, -30, 30, -30, 30])
    assert bus.alerts("trailer_sway") == [(4000 * MS, None, 60)]


def test_sway_ignores_frames_that_are_not_usable():
    bus = Bus()
    t = 0
    for k in range(6):
        for _ in range(25):
            level = 3.0 if k % 2 == 0 else -3.0
            bus.hitch(t, hitch_angle_deg=level)
            # a frame with a bad CRC, one with the sensor not OK: they change nothing
            bus.send("HitchLoad", t + 1, {"hitch_angle_deg": -level}, flags=FLAG_CRC)
            bus.counter["HitchLoad"] -= 1  # the bad-CRC frame's counter is not the reference
            bus.send("HitchLoad", t + 2, {"hitch_angle_deg": -level, "hitch_sensor_status": HITCH_STATUS["OVERLOAD"]})
            bus.send("HitchLoad", t + 3, raw={"hitch_angle_deg": -1000}, flags=FLAG_RANGE)  # -100°: out of range
            t += 20 * MS
    assert bus.alerts("trailer_sway") == [(2000 * MS, None, 60)]


def test_sway_detector_works_in_the_dbc_scale_and_the_limits():
    wide = dataclasses.replace(Limits(), trailer_sway_on_amplitude_deg=3.5, trailer_sway_half_cycles=2)
    bus = Bus(wide)
    levels(bus, [30, -30, 30, -30, 30])  # p2p 60 < 2 x 35: never
    assert bus.alerts("trailer_sway") == []
    bus = Bus(wide)
    levels(bus, [40, -40, 40, -40])  # p2p 80: counts 1 at 1.0 s, 2 at 1.5 s
    assert bus.alerts("trailer_sway") == [(1500 * MS, None, 80)]


# -- hitch_status_vs_load --------------------------------------------------------------------

def test_hitch_status_vs_load_debounces_five_frames_and_clears_at_900_kg():
    bus = Bus()
    t = 0
    for kg in [1001] * 4 + [950] + [1000] + [-1001] * 5 + [950, 905, 900, 1200]:  # 950: neither on nor off
        bus.hitch(t, tongue_load_kg=kg)
        t += 20 * MS
    # the first four are reset by 950 kg, 1000 kg is not above the threshold: another reset;
    # -1001 counts (absolute load): the fifth is at 200 ms; 950 and 905 hold it, 900 clears it
    # at 260 ms; 1200 starts a new count
    assert bus.alerts("hitch_status_vs_load") == [(200 * MS, 260 * MS)]


def test_hitch_status_vs_load_counts_only_frames_the_module_calls_ok():
    bus = Bus()
    t = 0
    for status in ["OK"] * 3 + ["OVERLOAD"] + ["OK"] + ["INITIALISING"] + ["OK"] * 3:
        bus.hitch(t, tongue_load_kg=1500, hitch_sensor_status=HITCH_STATUS[status])
        t += 20 * MS
    # the status is the gate: OVERLOAD and INITIALISING frames neither count nor reset nor
    # clear; the fifth OK frame (k = 6, 120 ms) raises it, and it stays raised
    assert bus.alerts("hitch_status_vs_load") == [(120 * MS, None)]


def test_hitch_status_vs_load_skips_unusable_frames_without_resetting():
    bus = Bus()
    t = 0
    for k in range(7):
        if k == 2:
            bus.send("HitchLoad", t, raw={"tongue_load_kg": 2040}, flags=FLAG_RANGE)  # out of range: not evaluated
        elif k == 4:
            bus.send("HitchLoad", t, {"tongue_load_kg": 0}, flags=FLAG_CRC)  # bad CRC: not evaluated
            bus.counter["HitchLoad"] -= 1
        else:
            bus.hitch(t, tongue_load_kg=1100)
        t += 20 * MS
    assert bus.alerts("hitch_status_vs_load") == [(120 * MS, None)]  # the fifth usable one: k = 6


# -- soc_vs_bms_state ----------------------------------------------------------------------

def test_soc_vs_bms_state_debounces_three_frames_per_band():
    bus = Bus()
    t = 0
    frames = [("CHARGE_DC", 99.5), ("CHARGE_DC", 100), ("CHARGE_DC", 100), ("STANDBY", 100),  # no band: resets
              ("CHARGE_AC", 100), ("CHARGE_DC", 100), ("CHARGE_DC", 100),  # raised at the third: 600 ms
              ("CHARGE_DC", 100), ("DRIVE", 100),  # DRIVE allows 100: cleared at 800 ms
              ("DRIVE", 0), ("DRIVE", 0), ("DRIVE", 0.5), ("DRIVE", 0), ("DRIVE", 0), ("DRIVE", 0)]  # 0 < 0.5
    for state, soc in frames:
        bus.send("BmsPackStatus", t, {"soc_pct": soc, "bms_state": BMS_STATE[state]})
        t += 100 * MS
    alerts = [(a["start"], a["end"], a["value"], a["detail"]) for a in bus.rx.alerts if a["kind"] == "soc_vs_bms_state"]
    assert alerts == [(600 * MS, 800 * MS, 200, "CHARGE_DC"), (1400 * MS, None, 0, "DRIVE")]


def test_soc_vs_bms_state_bands_come_from_the_limits():
    limits = dataclasses.replace(Limits(), soc_state_bands={"STANDBY": [10.0, 90.0]}, soc_state_debounce=1)
    bus = Bus(limits)
    for k, (state, soc) in enumerate([("CHARGE_DC", 100), ("STANDBY", 95), ("STANDBY", 90)]):
        bus.send("BmsPackStatus", k * 100 * MS, {"soc_pct": soc, "bms_state": BMS_STATE[state]})
    assert bus.alerts("soc_vs_bms_state") == [(100 * MS, 200 * MS, 190)]


# -- pack_voltage_vs_cells -----------------------------------------------------------------

def cells(bus, t_us, mv=3800, *, bad_group=None):
    """One round of the 32 cell groups, 31.25 ms apart; returns the time after it."""
    for group in range(32):
        names = [f.name for f in BY_NAME["BmsCellVoltages"].packers[group].fields]
        values = {"cell_group": group, **{name: mv for name in names[1:4]}}
        if group == bad_group:
            bus.send("BmsCellVoltages", t_us, values, group=group, raw={names[2]: 6000}, flags=FLAG_RANGE)
        else:
            bus.send("BmsCellVoltages", t_us, values, group=group)
        t_us += 31_250
    return t_us


def test_pack_voltage_vs_cells_waits_for_all_groups_then_debounces_five():
    bus = Bus()
    for k in range(6):  # 300 V against no cells yet: not evaluated
        bus.send("BmsPackStatus", k * 100 * MS, {"pack_voltage_v": 300})
    t = cells(bus, 1000 * MS)  # 96 × 3.8 V = 364.8 V
    volts = [334.7, 334.7, 334.7, 334.7, 364.8,  # 30.1 V off four times, then 0: reset
             334.7, 395.0, 334.7, 334.7, 334.7,  # raised on the fifth: 30.1, 30.2, 30.1...
             349.7, 349.8]  # 15.1 V holds it, 15.0 V clears it
    starts = []
    for v in volts:
        starts.append(t)
        bus.send("BmsPackStatus", t, {"pack_voltage_v": v})
        t += 100 * MS
    assert bus.alerts("pack_voltage_vs_cells") == [(starts[9], starts[11], 30100)]
    bus = Bus()
    t = cells(bus, 0)
    for _ in range(10):
        bus.send("BmsPackStatus", t, {"pack_voltage_v": 334.8})  # 30.0 V is not above 30 V
        t += 100 * MS
    assert bus.alerts("pack_voltage_vs_cells") == []


def test_pack_voltage_vs_cells_forgets_a_group_with_a_bad_cell():
    bus = Bus()
    t = cells(bus, 0, bad_group=7)  # group 7's frame has a cell out of range: unknown
    for _ in range(6):
        bus.send("BmsPackStatus", t, {"pack_voltage_v": 300})
        t += 100 * MS
    assert bus.alerts("pack_voltage_vs_cells") == []
    t = cells(bus, t)  # now every group is known
    for _ in range(5):
        bus.send("BmsPackStatus", t, {"pack_voltage_v": 300})
        t += 100 * MS
    assert bus.alerts("pack_voltage_vs_cells") == [(t - 100 * MS, None, 64800)]


# -- causes --------------------------------------------------------------------------------

def test_a_value_fault_on_the_raising_frame_is_the_cause():
    bus = Bus(value_faults={3})
    for k in range(5):
        bus.send("HitchLoad", k * 20 * MS, {"tongue_load_kg": 1200}, faults=(1, 3) if k == 4 else ())
    (alert,) = [a for a in bus.rx.alerts if a["kind"] == "hitch_status_vs_load"]
    assert alert["cause"] == [3] and alert["signal"] == "tongue_load_kg" and alert["message"] == "HitchLoad"


# -- pack_current_beyond_limits -----------------------------------------------------------------

def test_pack_current_against_the_bms_limits_with_its_margin():
    bus = Bus()
    limits = {"charge_power_limit_kw": 100, "discharge_power_limit_kw": 100, "max_charge_current_a": 50.0,
              "max_discharge_current_a": 100.0}
    bus.send("BmsPackStatus", 0, {"pack_current_a": 500.0})  # no limits known yet: nothing
    bus.send("BmsPackStatus", 50 * MS, {"pack_current_a": 0.0})
    t = 100 * MS
    bus.send("BmsPowerLimits", t, limits)
    for amps in [110.0, 110.1, 105.0, 100.1, 100.0, -59.9, -60.1, -50.0]:
        t += 100 * MS
        bus.send("BmsPackStatus", t, {"pack_current_a": amps})
    # > 100 + 10 A: raised at 110.1 A (300 ms); held to 100.1 A; cleared at 100 A (600 ms);
    # < -(50 + 10) A: raised at -60.1 A (800 ms), cleared within the charge limit (900 ms)
    assert bus.alerts("pack_current_beyond_limits") == [(300 * MS, 600 * MS, 1101), (800 * MS, 900 * MS, -601)]
    t += 100 * MS
    bus.send("BmsPackStatus", t, {"pack_current_a": 90.0})
    t += 100 * MS
    bus.send("BmsPowerLimits", t, {**limits, "max_discharge_current_a": 70.0})  # the limit comes down
    assert bus.alerts("pack_current_beyond_limits")[-1] == (t, None, 900)
