"""The rule compiler: the DBC and a config (config.py) in, the board's rule tables out, as
the module `supervise_rules` and its int32 tables file (docs/supervision.md). Thresholds go
to raw units through config.raw_thresholds only; rows are laid out by the firmware's names."""

from __future__ import annotations

import types
from fractions import Fraction
from pathlib import Path

from host_tools.codegen import layout
from host_tools.dbc import Dbc
from host_tools.dbc_conventions import frame_period_us, not_available_raw, raw_range
from host_tools.e2e import protection
from host_tools.supervision.config import SuperviseError, choice, merged_config, raw_thresholds
from host_tools.supervision.firmware import BIAS, KINDS, fw
from host_tools.supervision.tables import cond_table, sig_tab, st_head

RULES_MODULE = "supervise_rules"  # the name firmware/app.py imports
TABLES_FILE = f"{RULES_MODULE}.bin"  # beside the module on the board: ST, SIG_TAB, then CX
# what the board's module holds (firmware/supervise.py reads no more); the host's has every table
BOARD_KEYS = ("MESSAGES", "SIGNALS", "SLOTS", "RULES", "DEBOUNCE", "TOW_RANGE", "RING_SIZE", "ST_BYTES", "SIG_TAB_BYTES",
              "CX_BYTES")

_TYPES = {"status": fw._T_STATUS, "above": fw._T_ABOVE, "spread": fw._T_SPREAD, "mean": fw._T_MEAN, "edge": fw._T_EDGE,
          "low_while": fw._T_LOW_WHILE, "outside": fw._T_OUTSIDE, "limits": fw._T_LIMITS, "sway": fw._T_SWAY,
          "sum": fw._T_SUM, "band": fw._T_BAND}
_NO_DEBOUNCE = {fw._T_MEAN: "its window", fw._T_EDGE: "an edge is one frame", fw._T_SWAY: "half_cycles"}
_SIGNAL_KEYS = ("signal", "minus", "speed_signal", "while_signal", "upper_signal", "lower_signal", "state_signal")


def lanes_of(message) -> dict[str, int]:
    """Each signal's first lane in the decoder's output (docs/decoder.md)."""
    at, lanes = 0, {}
    for s in message.signals:
        lanes[s.name] = at
        at += len(layout.lanes(s.start, s.length, s.byte_order))
    return lanes


def summed_signals(kind: str, message) -> list:
    """A sum rule's summed signals (the multiplexed ones of `message`), checked to be what the
    board can sum: groups 0, 1, ... of the same size, unsigned integers of one scale."""
    mux = [x for x in message.signals if x.is_multiplexer]
    summed = [x for x in message.signals if x.multiplexer_ids]
    by_group: dict = {}
    for x in summed:
        by_group.setdefault(x.multiplexer_ids[0], []).append(x)
    groups = sorted(by_group)
    per = len(by_group[groups[0]]) if groups else 0
    ok = len(mux) == 1 and groups == list(range(len(groups))) and per and all(
        len(v) == per for v in by_group.values())
    ok = ok and all(len(x.multiplexer_ids) == 1 and not x.is_float and not x.is_signed and x.length <= 30
                    and x.offset == 0 and x.scale == summed[0].scale
                    and len(layout.lanes(x.start, x.length, x.byte_order)) == 1 for x in summed)
    if not ok:
        raise SuperviseError(f"supervision rule {kind}: {message.name} must carry groups 0, 1, ... of the same number "
                             f"of unsigned integer signals (same scale, no offset) at evenly spaced positions")
    return summed


def _sum_entry(kind, message, mi, lanes, sig_start, ring_at) -> dict:
    """Where a sum rule's summed signals are: groups at evenly spaced rows (cantools orders a
    message's signals by start bit: cell 1, 4, 7 ... then 2, 5, 8 ...)."""
    summed = summed_signals(kind, message)
    mux = next(x for x in message.signals if x.is_multiplexer)
    index = {x.name: i for i, x in enumerate(message.signals)}
    by_group: dict = {}
    for x in summed:
        by_group.setdefault(x.multiplexer_ids[0], []).append(x)
    groups = sorted(by_group)
    per = len(by_group[0])
    rows = [[index[x.name] for x in sorted(by_group[g], key=lambda x: x.start)] for g in groups]
    first = rows[0][0]
    g_step = rows[1][0] - first if len(groups) > 1 else 0
    j_step = rows[0][1] - first if per > 1 else 0
    if not (all(rows[g][j] == first + g * g_step + j * j_step for g in groups for j in range(per)) and all(
            lanes[x.name] - lanes[message.signals[first].name] == index[x.name] - first for x in summed)):
        raise SuperviseError(f"supervision rule {kind}: {message.name} must carry groups 0, 1, ... of the same number "
                             f"of unsigned integer signals (same scale, no offset) at evenly spaced positions")
    return {"mi": mi, "mux_lane": lanes[mux.name], "first_row": sig_start[mi] + first, "group_step": g_step,
            "signal_step": j_step, "per_group": per, "groups": len(groups), "ring_at": ring_at}


