"""The alerts the board must raise, worked out by a model receiver that reads the frames in
log order, exactly as the board will see them, and applies the rules of docs/simulator.md.

Frame checks: dlc, crc, counter_repeated, counter_jump, range, out_of_order, timeout.
Conditions, from usable values only: tongue_overload, trailer_disconnected_moving,
cell_spread, overtemperature, soc_low_for_tow, sensor_fault, and the plausibility rules
trailer_sway, pack_voltage_vs_cells, hitch_status_vs_load, soc_vs_bms_state (with debounce).
bus_off comes from its fault.
"""

from __future__ import annotations

import dataclasses
from collections import deque

from host_tools.simulate.physics import BMS_STATE, HITCH_STATUS
from host_tools.simulate.sway import CLEAR, RAISE, SwayDetector
from host_tools.simulate.traffic import FLAG_CRC, FLAG_DLC, FLAG_MISSING, FLAG_RANGE, KEY_ERROR
from host_tools.supervision.config import DEFAULT_CONFIG, choice, merged_config, raw_thresholds, rule_of

_STATUS_NAME = {v: k for k, v in HITCH_STATUS.items()}
_BMS_NAME = {v: k for k, v in BMS_STATE.items()}
GROUPS = 32  # cell groups of BmsCellVoltages (the multiplexer's values)

# The sidecar's `limits` are the supervision config's thresholds (host_tools/supervision/
# config.py, the one table the board's rules come from too) under the names
# docs/simulator.md gives them: name -> (rule kind or None for the config's top level, key).
_NAMES = {
    "timeout_periods": (None, "timeout_periods"),
    "max_counter_delta": (None, "max_counter_delta"),
    "tongue_rating_kg": ("tongue_overload", "on_above"),
    "tongue_window_s": ("tongue_overload", "window_s"),
    "tongue_clear_fraction": ("tongue_overload", "off_at_or_below"),  # as a fraction of the rating
    "moving_kph": ("trailer_disconnected_moving", "speed_above"),
    "cell_spread_mv": ("cell_spread", "on_above"),
    "cell_spread_clear_mv": ("cell_spread", "off_at_or_below"),
    "overtemperature_c": ("overtemperature", "on_above"),
    "overtemperature_clear_c": ("overtemperature", "off_at_or_below"),
    "soc_low_pct": ("soc_low_for_tow", "on_below"),
    "soc_low_clear_pct": ("soc_low_for_tow", "off_at_or_above"),
    "trailer_sway_band_deg": ("trailer_sway", "band_deg"),
    "trailer_sway_on_amplitude_deg": ("trailer_sway", "on_amplitude_deg"),
    "trailer_sway_off_amplitude_deg": ("trailer_sway", "off_amplitude_deg"),
    "trailer_sway_min_hz": ("trailer_sway", "min_hz"),
    "trailer_sway_max_hz": ("trailer_sway", "max_hz"),
    "trailer_sway_half_cycles": ("trailer_sway", "half_cycles"),
    "pack_cells_on_above_v": ("pack_voltage_vs_cells", "on_above"),
    "pack_cells_off_at_or_below_v": ("pack_voltage_vs_cells", "off_at_or_below"),
    "pack_cells_debounce": ("pack_voltage_vs_cells", "debounce"),
    "hitch_sensor_overload_kg": ("hitch_status_vs_load", "on_beyond"),
    "hitch_sensor_overload_clear_kg": ("hitch_status_vs_load", "off_within"),
    "hitch_status_debounce": ("hitch_status_vs_load", "debounce"),
    "soc_state_bands": ("soc_vs_bms_state", "bands"),
    "soc_state_debounce": ("soc_vs_bms_state", "debounce"),
    "pack_current_margin_a": ("pack_current_beyond_limits", "margin"),
    "pack_current_clear_margin_a": ("pack_current_beyond_limits", "clear_margin"),
    "drawbar_rating_n": ("drawbar_overload", "on_beyond"),
    "drawbar_clear_n": ("drawbar_overload", "off_within"),
}


def _flat(config: dict) -> dict:
    out = {}
    for name, (kind, key) in _NAMES.items():
        value = config[key] if kind is None else next(r for r in config["rules"] if r["kind"] == kind).get(key, 1)
        out[name] = value
    out["tongue_clear_fraction"] = out["tongue_clear_fraction"] / out["tongue_rating_kg"]
    return out


def _limits_config(self) -> dict:
    """These limits as a supervision config (the defaults with these values)."""
    values = dataclasses.asdict(self)
    values["tongue_clear_fraction"] *= values["tongue_rating_kg"]
    top = {key: values[name] for name, (kind, key) in _NAMES.items() if kind is None}
    rules: dict = {}
    for name, (kind, key) in _NAMES.items():
        if kind is not None:
            rules.setdefault(kind, {"kind": kind})[key] = values[name]
    return merged_config({**top, "rules": list(rules.values())})


