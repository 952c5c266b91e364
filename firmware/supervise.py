# Signal supervision between decode and link: timeouts, E2E counters and CRCs, ranges,
# and the towing/battery conditions, all driven by the rule tables that
# host_tools/supervision/rules.py generates from the DBC and the config (module supervise_rules).
# Plain Python for MicroPython and CPython alike: the host's reference runs this file with
# the bytecode twins of its viper code (firmware/supervise_plain.py: Supervisor.frame, _due,
# other); on the board Supervisor.frame is _frame_v (at the end).
# Works in raw integer units and preallocated arrays: nothing is allocated per frame,
# alerts included (their text is bytes; link.Writer packs it as is).
#
#   import supervise, supervise_rules
#   sup = supervise.Supervisor(supervise_rules, dbc.lookup, emit)   # once
#   sup.frame(frame_no, t_us, result, can_id, ext, data, n, lanes, selected)  # per frame
#   sup.tick(t_us, frame_no)                                        # live mode, on a timer
#
# emit(frame_no, code, severity, mi, si, value, text) sends one ALERT (docs/supervision.md);
# text is bytes (KIND_TEXT).
import sys
from array import array

try:
    from micropython import const
except ImportError:  # CPython (the host's reference)
    def const(x):  # type: ignore[misc]  # CPython's stand-in for micropython.const
        return x