def _tow_range(cfg: dict, by_signal: dict, slot) -> tuple:
    """TOW_RANGE (firmware/supervise.py, _TW_*), or () when off or when the DBC lacks a signal."""
    keys = ("soc_signal", "voltage_signal", "current_signal", "speed_signal")
    if not cfg or not cfg.get("enabled", True) or any(cfg.get(k) not in by_signal for k in keys):
        return ()
    soc, volt, amp, speed = (by_signal[cfg[k]][2] for k in keys)
    per_w = Fraction(volt.scale).limit_denominator(10**6) * Fraction(amp.scale).limit_denominator(10**6)
    if volt.offset or amp.offset or speed.offset or soc.offset or per_w.numerator != 1:
        raise SuperviseError("tow_range: voltage x current must be 1/N W per raw unit, and no signal may have an "
                             f"offset ({volt.name}, {amp.name}, {speed.name}, {soc.name})")
    cm = Fraction(speed.scale).limit_denominator(10**6) * Fraction(100_000, 3600)  # one second at 1 raw unit
    every_us = round(cfg["every_s"] * 1e6)
    if every_us != 1_000_000:
        raise SuperviseError("tow_range: every_s must be 1 (a sample is one second's energy and distance)")
    values = {fw._TW_SOC: slot(soc.name), fw._TW_VOLT: slot(volt.name), fw._TW_AMP: slot(amp.name),
              fw._TW_SPEED: slot(speed.name), fw._TW_WH: round(cfg["pack_kwh"] * 1000 * soc.scale / 100),
              fw._TW_SAMPLES: max(1, round(cfg["window_s"] / cfg["every_s"])), fw._TW_EVERY: every_us,
              fw._TW_PER_W: per_w.denominator, fw._TW_CM_NUM: cm.numerator, fw._TW_CM_DEN: cm.denominator,
              fw._TW_MIN_M: int(cfg["min_window_m"])}
    return tuple(values[i] for i in range(len(values)))


def _row(head: list, named: dict) -> tuple:
    """A RULES row: kind, type, mi, si, then the parameters at the firmware's offsets."""
    out = head + [0] * (max(named, default=fw._RULE_SLOT) + 1 - len(head))
    for offset, value in named.items():
        out[offset] = value
    return tuple(out + [0] * (fw._RULE_SLOT + 6 - len(out)))