# Thresholds of the rules; written to the sidecar so a checker need not copy them. Each
# field's default is the supervision config's (DEFAULT_CONFIG).
Limits = dataclasses.make_dataclass(
    "Limits", [(name, type(value), dataclasses.field(default_factory=lambda v=value: v))
               for name, value in _flat(DEFAULT_CONFIG).items()],
    frozen=True, namespace={"as_dict": lambda self: dataclasses.asdict(self), "config": _limits_config,
                            "__doc__": "The alert rules' thresholds, by the sidecar's names."})


class _Message:
    """What the receiver knows of one message: names, timeout, where things are in a record."""

    def __init__(self, sender, config: dict):
        self.name = sender.name
        self.timeout_us = round(config["timeout_periods"] * sender.period_us)
        self.protected = sender.protected
        self.packers = sender.packers
        self.counter_at = len(sender.packers[0].fields) - 2 if sender.protected else None
        packer = sender.packers[0]  # the conditions read no multiplexed signal
        self._raw = {f.name: (k, f.lo, f.hi, f.na) for k, f in enumerate(packer.fields)}
        # per multiplexer value, (lo, hi, n/a) of the fields after it (the cells)
        self.muxed = [tuple((f.lo, f.hi, f.na) for f in p.fields[1:4]) for p in sender.packers]

    def raw(self, raws, name):
        """(raw value, usable: inside [min|max] and not the n/a code) of signal `name`."""
        k, lo, hi, na = self._raw[name]
        raw = raws[k]
        return raw, lo <= raw <= hi and raw != na

    def in_range(self, raws, name):
        """(raw value, inside [min|max]) of signal `name`: what the board takes as a value."""
        k, lo, hi, _ = self._raw[name]
        raw = raws[k]
        return raw, lo <= raw <= hi

    def out_of_range(self, raws) -> list[str]:
        packer = self.packers[raws[0] if len(self.packers) > 1 else 0]
        return [f.name for f, raw in zip(packer.fields, raws) if not f.lo <= raw <= f.hi and raw != f.na]


# the conditions this receiver models: every rule of the supervision config's
_MODELLED = ("sensor_fault", "tongue_overload", "trailer_disconnected_moving", "soc_low_for_tow", "cell_spread",
             "overtemperature", "drawbar_overload", "pack_current_beyond_limits", "trailer_sway",
             "pack_voltage_vs_cells", "hitch_status_vs_load", "soc_vs_bms_state")


