"""The board's int32 tables: ST (the head of Supervisor.st: its header and an entry per
message), SIG_TAB (a row per signal, st's rest) and CX (Supervisor.cx: where each message's
tracked signals, triggers and gate rules are, each rule's entry and its state), each as a new
log starts it: the board reads them again to reset. Every offset is the firmware's own name (firmware/supervise.py, `_NAME =
const(n)`, read through supervision.firmware), so the layout is written down once."""

from __future__ import annotations

import struct

from host_tools.supervision.config import SuperviseError
from host_tools.supervision.firmware import fw

_SMALL = 1 << 29  # what the board's per-frame tests compute with stays below this: + _BIAS, an int32 on any board


def sig_tab(rows: list[tuple], at: int) -> tuple[bytes, int]:
    """SIG_TAB, st's part from index `at` on, from (lane, sign bits, raw min + BIAS, raw max +
    BIAS, n/a + BIAS or 0) per signal: the bounds entries (_BW ints: sign bits, min, max, n/a),
    one per distinct bounds, then a word per signal: its lane | its entry's index in st << 16.
    Also where the signals' words start in st."""
    bounds: dict[tuple, int] = {}
    for row in rows:
        bounds.setdefault(row[1:], at + fw._BW * len(bounds))
    start = at + fw._BW * len(bounds)
    if start >= 1 << 15 or any(row[0] > fw._LANE_MASK for row in rows):
        raise SuperviseError(f"{len(rows)} signals with {len(bounds)} distinct bounds: too many for the board's "
                             "signal table; decode fewer messages (--messages/--nodes)")
    out = []
    for (bits, lo, hi, na) in bounds:
        entry = [0] * fw._BW
        entry[fw._ROW_BITS], entry[fw._ROW_LO], entry[fw._ROW_HI], entry[fw._ROW_NA] = bits, lo, hi, na
        out += entry
    out += [row[0] | bounds[row[1:]] << 16 for row in rows]
    return struct.pack(f"<{len(out)}i", *out), start


def _bounds(st: list, word_at: int) -> int:
    """Where the bounds entry of the signal whose word is st[word_at] is."""
    return st[word_at] >> 16


def _conditioned(rules: dict) -> list[int]:
    """The messages that feed some condition (a gate rule, a tracked signal, a trigger): each
    has an entry in cx's per-message part, in this order."""
    return [mi for mi in range(len(rules["TIMEOUT_US"]))
            if rules["PRE_RULES"][mi] or rules["SLOTS_OF"][mi] or rules["TRIGGERS"][mi]]


def st_head(rules: dict, rows: int) -> bytes:
    """ST: Supervisor.st's header and message entries as a new log starts them (`rows`: where
    its signal words start)."""
    nm = len(rules["TIMEOUT_US"])
    st = [0] * (fw._MSG + fw._MW * nm)
    st[fw._SCAN_US] = rules["SCAN_US"]
    st[fw._TOW_US] = rules["TOW_RANGE"][fw._TW_EVERY] if rules["TOW_RANGE"] else 0  # 0: no estimate
    st[fw._MAX_DELTA] = rules["MAX_COUNTER_DELTA"]
    st[fw._ROWS] = rows
    st[fw._NM] = nm
    for mi in range(nm):
        m = fw._MSG + fw._MW * mi
        st[m + fw._LIMIT] = rules["TIMEOUT_US"][mi]
        st[m + fw._LAST_CTR] = fw._NO_CTR
        st[m + fw._CTR_LANE] = rules["COUNTER_LANE"][mi] + 1  # 0: unprotected
        st[m + fw._CRC_LANE] = rules["CRC_LANE"][mi]
        st[m + fw._CTR_MASK] = rules["COUNTER_MASK"][mi]
        st[m + fw._SIG_START] = rules["SIG_START"][mi]
    for c, mi in enumerate(_conditioned(rules)):  # its entry in cx + 1 (0: none)
        st[fw._MSG + fw._MW * mi + fw._COND] = c + 1
    return struct.pack(f"<{len(st)}i", *st)


