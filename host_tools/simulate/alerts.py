"""The alerts the board must raise, worked out by a model receiver that reads the frames in
log order, exactly as the board will see them, and applies the rules of docs/simulator.md.

Frame checks: dlc, crc, counter_repeated, counter_jump, range, out_of_order, timeout.
Conditions, from usable values only: tongue_overload, trailer_disconnected_moving,
cell_spread, overtemperature, soc_low_for_tow, sensor_fault, and the plausibility rules
trailer_sway, pack_voltage_vs_cells, hitch_status_vs_load, soc_vs_bms_state (with debounce).
bus_off comes from its fault.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import asdict, dataclass, field

from host_tools.simulate.faults import MAX_COUNTER_DELTA
from host_tools.simulate.physics import BMS_STATE, HITCH_STATUS
from host_tools.simulate.sway import CLEAR, RAISE, SwayDetector
from host_tools.simulate.traffic import FLAG_CRC, FLAG_DLC, FLAG_MISSING, FLAG_RANGE, KEY_ERROR

_STATUS_NAME = {v: k for k, v in HITCH_STATUS.items()}
_STATUS_FINE = (HITCH_STATUS["OK"], HITCH_STATUS["INITIALISING"])
_STATUS_OK = HITCH_STATUS["OK"]
_BMS_NAME = {v: k for k, v in BMS_STATE.items()}
GROUPS = 32  # cell groups of BmsCellVoltages (the multiplexer's values)


def _default_soc_bands() -> dict:
    return {"CHARGE_AC": [0.0, 99.5], "CHARGE_DC": [0.0, 99.5], "DRIVE": [0.5, 100.0]}


@dataclass(frozen=True)
class Limits:
    """Thresholds of the rules; written to the sidecar so a checker need not copy them."""

    timeout_periods: float = 3.0  # no frame for this many frame periods
    max_counter_delta: int = MAX_COUNTER_DELTA
    tongue_rating_kg: float = 550.0
    tongue_window_s: float = 1.0
    tongue_clear_fraction: float = 0.95
    moving_kph: float = 5.0
    cell_spread_mv: float = 100.0
    cell_spread_clear_mv: float = 80.0
    overtemperature_c: float = 55.0
    overtemperature_clear_c: float = 52.0
    soc_low_pct: float = 20.0
    soc_low_clear_pct: float = 21.0
    # plausibility rules (docs/simulator.md, "Alert rules")
    trailer_sway_band_deg: float = 1.0  # a turning point: the angle comes back this far from an extreme
    trailer_sway_on_amplitude_deg: float = 2.0  # swing half peak-to-peak to count a half cycle
    trailer_sway_off_amplitude_deg: float = 1.0
    trailer_sway_min_hz: float = 0.5
    trailer_sway_max_hz: float = 1.5
    trailer_sway_half_cycles: int = 3
    # |pack voltage - sum of the 96 cells|. Not the 20 V first proposed: the cells come in 32 groups
    # over 1 s, so while the current changes the sum lags the pack voltage; a cold pack's load
    # steps made up to 20.6 V over 5 frames in cold_soak (60 seeds)
    pack_cells_on_above_v: float = 30.0
    pack_cells_off_at_or_below_v: float = 15.0
    pack_cells_debounce: int = 5
    hitch_sensor_overload_kg: float = 1000.0  # the sensor's own OVERLOAD threshold
    hitch_sensor_overload_clear_kg: float = 900.0
    hitch_status_debounce: int = 5
    soc_state_bands: dict = field(default_factory=_default_soc_bands)  # bms_state -> [lo, hi] SOC %
    soc_state_debounce: int = 3
    # pack current beyond the BMS's present limits (BmsPowerLimits), in amperes
    pack_current_margin_a: float = 10.0
    pack_current_clear_margin_a: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class _Message:
    """What the receiver knows of one message: names, timeout, where things are in a record."""

    def __init__(self, sender, limits: Limits):
        self.name = sender.name
        self.timeout_us = round(limits.timeout_periods * sender.period_us)
        self.protected = sender.protected
        self.packers = sender.packers
        self.counter_at = len(sender.packers[0].fields) - 2 if sender.protected else None
        packer = sender.packers[0]  # the conditions read no multiplexed signal
        self._where = {f.name: (k, f.scale, f.offset, f.lo, f.hi) for k, f in enumerate(packer.fields)}
        self._raw = {f.name: (k, f.lo, f.hi, f.na) for k, f in enumerate(packer.fields)}
        # per multiplexer value, (lo, hi, n/a, scale, offset) of the fields after it (the cells)
        self.muxed = [tuple((f.lo, f.hi, f.na, f.scale, f.offset) for f in p.fields[1:4]) for p in sender.packers]

    def raw(self, raws, name):
        """(raw value, usable: inside [min|max] and not the n/a code) of signal `name`."""
        k, lo, hi, na = self._raw[name]
        raw = raws[k]
        return raw, lo <= raw <= hi and raw != na

    def scale(self, name: str) -> float:
        return self._where[name][1]

    def field(self, raws, name):
        """(physical value, in range) of signal `name` in a frame's raws."""
        k, scale, offset, lo, hi = self._where[name]
        raw = raws[k]
        return raw * scale + offset, lo <= raw <= hi

    def out_of_range(self, raws) -> list[str]:
        packer = self.packers[raws[0] if len(self.packers) > 1 else 0]
        return [f.name for f, raw in zip(packer.fields, raws) if not f.lo <= raw <= f.hi and raw != f.na]