class Receiver:
    def __init__(self, senders, limits, duration_us: int, value_faults=frozenset()):
        self.limits = limits
        config = limits.config()
        self.max_counter_delta = int(config["max_counter_delta"])
        self.duration_us = duration_us
        self.messages = [_Message(s, config) for s in senders]
        n = len(self.messages)
        self.last_rx = [0] * n
        self.last_counter: list[int | None] = [None] * n
        self.last_fault: dict[int, int] = {}  # message key -> index of the last fault that touched it
        self.latest_t = float("-inf")  # the first frame is never out of order, even one a jitter puts before 0
        self.runs: dict[int, dict] = {}  # prio -> {(kind, signal): open alert}
        self.alerts: list[dict] = []
        self.open: dict[str, dict] = {}  # condition kind -> open alert
        # every threshold in raw units, by the supervision config's one conversion: what the board compares
        signals = {sig.name: sig for s in senders for sig in s.message.signals}
        self.rule: dict[str, dict] = {}  # kind -> its raw thresholds
        self.debounce_of: dict[str, int] = {}
        for rule in config["rules"]:
            if rule["kind"] in _MODELLED and rule_of(config, rule["kind"]) is rule:
                summed = next((sig.scale for s in senders if s.name == rule.get("sum_message")
                               for sig in s.message.signals if sig.multiplexer_ids), None)
                self.rule[rule["kind"]] = raw_thresholds(rule, signals.__getitem__, summed)
                self.debounce_of[rule["kind"]] = int(rule.get("debounce", 1))
        gate = config["gates"].get("HitchLoad")
        self.gate_value = choice(signals[gate["signal"]], gate["value"]) if gate else None
        self.speed_raw = 0  # the last usable speed (the board's starts at 0 too)
        self.connected: int | None = None
        self.soc_raw: int | None = None
        self.current_raw: int | None = None  # the last usable pack current and BMS limits, raw
        self.max_discharge_raw: int | None = None
        self.max_charge_raw: int | None = None
        self.tongue: deque = deque()
        self.tongue_sum = 0
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
        self.group_sum: list[int | None] = [None] * GROUPS  # sum of each cell group's 3 cells, raw
        self.groups_unknown = GROUPS
        sway = self.rule.get("trailer_sway")
        self.sway = None if sway is None else SwayDetector(
            band=sway["band"], on_p2p=sway["on_p2p"], off_p2p=sway["off_p2p"], lo_half_us=sway["lo_half_us"],
            hi_half_us=sway["hi_half_us"], half_cycles=sway["half_cycles"])

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
                    elif delta > self.max_counter_delta:
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

    # -- conditions: every comparison in raw units, against self.rule[kind] ----------------------

    def _switch(self, kind: str, on: bool, off: bool, t: int, message: str, signal: str, detail=None,
                value=None) -> None:
        """Raise on the debounce-th consecutive evaluation with `on` (any other evaluation
        resets the count); clear, without debounce, when `off` holds. A `value` fault on the
        frame that raises it is its cause.

        Without `on` it changes something only for a kind in self.open or self.debounce, so
        the conditions evaluated on every frame skip the call then (`_live`): most frames."""
        debounce = self.debounce_of[kind]
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
        status = m.raw(raws, "hitch_sensor_status")[0]
        r = self.rule.get("sensor_fault")
        if r is not None:
            fine = status in r["fine"]
            if not fine or self._live("sensor_fault"):
                self._switch("sensor_fault", not fine, fine, t, m.name, "hitch_sensor_status",
                             _STATUS_NAME.get(status, str(status)))
        if self.gate_value is not None and status != self.gate_value:
            return
        # the status is the gate: the module says OK, its load says otherwise
        self._outside("hitch_status_vs_load", t, m, raws, "tongue_load_kg")
        self._outside("drawbar_overload", t, m, raws, "drawbar_force_n")
        angle, usable = m.raw(raws, "hitch_angle_deg")
        if usable and self.sway is not None:
            event = self.sway.update(angle, t)
            if event is not None:
                self._switch("trailer_sway", event == RAISE, event == CLEAR, t, m.name, "hitch_angle_deg",
                             value=self.sway.p2p)
        r = self.rule.get("tongue_overload")
        if r is not None:
            self._tongue(t, m, raws, r)
        connected = m.raw(raws, "trailer_connected")[0]
        r = self.rule.get("trailer_disconnected_moving")
        if r is not None:
            lost = connected == r["to"] and self.connected == r["from"] and self.speed_raw >= r["speed_from"]
            if lost or self._live("trailer_disconnected_moving"):
                self._switch("trailer_disconnected_moving", lost, connected == r["from"], t, m.name,
                             "trailer_connected")
        self.connected = connected
        self._soc_low(t)

    def _outside(self, kind: str, t: int, m: _Message, raws, signal: str) -> None:
        """An `outside` rule: on at or beyond a raw bound, off within the clear bounds."""
        r = self.rule.get(kind)
        raw, usable = m.raw(raws, signal)
        if r is not None and usable:
            over = raw >= r["on_from"] or raw <= r["on_to_low"]
            if over or self._live(kind):
                self._switch(kind, over, r["off_from"] <= raw <= r["off_to"], t, m.name, signal)

    def _tongue(self, t: int, m: _Message, raws, r: dict) -> None:
        """The mean of the usable loads of the window (t - window < t' <= t): 1000 x mean raw
        against the thresholds in milli-raw, as the board tests it."""
        load, valid = m.in_range(raws, "tongue_load_kg")
        window = self.tongue
        if valid:
            window.append((t, load))
            self.tongue_sum += load
        horizon = t - r["window_us"]
        while window and window[0][0] <= horizon:
            self.tongue_sum -= window.popleft()[1]
        if window:
            n = len(window)
            over = 1000 * self.tongue_sum > n * r["on_milli"]
            if over or self._live("tongue_overload"):
                self._switch("tongue_overload", over, 1000 * self.tongue_sum <= n * r["off_milli"], t, m.name,
                             "tongue_load_kg")

    def _vehicle(self, t: int, m: _Message, raws) -> None:
        speed, valid = m.in_range(raws, "vehicle_speed_kph")
        if valid:
            self.speed_raw = speed

    def _pack(self, t: int, m: _Message, raws) -> None:
        soc, valid = m.in_range(raws, "soc_pct")
        if valid:
            self.soc_raw = soc
            self._soc_low(t)
        self._soc_vs_state(t, m, raws)
        current, usable = m.raw(raws, "pack_current_a")
        if usable:
            self.current_raw = current
            self._current_limits(t)
        self._pack_vs_cells(t, m, raws)

    def _soc_vs_state(self, t: int, m: _Message, raws) -> None:
        """soc_vs_bms_state: the SOC outside the band of the BMS's state."""
        r = self.rule.get("soc_vs_bms_state")
        soc, soc_usable = m.raw(raws, "soc_pct")
        state, state_usable = m.raw(raws, "bms_state")
        if r is not None and soc_usable and state_usable:
            band = next(((lo, hi) for s, lo, hi in r["bands"] if s == state), None)
            outside = band is not None and not band[0] <= soc <= band[1]
            if outside or self._live("soc_vs_bms_state"):
                self._switch("soc_vs_bms_state", outside, not outside, t, m.name, "soc_pct",
                             _BMS_NAME.get(state, str(state)), value=soc)

    def _pack_vs_cells(self, t: int, m: _Message, raws) -> None:
        """pack_voltage_vs_cells: the pack voltage against the sum of the groups' cells."""
        r = self.rule.get("pack_voltage_vs_cells")
        pack, usable = m.raw(raws, "pack_voltage_v")
        if r is not None and usable and not self.groups_unknown:
            diff = abs(r["per"] * pack - sum(self.group_sum))  # in the cells' raw units
            apart = diff > r["on_above"]
            if apart or self._live("pack_voltage_vs_cells"):
                self._switch("pack_voltage_vs_cells", apart, diff <= r["off_to"], t, m.name, "pack_voltage_v",
                             value=diff)

    def _power_limits(self, t: int, m: _Message, raws) -> None:
        charge, usable = m.raw(raws, "max_charge_current_a")
        if usable:
            self.max_charge_raw = charge
        discharge, usable = m.raw(raws, "max_discharge_current_a")
        if usable:  # evaluated when the discharge limit comes fresh, as on the board
            self.max_discharge_raw = discharge
            self._current_limits(t)

    def _current_limits(self, t: int) -> None:
        """pack_current_beyond_limits: the pack current (+ discharge) against the BMS's last
        limits, in the current's raw units: on beyond a limit + margin, off within."""
        r = self.rule.get("pack_current_beyond_limits")
        if r is None or self.current_raw is None or self.max_discharge_raw is None or self.max_charge_raw is None:
            return
        up, low = r["per"] * self.max_discharge_raw, -r["per"] * self.max_charge_raw
        i = self.current_raw
        beyond = i > up + r["margin"] or i < low - r["margin"]
        if beyond or self._live("pack_current_beyond_limits"):
            self._switch("pack_current_beyond_limits", beyond, low - r["clear"] <= i <= up + r["clear"], t,
                         "BmsPackStatus", "pack_current_a", value=i)

    def _cell_voltages(self, t: int, m: _Message, raws) -> None:
        """The latest sum of each group's cells; a group with a bad cell is unknown until a good frame."""
        group = raws[0]
        if not 0 <= group < len(m.packers):
            return
        total = 0
        for (lo, hi, na), raw in zip(m.muxed[group], raws[1:4]):
            if not lo <= raw <= hi or raw == na:
                total = None
                break
            total += raw
        was_unknown = self.group_sum[group] is None
        self.group_sum[group] = total
        self.groups_unknown += (total is None) - was_unknown

    def _soc_low(self, t: int) -> None:
        r = self.rule.get("soc_low_for_tow")
        if r is None:
            return
        connected = self.connected == r["while_value"]
        on = self.soc_raw is not None and self.soc_raw <= r["on_to"] and connected
        if on or self._live("soc_low_for_tow"):
            off = self.soc_raw is None or self.soc_raw >= r["off_from"] or not connected
            self._switch("soc_low_for_tow", on, off, t, "BmsPackStatus", "soc_pct")

    def _cell_stats(self, t: int, m: _Message, raws) -> None:
        high, ok_high = m.in_range(raws, "cell_v_max_mv")
        low, ok_low = m.in_range(raws, "cell_v_min_mv")
        if ok_high and ok_low:
            self._above("cell_spread", high - low, t, m.name, "cell_v_max_mv")

    def _temps(self, t: int, m: _Message, raws) -> None:
        hottest, valid = m.in_range(raws, "cell_t_max_c")
        if valid:
            self._above("overtemperature", hottest, t, m.name, "cell_t_max_c")

    def _above(self, kind: str, raw: int, t: int, message: str, signal: str) -> None:
        """An `above` (or `spread`) rule: on at raw >= on_from, off at raw <= off_to."""
        r = self.rule.get(kind)
        if r is not None:
            on = raw >= r["on_from"]
            if on or self._live(kind):
                self._switch(kind, on, raw <= r["off_to"], t, message, signal)

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


def _seconds(t_us: int) -> float:
    return round(t_us / 1e6, 6)