def _bound(rows: int, st: list, row: int) -> int | None:
    """The largest |raw| signal `row` (of st's rows) has once range-checked; None: unchecked."""
    at = _bounds(st, rows + fw._RW * row)
    if st[at + fw._ROW_BITS] == fw._SKIP:
        return None
    return max(abs(st[at + fw._ROW_LO] - fw._BIAS), abs(st[at + fw._ROW_HI] - fw._BIAS))


def _deps(rule) -> tuple[int, int]:
    """A rule's input slots (-1: evaluated on every trigger: the window moves)."""
    typ, slot = rule[fw._RULE_TYPE], rule[fw._RULE_SLOT]
    if typ in (fw._T_ABOVE, fw._T_OUTSIDE):
        return slot, slot
    if typ == fw._T_SPREAD:
        return slot, rule[fw._SPREAD_MINUS]
    if typ == fw._T_EDGE:
        return slot, rule[fw._EDGE_SPEED_SLOT]
    if typ == fw._T_LOW_WHILE:
        return slot, rule[fw._LOW_WHILE_SLOT]
    if typ == fw._T_BAND:
        return slot, rule[fw._BAND_STATE_SLOT]
    return -1, -1  # _T_MEAN, _T_LIMITS (three inputs), _T_STATUS (a gate rule), _T_SWAY, _T_SUM