def build_tables(dbc: Dbc, overrides: dict | None = None) -> dict:
    """The rule tables the board reads, as plain ints and tuples."""
    config = merged_config(overrides)
    messages = list(dbc.messages)
    by_signal = {}
    for mi, message in enumerate(messages):
        for si, s in enumerate(message.signals):
            by_signal[s.name] = (mi, si, s)

    def find(name):
        try:
            return by_signal[name]
        except KeyError:
            raise SuperviseError(f"{dbc.path.name}: no signal {name!r} (a supervision rule names it)") from None

    t = {"TIMEOUT_US": [], "COUNTER_LANE": [], "CRC_LANE": [], "COUNTER_MASK": [], "SIG_START": [],
         "GATE_LANE": [], "GATE_VALUE": []}
    sig_rows = []
    lanes = [lanes_of(m) for m in messages]
    for mi, message in enumerate(messages):
        t["TIMEOUT_US"].append(round(config["timeout_periods"] * frame_period_us(message)))
        prot = protection(message)
        if prot is not None:
            counter = message.get_signal_by_name(prot.counter)
            t["COUNTER_LANE"].append(lanes[mi][prot.counter])
            t["CRC_LANE"].append(lanes[mi][prot.crc])
            t["COUNTER_MASK"].append((1 << counter.length) - 1)
        else:
            t["COUNTER_LANE"].append(-1)
            t["CRC_LANE"].append(-1)
            t["COUNTER_MASK"].append(0)
        t["SIG_START"].append(len(sig_rows))
        for s in message.signals:
            # raw values + BIAS must be positive int32s: wider signals are not range-checked
            wide = s.length > 30 or s.is_float
            lo, hi = raw_range(s) if not wide else (0, 0)
            na = not_available_raw(s)
            sig_rows.append((lanes[mi][s.name], fw._SKIP if wide else s.length if s.is_signed else 0, lo + BIAS,
                             hi + BIAS, 0 if wide or na is None else na + BIAS))  # n/a 0: no raw is
        gate = config["gates"].get(message.name)
        if gate and gate["signal"] in lanes[mi]:
            signal = message.get_signal_by_name(gate["signal"])
            t["GATE_LANE"].append(lanes[mi][signal.name])
            t["GATE_VALUE"].append(choice(signal, gate["value"]))
        else:
            t["GATE_LANE"].append(-1)
            t["GATE_VALUE"].append(0)
    t["SIG_START"].append(len(sig_rows))

    slots: list[tuple[int, int]] = []  # (mi, si)

    def slot(name):
        mi, si, _ = find(name)
        if (mi, si) not in slots:
            slots.append((mi, si))
        return slots.index((mi, si))

    rules, pre = [], [[] for _ in messages]
    triggers = [[] for _ in messages]
    ring_at = 0
    given = {r["kind"] for r in (overrides or {}).get("rules", ())}
    skipped = []
    usable = []
    extra: dict = {}  # per rule, what only the cx table needs
    debounce = []
    for rule in config["rules"]:
        if not rule.get("enabled", True):
            continue
        names = [rule[key] for key in _SIGNAL_KEYS if key in rule]
        if "sum_message" in rule and not any(m.name == rule["sum_message"] for m in messages):
            names.append(rule["sum_message"])
        if rule["kind"] not in given and any(name not in by_signal for name in names):
            skipped.append(rule["kind"])  # a default rule for signals this DBC does not have
        else:
            usable.append(rule)
    for k, rule in enumerate(usable):
        kind = rule["kind"]
        if kind not in KINDS:
            raise SuperviseError(f"supervision rule {kind!r}: the board knows {', '.join(KINDS)}")
        typ = _TYPES.get(rule.get("type"))
        if typ is None:
            raise SuperviseError(f"supervision rule {kind}: type {rule.get('type')!r}, choose from {', '.join(_TYPES)}")
        mi, si, s = find(rule["signal"])
        if s.scale <= 0:
            raise SuperviseError(f"{s.name}: rules need a positive scale")
        summed_scale = None
        if typ == fw._T_SUM:
            sum_mi = next((i for i, m in enumerate(messages) if m.name == rule["sum_message"]), None)
            if sum_mi is None:
                raise SuperviseError(f"supervision rule {kind}: no message {rule['sum_message']!r}")
            summed_scale = summed_signals(kind, messages[sum_mi])[0].scale
        raw = raw_thresholds(rule, lambda name: find(name)[2], summed_scale)
        p: dict = {}
        if typ == fw._T_STATUS:
            fine = raw["fine"] + raw["fine"][:1]
            p = {fw._RULE_SLOT: lanes[mi][s.name], fw._STATUS_FINE: fine[0], fw._STATUS_FINE_2: fine[1]}
            pre[mi].append(k)
        elif typ == fw._T_ABOVE:
            p = {fw._RULE_SLOT: slot(s.name), fw._ABOVE_ON: raw["on_from"], fw._ABOVE_OFF: raw["off_to"]}
            triggers[mi] += [k, p[fw._RULE_SLOT]]
        elif typ == fw._T_SPREAD:
            mi_b, _, sb = find(rule["minus"])
            if mi_b != mi or sb.scale != s.scale:
                raise SuperviseError(f"{kind}: {s.name} and {sb.name} must share a message and a scale")
            p = {fw._RULE_SLOT: slot(s.name), fw._SPREAD_MINUS: slot(sb.name), fw._SPREAD_ON: raw["on_from"],
                 fw._SPREAD_OFF: raw["off_to"]}
            triggers[mi] += [k, -1]
        elif typ == fw._T_MEAN:
            size = int(config["mean_ring"])
            p = {fw._RULE_SLOT: slot(s.name), fw._MEAN_WINDOW: raw["window_us"], fw._MEAN_ON: raw["on_milli"],
                 fw._MEAN_OFF: raw["off_milli"], fw._MEAN_RING: ring_at, fw._MEAN_SIZE: size}
            ring_at += size
            triggers[mi] += [k, -1]
        elif typ == fw._T_EDGE:
            p = {fw._RULE_SLOT: slot(s.name), fw._EDGE_FROM: raw["from"], fw._EDGE_TO: raw["to"],
                 fw._EDGE_SPEED_SLOT: slot(find(rule["speed_signal"])[2].name), fw._EDGE_SPEED: raw["speed_from"]}
            triggers[mi] += [k, -1]
        elif typ == fw._T_LOW_WHILE:
            mi_w, _, sw = find(rule["while_signal"])
            p = {fw._RULE_SLOT: slot(s.name), fw._LOW_ON: raw["on_to"], fw._LOW_OFF: raw["off_from"],
                 fw._LOW_WHILE_SLOT: slot(sw.name), fw._LOW_WHILE_VALUE: raw["while_value"]}
            triggers[mi] += [k, p[fw._RULE_SLOT]]
            if mi_w != mi:
                triggers[mi_w] += [k, -1]
        elif typ == fw._T_OUTSIDE:
            p = {fw._RULE_SLOT: slot(s.name), fw._OUT_ON_HI: raw["on_from"], fw._OUT_ON_LO: raw["on_to_low"],
                 fw._OUT_OFF_LO: raw["off_from"], fw._OUT_OFF_HI: raw["off_to"]}
            triggers[mi] += [k, p[fw._RULE_SLOT]]
        elif typ == fw._T_SWAY:
            if s.is_float or s.length > 30:
                raise SuperviseError(f"{kind}: {s.name} must be an integer signal of at most 30 bits")
            p = {fw._RULE_SLOT: slot(s.name), fw._SWAY_ON: raw["on_p2p"], fw._SWAY_OFF: raw["off_p2p"],
                 fw._SWAY_SHORTEST: raw["lo_half_us"], fw._SWAY_LONGEST: raw["hi_half_us"],
                 fw._SWAY_CYCLES: raw["half_cycles"]}
            if not 0 < raw["lo_half_us"] < raw["hi_half_us"] < fw._HALF or raw["half_cycles"] < 1:
                raise SuperviseError(f"{kind}: needs 0 < min_hz < max_hz and half_cycles >= 1")
            extra[k] = raw["band"]
            triggers[mi] += [k, p[fw._RULE_SLOT]]
        elif typ == fw._T_SUM:
            if not raw["per_exact"]:
                raise SuperviseError(f"supervision rule {kind}: {s.name}'s scale must be a whole multiple of the summed "
                                     f"signals' ({summed_scale * rule['sum_scale']:g} {s.unit or ''}), without offset")
            extra[k] = _sum_entry(kind, messages[sum_mi], sum_mi, lanes[sum_mi], t["SIG_START"], ring_at)
            p = {fw._RULE_SLOT: slot(s.name), fw._SUM_PER: raw["per"], fw._SUM_ON: raw["on_above"],
                 fw._SUM_OFF: raw["off_to"]}
            ring_at += extra[k]["groups"]
            triggers[sum_mi] += [k, -1]
            triggers[mi] += [k, p[fw._RULE_SLOT]]
        elif typ == fw._T_BAND:
            mi_c, _, sc = find(rule["state_signal"])
            if not rule.get("bands"):
                raise SuperviseError(f"supervision rule {kind}: give the bands, e.g. {{\"DRIVE\": [0.5, 100]}}")
            p = {fw._RULE_SLOT: slot(s.name), fw._BAND_STATE_SLOT: slot(sc.name)}
            for i, band in enumerate(raw["bands"]):
                for j, v in enumerate(band):
                    p[fw._BAND_FIRST + 3 * i + j] = v
            triggers[mi] += [k, p[fw._RULE_SLOT]]
            if mi_c != mi:
                triggers[mi_c] += [k, p[fw._BAND_STATE_SLOT]]
        elif typ == fw._T_LIMITS:
            mi_u, _, su = find(rule["upper_signal"])
            mi_l, _, sl = find(rule["lower_signal"])
            if mi_u != mi_l or sl.scale != su.scale or s.offset or su.offset or sl.offset or not raw["per_exact"]:
                raise SuperviseError(f"{kind}: {su.name} and {sl.name} must share a message and a scale that is a "
                                     f"whole multiple of {s.name}'s, all without offset")
            p = {fw._RULE_SLOT: slot(s.name), fw._LIM_UPPER: slot(su.name), fw._LIM_LOWER: slot(sl.name),
                 fw._LIM_PER: raw["per"], fw._LIM_MARGIN: raw["margin"], fw._LIM_CLEAR: raw["clear"]}
            triggers[mi] += [k, p[fw._RULE_SLOT]]
            triggers[mi_u] += [k, p[fw._LIM_UPPER]]
        rules.append(_row([KINDS.index(kind) + 1, typ, mi, si], p))
        n = int(rule.get("debounce", 1))
        if not 1 <= n <= 255 or (n > 1 and typ in _NO_DEBOUNCE):
            why = f" ({_NO_DEBOUNCE[typ]} is its debounce)" if typ in _NO_DEBOUNCE else ""
            raise SuperviseError(f"supervision rule {kind}: debounce {rule.get('debounce')!r} not allowed{why}; "
                                 f"give a count of evaluations from 1 to 255")
        debounce.append(n)
    t["TOW_RANGE"] = _tow_range(config.get("tow_range") or {}, by_signal, slot)  # its signals are slots too
    t["SLOT_LANE"] = [lanes[mi][messages[mi].signals[si].name] for mi, si in slots]
    t["SLOT_ROW"] = [t["SIG_START"][mi] + si for mi, si in slots]
    t["SLOTS_OF"] = [tuple(k for k, (m, _) in enumerate(slots) if m == mi) for mi in range(len(messages))]
    t["RULES"] = rules
    t["DEBOUNCE"] = bytes(debounce)
    t["PRE_RULES"] = [tuple(x) for x in pre]
    t["TRIGGERS"] = [tuple(x) for x in triggers]
    t["RING_SIZE"] = max(1, ring_at)
    t["SCAN_US"] = round(config["scan_ms"] * 1000)
    t["MAX_COUNTER_DELTA"] = int(config["max_counter_delta"])
    t["MESSAGES"] = len(messages)
    t["SIGNALS"] = len(sig_rows)
    t["SLOTS"] = len(slots)
    t["SIG_TAB"], rows = sig_tab(sig_rows, fw._MSG + fw._MW * len(messages))
    t["ST"] = st_head(t, rows)
    t["CX"] = cond_table(t, rows, extra)
    for key in ("ST", "SIG_TAB", "CX"):
        t[key + "_BYTES"] = len(t[key])
    t["SKIPPED_RULES"] = skipped
    t["DBC_SHA256"] = dbc.sha256
    return t