class Receiver:
    def __init__(self, senders, limits: Limits, duration_us: int, value_faults=frozenset()):
        self.limits = limits
        self.duration_us = duration_us
        self.messages = [_Message(s, limits) for s in senders]
        n = len(self.messages)
        self.last_rx = [0] * n
        self.last_counter: list[int | None] = [None] * n
        self.last_fault: dict[int, int] = {}  # message key -> index of the last fault that touched it
        self.latest_t = -1
        self.runs: dict[int, dict] = {}  # prio -> {(kind, signal): open alert}
        self.alerts: list[dict] = []
        self.open: dict[str, dict] = {}  # condition kind -> open alert
        self.speed = 0.0
        self.connected: int | None = None
        self.soc: float | None = None
        self.current_raw: int | None = None  # the last usable pack current and BMS limits, raw
        self.max_discharge_raw: int | None = None
        self.max_charge_raw: int | None = None
        self.tongue: deque = deque()
        self.tongue_sum = 0.0
        self._tongue_window_us = round(limits.tongue_window_s * 1e6)
        self._by_name = {m.name: k for k, m in enumerate(self.messages)}
        self._conditions = {
            "HitchLoad": self._hitch, "VcuVehicleStatus": self._vehicle, "BmsPackStatus": self._pack,
            "BmsCellStats": self._cell_stats, "BmsTempStats": self._temps, "BmsCellVoltages": self._cell_voltages,
            "BmsPowerLimits": self._power_limits}
        self._condition_of = [self._conditions.get(m.name) for m in self.messages]  # by message key
        # the plausibility rules
        self.value_faults = frozenset(value_faults)  # `value` faults: they cause the conditions they trip
        self._frame_causes: list[int] | tuple = ()
        self.debounce: dict[str, int] = {}  # kind -> consecutive evaluations with the on-condition (> 0)
        self.group_mv: list[int | None] = [None] * GROUPS  # sum of each cell group's 3 cells, mV
        self.groups_unknown = GROUPS
        self.sway = sway_detector(limits, self._scale("HitchLoad", "hitch_angle_deg", 0.1))

    def _scale(self, message: str, signal: str, default: float) -> float:
        k = self._by_name.get(message)
        return self.messages[k].scale(signal) if k is not None else default

    # -- frames ------------------------------------------------------------------------------

    def feed(self, record: tuple) -> None:
        t, prio, key, data, faults, raws, flags = record
        if flags & FLAG_MISSING:
            if key >= 0 and faults:
                self.last_fault[key] = faults[-1]
            return
        if key == KEY_ERROR:
            return
        flagged = []
        if t < self.latest_t:
            flagged.append(("out_of_order", None))
        else:
            self.latest_t = t
        if key < 0:  # another ECU's frame
            if flagged or prio in self.runs:
                self._runs(prio, f"{raws[0]:#x}", t, flagged, faults, None)
            return
        m = self.messages[key]
        if faults:
            self.last_fault[key] = faults[-1]
        if t - self.last_rx[key] > m.timeout_us:
            self._add("timeout", m.name, None, self.last_rx[key] + m.timeout_us, t, self._cause(key, ()))
        if t > self.last_rx[key]:
            self.last_rx[key] = t
        usable = True
        if flags & FLAG_DLC:
            flagged.append(("dlc", None))
            usable = False
        elif m.protected:
            if flags & FLAG_CRC:
                flagged.append(("crc", None))
                usable = False
            else:
                counter = raws[m.counter_at]
                previous = self.last_counter[key]
                if previous is not None:
                    delta = (counter - previous) & 15
                    if delta == 0:
                        flagged.append(("counter_repeated", None))
                        usable = False
                    elif delta > self.limits.max_counter_delta:
                        flagged.append(("counter_jump", None))
                self.last_counter[key] = counter
        if usable and flags & FLAG_RANGE:
            flagged.extend(("range", name) for name in m.out_of_range(raws))
        if flagged or prio in self.runs:  # most frames neither start nor end a run
            self._runs(prio, m.name, t, flagged, faults, key)
        if usable:
            condition = self._condition_of[key]
            if condition is not None:
                self._frame_causes = [i for i in faults if i in self.value_faults] if faults else ()
                condition(t, m, raws)

    def _runs(self, prio: int, name: str, t: int, flagged: list, faults: tuple, key) -> None:
        """Consecutive flagged frames of one id make one alert per kind (and signal)."""
        runs = self.runs.get(prio)
        if runs is None:
            if not flagged:
                return
            runs = self.runs[prio] = {}
        for what in [w for w in runs if w not in flagged]:
            del runs[what]
        for kind, signal in flagged:
            alert = runs.get((kind, signal))
            if alert is None:
                alert = self._add(kind, name, signal, t, t, self._cause(key, faults))
                alert["frames"] = 0
                runs[(kind, signal)] = alert
            alert["end"] = t
            alert["frames"] += 1
            for index in faults:
                if index not in alert["cause"]:
                    alert["cause"].append(index)

    def _cause(self, key, faults: tuple) -> list[int]:
        if faults:
            return list(faults)
        if key is not None and key in self.last_fault:
            return [self.last_fault[key]]
        return []

    def _add(self, kind, message, signal, start, end, cause, detail=None) -> dict:
        alert = {"kind": kind, "message": message, "signal": signal, "start": start, "end": end, "cause": cause}
        if detail is not None:
            alert["detail"] = detail
        self.alerts.append(alert)
        return alert

    # -- conditions ----------------------------------------------------------------------------

    def _switch(self, kind: str, on: bool, off: bool, t: int, message: str, signal: str, detail=None,
                debounce: int = 1, value=None) -> None:
        """Raise on the `debounce`-th consecutive evaluation with `on` (any other evaluation
        resets the count); clear, without debounce, when `off` holds. A `value` fault on the
        frame that raises it is its cause.

        Without `on` it changes something only for a kind in self.open or self.debounce, so
        the conditions evaluated on every frame skip the call then (`_live`): most frames."""
        if debounce > 1:
            count = self.debounce.get(kind, 0) + 1 if on else 0
            if count:
                self.debounce[kind] = count
            else:
                self.debounce.pop(kind, None)
            on = count >= debounce
        alert = self.open.get(kind)
        if alert is None and on:
            alert = self.open[kind] = self._add(kind, message, signal, t, None, list(self._frame_causes), detail)
            if value is not None:
                alert["value"] = value
        elif alert is not None and off:
            alert["end"] = t
            del self.open[kind]

    def _live(self, kind: str) -> bool:
        """Whether an evaluation without the on-condition can change `kind`: open or counting."""
        return kind in self.open or kind in self.debounce

    def _hitch(self, t: int, m: _Message, raws) -> None:
        limits = self.limits
        status = int(m.field(raws, "hitch_sensor_status")[0])
        fine = status in _STATUS_FINE
        if not fine or self._live("sensor_fault"):
            self._switch("sensor_fault", not fine, fine, t, m.name, "hitch_sensor_status",
                         _STATUS_NAME.get(status, str(status)))
        if status != _STATUS_OK:
            return
        load_raw, usable = m.raw(raws, "tongue_load_kg")
        if usable:  # the status part is the gate: the module says OK, its load says otherwise
            load = load_raw * m.scale("tongue_load_kg")
            over = abs(load) > limits.hitch_sensor_overload_kg
            if over or self._live("hitch_status_vs_load"):
                self._switch("hitch_status_vs_load", over, abs(load) <= limits.hitch_sensor_overload_clear_kg, t,
                             m.name, "tongue_load_kg", debounce=limits.hitch_status_debounce)
        angle, usable = m.raw(raws, "hitch_angle_deg")
        if usable:
            event = self.sway.update(angle, t)
            if event is not None:
                self._switch("trailer_sway", event == RAISE, event == CLEAR, t, m.name, "hitch_angle_deg",
                             value=self.sway.p2p)
        tongue, valid = m.field(raws, "tongue_load_kg")
        window = self.tongue
        if valid:
            window.append((t, tongue))
            self.tongue_sum += tongue
        horizon = t - self._tongue_window_us
        while window and window[0][0] <= horizon:
            self.tongue_sum -= window.popleft()[1]
        if window:
            mean = self.tongue_sum / len(window)
            over = mean > limits.tongue_rating_kg
            if over or self._live("tongue_overload"):
                self._switch("tongue_overload", over, mean <= limits.tongue_clear_fraction * limits.tongue_rating_kg,
                             t, m.name, "tongue_load_kg")
        connected = int(m.field(raws, "trailer_connected")[0])
        lost = connected == 0 and self.connected == 1 and self.speed > limits.moving_kph
        if lost or self._live("trailer_disconnected_moving"):
            self._switch("trailer_disconnected_moving", lost, connected == 1, t, m.name, "trailer_connected")
        self.connected = connected
        self._soc_low(t)

    def _vehicle(self, t: int, m: _Message, raws) -> None:
        speed, valid = m.field(raws, "vehicle_speed_kph")
        if valid:
            self.speed = speed

    def _pack(self, t: int, m: _Message, raws) -> None:
        soc, valid = m.field(raws, "soc_pct")
        if valid:
            self.soc = soc
            self._soc_low(t)
        limits = self.limits
        soc_raw, soc_usable = m.raw(raws, "soc_pct")
        state, state_usable = m.raw(raws, "bms_state")
        if soc_usable and state_usable:
            band = limits.soc_state_bands.get(_BMS_NAME.get(state, str(state)))
            outside = band is not None and not band[0] <= soc <= band[1]
            if outside or self._live("soc_vs_bms_state"):
                self._switch("soc_vs_bms_state", outside, not outside, t, m.name, "soc_pct",
                             _BMS_NAME.get(state, str(state)), debounce=limits.soc_state_debounce, value=soc_raw)
        current_raw, usable = m.raw(raws, "pack_current_a")
        if usable:
            self.current_raw = current_raw
            self._current_limits(t, m.scale("pack_current_a"))
        pack_raw, usable = m.raw(raws, "pack_voltage_v")
        if usable and not self.groups_unknown:
            diff_mv = abs(round(pack_raw * m.scale("pack_voltage_v") * 1000) - sum(self.group_mv))
            apart = diff_mv > round(limits.pack_cells_on_above_v * 1000)
            if apart or self._live("pack_voltage_vs_cells"):
                self._switch("pack_voltage_vs_cells", apart, diff_mv <= round(limits.pack_cells_off_at_or_below_v * 1000),
                             t, m.name, "pack_voltage_v", debounce=limits.pack_cells_debounce, value=diff_mv)

    def _power_limits(self, t: int, m: _Message, raws) -> None:
        charge_raw, usable = m.raw(raws, "max_charge_current_a")
        if usable:
            self.max_charge_raw = charge_raw
        discharge_raw, usable = m.raw(raws, "max_discharge_current_a")
        if usable:  # evaluated when the discharge limit comes fresh, as on the board
            self.max_discharge_raw = discharge_raw
            self._current_limits(t, self._scale("BmsPackStatus", "pack_current_a", 0.1),
                                 m.scale("max_discharge_current_a"))

    def _current_limits(self, t: int, current_scale: float, limit_scale: float | None = None) -> None:
        """pack_current_beyond_limits: the pack current (+ discharge) against the BMS's last
        limits, in the current's raw units (0.1 A): on beyond a limit + margin, off within."""
        if self.current_raw is None or self.max_discharge_raw is None or self.max_charge_raw is None:
            return
        if limit_scale is None:
            limit_scale = self._scale("BmsPowerLimits", "max_discharge_current_a", 0.5)
        per = round(limit_scale / current_scale)  # limit raw -> current raw
        margin = round(self.limits.pack_current_margin_a / current_scale)
        clear = round(self.limits.pack_current_clear_margin_a / current_scale)
        up, low = per * self.max_discharge_raw, -per * self.max_charge_raw
        i = self.current_raw
        beyond = i > up + margin or i < low - margin
        if beyond or self._live("pack_current_beyond_limits"):
            self._switch("pack_current_beyond_limits", beyond, low - clear <= i <= up + clear, t, "BmsPackStatus",
                         "pack_current_a", value=i)

    def _cell_voltages(self, t: int, m: _Message, raws) -> None:
        """The latest sum of each group's cells; a group with a bad cell is unknown until a good frame."""
        group = raws[0]
        if not 0 <= group < len(m.packers):
            return
        total = 0
        for (lo, hi, na, scale, offset), raw in zip(m.muxed[group], raws[1:4]):
            if not lo <= raw <= hi or raw == na:
                total = None
                break
            total += round(raw * scale + offset)
        was_unknown = self.group_mv[group] is None
        self.group_mv[group] = total
        self.groups_unknown += (total is None) - was_unknown

    def _soc_low(self, t: int) -> None:
        limits = self.limits
        on = self.soc is not None and self.soc < limits.soc_low_pct and self.connected == 1
        if on or self._live("soc_low_for_tow"):
            off = self.soc is None or self.soc >= limits.soc_low_clear_pct or self.connected != 1
            self._switch("soc_low_for_tow", on, off, t, "BmsPackStatus", "soc_pct")

    def _cell_stats(self, t: int, m: _Message, raws) -> None:
        high, ok_high = m.field(raws, "cell_v_max_mv")
        low, ok_low = m.field(raws, "cell_v_min_mv")
        if ok_high and ok_low:
            spread = high - low
            wide = spread > self.limits.cell_spread_mv
            if wide or self._live("cell_spread"):
                self._switch("cell_spread", wide, spread <= self.limits.cell_spread_clear_mv, t, m.name, "cell_v_max_mv")

    def _temps(self, t: int, m: _Message, raws) -> None:
        hottest, valid = m.field(raws, "cell_t_max_c")
        if valid:
            hot = hottest > self.limits.overtemperature_c
            if hot or self._live("overtemperature"):
                self._switch("overtemperature", hot, hottest <= self.limits.overtemperature_clear_c, t, m.name,
                             "cell_t_max_c")

    # -- the end -------------------------------------------------------------------------------

    def finish(self, bus_off: list[tuple[int, int, int]]) -> list[dict]:
        """All alerts, times in seconds from the epoch (end None: still active when the log ends)."""
        for key, m in enumerate(self.messages):
            if self.duration_us - self.last_rx[key] > m.timeout_us:
                self._add("timeout", m.name, None, self.last_rx[key] + m.timeout_us, None, self._cause(key, ()))
        for index, start, end in bus_off:
            self._add("bus_off", None, None, start, end if end < self.duration_us else None, [index])
        out = []
        for alert in self.alerts:
            alert = dict(alert)
            alert["start"] = _seconds(alert["start"])
            alert["end"] = None if alert["end"] is None else _seconds(alert["end"])
            out.append(alert)
        out.sort(key=lambda a: (a["start"], a["kind"], a["message"] or ""))
        return out


def sway_detector(limits: Limits, angle_scale_deg: float) -> SwayDetector:
    """The trailer_sway rule's detector in raw angle units (0.1 ° in the project's DBC)."""
    amplitude = lambda deg: round(deg / angle_scale_deg)  # noqa: E731
    return SwayDetector(band=amplitude(limits.trailer_sway_band_deg),
                        on_p2p=2 * amplitude(limits.trailer_sway_on_amplitude_deg),
                        off_p2p=2 * amplitude(limits.trailer_sway_off_amplitude_deg),
                        lo_half_us=math.floor(1e6 / (2 * limits.trailer_sway_max_hz)),
                        hi_half_us=math.floor(1e6 / (2 * limits.trailer_sway_min_hz)),
                        half_cycles=limits.trailer_sway_half_cycles)


def _seconds(t_us: int) -> float:
    return round(t_us / 1e6, 6)