def _entry(rule, k: int, rows: int, st: list, slot_row, extra: dict) -> dict:
    """The rule's cx entry {offset: value}: how the board's per-frame code tests it (_MN_*,
    _MN_ALWAYS when its arithmetic could overflow a 32-bit board's small int: then bytecode
    evaluates it on every trigger) and its constants."""
    B = fw._BIAS
    typ = rule[fw._RULE_TYPE]
    slot = rule[fw._RULE_SLOT]

    def bound(s):
        return _bound(rows, st, slot_row[s])

    def small(*terms):  # a sum of these magnitudes stays an int on a 32-bit board, biased too
        return None not in terms and sum(terms) < _SMALL

    if typ == fw._T_ABOVE:  # raised at >= on, cleared at <= off
        return {fw._E_HOW: fw._MN_LEVEL, fw._E_SLOT: slot, fw._EL_ON_FROM: rule[fw._ABOVE_ON] + B,
                fw._EL_ON_BELOW: 0, fw._EL_OFF_FROM: 0, fw._EL_OFF_TO: rule[fw._ABOVE_OFF] + B}
    if typ == fw._T_OUTSIDE:  # raised at >= on_hi or <= on_lo, cleared within off_lo .. off_hi
        return {fw._E_HOW: fw._MN_LEVEL, fw._E_SLOT: slot, fw._EL_ON_FROM: rule[fw._OUT_ON_HI] + B,
                fw._EL_ON_BELOW: rule[fw._OUT_ON_LO] + B + 1, fw._EL_OFF_FROM: rule[fw._OUT_OFF_LO] + B,
                fw._EL_OFF_TO: rule[fw._OUT_OFF_HI] + B}
    if typ == fw._T_SWAY:  # the band and the longest half cycle; the rest is state
        return {fw._E_HOW: fw._MN_SWAY, fw._E_SLOT: slot, fw._ES_BAND: extra[k],
                fw._ES_LONGEST: rule[fw._SWAY_LONGEST], fw._ES_TURN_V: B}
    if typ == fw._T_SUM:
        g = extra[k]
        summed = [_bound(rows, st, g["first_row"] + i * g["group_step"] + j * g["signal_step"])
                  for i in range(g["groups"]) for j in range(g["per_group"])]
        b = bound(slot)
        fast = (b is not None and None not in summed
                and small(b * rule[fw._SUM_PER], sum(summed), abs(rule[fw._SUM_ON]), abs(rule[fw._SUM_OFF])))
        return {fw._E_HOW: fw._MN_SUM, fw._EU_MUX_LANE: g["mux_lane"], fw._EU_GROUP_STEP: fw._RW * g["group_step"],
                fw._EU_PER_GROUP: g["per_group"], fw._EU_FIRST_ROW: rows + fw._RW * g["first_row"],
                fw._EU_MSG: g["mi"], fw._EU_GROUPS: g["groups"], fw._EU_RING: g["ring_at"],
                fw._EU_SIGNAL_STEP: fw._RW * g["signal_step"], fw._EU_TOTAL: B, fw._EU_SLOT: slot,
                fw._EU_PER: rule[fw._SUM_PER] if fast else 0, fw._EU_ON: rule[fw._SUM_ON] + B if fast else 0,
                fw._EU_OFF: rule[fw._SUM_OFF] + B if fast else 0}
    if typ == fw._T_SPREAD:
        minus = rule[fw._SPREAD_MINUS]
        if small(bound(slot), bound(minus), abs(rule[fw._SPREAD_ON]), abs(rule[fw._SPREAD_OFF])):
            return {fw._E_HOW: fw._MN_SPREAD, fw._EP_A: slot, fw._EP_B: minus, fw._EP_ON: rule[fw._SPREAD_ON] + B,
                    fw._EP_OFF: rule[fw._SPREAD_OFF] + B}
    elif typ == fw._T_EDGE:
        speed = rule[fw._EDGE_SPEED_SLOT]
        if small(bound(speed), abs(rule[fw._EDGE_SPEED])):
            return {fw._E_HOW: fw._MN_EDGE, fw._E_SLOT: slot, fw._EE_SPEED_SLOT: speed,
                    fw._EE_FROM: rule[fw._EDGE_FROM], fw._EE_TO: rule[fw._EDGE_TO],
                    fw._EE_SPEED: rule[fw._EDGE_SPEED] + B}
    elif typ == fw._T_LIMITS:
        limits = [bound(rule[fw._LIM_UPPER]), bound(rule[fw._LIM_LOWER])]
        margins = max(abs(rule[fw._LIM_MARGIN]), abs(rule[fw._LIM_CLEAR]))
        if None not in limits and small(bound(slot), rule[fw._LIM_PER] * max(limits), margins):
            return {fw._E_HOW: fw._MN_LIMITS, fw._E_SLOT: slot, fw._EI_UPPER: rule[fw._LIM_UPPER],
                    fw._EI_LOWER: rule[fw._LIM_LOWER], fw._EI_PER: rule[fw._LIM_PER],
                    fw._EI_MARGIN: rule[fw._LIM_MARGIN] + B, fw._EI_CLEAR: rule[fw._LIM_CLEAR] + B}
    elif typ == fw._T_MEAN:
        row = _bounds(st, rows + fw._RW * slot_row[slot])
        q_on, r_on = divmod(rule[fw._MEAN_ON], 1000)
        q_off, r_off = divmod(rule[fw._MEAN_OFF], 1000)
        ring = rule[fw._MEAN_SIZE]
        # the ring's sums must stay small ints on a 32-bit board, else Supervisor._mean runs it
        big = max(abs(st[row + fw._ROW_LO] - B), abs(st[row + fw._ROW_HI] - B), abs(q_on), abs(q_off))
        fast = st[row + fw._ROW_BITS] != fw._SKIP and big < (1 << 28) // ring and rule[fw._MEAN_WINDOW] < fw._HALF
        return {fw._E_HOW: fw._MN_MEAN if fast else fw._MN_ALWAYS, fw._E_SLOT: slot,
                fw._EM_WINDOW: rule[fw._MEAN_WINDOW], fw._EM_Q_ON: q_on + B, fw._EM_R_ON: r_on,
                fw._EM_Q_OFF: q_off + B, fw._EM_R_OFF: r_off, fw._EM_RING: rule[fw._MEAN_RING], fw._EM_SIZE: ring}
    return {fw._E_HOW: fw._MN_ALWAYS}