def _make_table():
    # CRC-8 SAE J1850 lookup (poly 0x1D), 256 bytes, built as e2e.py builds its _TABLE (docs/dbc.md;
    # tests/firmware/test_supervise_twins.py holds the two equal): the board imports no e2e, whose
    # module and names (~0.8 KB) would stay on its heap. The name is link's: interned already.
    table = bytearray(256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[i] = crc
    return bytes(table)


_CRC8 = _make_table()
del _make_table  # start-up only

# Alert kinds: code = index + 1 when raised, | CLEARED when it ends; the ALERT's text, as
# bytes: link.Writer packs bytes without encoding (no allocation). The host mirrors this
# table by loading this file (host_tools/supervision/firmware.py: KINDS, the names as str).
KIND_TEXT = (
    b"timeout", b"dlc", b"crc", b"counter_repeated", b"counter_jump", b"range", b"out_of_order",
    b"tongue_overload", b"trailer_disconnected_moving", b"cell_spread", b"overtemperature",
    b"soc_low_for_tow", b"sensor_fault", b"drawbar_overload", b"pack_current_beyond_limits",
    b"trailer_sway", b"pack_voltage_vs_cells", b"hitch_status_vs_load", b"soc_vs_bms_state",
)
SEVERITY = (2, 2, 2, 2, 1, 1, 1, 2, 3, 2, 3, 2, 2, 3, 2, 3, 2, 2, 2)  # 1 info, 2 warning, 3 critical
CLEARED = const(0x100)

_TIMEOUT = const(1)
_DLC = const(2)
_CRC = const(3)
_REPEATED = const(4)
_JUMP = const(5)
_RANGE = const(6)
_OUT_OF_ORDER = const(7)

# frame-check flags of one frame, bit (kind - 1); runs of flagged frames per id
_F_DLC = const(2)
_F_CRC = const(4)
_F_REPEATED = const(8)
_F_JUMP = const(16)
_F_OUT_OF_ORDER = const(64)
_RUN_KINDS = const(5)  # run slots per message: the kinds of _RUN_KIND
_RUN_KIND = (_DLC, _CRC, _REPEATED, _JUMP, _OUT_OF_ORDER)  # the kinds whose flagged frames make runs
_RANGE_OPEN = const(0x80)  # in a message's _OPEN: some range run of it is open

# Rule types. supervise_rules.RULES rows: kind, type, mi, si, then per type the parameters
# named below (host_tools/supervision/rules.py writes them by these names). Debounce
# (supervise_rules.DEBOUNCE, per rule): raised after that many evaluations in a row find the
# on-condition (not for _T_MEAN, _T_EDGE, _T_SWAY: their window, edge or half cycles are theirs).
_RULE_KIND = const(0)
_RULE_TYPE = const(1)
_RULE_MI = const(2)
_RULE_SI = const(3)
_RULE_SLOT = const(4)  # the rule's signal: its slot (_T_STATUS: its lane)
_T_STATUS = const(1)  # alert when the lane is neither fine value
_STATUS_FINE = const(5)
_STATUS_FINE_2 = const(6)
_T_ABOVE = const(2)  # on raw >= _ABOVE_ON, off raw <= _ABOVE_OFF
_ABOVE_ON = const(5)
_ABOVE_OFF = const(6)
_T_SPREAD = const(3)  # on slot - minus >= _SPREAD_ON, off <= _SPREAD_OFF
_SPREAD_MINUS = const(5)
_SPREAD_ON = const(6)
_SPREAD_OFF = const(7)
_T_MEAN = const(4)  # over the window (µs): on 1000*sum > n*_MEAN_ON, off 1000*sum <= n*_MEAN_OFF
_MEAN_WINDOW = const(5)
_MEAN_ON = const(6)
_MEAN_OFF = const(7)
_MEAN_RING = const(8)  # where its samples start in ring_t/ring_v
_MEAN_SIZE = const(9)
_T_EDGE = const(5)  # _EDGE_FROM -> _EDGE_TO while the speed slot >= _EDGE_SPEED: on; off on _EDGE_FROM
_EDGE_FROM = const(5)
_EDGE_TO = const(6)
_EDGE_SPEED_SLOT = const(7)
_EDGE_SPEED = const(8)
_T_LOW_WHILE = const(6)  # on raw <= _LOW_ON while the while slot == its value; off raw >= _LOW_OFF or not
_LOW_ON = const(5)
_LOW_OFF = const(6)
_LOW_WHILE_SLOT = const(7)
_LOW_WHILE_VALUE = const(8)
_T_OUTSIDE = const(7)  # on raw >= _OUT_ON_HI or raw <= _OUT_ON_LO, off _OUT_OFF_LO <= raw <= _OUT_OFF_HI
_OUT_ON_HI = const(5)
_OUT_ON_LO = const(6)
_OUT_OFF_LO = const(7)
_OUT_OFF_HI = const(8)
_T_LIMITS = const(8)  # the upper and lower (a magnitude) slots times _LIM_PER in the slot's raw units:
# on raw > up + _LIM_MARGIN or raw < -(lo + _LIM_MARGIN), off within _LIM_CLEAR
_LIM_UPPER = const(5)
_LIM_LOWER = const(6)
_LIM_PER = const(7)
_LIM_MARGIN = const(8)
_LIM_CLEAR = const(9)
_T_SWAY = const(9)  # turning points (the band is in its cx entry); a half cycle counts when its
# peak-to-peak >= _SWAY_ON and _SWAY_SHORTEST <= its µs <= _SWAY_LONGEST; on after _SWAY_CYCLES in a
# row; off below _SWAY_OFF or out of band, or no turning point for _SWAY_LONGEST µs
_SWAY_ON = const(5)
_SWAY_OFF = const(6)
_SWAY_SHORTEST = const(7)
_SWAY_LONGEST = const(8)
_SWAY_CYCLES = const(9)
_T_SUM = const(10)  # the slot vs the sum of a multiplexed message's signals (kept per group in the
# rule's cx entry): on |_SUM_PER*raw - sum| > _SUM_ON, off <= _SUM_OFF
_SUM_PER = const(5)
_SUM_ON = const(6)
_SUM_OFF = const(7)
_T_BAND = const(11)  # then (state, lo, hi) triples from _BAND_FIRST: on raw < lo or raw > hi for the
# state's triple, off inside it (or a state without one)
_BAND_STATE_SLOT = const(5)
_BAND_FIRST = const(6)
# ring_st, per rule 3 ints: a _T_MEAN run in bytecode (head, count, total); _T_SWAY (the last
# turning point's value, half cycles in a row)
_RS_HEAD = const(0)
_RS_COUNT = const(1)
_RS_TOTAL = const(2)
_RS_TURN = const(0)
_RS_RUN = const(1)
# TOW_RANGE: soc, voltage, current, speed slots, Wh per SOC raw unit, samples, µs between
# samples, power divisor, cm per speed raw unit (numerator, denominator), least window in m
_TW_SOC = const(0)
_TW_VOLT = const(1)
_TW_AMP = const(2)
_TW_SPEED = const(3)
_TW_WH = const(4)
_TW_SAMPLES = const(5)
_TW_EVERY = const(6)
_TW_PER_W = const(7)
_TW_CM_NUM = const(8)
_TW_CM_DEN = const(9)
_TW_MIN_M = const(10)
# tow_q: head, count, sum of energy, sum of distance, then the samples
_TQ_HEAD = const(0)
_TQ_COUNT = const(1)
_TQ_ENERGY = const(2)
_TQ_DIST = const(3)
_TQ_SAMPLES = const(4)

_MASK = const(0x3FFFFFFF)  # replay times are µs mod 2**30
_HALF = const(0x20000000)
_ERR_UNKNOWN_ID = const(-1)
_ERR_LENGTH = const(-2)


# The state and tables every frame touches live in one int32 array `st`, so the checks of a
# decoded frame run in viper on the board (_checks_v) with a plain twin (_checks_plain) that
# CPython (the host's reference) runs; the e2e tests and tests/firmware/test_supervise_twins.py
# hold the board's alerts to the reference's.
_STARTED = const(0)  # 1 once the first frame has started the clocks
_LATEST = const(3)  # newest frame time seen
_SCAN_AT = const(4)  # last timeout scan
_SCAN_US = const(5)
_MAX_DELTA = const(6)
_NM = const(7)  # how many messages
_OLD_RX = const(8)  # output: the message's previous frame time
_ROWS = const(9)  # where the signal rows start
_TOW_AT = const(10)  # last towing range sample
_TOW_US = const(11)  # between samples (0: no estimate)
_MSG = const(16)  # per message, _MW ints:
_MW = const(10)
_RX = const(0)  # last frame's time
_LIMIT = const(1)  # timeout, µs
_TIMED_OUT = const(2)
_LAST_CTR = const(3)  # _NO_CTR: none yet
_CTR_LANE = const(4)  # its lane + 1; 0: unprotected
_CRC_LANE = const(5)
_CTR_MASK = const(6)
_OPEN = const(7)  # open runs: bit (kind - 1), _RANGE_OPEN
_SIG_START = const(8)  # first signal row
_COND = const(9)  # feeds some condition: its entry in cx's per-message part + 1; 0: none
# the checks' results beyond the frame-check flags; 0: nothing for bytecode to do
_R_SCAN = const(0x100)  # a timeout scan is due
_R_RANGE = const(0x200)  # some signal out of range
_R_BACK = const(0x400)  # the message had timed out: it is back
_R_LATE = const(0x800)  # its frame came later than its timeout: raise and clear at once
_R_TOW = const(0x1000)  # a towing range sample is due
_R_OPEN = const(0x2000)  # the message has open runs: this frame may end them
# Signals (rules.SIG_TAB, st from the message entries on): the bounds entries, _BW ints each,
# one per distinct (sign bits, raw min, raw max, n/a code), then from st[_ROWS] on a word per
# signal (_RW ints, its "row"): its lane | where its bounds entry is in st << 16. Raw values
# + _BIAS: viper loads an int32 with zero extension on 64-bit ports, so st holds no negative
# number and signed raw values are sign-extended from their own length, as the decoder does.
_RW = const(1)
_LANE_MASK = const(0xFFFF)
_BW = const(4)
_ROW_BITS = const(0)  # the signal's length if signed, 0 unsigned, _SKIP: not checked
_ROW_LO = const(1)  # raw min + _BIAS
_ROW_HI = const(2)  # raw max + _BIAS
_ROW_NA = const(3)  # the n/a code + _BIAS (0: none)
_BIAS = const(0x20000000)
_SKIP = const(0xFF)
_NO_CTR = const(0x3FFFFFFF)


def _raw(st, row, lanes):
    # a signal's raw value from its lane, sign-extended from its own length
    w = st[row]
    v = lanes[w & _LANE_MASK]
    bits = st[(w >> 16) + _ROW_BITS]
    if bits and bits != _SKIP:
        v &= (1 << bits) - 1
        v -= (v >> (bits - 1)) << bits
    return v


def _in_range(st, row, v):
    b = st[row] >> 16
    return st[b + _ROW_LO] <= v + _BIAS <= st[b + _ROW_HI]


def _out_of_range(st, row, lanes):
    # out of [min|max] and not the signal's n/a code
    b = st[row] >> 16
    if st[b + _ROW_BITS] == _SKIP:
        return False
    v = _raw(st, row, lanes)
    return not _in_range(st, row, v) and v + _BIAS != st[b + _ROW_NA]


# The conditions' int32 array (Supervisor.cx), which _slots_plain and _slots_v work on: a header (where each
# part starts), then per message its slots, trigger pairs and gate-rule pairs, then per
# tracked signal (slot) its row in st, last usable value, the one before, how many usable
# values were seen (capped at 2), whether this frame set it, its version (bumped when the
# value or its known-ness changes); per rule its inputs' versions when last evaluated, its
# entry (how the slots step tests it, and the state it keeps there) and its input slots + 1 (0:
# evaluate on every trigger). host_tools/supervision/tables.py builds it by these names.
_CX_CUR = const(0)  # header: where each part starts
_CX_PREV = const(1)
_CX_KNOWN = const(2)
_CX_FRESH = const(3)
_CX_VER = const(4)
_CX_ROW = const(5)
_CX_MEMO = const(6)
_CX_DEP = const(7)
_CX_CURB = const(8)  # the last usable value + _BIAS (what viper compares)
_CX_MEAN = const(9)  # per rule, _MNW ints: its entry
_CX_ACTIVE = const(10)  # per rule: raised
_CX_PEND = const(11)  # per rule: evaluations in a row that found it on (its debounce counts)
_CX_RING_T = const(12)  # the rings (RING_SIZE ints each): a mean's times, a sum's groups known
_CX_RING_V = const(13)  # a mean's values, a sum's group sums
_CX_MSG = const(14)  # per message that feeds a condition (st's _COND - 1), _CXW ints:
_CXW = const(8)
_CM_SLOTS = const(0)  # where its slots are
_CM_NSLOTS = const(1)
_CM_TRIG = const(2)  # its trigger pairs (rule, slot that must be fresh + 1, 0: none)
_CM_NTRIG = const(3)
_CM_PRE = const(4)  # its gate-rule pairs (rule, lane): status rules, evaluated before the gate
_CM_NPRE = const(5)
_CM_GATE = const(6)  # the gate's lane + 1 (0: none)
_CM_GATE_VALUE = const(7)  # the gate is open at this raw value
_MAX_TODO = const(29)  # gate rules + trigger pairs per message: _slots_v returns one bit each
# A rule's entry, _MNW ints. _E_HOW says how the slots step tests it: it sets the rule's bit
# (Supervisor._rule runs it in bytecode) only when the rule will act: its state flips, or
# a debounce counts (then on every evaluation).
_MNW = const(16)
_E_HOW = const(0)
_E_SLOT = const(1)
_MN_ALWAYS = const(0)  # no test here: the bit on every trigger (whose inputs moved, if it has any)
# _T_MEAN, when its sums cannot overflow a small int (the host decides, else _MN_ALWAYS:
# Supervisor._mean runs it): ring values and the total are stored + _BIAS, and `1000 * total
# > count * p` is tested as `1000 * (total - count * q) > count * r` with p = 1000 q + r.
_MN_MEAN = const(1)
_EM_WINDOW = const(2)  # µs
_EM_Q_ON = const(3)  # q + _BIAS
_EM_R_ON = const(4)
_EM_Q_OFF = const(5)
_EM_R_OFF = const(6)
_EM_RING = const(7)  # where its samples start in ring_t/ring_v
_EM_SIZE = const(8)
_EM_HEAD = const(9)
_EM_COUNT = const(10)
_EM_TOTAL = const(11)  # + _BIAS
# _T_ABOVE, _T_OUTSIDE: raised at value + _BIAS >= _EL_ON_FROM or < _EL_ON_BELOW, cleared within
# _EL_OFF_FROM .. _EL_OFF_TO
_MN_LEVEL = const(2)
_EL_ON_FROM = const(2)
_EL_ON_BELOW = const(3)
_EL_OFF_FROM = const(4)
_EL_OFF_TO = const(5)
# _T_SWAY: the bit on a turning point, or when raised and none came for too long
_MN_SWAY = const(3)
_ES_BAND = const(2)
_ES_EXT = const(3)  # the running extreme + _BIAS
_ES_HIGH = const(4)  # before the direction is known: highest and lowest + _BIAS
_ES_LOW = const(5)
_ES_TURN_T = const(6)  # the last turning point's time
_ES_LONGEST = const(7)  # the longest half cycle, µs
_ES_TURNED = const(8)  # 1: this frame confirmed a turning point
_ES_DIR = const(9)  # 0 nothing seen, 1 rising, 2 falling, 3 not known yet
_ES_SEEN = const(10)  # a turning point was seen
_ES_TURN_V = const(11)  # its value + _BIAS
# _T_SUM: evaluated on a frame of another message when all groups are known; ring_v holds
# each group's sum, ring_t whether it is known
_MN_SUM = const(4)
_EU_MUX_LANE = const(1)
_EU_GROUP_STEP = const(2)  # st step from a group's rows to the next's
_EU_PER_GROUP = const(3)  # signals per group
_EU_FIRST_ROW = const(4)  # group 0's first row in st
_EU_MSG = const(5)  # the summed message
_EU_GROUPS = const(6)
_EU_RING = const(7)
_EU_SIGNAL_STEP = const(8)  # st step between a group's rows
_EU_KNOWN = const(9)  # groups known
_EU_TOTAL = const(11)  # + _BIAS
_EU_SLOT = const(12)
_EU_PER = const(13)  # 0: not tested here, the bit on every evaluation
_EU_ON = const(14)  # + _BIAS
_EU_OFF = const(15)  # + _BIAS
# _T_SPREAD, _T_EDGE, _T_LIMITS tested here (_acts) when their numbers cannot overflow a 32-bit
# board's int (the host decides, else _MN_ALWAYS); the values + _BIAS
_MN_SPREAD = const(5)
_EP_A = const(1)
_EP_B = const(2)
_EP_ON = const(3)
_EP_OFF = const(4)
_MN_EDGE = const(6)
_EE_SPEED_SLOT = const(2)
_EE_FROM = const(3)
_EE_TO = const(4)
_EE_SPEED = const(5)
_MN_LIMITS = const(7)
_EI_UPPER = const(2)
_EI_LOWER = const(3)
_EI_PER = const(4)
_EI_MARGIN = const(5)
_EI_CLEAR = const(6)


class Supervisor:
    def __init__(self, rules, lookup, emit, tow_range=None):
        self.r = rules
        self.lookup = lookup  # (can_id, ext) -> message index or -1
        self.emit = emit
        # tow_range(frame_no, range_dkm, wh_per_km, window_m): the towing range estimate,
        # once a second (docs/supervision.md); rules.TOW_RANGE () or no callback: none
        self.tow = getattr(rules, "TOW_RANGE", ()) if tow_range is not None else ()  # type: tuple
        self.tow_emit = tow_range
        n = self.tow[_TW_SAMPLES] if self.tow else 1
        # _TQ_*, then per sample its energy (W s), then per sample its distance (cm)
        self.tow_q = array("i", bytes(4 * (_TQ_SAMPLES + 2 * n)))
        nm = rules.MESSAGES
        ns = rules.SLOTS
        nr = len(rules.RULES)
        nrows = rules.SIGNALS
        # the int32 tables (host_tools/supervision/tables.py): ST and SIG_TAB make st, CX cx;
        # in the module (the host's reference), or on the board in a file read straight into
        # the arrays (reset), so its RAM never holds them twice
        self.st = array("i", bytes(rules.ST_BYTES + rules.SIG_TAB_BYTES))
        self.cx = cx = array("i", bytes(rules.CX_BYTES))
        self.runs = array("i", bytes(4 * nm * _RUN_KINDS))  # flagged frames in the open run
        self.run_last = array("I", bytes(4 * nm * _RUN_KINDS))  # frame number of the last one
        self.range_runs = array("i", bytes(4 * nrows))
        # per message: the last frame whose ranges were checked, which a range run still open
        # was flagged on (an open run is flagged on every such frame until it ends)
        self.range_last = array("I", bytes(4 * nm))
        self.ring_st = array("i", bytes(4 * 3 * nr))  # per rule: _RS_*
        # the conditions' state lives in one int32 array too (cx), so the update of a
        # frame's tracked values and the choice of the rules to evaluate run in viper
        # (_slots_v); the names below are views of its parts (where they are: cx's header)
        self.reset()
        mv = memoryview(cx)
        self.cur, self.prev, self.known, self.fresh, self.ver = (mv[cx[p]:cx[p] + ns] for p in range(_CX_VER + 1))
        self.memo = mv[cx[_CX_MEMO]:cx[_CX_MEMO] + nr]
        self.active = mv[cx[_CX_ACTIVE]:cx[_CX_ACTIVE] + nr]
        self.ring_t = mv[cx[_CX_RING_T]:cx[_CX_RING_T] + rules.RING_SIZE]  # in cx: one array for _slots_v
        self.ring_v = mv[cx[_CX_RING_V]:cx[_CX_RING_V] + rules.RING_SIZE]
        self.pend = mv[cx[_CX_PEND]:cx[_CX_PEND] + nr]  # per rule: evaluations in a row that found it on (debounce)
        self.alerts = 0

    def reset(self):
        """Forget everything seen: a new log (a new link session) starts here."""
        r = self.r
        if hasattr(r, "CX"):  # the host's reference: the tables in the module
            self.st[:] = array("i", r.ST + r.SIG_TAB)
            self.cx[:] = array("i", r.CX)
        else:
            where = getattr(r, "__file__", "")
            with open(where[:where.rfind("/") + 1] + r.TABLES, "rb") as f:  # beside the module
                if f.readinto(self.st) != len(self.st) * 4 or f.readinto(self.cx) != r.CX_BYTES:
                    raise ValueError(r.TABLES + ": too short, run `mule flash` again")
        if not self.tow:
            self.st[_TOW_US] = 0  # no estimate
        for a in (self.runs, self.run_last, self.range_runs, self.range_last, self.ring_st,
                  self.tow_q):
            for i in range(len(a)):
                a[i] = 0

    # ---- alerts ----------------------------------------------------------------------
    def _send(self, frame_no, kind, cleared, mi, si, value):
        self.alerts += 1
        self.emit(frame_no, kind | CLEARED if cleared else kind, SEVERITY[kind - 1], mi, si, value,
                  KIND_TEXT[kind - 1])

    # ---- timeouts ----------------------------------------------------------------------
    def tick(self, t, frame_no):
        """Raise the timeouts due at time t (µs mod 2**30)."""
        st = self.st
        if not st[_STARTED]:
            return
        st[_SCAN_AT] = t
        mi = _due(st, st[_NM], t)  # type: ignore[arg-type]  # viper: st as a pointer
        while mi >= 0:
            m = _MSG + _MW * mi
            st[m + _TIMED_OUT] = 1
            self._send(frame_no, _TIMEOUT, 0, mi, -1, (st[m + _RX] + st[m + _LIMIT]) & _MASK)
            mi = _due(st, st[_NM], t)  # type: ignore[arg-type]

    def _start(self, t):
        st = self.st
        st[_STARTED] = 1
        st[_LATEST] = t
        st[_SCAN_AT] = t
        st[_TOW_AT] = t
        for mi in range(st[_NM]):  # the log's start counts as a frame of every id
            st[_MSG + _MW * mi + _RX] = t

    # ---- one frame -----------------------------------------------------------------------
    def _flagged(self, frame_no, t, mi, lanes, selected, ret):
        # what the checks found beyond a clean frame (ret: _checks's bits): a towing sample or
        # timeout scan due, a timeout ending, flags, open runs. False: the values are unusable
        if ret & _R_TOW:
            self._tow_sample(frame_no)
        if ret & _R_SCAN:
            self.tick(t, frame_no)
        if ret & (_R_BACK | _R_LATE):
            self._back(frame_no, t, mi, ret)
        st = self.st
        m = _MSG + _MW * mi
        flags = ret & (_F_CRC | _F_REPEATED | _F_JUMP | _F_OUT_OF_ORDER)
        if flags or st[m + _OPEN] & 0x7F:
            self._runs(frame_no, mi, flags)
        if ret & (_F_CRC | _F_REPEATED):
            if st[m + _OPEN] & _RANGE_OPEN:
                self._close_ranges(frame_no, mi)
            return False
        if ret & _R_RANGE or st[m + _OPEN] & _RANGE_OPEN:
            self._ranges(frame_no, mi, lanes, selected)
        return True

    def _back(self, frame_no, t, mi, ret):
        # a frame of a message that was (or should have been) timed out
        st = self.st
        m = _MSG + _MW * mi
        if ret & _R_BACK:
            st[m + _TIMED_OUT] = 0
        else:
            self._send(frame_no, _TIMEOUT, 0, mi, -1, (st[_OLD_RX] + st[m + _LIMIT]) & _MASK)
        self._send(frame_no, _TIMEOUT, 1, mi, -1, t)

    def _failed(self, frame_no, t, result, can_id, ext):
        # a frame the decoder refused: unknown id, wrong length, undefined multiplexer value
        st = self.st
        flags = 0
        if (t - st[_LATEST]) & _MASK >= _HALF:
            flags = _F_OUT_OF_ORDER
        else:
            st[_LATEST] = t
            if (t - st[_SCAN_AT]) & _MASK >= st[_SCAN_US]:
                self.tick(t, frame_no)
        mi = self.lookup(can_id, ext) if result != _ERR_UNKNOWN_ID else -1
        if mi < 0:  # another ECU's frame: no state of its own, a one-frame alert
            if flags:
                self._send(frame_no, _OUT_OF_ORDER, 0, -1, -1, can_id)
                self._send(frame_no, _OUT_OF_ORDER, 1, -1, -1, 1)
            return
        m = _MSG + _MW * mi
        since = (t - st[m + _RX]) & _MASK
        if since < _HALF:  # any frame of the id counts for its timeout, whatever its length
            st[_OLD_RX] = st[m + _RX]
            if st[m + _TIMED_OUT]:
                self._back(frame_no, t, mi, _R_BACK)
            elif since > st[m + _LIMIT]:
                self._back(frame_no, t, mi, _R_LATE)
            st[m + _RX] = t
        if result == _ERR_LENGTH:
            flags |= _F_DLC
        if flags or st[m + _OPEN] & 0x7F:
            self._runs(frame_no, mi, flags)
        if st[m + _OPEN] & _RANGE_OPEN:
            self._close_ranges(frame_no, mi)

    def _runs(self, frame_no, mi, flags):
        # consecutive flagged frames of one id are one alert per kind: raised on the first,
        # cleared (with the last one's number and the count) on the next frame without it
        runs = self.runs
        st = self.st
        mask = st[_MSG + _MW * mi + _OPEN]
        for j in range(_RUN_KINDS):
            kind = _RUN_KIND[j]
            bit = 1 << (kind - 1)
            at = mi * _RUN_KINDS + j
            if flags & bit:
                if runs[at] == 0:
                    self._send(frame_no, kind, 0, mi, -1, 0)
                    mask |= bit
                runs[at] += 1
                self.run_last[at] = frame_no
            elif mask & bit:
                self._send(self.run_last[at], kind, 1, mi, -1, runs[at])
                runs[at] = 0
                mask &= ~bit
        st[_MSG + _MW * mi + _OPEN] = mask

    def _ranges(self, frame_no, mi, lanes, selected):
        tab = self.st
        base = tab[_MSG + _MW * mi + _SIG_START]
        rows = tab[_ROWS]
        runs = self.range_runs
        flagged = False
        for k in range(1, selected[0] + 1):
            row = base + selected[k]
            if _out_of_range(tab, rows + _RW * row, lanes):
                raw = _raw(tab, rows + _RW * row, lanes)
                flagged = True
                if runs[row] == 0:
                    self._send(frame_no, _RANGE, 0, mi, selected[k], raw)
                runs[row] = -(runs[row] + 1)  # negative: flagged on this frame (_close_ranges)
        m = _MSG + _MW * mi + _OPEN
        if flagged:
            tab[m] |= _RANGE_OPEN
        if tab[m] & _RANGE_OPEN:
            self._close_ranges(frame_no, mi)
        self.range_last[mi] = frame_no

    def _close_ranges(self, frame_no, mi):
        runs = self.range_runs
        st = self.st
        base = st[_MSG + _MW * mi + _SIG_START]
        end = st[_MSG + _MW * (mi + 1) + _SIG_START] if mi + 1 < st[_NM] else len(runs)
        still = False
        for row in range(base, end):
            if runs[row] < 0:  # flagged on this frame (_ranges): the run goes on
                runs[row] = -runs[row]
                still = True
            elif runs[row]:
                self._send(self.range_last[mi], _RANGE, 1, mi, row - base, runs[row])
                runs[row] = 0
        if not still:
            self.st[_MSG + _MW * mi + _OPEN] &= ~_RANGE_OPEN

    # ---- towing range ----------------------------------------------------------------------
    def _tow_sample(self, frame_no):
        # one second's energy and distance from the last usable values, into a window of
        # tow[_TW_SAMPLES] samples; every product stays a small int on a 32-bit board
        tow = self.tow
        known = self.known
        cur = self.cur
        q = self.tow_q
        size = tow[_TW_SAMPLES]
        if known[tow[_TW_SOC]] and known[tow[_TW_VOLT]] and known[tow[_TW_AMP]] and known[tow[_TW_SPEED]]:
            if q[_TQ_COUNT] == size:  # full: the oldest goes
                q[_TQ_ENERGY] -= q[_TQ_SAMPLES + q[_TQ_HEAD]]
                q[_TQ_DIST] -= q[_TQ_SAMPLES + size + q[_TQ_HEAD]]
                q[_TQ_HEAD] = (q[_TQ_HEAD] + 1) % size
                q[_TQ_COUNT] -= 1
            i = (q[_TQ_HEAD] + q[_TQ_COUNT]) % size
            e = cur[tow[_TW_VOLT]] * cur[tow[_TW_AMP]] // tow[_TW_PER_W]  # W, for one second: W s
            d = cur[tow[_TW_SPEED]] * tow[_TW_CM_NUM] // tow[_TW_CM_DEN]  # cm
            q[_TQ_SAMPLES + i] = e
            q[_TQ_SAMPLES + size + i] = d
            q[_TQ_COUNT] += 1
            q[_TQ_ENERGY] += e
            q[_TQ_DIST] += d
        window_m = q[_TQ_DIST] // 100
        wh_per_km = -1
        range_dkm = -1
        if window_m >= tow[_TW_MIN_M]:
            wh_per_km = q[_TQ_ENERGY] * 5 // (18 * window_m)  # (E / 3600 Wh) / (m / 1000 km)
            if wh_per_km > 0 and known[tow[_TW_SOC]]:
                range_dkm = cur[tow[_TW_SOC]] * tow[_TW_WH] * 10 // wh_per_km
            elif wh_per_km <= 0:
                wh_per_km = -1
        self.tow_emit(frame_no, range_dkm, wh_per_km, window_m)

    # ---- conditions --------------------------------------------------------------------------
    def _conditions(self, frame_no, t, mi, lanes, todo):
        # the rules _slots_v chose, in order: bit j, the message's gate rule j (its pairs in cx),
        # then its trigger j - npre
        rules = self.r.RULES
        cx = self.cx
        h = _CX_MSG + _CXW * (self.st[_MSG + _MW * mi + _COND] - 1)
        npre = cx[h + _CM_NPRE]
        j = 0
        while todo:
            if todo & 1:
                k = cx[cx[h + _CM_PRE] + 2 * j] if j < npre else cx[cx[h + _CM_TRIG] + 2 * (j - npre)]
                self._rule(frame_no, t, k, rules[k], lanes)
            todo >>= 1
            j += 1

    def _flip(self, frame_no, k, rule, value):
        # a condition's state changes: raised when it was off, cleared when it was on
        was = self.active[k]
        self.active[k] = 0 if was else 1
        self._send(frame_no, rule[_RULE_KIND], was, rule[_RULE_MI], rule[_RULE_SI], value)

    def _step(self, frame_no, k, rule, hit, value):
        # hit: the off-condition when raised, else the on-condition; a debounced rule is
        # raised after debounce[k] evaluations in a row found it on
        need = self.r.DEBOUNCE[k]
        if self.active[k] or need <= 1:
            if hit:
                self._flip(frame_no, k, rule, value)
            return
        pend = self.pend
        if hit:
            n = pend[k] + 1
            if n < need:
                # _slots_v sets its bit on every evaluation while this counts, even if its
                # inputs do not change (memo: they moved)
                pend[k] = n
                self.memo[k] = -1
                return
            self._flip(frame_no, k, rule, value)
        elif not pend[k]:
            return
        pend[k] = 0

    def _rule(self, frame_no, t, k, rule, lanes):
        typ = rule[_RULE_TYPE]
        cur = self.cur
        on = self.active[k]  # raised: the test is the off-condition
        if typ == _T_ABOVE:
            v = cur[rule[_RULE_SLOT]]
            self._step(frame_no, k, rule, (v <= rule[_ABOVE_OFF]) if on else (v >= rule[_ABOVE_ON]), v)
        elif typ == _T_MEAN:
            cx = self.cx
            m = cx[_CX_MEAN] + _MNW * k
            if cx[m + _E_HOW] == _MN_MEAN:  # _mean_v ran the window: its state flips
                self._flip(frame_no, k, rule, (cx[m + _EM_TOTAL] - _BIAS) // cx[m + _EM_COUNT])
            else:
                self._mean(frame_no, t, k, rule)
        elif typ == _T_STATUS:
            v = lanes[rule[_RULE_SLOT]]
            fine = v == rule[_STATUS_FINE] or v == rule[_STATUS_FINE_2]
            self._step(frame_no, k, rule, fine if on else not fine, v)
        elif typ == _T_SPREAD:
            a = rule[_RULE_SLOT]
            b = rule[_SPREAD_MINUS]
            if self.fresh[a] and self.fresh[b]:
                v = cur[a] - cur[b]
                self._step(frame_no, k, rule, (v <= rule[_SPREAD_OFF]) if on else (v >= rule[_SPREAD_ON]), v)
        elif typ == _T_EDGE:
            s = rule[_RULE_SLOT]
            v = cur[s]
            fresh = self.fresh[s]
            if on:
                hit = fresh and v == rule[_EDGE_FROM]
            else:
                hit = (fresh and v == rule[_EDGE_TO] and self.known[s] == 2 and self.prev[s] == rule[_EDGE_FROM]
                       and cur[rule[_EDGE_SPEED_SLOT]] >= rule[_EDGE_SPEED])
            if hit:
                self._flip(frame_no, k, rule, v)
        elif typ == _T_LOW_WHILE:
            s = rule[_RULE_SLOT]
            c = rule[_LOW_WHILE_SLOT]
            v = cur[s]
            while_ = self.known[c] and cur[c] == rule[_LOW_WHILE_VALUE]
            if on:
                hit = not self.known[s] or v >= rule[_LOW_OFF] or not while_
            else:
                hit = self.known[s] and v <= rule[_LOW_ON] and while_
            self._step(frame_no, k, rule, hit, v)
        elif typ == _T_OUTSIDE:  # _acts holds the same test
            v = cur[rule[_RULE_SLOT]]
            if on:
                hit = rule[_OUT_OFF_LO] <= v <= rule[_OUT_OFF_HI]
            else:
                hit = v >= rule[_OUT_ON_HI] or v <= rule[_OUT_ON_LO]
            self._step(frame_no, k, rule, hit, v)
        elif typ == _T_SWAY:
            self._sway(frame_no, t, k, rule)
        elif typ == _T_SUM:
            cx = self.cx
            d = cur[rule[_RULE_SLOT]] * rule[_SUM_PER] - (cx[cx[_CX_MEAN] + _MNW * k + _EU_TOTAL] - _BIAS)
            if d < 0:
                d = -d
            self._step(frame_no, k, rule, (d <= rule[_SUM_OFF]) if on else (d > rule[_SUM_ON]), d)
        elif typ == _T_BAND:
            s = rule[_RULE_SLOT]
            c = rule[_BAND_STATE_SLOT]
            if self.fresh[s] and self.fresh[c]:
                v = cur[s]
                state = cur[c]
                out = False
                for i in range(_BAND_FIRST, len(rule), 3):  # (state, lo, hi)
                    if rule[i] == state:
                        out = v < rule[i + 1] or v > rule[i + 2]
                        break
                self._step(frame_no, k, rule, (not out) if on else out, v)
        elif typ == _T_LIMITS:
            known = self.known
            s = rule[_RULE_SLOT]
            if known[s] and known[rule[_LIM_UPPER]] and known[rule[_LIM_LOWER]]:
                v = cur[s]
                up = rule[_LIM_PER] * cur[rule[_LIM_UPPER]]
                lo = -rule[_LIM_PER] * cur[rule[_LIM_LOWER]]
                if on:
                    hit = lo - rule[_LIM_CLEAR] <= v <= up + rule[_LIM_CLEAR]
                else:
                    hit = v > up + rule[_LIM_MARGIN] or v < lo - rule[_LIM_MARGIN]
                self._step(frame_no, k, rule, hit, v)

    def _sway(self, frame_no, t, k, rule):
        # _sway_v found a turning point (_ES_TURNED, its value) or a long quiet: count the
        # half cycles (docs/supervision.md, trailer_sway)
        cx = self.cx
        m = cx[_CX_MEAN] + _MNW * k
        rs = self.ring_st
        at = 3 * k
        if cx[m + _ES_TURNED]:
            cx[m + _ES_TURNED] = 0
            e = cx[m + _ES_TURN_V] - _BIAS
            if cx[m + _ES_SEEN]:
                p2p = e - rs[at + _RS_TURN]
                if p2p < 0:
                    p2p = -p2p
                half = (t - cx[m + _ES_TURN_T]) & _MASK
                in_band = rule[_SWAY_SHORTEST] <= half <= rule[_SWAY_LONGEST]
                rs[at + _RS_RUN] = rs[at + _RS_RUN] + 1 if p2p >= rule[_SWAY_ON] and in_band else 0
                if self.active[k]:
                    if p2p < rule[_SWAY_OFF] or not in_band:
                        self._flip(frame_no, k, rule, p2p)
                elif rs[at + _RS_RUN] >= rule[_SWAY_CYCLES]:
                    self._flip(frame_no, k, rule, p2p)
            rs[at + _RS_TURN] = e
            cx[m + _ES_TURN_T] = t
            cx[m + _ES_SEEN] = 1
        elif self.active[k] and cx[m + _ES_SEEN] and (t - cx[m + _ES_TURN_T]) & _MASK > rule[_SWAY_LONGEST]:
            rs[at + _RS_RUN] = 0
            self._flip(frame_no, k, rule, 0)

    def _mean(self, frame_no, t, k, rule):
        # mean over the window (t - window < t' <= t) in raw units, a preallocated ring
        st = self.ring_st
        at = 3 * k
        head = st[at + _RS_HEAD]
        count = st[at + _RS_COUNT]
        total = st[at + _RS_TOTAL]
        base = rule[_MEAN_RING]
        size = rule[_MEAN_SIZE]
        ring_t = self.ring_t
        ring_v = self.ring_v
        s = rule[_RULE_SLOT]
        if self.fresh[s]:
            if count == size:  # full: the oldest goes
                total -= ring_v[base + head]
                head = (head + 1) % size
                count -= 1
            i = base + (head + count) % size
            ring_t[i] = t
            ring_v[i] = self.cur[s]
            total += self.cur[s]
            count += 1
        window = rule[_MEAN_WINDOW]
        while count and (t - ring_t[base + head]) & _MASK >= window:
            total -= ring_v[base + head]
            head = (head + 1) % size
            count -= 1
        st[at + _RS_HEAD] = head
        st[at + _RS_COUNT] = count
        st[at + _RS_TOTAL] = total
        if count and ((1000 * total <= count * rule[_MEAN_OFF]) if self.active[k] else
                      (1000 * total > count * rule[_MEAN_ON])):
            self._flip(frame_no, k, rule, total // count)


# On the board: the viper twins, one per plain function above and in step with it. A viper
# function's frame is not taken from the heap (a bytecode function's is, on every call, when
# its arguments, locals and stack need more than 11 words: Supervisor.frame's ten arguments
# alone nearly do), so Supervisor.frame is _frame_v, and what it calls is viper too; the
# arrays are passed as objects and taken as pointers inside (a pointer passed on would be
# boxed as a big int). Loads from an int32 array are zero-extended on 64-bit ports: what is
# compared by order is stored + _BIAS, what by equality is compared load with load.
if sys.implementation.name == "micropython":
    try:
        import micropython

        @micropython.viper
        def _slots_v(cxa, lanes, sta, mi: int, t: int) -> int:
            # _slots_plain, with _take_plain, _wants_plain's dispatch and _acts's level test inline.
            # A table's entry is read through a pointer to it (e[_NAME]: one load, a constant offset)
            cx = ptr32(cxa)
            base = int(cx)
            lp = ptr32(lanes)
            h = ptr32(base + 4 * (_CX_MSG + _CXW * (ptr32(sta)[_MSG + _MW * mi + _COND] - 1)))
            memo = ptr32(base + 4 * cx[_CX_MEMO])
            out = 0
            pair = base + 4 * h[_CM_PRE]
            npre = h[_CM_NPRE]
            j = 0
            while j < npre:
                p = ptr32(pair)
                k = p[0]
                v = lp[p[1]]
                if v != memo[k]:
                    memo[k] = v
                    out |= 1 << j
                pair += 8
                j += 1
            gate = h[_CM_GATE]
            if gate != 0 and lp[gate - 1] != h[_CM_GATE_VALUE]:
                return out
            # the tracked values: _take_plain
            sbase = int(ptr32(sta))
            cur = ptr32(base + 4 * cx[_CX_CUR])
            known = ptr32(base + 4 * cx[_CX_KNOWN])
            fresh = ptr32(base + 4 * cx[_CX_FRESH])
            ver = ptr32(base + 4 * cx[_CX_VER])
            curb = ptr32(base + 4 * cx[_CX_CURB])
            rows = ptr32(base + 4 * cx[_CX_ROW])
            prev = ptr32(base + 4 * cx[_CX_PREV])
            slot = base + 4 * h[_CM_SLOTS]
            end = slot + 4 * h[_CM_NSLOTS]
            while slot < end:
                s = ptr32(slot)[0]
                w = ptr32(sbase + 4 * rows[s])[0]
                row = ptr32(sbase + 4 * (w >> 16))  # its bounds
                raw = lp[w & _LANE_MASK]
                c = cur[s]
                bits = row[_ROW_BITS]
                ok = 1
                if bits != _SKIP:
                    if bits != 0:
                        raw = raw & ((1 << bits) - 1)
                        raw = raw - ((raw >> (bits - 1)) << bits)
                        c = c & ((1 << bits) - 1)
                        c = c - ((c >> (bits - 1)) << bits)
                    b = raw + _BIAS
                    if b < row[_ROW_LO] or b > row[_ROW_HI]:
                        ok = 0
                if ok != 0:
                    if known[s] < 2 or raw != c:
                        ver[s] = ver[s] + 1
                        if known[s] < 2:
                            known[s] = known[s] + 1
                    prev[s] = cur[s]
                    cur[s] = raw
                    curb[s] = raw + _BIAS
                    fresh[s] = 1
                else:
                    fresh[s] = 0
                slot += 4
            dep = ptr32(base + 4 * cx[_CX_DEP])
            active = ptr32(base + 4 * cx[_CX_ACTIVE])
            entries = cx[_CX_MEAN]
            pair = base + 4 * h[_CM_TRIG]
            count = h[_CM_NTRIG]
            j = 0
            while j < count:
                p = ptr32(pair)
                k = p[0]
                need = p[1]
                pair += 8
                j += 1
                if need != 0 and fresh[need - 1] == 0:
                    continue
                a = dep[2 * k]
                if a != 0:  # only when an input's version moved
                    v = ver[a - 1] + ver[dep[2 * k + 1] - 1]
                    if v == memo[k]:
                        continue
                    memo[k] = v
                m = entries + _MNW * k
                e = ptr32(base + 4 * m)
                how = e[_E_HOW]
                run = 1
                if how == _MN_LEVEL:  # _acts's level test, inline: the most frequent one
                    b = curb[e[_E_SLOT]]
                    if active[k] != 0:
                        if b < e[_EL_OFF_FROM] or b > e[_EL_OFF_TO]:
                            run = 0
                    elif b < e[_EL_ON_FROM] and b >= e[_EL_ON_BELOW] and cx[cx[_CX_PEND] + k] == 0:
                        run = 0
                elif how == _MN_MEAN:
                    run = int(_mean_v(cxa, k, m, t))
                elif how == _MN_SWAY:
                    run = int(_sway_v(cxa, k, m, t))
                elif how == _MN_SUM:
                    run = int(_sum_v(cxa, lanes, sta, k, m, mi))
                elif how != _MN_ALWAYS:
                    run = int(_acts_v(cxa, k, m, how))
                if run != 0:
                    out |= 1 << (npre + j - 1)
            return out

        @micropython.viper
        def _acts_v(cxa, k: int, m: int, how: int) -> int:
            # _acts for _MN_SPREAD, _MN_EDGE, _MN_LIMITS (its level test is inline in _slots_v)
            cx = ptr32(cxa)
            base = int(cx)
            e = ptr32(base + 4 * m)
            curb = ptr32(base + 4 * cx[_CX_CURB])
            on = cx[cx[_CX_ACTIVE] + k]
            pend = cx[cx[_CX_PEND] + k]
            fresh = ptr32(base + 4 * cx[_CX_FRESH])
            if how == _MN_SPREAD:
                a = e[_EP_A]
                b = e[_EP_B]
                if fresh[a] == 0 or fresh[b] == 0:
                    return 0
                d = curb[a] - curb[b]
                if on != 0:
                    return int(d <= e[_EP_OFF] - _BIAS)
                return int(d >= e[_EP_ON] - _BIAS or pend != 0)
            s = e[_E_SLOT]
            if how == _MN_EDGE:  # no debounce: an edge is one frame
                if fresh[s] == 0:
                    return 0
                v = cx[cx[_CX_CUR] + s]
                if on != 0:
                    return int(v == e[_EE_FROM])
                return int(v == e[_EE_TO] and cx[cx[_CX_KNOWN] + s] == 2 and cx[cx[_CX_PREV] + s] == e[_EE_FROM]
                           and curb[e[_EE_SPEED_SLOT]] >= e[_EE_SPEED])
            known = ptr32(base + 4 * cx[_CX_KNOWN])  # _MN_LIMITS
            u = e[_EI_UPPER]
            lo_slot = e[_EI_LOWER]
            if known[s] == 0 or known[u] == 0 or known[lo_slot] == 0:
                return 0
            v = curb[s] - _BIAS
            up = e[_EI_PER] * (curb[u] - _BIAS)
            lo = 0 - e[_EI_PER] * (curb[lo_slot] - _BIAS)
            if on != 0:
                d = e[_EI_CLEAR] - _BIAS
                return int(lo - d <= v and v <= up + d)
            d = e[_EI_MARGIN] - _BIAS
            return int(v > up + d or v < lo - d or pend != 0)

        @micropython.viper
        def _sway_v(cxa, k: int, m: int, t: int) -> int:
            # _sway_plain
            cx = ptr32(cxa)
            e = ptr32(int(cx) + 4 * m)
            v = cx[cx[_CX_CURB] + e[_E_SLOT]]
            band = e[_ES_BAND]
            direction = e[_ES_DIR]
            turned = 0
            turn = 0
            if direction == 0:
                e[_ES_HIGH] = v
                e[_ES_LOW] = v
                e[_ES_DIR] = 3
            elif direction == 3:
                if v > e[_ES_HIGH]:
                    e[_ES_HIGH] = v
                if v < e[_ES_LOW]:
                    e[_ES_LOW] = v
                if v <= e[_ES_HIGH] - band:
                    turn = e[_ES_HIGH]
                    turned = 1
                    e[_ES_DIR] = 2
                    e[_ES_EXT] = v
                elif v >= e[_ES_LOW] + band:
                    turn = e[_ES_LOW]
                    turned = 1
                    e[_ES_DIR] = 1
                    e[_ES_EXT] = v
            elif direction == 1:
                if v > e[_ES_EXT]:
                    e[_ES_EXT] = v
                elif v <= e[_ES_EXT] - band:
                    turn = e[_ES_EXT]
                    turned = 1
                    e[_ES_DIR] = 2
                    e[_ES_EXT] = v
            else:
                if v < e[_ES_EXT]:
                    e[_ES_EXT] = v
                elif v >= e[_ES_EXT] + band:
                    turn = e[_ES_EXT]
                    turned = 1
                    e[_ES_DIR] = 1
                    e[_ES_EXT] = v
            if turned != 0:
                e[_ES_TURN_V] = turn
                e[_ES_TURNED] = 1
                return 1
            return int(cx[cx[_CX_ACTIVE] + k] != 0 and e[_ES_SEEN] != 0
                       and ((t - e[_ES_TURN_T]) & _MASK) > e[_ES_LONGEST])

        @micropython.viper
        def _sum_v(cxa, lanes, sta, k: int, m: int, mi: int) -> int:
            # _sum_plain
            cx = ptr32(cxa)
            e = ptr32(int(cx) + 4 * m)
            groups = e[_EU_GROUPS]
            if mi != e[_EU_MSG]:
                if e[_EU_KNOWN] != groups:
                    return 0
                if e[_EU_PER] == 0:
                    return 1
                d = (cx[cx[_CX_CURB] + e[_EU_SLOT]] - _BIAS) * e[_EU_PER] - (e[_EU_TOTAL] - _BIAS)
                if d < 0:
                    d = 0 - d
                if cx[cx[_CX_ACTIVE] + k] != 0:
                    return int(d <= e[_EU_OFF] - _BIAS)
                return int(d > e[_EU_ON] - _BIAS or cx[cx[_CX_PEND] + k] != 0)
            lp = ptr32(lanes)
            g = lp[e[_EU_MUX_LANE]]
            if g < 0 or g >= groups:
                return 0
            per = e[_EU_PER_GROUP]
            step = 4 * e[_EU_SIGNAL_STEP]
            sbase = int(ptr32(sta))
            row = sbase + 4 * (e[_EU_FIRST_ROW] + e[_EU_GROUP_STEP] * g)
            ok = 1
            total = 0
            i = 0
            while i < per:
                w = ptr32(row)[0]
                rp = ptr32(sbase + 4 * (w >> 16))  # its bounds
                raw = lp[w & _LANE_MASK]
                b = raw + _BIAS
                if b < rp[_ROW_LO] or b > rp[_ROW_HI]:
                    ok = 0
                total += raw
                row += step
                i += 1
            a = e[_EU_RING] + g
            ring_t = ptr32(int(cx) + 4 * cx[_CX_RING_T])
            ring_v = ptr32(int(cx) + 4 * cx[_CX_RING_V])
            sums = e[_EU_TOTAL] - _BIAS
            if ring_t[a] != 0:
                sums -= ring_v[a]
            if ok != 0:
                ring_v[a] = total
                sums += total
                if ring_t[a] == 0:
                    ring_t[a] = 1
                    e[_EU_KNOWN] = e[_EU_KNOWN] + 1
            elif ring_t[a] != 0:
                ring_t[a] = 0
                e[_EU_KNOWN] = e[_EU_KNOWN] - 1
            e[_EU_TOTAL] = sums + _BIAS
            return 0

        @micropython.viper
        def _mean_v(cxa, k: int, m: int, t: int) -> int:
            # _mean_plain
            cx = ptr32(cxa)
            e = ptr32(int(cx) + 4 * m)
            ring_t = ptr32(int(cx) + 4 * (cx[_CX_RING_T] + e[_EM_RING]))
            ring_v = ptr32(int(cx) + 4 * (cx[_CX_RING_V] + e[_EM_RING]))
            size = e[_EM_SIZE]
            head = e[_EM_HEAD]
            filled = e[_EM_COUNT]
            total = e[_EM_TOTAL] - _BIAS
            s = e[_E_SLOT]
            if cx[cx[_CX_FRESH] + s] != 0:
                if filled == size:  # full: the oldest goes
                    total -= ring_v[head] - _BIAS
                    head += 1
                    if head == size:
                        head = 0
                    filled -= 1
                i = head + filled
                if i >= size:
                    i -= size
                ring_t[i] = t
                v = cx[cx[_CX_CURB] + s]
                ring_v[i] = v
                total += v - _BIAS
                filled += 1
            window = e[_EM_WINDOW]
            while filled != 0 and ((t - ring_t[head]) & _MASK) >= window:
                total -= ring_v[head] - _BIAS
                head += 1
                if head == size:
                    head = 0
                filled -= 1
            e[_EM_HEAD] = head
            e[_EM_COUNT] = filled
            e[_EM_TOTAL] = total + _BIAS
            if filled == 0:
                return 0
            on = cx[cx[_CX_ACTIVE] + k]
            if on != 0:
                q = e[_EM_Q_OFF] - _BIAS
                r = e[_EM_R_OFF]
            else:
                q = e[_EM_Q_ON] - _BIAS
                r = e[_EM_R_ON]
            d = total - filled * q
            above = 0
            if d >= size:
                above = 1
            elif d >= 0 and 1000 * d > filled * r:
                above = 1
            if on != 0:
                return int(above == 0)
            return above

        @micropython.viper
        def _frame_v(self, frame_no, t: int, result: int, can_id, ext, data, n: int, lanes, selected) -> bool:
            # Supervisor.frame with the checks of _checks_plain inline (they run on every frame:
            # a call would cost as much as they do)
            sta = self.st
            st = ptr32(sta)
            if st[_STARTED] == 0:
                self._start(t)
            if result < 0:
                # another ECU's frame (most of a busy bus) in order: _failed's clock and
                # timeout scan here, no bytecode call unless a timeout is due
                if result == _ERR_UNKNOWN_ID and ((t - st[_LATEST]) & _MASK) < _HALF:
                    st[_LATEST] = t
                    if ((t - st[_SCAN_AT]) & _MASK) >= st[_SCAN_US]:
                        if int(_due_v(sta, st[_NM], t)) >= 0:
                            self.tick(t, frame_no)
                        else:
                            st[_SCAN_AT] = t
                    return False
                self._failed(frame_no, t, result, can_id, ext)
                return False
            lp = ptr32(lanes)
            base = int(st)
            ma = base + 4 * (_MSG + _MW * result)
            ms = ptr32(ma)  # the message's entry
            ret = 0
            if ms[_OPEN] != 0:
                ret = _R_OPEN
            if ((t - st[_LATEST]) & _MASK) >= _HALF:
                ret |= _F_OUT_OF_ORDER
            else:
                st[_LATEST] = t
                if st[_TOW_US] != 0 and ((t - st[_TOW_AT]) & _MASK) >= st[_TOW_US]:
                    st[_TOW_AT] = t
                    ret |= _R_TOW
                if ((t - st[_SCAN_AT]) & _MASK) >= st[_SCAN_US]:
                    st[_SCAN_AT] = t
                    o = base + 4 * _MSG
                    end = o + 4 * _MW * st[_NM]
                    while o < end:
                        op = ptr32(o)
                        if o != ma and op[_TIMED_OUT] == 0:
                            since = (t - op[_RX]) & _MASK
                            if since > op[_LIMIT] and since < _HALF:
                                ret |= _R_SCAN
                                break
                        o += 4 * _MW
            last = ms[_RX]
            st[_OLD_RX] = last
            since = (t - last) & _MASK
            if since < _HALF:
                if ms[_TIMED_OUT] != 0:
                    ret |= _R_BACK
                elif since > ms[_LIMIT]:
                    ret |= _R_LATE
                ms[_RX] = t
            lane = ms[_CTR_LANE]
            if lane != 0:
                dp = ptr8(data)
                crc8 = ptr8(_CRC8)
                crc = 0xFF
                i = 0
                while i < n - 1:
                    crc = crc8[crc ^ dp[i]]
                    i += 1
                if (crc ^ 0xFF) != lp[ms[_CRC_LANE]]:
                    ret |= _F_CRC
                else:
                    counter = lp[lane - 1]
                    last = ms[_LAST_CTR]
                    ms[_LAST_CTR] = counter
                    if last != _NO_CTR:
                        delta = (counter - last) & ms[_CTR_MASK]
                        if delta == 0:
                            ret |= _F_REPEATED
                        elif delta > st[_MAX_DELTA]:
                            ret |= _F_JUMP
            if (ret & (_F_CRC | _F_REPEATED)) == 0:
                sp = ptr16(selected)
                rows = base + 4 * (st[_ROWS] + _RW * ms[_SIG_START])
                nsel = int(sp[0])
                k = 1
                while k <= nsel:
                    w = ptr32(rows + 4 * _RW * int(sp[k]))[0]
                    row = ptr32(base + 4 * (w >> 16))  # its bounds
                    bits = row[_ROW_BITS]
                    if bits != _SKIP:
                        v = lp[w & _LANE_MASK]
                        if bits != 0:
                            v = v & ((1 << bits) - 1)
                            v = v - ((v >> (bits - 1)) << bits)
                        b = v + _BIAS
                        if (b < row[_ROW_LO] or b > row[_ROW_HI]) and b != row[_ROW_NA]:
                            ret |= _R_RANGE
                            break
                    k += 1

            if ret != 0:
                if not self._flagged(frame_no, t, result, lanes, selected, ret):
                    return False
            if ms[_COND] == 0:
                return True
            todo = int(_slots_v(self.cx, lanes, sta, result, t))
            if todo != 0:
                self._conditions(frame_no, t, result, lanes, todo)
            return True

        @micropython.viper
        def _due_v(st: ptr32, n: int, t: int) -> int:
            o = int(st) + 4 * _MSG
            i = 0
            while i < n:
                op = ptr32(o)
                if op[_TIMED_OUT] == 0:
                    since = (t - op[_RX]) & _MASK
                    if since > op[_LIMIT] and since < _HALF:
                        return i
                o += 4 * _MW
                i += 1
            return -1

        @micropython.viper
        def _other_v(sta, t: int) -> int:
            # _other_plain
            st = ptr32(sta)
            if st[_STARTED] == 0 or ((t - st[_LATEST]) & _MASK) >= _HALF:
                return 0
            if ((t - st[_SCAN_AT]) & _MASK) >= st[_SCAN_US]:
                return 0
            st[_LATEST] = t
            return 1

        # the bytecode frame is supervise_plain's, put in by the host only
        Supervisor.frame = _frame_v  # type: ignore[attr-defined]
        other = _other_v
        _due = _due_v
    except (ImportError, AttributeError):
        pass