def render(tables: dict) -> str:
    """The tables as a MicroPython module: ints, strs and tuples only."""
    lines = ["# Supervision rule tables, generated by host_tools/supervision/rules.py from the DBC and",
             "# the config (docs/supervision.md). Do not edit: run `mule flash` again."]
    for key, value in tables.items():
        lines.append(f"{key} = {_literal(value)}")
    return "\n".join(lines) + "\n"


def _literal(value) -> str:
    if isinstance(value, (list, tuple)):
        inner = ", ".join(_literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)


def write_rules(dbc: Dbc, path, overrides: dict | None = None) -> tuple[Path, Path]:
    """The board's rule tables: the module at `path` (BOARD_KEYS only) and, beside it,
    TABLES_FILE with the int32 tables, which the board reads straight into its arrays (a bytes
    constant in the module would sit in its RAM beside the copy), at start-up and again to
    reset. Returns both paths."""
    path = Path(path)
    tables = build_tables(dbc, overrides)
    blob = path.with_name(TABLES_FILE)
    blob.write_bytes(tables["ST"] + tables["SIG_TAB"] + tables["CX"])
    board = {key: tables[key] for key in BOARD_KEYS}
    board["TABLES"] = TABLES_FILE
    path.write_text(render(board))
    return path, blob


def rules_module(dbc: Dbc, overrides: dict | None = None) -> types.ModuleType:
    """The tables as the board sees them: the rendered module, executed."""
    module = types.ModuleType(RULES_MODULE)
    exec(compile(render(build_tables(dbc, overrides)), RULES_MODULE, "exec"), module.__dict__)
    return module