def cond_table(rules: dict, rows: int, extra: dict) -> bytes:
    """Supervisor.cx from the compiled rules (rules.py); `rows`: where st's signal words start."""
    nm = len(rules["TIMEOUT_US"])
    st = [0] * (fw._MSG + fw._MW * nm) + list(struct.unpack(f"<{len(rules['SIG_TAB']) // 4}i", rules["SIG_TAB"]))
    ns = len(rules["SLOT_LANE"])
    nr = len(rules["RULES"])
    conditioned = _conditioned(rules)
    at = size = fw._CX_MSG + fw._CXW * len(conditioned)  # the per-message lists start after the header
    for mi in range(nm):
        if len(rules["PRE_RULES"][mi]) + len(rules["TRIGGERS"][mi]) // 2 > fw._MAX_TODO:
            raise SuperviseError(f"message {mi}: more than {fw._MAX_TODO} condition rules")
        size += len(rules["SLOTS_OF"][mi]) + len(rules["TRIGGERS"][mi]) + 2 * len(rules["PRE_RULES"][mi])
    per_slot = (fw._CX_CUR, fw._CX_PREV, fw._CX_KNOWN, fw._CX_FRESH, fw._CX_VER, fw._CX_ROW, fw._CX_CURB)
    per_rule = (fw._CX_MEMO, fw._CX_ACTIVE, fw._CX_PEND)
    size += len(per_slot) * ns + (len(per_rule) + fw._MNW + 2) * nr  # + the entries, two deps each
    size += 2 * rules["RING_SIZE"]  # the rings, zeroed
    cx = [0] * size
    for c, mi in enumerate(conditioned):
        h = fw._CX_MSG + fw._CXW * c
        cx[h + fw._CM_SLOTS] = at
        cx[h + fw._CM_NSLOTS] = len(rules["SLOTS_OF"][mi])
        for s in rules["SLOTS_OF"][mi]:
            cx[at] = s
            at += 1
        cx[h + fw._CM_TRIG] = at
        triggers = rules["TRIGGERS"][mi]
        cx[h + fw._CM_NTRIG] = len(triggers) // 2
        for j in range(0, len(triggers), 2):
            cx[at] = triggers[j]
            cx[at + 1] = triggers[j + 1] + 1  # 0: no slot must be fresh
            at += 2
        cx[h + fw._CM_PRE] = at
        cx[h + fw._CM_NPRE] = len(rules["PRE_RULES"][mi])
        for k in rules["PRE_RULES"][mi]:  # status rules on the gate signal: before the gate
            cx[at] = k
            cx[at + 1] = rules["RULES"][k][fw._RULE_SLOT]
            at += 2
        cx[h + fw._CM_GATE] = rules["GATE_LANE"][mi] + 1
        cx[h + fw._CM_GATE_VALUE] = rules["GATE_VALUE"][mi]
    for part in per_slot:
        cx[part] = at
        at += ns
    for part in per_rule:
        cx[part] = at
        at += nr
    for part in (fw._CX_RING_T, fw._CX_RING_V):
        cx[part] = at
        at += rules["RING_SIZE"]
    cx[fw._CX_MEAN] = at
    at += fw._MNW * nr
    cx[fw._CX_DEP] = at
    for s in range(ns):
        cx[cx[fw._CX_ROW] + s] = rows + fw._RW * rules["SLOT_ROW"][s]
    for k in range(nr):
        a, b = _deps(rules["RULES"][k])
        cx[at + 2 * k] = a + 1
        cx[at + 2 * k + 1] = b + 1
    for k, rule in enumerate(rules["RULES"]):
        entry = cx[fw._CX_MEAN] + fw._MNW * k
        for offset, value in _entry(rule, k, rows, st, rules["SLOT_ROW"], extra).items():
            cx[entry + offset] = value
        # the state a new log starts with: no mean, sum or turning point yet, no evaluation
        cx[entry + fw._EM_HEAD] = cx[entry + fw._EM_COUNT] = 0
        cx[entry + fw._EM_TOTAL] = fw._BIAS
        if cx[entry + fw._E_HOW] == fw._MN_SWAY:
            cx[entry + fw._ES_TURNED] = 0
        cx[cx[fw._CX_MEMO] + k] = -1
    for s in range(ns):  # no value yet: 0, biased
        cx[cx[fw._CX_CURB] + s] = fw._BIAS
    return struct.pack(f"<{len(cx)}i", *cx)
