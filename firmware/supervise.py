# Signal supervision between decode and link: timeouts, E2E counters and CRCs, ranges,
# and the towing/battery conditions, all driven by the rule tables that
# host_tools/supervise.py generates from the DBC and the config (module supervise_rules).
# Plain Python for MicroPython and CPython alike: the host's reference runs this file; on
# the board Supervisor.frame is its viper twin (_frame_v, at the end).
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

import e2e

_CRC8 = e2e._TABLE  # CRC-8 J1850 lookup, 256 bytes: the one implementation of docs/dbc.md's CRC

# Alert kinds: code = index + 1 when raised, | CLEARED when it ends. The host mirrors this
# table by loading this file.
KINDS = (
    "timeout", "dlc", "crc", "counter_repeated", "counter_jump", "range", "out_of_order",
    "tongue_overload", "trailer_disconnected_moving", "cell_spread", "overtemperature",
    "soc_low_for_tow", "sensor_fault", "drawbar_overload", "pack_current_beyond_limits",
    "trailer_sway", "pack_voltage_vs_cells", "hitch_status_vs_load", "soc_vs_bms_state",
)
SEVERITY = (2, 2, 2, 2, 1, 1, 1, 2, 3, 2, 3, 2, 2, 3, 2, 3, 2, 2, 2)  # 1 info, 2 warning, 3 critical
# the ALERT's text, as bytes: link.Writer packs bytes without encoding (no allocation)
KIND_TEXT = tuple(k.encode() for k in KINDS)
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
_RUN_KINDS = const(7)  # kinds 1..7 have a run slot per message (1 and 6 unused)
_RANGE_OPEN = const(0x80)  # in a message's _OPEN: some range run of it is open

# rule types (supervise_rules.RULES rows: kind, type, mi, si, p0..p5)
T_STATUS = const(1)  # p0 lane, p1/p2 the fine raw values: alert when neither
T_ABOVE = const(2)  # p0 slot, on raw >= p1, off raw <= p2
T_SPREAD = const(3)  # p0 slot a, p1 slot b, on a-b >= p2, off a-b <= p3
T_MEAN = const(4)  # p0 slot, p1 window us, on 1000*sum > n*p2, off 1000*sum <= n*p3, p4 ring at, p5 size
T_EDGE = const(5)  # p0 slot, p1 from, p2 to; p3 speed slot >= p4: on; off when raw == p1
T_LOW_WHILE = const(6)  # p0 slot <= p1: on while slot p3 == p4; off when >= p2 or slot p3 != p4
T_OUTSIDE = const(7)  # p0 slot, on raw >= p1 or raw <= p2, off p3 <= raw <= p4
T_LIMITS = const(8)  # p0 slot, limits: p1 slot (upper), p2 slot (lower, a magnitude), both
# times p3 in p0's raw units; on raw > p3*up + p4 or raw < -(p3*lo + p4), off within p5
T_SWAY = const(9)  # p0 slot; turning points in _slots (band in cx); a half cycle counts when its
# peak-to-peak >= p1 and p3 <= its µs <= p4; on after p5 in a row; off below p2 or out of band,
# or no turning point for p4 µs
T_SUM = const(10)  # p0 slot vs the sum of a multiplexed message's signals (_slots keeps it per
# group): on |p1*raw - sum| > p2, off <= p3
T_BAND = const(11)  # p0 slot, p1 state slot; then (state, lo, hi) triples: on raw < lo or raw > hi
# for the state's triple, off inside it (or a state without one)
# Debounce (supervise_rules.DEBOUNCE, per rule): raised after that many evaluations in a row
# find the on-condition (not for T_MEAN, T_EDGE, T_SWAY: their window, edge or half cycles are
# theirs)

_MASK = const(0x3FFFFFFF)  # replay times are µs mod 2**30
_HALF = const(0x20000000)
_ERR_UNKNOWN_ID = const(-1)
_ERR_LENGTH = const(-2)


# The state and tables every frame touches live in one int32 array `st`, so the checks of
# a decoded frame (_fast) run in viper on the board, inline in _frame_v, with a plain twin
# (_fast_plain) that CPython (the host's reference) runs; the e2e tests and
# tests/firmware/test_supervise_twins.py hold the board's alerts to the reference's.
_STARTED = const(0)  # 1 once the first frame has started the clocks
_COUNT = const(1)  # frames seen, mod 2**30: a range run stamped with it was flagged on this frame
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
_LAST_CTR = const(3)  # -1: none yet
_CTR_LANE = const(4)  # -1: unprotected
_CRC_LANE = const(5)
_CTR_MASK = const(6)
_OPEN = const(7)  # open runs: bit (kind - 1), _RANGE_OPEN
_SIG_START = const(8)  # first signal row
_COND = const(9)  # 1: feeds some condition
# _fast results beyond the frame-check flags; 0: nothing for bytecode to do
_R_SCAN = const(0x100)  # a timeout scan is due
_R_RANGE = const(0x200)  # some signal out of range
_R_BACK = const(0x400)  # the message had timed out: it is back
_R_LATE = const(0x800)  # its frame came later than its timeout: raise and clear at once
_R_TOW = const(0x1000)  # a towing range sample is due
_R_OPEN = const(0x2000)  # the message has open runs: this frame may end them
# Signal rows (rules.SIG_TAB): lane, sign bits (the signal's length if signed, 0 unsigned,
# _SKIP: not checked), raw min, max and n/a code each + _BIAS. Viper loads an int32 with
# zero extension on 64-bit ports, so st holds no negative number and signed raw values
# are sign-extended from their own length, as the decoder does.
_RW = const(5)
_BIAS = const(0x20000000)
_SKIP = const(0xFF)
_NO_CTR = const(0x3FFFFFFF)


def _fast_plain(st, t, mi, n, lanes, data, sel):
    # the checks of a decoded frame of message mi (n payload bytes): its flags and _R_ bits
    m = _MSG + _MW * mi
    ret = _R_OPEN if st[m + _OPEN] else 0
    if (t - st[_LATEST]) & _MASK >= _HALF:
        ret |= _F_OUT_OF_ORDER
    else:
        st[_LATEST] = t
        if st[_TOW_US] and (t - st[_TOW_AT]) & _MASK >= st[_TOW_US]:
            st[_TOW_AT] = t
            ret |= _R_TOW
        if (t - st[_SCAN_AT]) & _MASK >= st[_SCAN_US]:
            # the scan: Supervisor.tick only when some other message is due (this one's
            # frame is here: it is not)
            st[_SCAN_AT] = t
            for i in range(st[_NM]):
                o = _MSG + _MW * i
                if i != mi and not st[o + _TIMED_OUT] and st[o + _LIMIT] < (t - st[o + _RX]) & _MASK < _HALF:
                    ret |= _R_SCAN
                    break
    last = st[m + _RX]
    st[_OLD_RX] = last
    since = (t - last) & _MASK
    if since < _HALF:
        if st[m + _TIMED_OUT]:
            ret |= _R_BACK
        elif since > st[m + _LIMIT]:
            ret |= _R_LATE
        st[m + _RX] = t
    lane = st[m + _CTR_LANE]
    if lane:
        crc = 0xFF
        for i in range(n - 1):
            crc = _CRC8[crc ^ data[i]]
        if crc ^ 0xFF != lanes[st[m + _CRC_LANE]]:
            return ret | _F_CRC
        counter = lanes[lane - 1]
        last = st[m + _LAST_CTR]
        st[m + _LAST_CTR] = counter
        if last != _NO_CTR:
            delta = (counter - last) & st[m + _CTR_MASK]
            if delta == 0:
                return ret | _F_REPEATED
            if delta > st[_MAX_DELTA]:
                ret |= _F_JUMP
    rows = st[_ROWS] + _RW * st[m + _SIG_START]
    for k in range(1, sel[0] + 1):
        if _out_of_range(st, rows + _RW * sel[k], lanes):
            return ret | _R_RANGE
    return ret


def _raw(st, row, lanes):
    # a signal's raw value from its lane, sign-extended from its own length
    v = lanes[st[row]]
    bits = st[row + 1]
    if bits and bits != _SKIP:
        v &= (1 << bits) - 1
        v -= (v >> (bits - 1)) << bits
    return v


def _in_range(st, row, v):
    b = v + _BIAS
    return st[row + 2] <= b <= st[row + 3]


def _out_of_range(st, row, lanes):
    # out of [min|max] and not the signal's n/a code
    if st[row + 1] == _SKIP:
        return False
    v = _raw(st, row, lanes)
    return not _in_range(st, row, v) and v + _BIAS != st[row + 4]


def _due_plain(st, n, t):
    # first message not yet timed out whose last frame is older than its limit, else -1
    for i in range(n):
        m = _MSG + _MW * i
        if not st[m + _TIMED_OUT]:
            since = (t - st[m + _RX]) & _MASK
            if st[m + _LIMIT] < since < _HALF:
                return i
    return -1


_due = _due_plain


# The conditions' int32 array (Supervisor.cx) that _slots works on (the conditions' per-frame
# part: _slots_plain, inline in _frame_v on the board): a header, then per message its slots and
# trigger pairs, then per tracked signal (slot) its row in st, last usable value, the one
# before, how many usable values were seen (capped at 2), whether this frame set it, its
# version (bumped when the value or its known-ness changes); per rule its inputs' versions
# when last evaluated and its input slots + 1 (0: evaluate on every trigger).
_CX_CUR = const(0)  # header: where each part starts
_CX_PREV = const(1)
_CX_KNOWN = const(2)
_CX_FRESH = const(3)
_CX_VER = const(4)
_CX_ROW = const(5)
_CX_MEMO = const(6)
_CX_DEP = const(7)
_CX_CURB = const(8)  # the last usable value + _BIAS (what viper compares)
_CX_MEAN = const(9)  # per rule, _MNW ints: how _slots tests it, and its state there
_CX_ACTIVE = const(10)  # per rule: raised
_CX_PEND = const(11)  # per rule: evaluations in a row that found it on (its debounce counts)
_CX_MSG = const(12)  # per message, _CXW ints: slots at, how many, trigger pairs at, how many,
_CXW = const(8)  # gate-rule pairs (rule, lane) at, how many, gate lane + 1 (0: none), gate value
_MAX_TODO = const(29)  # gate rules + trigger pairs per message: _slots returns one bit each
# Per rule, _MNW ints; the first says how _slots tests it. It sets the rule's bit (Supervisor
# ._rule runs it in bytecode) only when the rule will act: its state flips, or a debounce
# counts (then on every evaluation).
_MNW = const(16)
_MN_ALWAYS = const(0)  # no test here: the bit on every trigger (whose inputs moved, if it has any)
# A windowed mean (T_MEAN) runs in _slots when its sums cannot overflow a small int (the
# host decides, else _MN_ALWAYS: Supervisor._mean runs it): ring values and the total are
# stored + _BIAS, and `1000 * total > count * p` is tested as `1000 * (total - count * q) >
# count * r` with p = 1000 q + r (q stored + _BIAS). _MN_MEAN, slot, window us, q on, r on,
# q off, r off, ring at, size, head, count, total + _BIAS.
_MN_MEAN = const(1)
_MN_HEAD = const(9)
_MN_COUNT = const(10)
_MN_TOTAL = const(11)
# A level rule (T_ABOVE, T_OUTSIDE): _MN_LEVEL, slot, raised at value + _BIAS >= [2] or < [3],
# cleared within [4] .. [5]
_MN_LEVEL = const(2)
# T_SWAY: _MN_SWAY, slot, band, extreme + _BIAS, high + _BIAS, low + _BIAS, last turning
# point's time, longest half cycle, turned (1: this frame confirmed one), direction (0
# nothing seen, 1 rising, 2 falling, 3 not known yet), a turning point seen, its value + _BIAS.
# _slots sets the bit on a turning point, or when raised and none came for too long.
_MN_SWAY = const(3)
# T_SUM: _MN_SUM, multiplexer lane, st step from a group's rows to the next's, signals per
# group, group 0's first row in st, the summed message, groups, ring at (ring_v: group
# sums, ring_t: known), st step between a group's rows, groups known, -, sum + _BIAS, slot,
# p1 (0: not tested here, the bit on every evaluation), p2 + _BIAS, p3 + _BIAS. Evaluated on
# a frame of another message when all groups are known.
_MN_SUM = const(4)
# The tests of _MN_SPREAD (slot a, slot b, on + _BIAS, off + _BIAS), _MN_EDGE (slot, speed
# slot, from, to, speed + _BIAS) and _MN_LIMITS (slot, upper slot, lower slot, p3, p4 +
# _BIAS, p5 + _BIAS) are _rule's for T_SPREAD, T_EDGE, T_LIMITS; the host makes such a
# rule _MN_ALWAYS when its numbers could overflow a 32-bit board's int.
_MN_SPREAD = const(5)
_MN_EDGE = const(6)
_MN_LIMITS = const(7)


def _slots_plain(cx, lanes, st, mi, t, ring_t, ring_v):
    # returns bit j set when rule j of the message (its gate rules, then its trigger
    # pairs: Supervisor.todo_of) must be evaluated: a gate rule when its status changed;
    # then, if the gate is open, takes the frame's tracked values (those in range) and
    # sets the bit of a triggered rule when it will act (its entry's test, after its
    # inputs' versions moved if it has any)
    h = _CX_MSG + _CXW * mi
    memo = cx[_CX_MEMO]
    out = 0
    at = cx[h + 4]
    npre = cx[h + 5]
    for j in range(npre):
        k = cx[at + 2 * j]
        v = lanes[cx[at + 2 * j + 1]]
        if v != cx[memo + k]:
            cx[memo + k] = v
            out |= 1 << j
    gate = cx[h + 6]
    if gate and lanes[gate - 1] != cx[h + 7]:
        return out
    cur = cx[_CX_CUR]
    known = cx[_CX_KNOWN]
    fresh = cx[_CX_FRESH]
    ver = cx[_CX_VER]
    at = cx[h]
    for j in range(cx[h + 1]):
        s = cx[at + j]
        row = cx[cx[_CX_ROW] + s]
        raw = lanes[st[row]]
        bits = st[row + 1]
        if bits and bits != _SKIP:
            raw &= (1 << bits) - 1
            raw -= (raw >> (bits - 1)) << bits
        if bits == _SKIP or st[row + 2] <= raw + _BIAS <= st[row + 3]:
            if cx[known + s] < 2 or raw != cx[cur + s]:
                cx[ver + s] += 1
                if cx[known + s] < 2:
                    cx[known + s] += 1
            cx[cx[_CX_PREV] + s] = cx[cur + s]
            cx[cur + s] = raw
            cx[cx[_CX_CURB] + s] = raw + _BIAS
            cx[fresh + s] = 1
        else:
            cx[fresh + s] = 0
    dep = cx[_CX_DEP]
    at = cx[h + 2]
    for j in range(cx[h + 3]):
        k = cx[at + 2 * j]
        need = cx[at + 2 * j + 1]
        if need and not cx[fresh + need - 1]:
            continue
        a = cx[dep + 2 * k]
        if a:  # only when an input's version moved
            v = cx[ver + a - 1] + cx[ver + cx[dep + 2 * k + 1] - 1]
            if v == cx[memo + k]:
                continue
            cx[memo + k] = v
        m = cx[_CX_MEAN] + _MNW * k
        mk = cx[m]
        if mk == _MN_ALWAYS:
            run = True
        elif mk == _MN_MEAN:
            run = _mean_plain(cx, k, t, ring_t, ring_v)
        elif mk == _MN_SWAY:
            run = _sway_plain(cx, k, t)
        elif mk == _MN_SUM:
            run = _sum_plain(cx, lanes, st, k, mi, ring_t, ring_v)
        else:
            run = _acts(cx, k, m, mk)
        if run:
            out |= 1 << (npre + j)
    return out


def _acts(cx, k, m, mk):
    # _MN_LEVEL, _MN_SPREAD, _MN_EDGE, _MN_LIMITS: True when _rule evaluates the rule on this
    # frame and finds its state flips (the off-condition when raised, else the on-condition)
    # or its debounce counts
    curb = cx[_CX_CURB]
    active = cx[cx[_CX_ACTIVE] + k]
    pend = cx[cx[_CX_PEND] + k]
    if mk == _MN_LEVEL:
        b = cx[curb + cx[m + 1]]
        if active:
            return cx[m + 4] <= b <= cx[m + 5]
        return b >= cx[m + 2] or b < cx[m + 3] or pend > 0
    if mk == _MN_SPREAD:
        fresh = cx[_CX_FRESH]
        a = cx[m + 1]
        b = cx[m + 2]
        if not (cx[fresh + a] and cx[fresh + b]):
            return False
        d = cx[curb + a] - cx[curb + b]
        if active:
            return d <= cx[m + 4] - _BIAS
        return d >= cx[m + 3] - _BIAS or pend > 0
    if mk == _MN_EDGE:  # no debounce: an edge is one frame
        s = cx[m + 1]
        if not cx[cx[_CX_FRESH] + s]:
            return False
        v = cx[cx[_CX_CUR] + s]
        if active:
            return v == cx[m + 3]
        return (v == cx[m + 4] and cx[cx[_CX_KNOWN] + s] == 2 and cx[cx[_CX_PREV] + s] == cx[m + 3]
                and cx[curb + cx[m + 2]] >= cx[m + 5])
    known = cx[_CX_KNOWN]  # _MN_LIMITS
    s = cx[m + 1]
    u = cx[m + 2]
    lo_slot = cx[m + 3]
    if not (cx[known + s] and cx[known + u] and cx[known + lo_slot]):
        return False
    v = cx[curb + s] - _BIAS
    up = cx[m + 4] * (cx[curb + u] - _BIAS)
    lo = -cx[m + 4] * (cx[curb + lo_slot] - _BIAS)
    if active:
        margin = cx[m + 6] - _BIAS
        return lo - margin <= v <= up + margin
    margin = cx[m + 5] - _BIAS
    return v > up + margin or v < lo - margin or pend > 0


def _sway_plain(cx, k, t):
    # the frame's value against the last extreme: a turning point when it has come back by
    # the band (docs/supervision.md, trailer_sway)
    m = cx[_CX_MEAN] + _MNW * k
    v = cx[cx[_CX_CURB] + cx[m + 1]]
    band = cx[m + 2]
    code = cx[m + 9]
    turn = -1
    if code == 0:
        cx[m + 4] = v
        cx[m + 5] = v
        cx[m + 9] = 3
    elif code == 3:
        if v > cx[m + 4]:
            cx[m + 4] = v
        if v < cx[m + 5]:
            cx[m + 5] = v
        if v <= cx[m + 4] - band:
            turn = cx[m + 4]
            cx[m + 9] = 2
            cx[m + 3] = v
        elif v >= cx[m + 5] + band:
            turn = cx[m + 5]
            cx[m + 9] = 1
            cx[m + 3] = v
    elif code == 1:
        if v > cx[m + 3]:
            cx[m + 3] = v
        elif v <= cx[m + 3] - band:
            turn = cx[m + 3]
            cx[m + 9] = 2
            cx[m + 3] = v
    else:
        if v < cx[m + 3]:
            cx[m + 3] = v
        elif v >= cx[m + 3] + band:
            turn = cx[m + 3]
            cx[m + 9] = 1
            cx[m + 3] = v
    if turn >= 0:
        cx[m + 11] = turn
        cx[m + 8] = 1
        return True
    return bool(cx[cx[_CX_ACTIVE] + k] and cx[m + 10] and (t - cx[m + 6]) & _MASK > cx[m + 7])


def _sum_plain(cx, lanes, st, k, mi, ring_t, ring_v):
    # a frame of the summed message: its group's sum replaces the group's last one (a value
    # out of range makes the group unknown); a frame of another, once all groups are known,
    # is an evaluation: True when T_SUM's test flips or its debounce counts (or it is not
    # tested here)
    m = cx[_CX_MEAN] + _MNW * k
    groups = cx[m + 6]
    if mi != cx[m + 5]:
        if cx[m + 9] != groups:
            return False
        if not cx[m + 13]:
            return True
        d = (cx[cx[_CX_CURB] + cx[m + 12]] - _BIAS) * cx[m + 13] - (cx[m + 11] - _BIAS)
        if d < 0:
            d = -d
        if cx[cx[_CX_ACTIVE] + k]:
            return d <= cx[m + 15] - _BIAS
        return d > cx[m + 14] - _BIAS or cx[cx[_CX_PEND] + k] > 0
    g = lanes[cx[m + 1]]
    if g < 0 or g >= groups:
        return False
    row = cx[m + 4] + cx[m + 2] * g
    ok = True
    total = 0
    for j in range(cx[m + 3]):
        raw = lanes[st[row]]
        b = raw + _BIAS
        if b < st[row + 2] or b > st[row + 3]:
            ok = False
        total += raw
        row += cx[m + 8]
    at = cx[m + 7] + g
    sums = cx[m + 11] - _BIAS
    if ring_t[at]:
        sums -= ring_v[at]
    if ok:
        ring_v[at] = total
        sums += total
        if not ring_t[at]:
            ring_t[at] = 1
            cx[m + 9] += 1
    elif ring_t[at]:
        ring_t[at] = 0
        cx[m + 9] -= 1
    cx[m + 11] = sums + _BIAS
    return False


def _mean_plain(cx, k, t, ring_t, ring_v):
    # a windowed mean's step: True when its state flips
    m = cx[_CX_MEAN] + _MNW * k
    size = cx[m + 8]
    at = cx[m + 7]
    head = cx[m + _MN_HEAD]
    count = cx[m + _MN_COUNT]
    total = cx[m + _MN_TOTAL] - _BIAS
    s = cx[m + 1]
    if cx[cx[_CX_FRESH] + s]:
        if count == size:  # full: the oldest goes
            total -= ring_v[at + head] - _BIAS
            head += 1
            if head == size:
                head = 0
            count -= 1
        i = head + count
        if i >= size:
            i -= size
        ring_t[at + i] = t
        v = cx[cx[_CX_CURB] + s]
        ring_v[at + i] = v
        total += v - _BIAS
        count += 1
    window = cx[m + 2]
    while count and (t - ring_t[at + head]) & _MASK >= window:
        total -= ring_v[at + head] - _BIAS
        head += 1
        if head == size:
            head = 0
        count -= 1
    cx[m + _MN_HEAD] = head
    cx[m + _MN_COUNT] = count
    cx[m + _MN_TOTAL] = total + _BIAS
    if not count:
        return False
    active = cx[cx[_CX_ACTIVE] + k]
    q = cx[m + 5 if active else m + 3] - _BIAS
    d = total - count * q
    above = d >= size or (d >= 0 and 1000 * d > count * cx[m + 6 if active else m + 4])
    return not above if active else above


class Supervisor:
    def __init__(self, rules, lookup, emit, tow_range=None):
        self.r = rules
        self.lookup = lookup  # (can_id, ext) -> message index or -1
        self.emit = emit
        # tow_range(frame_no, range_dkm, wh_per_km, window_m): the towing range estimate,
        # once a second (docs/supervision.md); rules.TOW_RANGE () or no callback: none
        self.tow = getattr(rules, "TOW_RANGE", ()) if tow_range is not None else ()  # type: tuple
        self.tow_emit = tow_range
        n = self.tow[5] if self.tow else 1
        self.tow_e = array("i", bytes(4 * n))  # per sample: energy (W s), distance (cm)
        self.tow_d = array("i", bytes(4 * n))
        self.tow_st = array("i", bytes(4 * 4))  # head, count, sum of energy, sum of distance
        nm = len(rules.TIMEOUT_US)
        # the int32 tables: in the module (the host's reference), or on the board in a file
        # read straight into the arrays, so its RAM never holds them twice
        sig = getattr(rules, "SIG_TAB", None)
        sig_bytes = rules.SIG_TAB_BYTES if sig is None else len(sig)
        nrows = sig_bytes // (4 * _RW)
        ns = len(rules.SLOT_LANE)
        nr = len(rules.RULES)
        self.n_messages = nm
        self.rows = _MSG + _MW * nm
        self.st = array("i", bytes(4 * self.rows + sig_bytes))
        if sig is None:
            cx = array("i", bytes(rules.CX_BYTES))
            where = getattr(rules, "__file__", "")
            with open(where[:where.rfind("/") + 1] + rules.TABLES, "rb") as f:  # beside the module
                if f.readinto(memoryview(self.st)[self.rows:]) != sig_bytes or f.readinto(cx) != rules.CX_BYTES:
                    raise ValueError(rules.TABLES + ": too short, run `mule flash` again")
        else:
            cx = array("i", rules.CX)
            self.st[self.rows:] = array("i", sig)
        self.runs = array("i", bytes(4 * nm * _RUN_KINDS))  # flagged frames in the open run
        self.run_last = array("I", bytes(4 * nm * _RUN_KINDS))  # frame number of the last one
        self.range_runs = array("i", bytes(4 * nrows))
        self.range_last = array("I", bytes(4 * nrows))
        self.range_stamp = array("i", bytes(4 * nrows))
        # the conditions' state lives in one int32 array too (cx), so the update of a
        # frame's tracked values and the choice of the rules to evaluate run in viper
        # (_slots); the names below are views of its parts
        self.cx = cx  # built by host_tools.supervise.build_tables
        mv = memoryview(cx)
        self.cur, self.prev, self.known, self.fresh, self.ver = (mv[cx[p]:cx[p] + ns] for p in range(_CX_VER + 1))
        self.memo = mv[cx[_CX_MEMO]:cx[_CX_MEMO] + nr]
        self.active = mv[cx[_CX_ACTIVE]:cx[_CX_ACTIVE] + nr]
        # per message: the rules _slots's bits stand for
        self.todo_of = tuple(tuple(rules.PRE_RULES[mi]) + tuple(rules.TRIGGERS[mi][j] for j in range(
            0, len(rules.TRIGGERS[mi]), 2)) for mi in range(nm))
        ring = rules.RING_SIZE
        self.ring_t = array("i", bytes(4 * ring))
        self.ring_v = array("i", bytes(4 * ring))
        self.ring_st = array("i", bytes(4 * 3 * nr))  # per rule: head, count, sum (T_SWAY: last turning value, half cycles in a row)
        self.pend = mv[cx[_CX_PEND]:cx[_CX_PEND] + nr]  # per rule: evaluations in a row that found it on (debounce)
        self.debounce = getattr(rules, "DEBOUNCE", None) or bytes(nr)
        self.alerts = 0
        self.reset()

    def reset(self):
        """Forget everything seen: a new log (a new link session) starts here."""
        for a in (self.runs, self.run_last, self.range_runs, self.range_last, self.range_stamp, self.cur,
                  self.prev, self.known, self.fresh, self.active, self.ring_st, self.ver, self.pend, self.ring_t):
            for i in range(len(a)):
                a[i] = 0
        for i in range(len(self.memo)):
            self.memo[i] = -1
        cx = self.cx
        for s in range(len(self.cur)):  # cur is 0: its biased copy too
            cx[cx[_CX_CURB] + s] = _BIAS
        for k in range(len(self.memo)):  # the state _slots keeps per rule (means, sums, sways): none
            m = cx[_CX_MEAN] + _MNW * k
            cx[m + _MN_HEAD] = 0
            cx[m + _MN_COUNT] = 0
            cx[m + _MN_TOTAL] = _BIAS
            if cx[m] == _MN_SWAY:
                cx[m + 8] = 0
        r = self.r
        st = self.st
        for i in range(_MSG):
            st[i] = 0
        st[_SCAN_US] = r.SCAN_US
        st[_TOW_US] = self.tow[6] if self.tow else 0
        for a in (self.tow_e, self.tow_d, self.tow_st):
            for i in range(len(a)):
                a[i] = 0
        st[_MAX_DELTA] = r.MAX_COUNTER_DELTA
        st[_ROWS] = self.rows
        st[_NM] = self.n_messages
        for mi in range(self.n_messages):
            m = _MSG + _MW * mi
            st[m + _RX] = 0
            st[m + _LIMIT] = r.TIMEOUT_US[mi]
            st[m + _TIMED_OUT] = 0
            st[m + _LAST_CTR] = _NO_CTR
            st[m + _CTR_LANE] = r.COUNTER_LANE[mi] + 1  # 0: unprotected
            st[m + _CRC_LANE] = r.CRC_LANE[mi]
            st[m + _CTR_MASK] = r.COUNTER_MASK[mi]
            st[m + _OPEN] = 0
            st[m + _SIG_START] = r.SIG_START[mi]
            st[m + _COND] = 1 if r.PRE_RULES[mi] or r.SLOTS_OF[mi] or r.TRIGGERS[mi] else 0

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
        mi = _due(st, self.n_messages, t)
        while mi >= 0:
            m = _MSG + _MW * mi
            st[m + _TIMED_OUT] = 1
            self._send(frame_no, _TIMEOUT, 0, mi, -1, (st[m + _RX] + st[m + _LIMIT]) & _MASK)
            mi = _due(st, self.n_messages, t)

    def _start(self, t):
        st = self.st
        st[_STARTED] = 1
        st[_LATEST] = t
        st[_SCAN_AT] = t
        st[_TOW_AT] = t
        for mi in range(self.n_messages):  # the log's start counts as a frame of every id
            st[_MSG + _MW * mi + _RX] = t

    # ---- one frame -----------------------------------------------------------------------
    def frame(self, frame_no, t, result, can_id, ext, data, n, lanes, selected):
        """Check one received frame (result: the decoder's message index or error code).
        Returns True when its values are usable, False when they must not be trusted."""
        # the board runs _frame_v instead: keep the two in step
        st = self.st
        if not st[_STARTED]:
            self._start(t)
        st[_COUNT] = (st[_COUNT] + 1) & _MASK
        if result < 0:
            self._failed(frame_no, t, result, can_id, ext)
            return False
        ret = _fast_plain(st, t, result, n, lanes, data, selected)
        if ret and not self._flagged(frame_no, t, result, lanes, selected, ret):
            return False
        if st[_MSG + _MW * result + _COND]:
            todo = _slots_plain(self.cx, lanes, st, result, t, self.ring_t, self.ring_v)
            if todo:
                self._conditions(frame_no, t, result, lanes, todo)
        return True

    def _flagged(self, frame_no, t, mi, lanes, selected, ret):
        # what the checks found beyond a clean frame (ret: _fast's bits): a towing sample or
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
        at = mi * _RUN_KINDS
        st = self.st
        mask = st[_MSG + _MW * mi + _OPEN]
        for k in range(_RUN_KINDS):
            bit = 1 << k
            if flags & bit:
                if runs[at + k] == 0:
                    self._send(frame_no, k + 1, 0, mi, -1, 0)
                    mask |= bit
                runs[at + k] += 1
                self.run_last[at + k] = frame_no
            elif mask & bit:
                self._send(self.run_last[at + k], k + 1, 1, mi, -1, runs[at + k])
                runs[at + k] = 0
                mask &= ~bit
        st[_MSG + _MW * mi + _OPEN] = mask

    def _ranges(self, frame_no, mi, lanes, selected):
        base = self.r.SIG_START[mi]
        tab = self.st
        rows = self.rows
        runs = self.range_runs
        stamp = tab[_COUNT]
        flagged = False
        for k in range(1, selected[0] + 1):
            row = base + selected[k]
            if _out_of_range(tab, rows + _RW * row, lanes):
                raw = _raw(tab, rows + _RW * row, lanes)
                flagged = True
                if runs[row] == 0:
                    self._send(frame_no, _RANGE, 0, mi, selected[k], raw)
                runs[row] += 1
                self.range_last[row] = frame_no
                self.range_stamp[row] = stamp
        m = _MSG + _MW * mi + _OPEN
        if flagged:
            tab[m] |= _RANGE_OPEN
        if tab[m] & _RANGE_OPEN:
            self._close_ranges(frame_no, mi)

    def _close_ranges(self, frame_no, mi):
        r = self.r
        runs = self.range_runs
        base = r.SIG_START[mi]
        still = False
        for row in range(base, r.SIG_START[mi + 1]):
            if runs[row]:
                if self.range_stamp[row] == self.st[_COUNT]:
                    still = True
                else:
                    self._send(self.range_last[row], _RANGE, 1, mi, row - base, runs[row])
                    runs[row] = 0
        if not still:
            self.st[_MSG + _MW * mi + _OPEN] &= ~_RANGE_OPEN

    # ---- towing range ----------------------------------------------------------------------
    def _tow_sample(self, frame_no):
        # one second's energy and distance from the last usable values, into a window of
        # tow[5] samples; every product stays a small int on a 32-bit board
        tow = self.tow
        known = self.known
        cur = self.cur
        q = self.tow_st
        size = tow[5]
        if known[tow[0]] and known[tow[1]] and known[tow[2]] and known[tow[3]]:
            if q[1] == size:  # full: the oldest goes
                q[2] -= self.tow_e[q[0]]
                q[3] -= self.tow_d[q[0]]
                q[0] = (q[0] + 1) % size
                q[1] -= 1
            i = (q[0] + q[1]) % size
            e = cur[tow[1]] * cur[tow[2]] // tow[7]  # W, for one second: W s
            d = cur[tow[3]] * tow[8] // tow[9]  # cm
            self.tow_e[i] = e
            self.tow_d[i] = d
            q[1] += 1
            q[2] += e
            q[3] += d
        window_m = q[3] // 100
        wh_per_km = -1
        range_dkm = -1
        if window_m >= tow[10]:
            wh_per_km = q[2] * 5 // (18 * window_m)  # (E / 3600 Wh) / (m / 1000 km)
            if wh_per_km > 0 and known[tow[0]]:
                range_dkm = cur[tow[0]] * tow[4] * 10 // wh_per_km
            elif wh_per_km <= 0:
                wh_per_km = -1
        self.tow_emit(frame_no, range_dkm, wh_per_km, window_m)

    # ---- conditions --------------------------------------------------------------------------
    def _conditions(self, frame_no, t, mi, lanes, todo):
        # the rules _slots chose, in order: the gate rules, then the triggered ones
        rules = self.r.RULES
        todo_of = self.todo_of[mi]
        j = 0
        while todo:
            if todo & 1:
                k = todo_of[j]
                self._rule(frame_no, t, k, rules[k], lanes)
            todo >>= 1
            j += 1

    def _flip(self, frame_no, k, rule, value):
        # a condition's state changes: raised when it was off, cleared when it was on
        was = self.active[k]
        self.active[k] = 0 if was else 1
        self._send(frame_no, rule[0], was, rule[2], rule[3], value)

    def _step(self, frame_no, k, rule, hit, value):
        # hit: the off-condition when raised, else the on-condition; a debounced rule is
        # raised after debounce[k] evaluations in a row found it on
        need = self.debounce[k]
        if self.active[k] or need <= 1:
            if hit:
                self._flip(frame_no, k, rule, value)
            return
        pend = self.pend
        if hit:
            n = pend[k] + 1
            if n < need:
                # _slots sets its bit on every evaluation while this counts, even if its
                # inputs do not change (memo: they moved)
                pend[k] = n
                self.memo[k] = -1
                return
            self._flip(frame_no, k, rule, value)
        elif not pend[k]:
            return
        pend[k] = 0

    def _rule(self, frame_no, t, k, rule, lanes):
        typ = rule[1]
        cur = self.cur
        if typ == T_ABOVE:
            v = cur[rule[4]]
            self._step(frame_no, k, rule, (v <= rule[6]) if self.active[k] else (v >= rule[5]), v)
        elif typ == T_MEAN:
            cx = self.cx
            m = cx[_CX_MEAN] + _MNW * k
            if cx[m] == _MN_MEAN:  # _slots ran the window: its state flips
                self._flip(frame_no, k, rule, (cx[m + _MN_TOTAL] - _BIAS) // cx[m + _MN_COUNT])
            else:
                self._mean(frame_no, t, k, rule)
        elif typ == T_STATUS:
            v = lanes[rule[4]]
            fine = v == rule[5] or v == rule[6]
            self._step(frame_no, k, rule, (fine) if self.active[k] else (not fine), v)
        elif typ == T_SPREAD:
            a = rule[4]
            b = rule[5]
            if self.fresh[a] and self.fresh[b]:
                v = cur[a] - cur[b]
                self._step(frame_no, k, rule, (v <= rule[7]) if self.active[k] else (v >= rule[6]), v)
        elif typ == T_EDGE:
            s = rule[4]
            v = cur[s]
            on = (self.fresh[s] and v == rule[6] and self.known[s] == 2 and self.prev[s] == rule[5]
                  and cur[rule[7]] >= rule[8])
            if (self.fresh[s] and v == rule[5]) if self.active[k] else (on):
                self._flip(frame_no, k, rule, v)
        elif typ == T_LOW_WHILE:
            s = rule[4]
            c = rule[7]
            v = cur[s]
            while_ = self.known[c] and cur[c] == rule[8]
            on = self.known[s] and v <= rule[5] and while_
            off = not self.known[s] or v >= rule[6] or not while_
            self._step(frame_no, k, rule, (off) if self.active[k] else (on), v)
        elif typ == T_OUTSIDE:  # _flips holds the same test
            v = cur[rule[4]]
            self._step(frame_no, k, rule,
                       (rule[7] <= v <= rule[8]) if self.active[k] else (v >= rule[5] or v <= rule[6]), v)
        elif typ == T_SWAY:
            self._sway(frame_no, t, k, rule)
        elif typ == T_SUM:
            cx = self.cx
            d = cur[rule[4]] * rule[5] - (cx[cx[_CX_MEAN] + _MNW * k + _MN_TOTAL] - _BIAS)
            if d < 0:
                d = -d
            self._step(frame_no, k, rule, (d <= rule[7]) if self.active[k] else (d > rule[6]), d)
        elif typ == T_BAND:
            s = rule[4]
            c = rule[5]
            if self.fresh[s] and self.fresh[c]:
                v = cur[s]
                state = cur[c]
                out = False
                for i in range(6, len(rule), 3):
                    if rule[i] == state:
                        out = v < rule[i + 1] or v > rule[i + 2]
                        break
                self._step(frame_no, k, rule, (not out) if self.active[k] else out, v)
        elif typ == T_LIMITS:
            known = self.known
            s = rule[4]
            if known[s] and known[rule[5]] and known[rule[6]]:
                v = cur[s]
                up = rule[7] * cur[rule[5]]
                lo = -rule[7] * cur[rule[6]]
                if self.active[k]:
                    hit = lo - rule[9] <= v <= up + rule[9]
                else:
                    hit = v > up + rule[8] or v < lo - rule[8]
                self._step(frame_no, k, rule, hit, v)

    def _sway(self, frame_no, t, k, rule):
        # _slots found a turning point (cx: turned, its value) or a long quiet: count the
        # half cycles (docs/supervision.md, trailer_sway)
        cx = self.cx
        m = cx[_CX_MEAN] + _MNW * k
        rs = self.ring_st
        at = 3 * k
        if cx[m + 8]:
            cx[m + 8] = 0
            e = cx[m + 11] - _BIAS
            if cx[m + 10]:
                p2p = e - rs[at]
                if p2p < 0:
                    p2p = -p2p
                half = (t - cx[m + 6]) & _MASK
                in_band = rule[7] <= half <= rule[8]
                rs[at + 1] = rs[at + 1] + 1 if p2p >= rule[5] and in_band else 0
                if self.active[k]:
                    if p2p < rule[6] or not in_band:
                        self._flip(frame_no, k, rule, p2p)
                elif rs[at + 1] >= rule[9]:
                    self._flip(frame_no, k, rule, p2p)
            rs[at] = e
            cx[m + 6] = t
            cx[m + 10] = 1
        elif self.active[k] and cx[m + 10] and (t - cx[m + 6]) & _MASK > rule[8]:
            rs[at + 1] = 0
            self._flip(frame_no, k, rule, 0)

    def _mean(self, frame_no, t, k, rule):
        # mean over the window (t - window < t' <= t) in raw units, a preallocated ring
        st = self.ring_st
        at = 3 * k
        head = st[at]
        count = st[at + 1]
        total = st[at + 2]
        base = rule[8]
        size = rule[9]
        ring_t = self.ring_t
        ring_v = self.ring_v
        s = rule[4]
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
        window = rule[5]
        while count and (t - ring_t[base + head]) & _MASK >= window:
            total -= ring_v[base + head]
            head = (head + 1) % size
            count -= 1
        st[at] = head
        st[at + 1] = count
        st[at + 2] = total
        if count and ((1000 * total <= count * rule[7]) if self.active[k] else (1000 * total > count * rule[6])):
            self._flip(frame_no, k, rule, total // count)


# On the board: the viper twins. Supervisor.frame is one viper function with _fast_plain and
# _slots_plain inline, so a clean frame costs one Python-level call: MicroPython takes a
# bytecode function's frame from the heap, on every call, when its arguments, locals and
# stack need more than 11 words (Supervisor.frame's ten arguments alone nearly do), and
# each further call costs its argument conversions. Loads from an int32 array are
# zero-extended on 64-bit ports: what is compared by order is stored + _BIAS, what by
# equality is compared load with load.
if sys.implementation.name == "micropython":
    try:
        import micropython

        @micropython.viper
        def _frame_v(self, frame_no, t: int, result: int, can_id, ext, data, n: int, lanes, selected) -> bool:
            st = ptr32(self.st)
            if st[_STARTED] == 0:
                self._start(t)
            st[_COUNT] = (st[_COUNT] + 1) & _MASK
            if result < 0:
                self._failed(frame_no, t, result, can_id, ext)
                return False
            lp = ptr32(lanes)
            # ---- the frame checks: _fast_plain
            m = _MSG + _MW * result
            ret = 0
            if st[m + _OPEN] != 0:
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
                    o = _MSG
                    end = _MSG + _MW * st[_NM]
                    while o < end:
                        if o != m and st[o + _TIMED_OUT] == 0:
                            since = (t - st[o + _RX]) & _MASK
                            if since > st[o + _LIMIT] and since < _HALF:
                                ret |= _R_SCAN
                                break
                        o += _MW
            last = st[m + _RX]
            st[_OLD_RX] = last
            since = (t - last) & _MASK
            if since < _HALF:
                if st[m + _TIMED_OUT] != 0:
                    ret |= _R_BACK
                elif since > st[m + _LIMIT]:
                    ret |= _R_LATE
                st[m + _RX] = t
            lane = st[m + _CTR_LANE]
            if lane != 0:
                dp = ptr8(data)
                crc8 = ptr8(_CRC8)
                crc = 0xFF
                i = 0
                while i < n - 1:
                    crc = crc8[crc ^ dp[i]]
                    i += 1
                if (crc ^ 0xFF) != lp[st[m + _CRC_LANE]]:
                    ret |= _F_CRC
                else:
                    counter = lp[lane - 1]
                    last = st[m + _LAST_CTR]
                    st[m + _LAST_CTR] = counter
                    if last != _NO_CTR:
                        delta = (counter - last) & st[m + _CTR_MASK]
                        if delta == 0:
                            ret |= _F_REPEATED
                        elif delta > st[_MAX_DELTA]:
                            ret |= _F_JUMP
            if (ret & (_F_CRC | _F_REPEATED)) == 0:
                sp = ptr16(selected)
                rows = st[_ROWS] + _RW * st[m + _SIG_START]
                nsel = int(sp[0])
                k = 1
                while k <= nsel:
                    row = rows + _RW * int(sp[k])
                    bits = st[row + 1]
                    if bits != _SKIP:
                        v = lp[st[row]]
                        if bits != 0:
                            v = v & ((1 << bits) - 1)
                            v = v - ((v >> (bits - 1)) << bits)
                        b = v + _BIAS
                        if (b < st[row + 2] or b > st[row + 3]) and b != st[row + 4]:
                            ret |= _R_RANGE
                            break
                    k += 1
            if ret != 0:
                if not self._flagged(frame_no, t, result, lanes, selected, ret):
                    return False
            if st[m + _COND] == 0:
                return True
            # ---- the conditions: _slots_plain (its helpers inline: _acts, _mean_plain,
            # _sway_plain, _sum_plain)
            cx = ptr32(self.cx)
            h = _CX_MSG + _CXW * result
            memo = cx[_CX_MEMO]
            out = 0
            at = cx[h + 4]
            npre = cx[h + 5]
            j = 0
            while j < npre:
                k = cx[at + 2 * j]
                v = lp[cx[at + 2 * j + 1]]
                if v != cx[memo + k]:
                    cx[memo + k] = v
                    out |= 1 << j
                j += 1
            gate = cx[h + 6]
            if gate == 0 or lp[gate - 1] == cx[h + 7]:
                cur = cx[_CX_CUR]
                known = cx[_CX_KNOWN]
                fresh = cx[_CX_FRESH]
                ver = cx[_CX_VER]
                curb = cx[_CX_CURB]
                rows = cx[_CX_ROW]
                prev = cx[_CX_PREV]
                at = cx[h]
                count = cx[h + 1]
                j = 0
                while j < count:
                    s = cx[at + j]
                    row = cx[rows + s]
                    raw = lp[st[row]]
                    c = cx[cur + s]
                    bits = st[row + 1]
                    ok = 1
                    if bits != _SKIP:
                        if bits != 0:
                            raw = raw & ((1 << bits) - 1)
                            raw = raw - ((raw >> (bits - 1)) << bits)
                            c = c & ((1 << bits) - 1)
                            c = c - ((c >> (bits - 1)) << bits)
                        b = raw + _BIAS
                        if b < st[row + 2] or b > st[row + 3]:
                            ok = 0
                    if ok != 0:
                        if cx[known + s] < 2 or raw != c:
                            cx[ver + s] = cx[ver + s] + 1
                            if cx[known + s] < 2:
                                cx[known + s] = cx[known + s] + 1
                        cx[prev + s] = cx[cur + s]
                        cx[cur + s] = raw
                        cx[curb + s] = raw + _BIAS
                        cx[fresh + s] = 1
                    else:
                        cx[fresh + s] = 0
                    j += 1
                dep = cx[_CX_DEP]
                active = cx[_CX_ACTIVE]
                pend = cx[_CX_PEND]
                entries = cx[_CX_MEAN]
                at = cx[h + 2]
                count = cx[h + 3]
                j = 0
                while j < count:
                    k = cx[at + 2 * j]
                    need = cx[at + 2 * j + 1]
                    go = 1
                    if need != 0 and cx[fresh + need - 1] == 0:
                        go = 0
                    a = cx[dep + 2 * k]
                    if go != 0 and a != 0:  # only when an input's version moved
                        v = cx[ver + a - 1] + cx[ver + cx[dep + 2 * k + 1] - 1]
                        if v == cx[memo + k]:
                            go = 0
                        else:
                            cx[memo + k] = v
                    if go != 0:
                        m = entries + _MNW * k
                        mk = cx[m]
                        on = cx[active + k]
                        run = 0
                        if mk == _MN_ALWAYS:
                            run = 1
                        elif mk == _MN_LEVEL:  # _acts
                            b = cx[curb + cx[m + 1]]
                            if on != 0:
                                if b >= cx[m + 4] and b <= cx[m + 5]:
                                    run = 1
                            elif b >= cx[m + 2] or b < cx[m + 3] or cx[pend + k] != 0:
                                run = 1
                        elif mk == _MN_SPREAD:  # _acts
                            a = cx[m + 1]
                            b = cx[m + 2]
                            if cx[fresh + a] != 0 and cx[fresh + b] != 0:
                                d = cx[curb + a] - cx[curb + b]
                                if on != 0:
                                    if d <= cx[m + 4] - _BIAS:
                                        run = 1
                                elif d >= cx[m + 3] - _BIAS or cx[pend + k] != 0:
                                    run = 1
                        elif mk == _MN_EDGE:  # _acts
                            s = cx[m + 1]
                            if cx[fresh + s] != 0:
                                if on != 0:
                                    if cx[cur + s] == cx[m + 3]:
                                        run = 1
                                elif (cx[cur + s] == cx[m + 4] and cx[known + s] == 2
                                      and cx[prev + s] == cx[m + 3] and cx[curb + cx[m + 2]] >= cx[m + 5]):
                                    run = 1
                        elif mk == _MN_LIMITS:  # _acts
                            s = cx[m + 1]
                            a = cx[m + 2]
                            b = cx[m + 3]
                            if cx[known + s] != 0 and cx[known + a] != 0 and cx[known + b] != 0:
                                v = cx[curb + s] - _BIAS
                                up = cx[m + 4] * (cx[curb + a] - _BIAS)
                                lo = 0 - cx[m + 4] * (cx[curb + b] - _BIAS)
                                if on != 0:
                                    d = cx[m + 6] - _BIAS
                                    if lo - d <= v and v <= up + d:
                                        run = 1
                                else:
                                    d = cx[m + 5] - _BIAS
                                    if v > up + d or v < lo - d or cx[pend + k] != 0:
                                        run = 1
                        elif mk == _MN_SWAY:  # _sway_plain
                            v = cx[curb + cx[m + 1]]
                            band = cx[m + 2]
                            code = cx[m + 9]
                            turned = 0
                            turn = 0
                            if code == 0:
                                cx[m + 4] = v
                                cx[m + 5] = v
                                cx[m + 9] = 3
                            elif code == 3:
                                if v > cx[m + 4]:
                                    cx[m + 4] = v
                                if v < cx[m + 5]:
                                    cx[m + 5] = v
                                if v <= cx[m + 4] - band:
                                    turn = cx[m + 4]
                                    turned = 1
                                    cx[m + 9] = 2
                                    cx[m + 3] = v
                                elif v >= cx[m + 5] + band:
                                    turn = cx[m + 5]
                                    turned = 1
                                    cx[m + 9] = 1
                                    cx[m + 3] = v
                            elif code == 1:
                                if v > cx[m + 3]:
                                    cx[m + 3] = v
                                elif v <= cx[m + 3] - band:
                                    turn = cx[m + 3]
                                    turned = 1
                                    cx[m + 9] = 2
                                    cx[m + 3] = v
                            else:
                                if v < cx[m + 3]:
                                    cx[m + 3] = v
                                elif v >= cx[m + 3] + band:
                                    turn = cx[m + 3]
                                    turned = 1
                                    cx[m + 9] = 1
                                    cx[m + 3] = v
                            if turned != 0:
                                cx[m + 11] = turn
                                cx[m + 8] = 1
                                run = 1
                            elif on != 0 and cx[m + 10] != 0 and ((t - cx[m + 6]) & _MASK) > cx[m + 7]:
                                run = 1
                        elif mk == _MN_SUM:  # _sum_plain
                            groups = cx[m + 6]
                            if result != cx[m + 5]:
                                if cx[m + 9] == groups:
                                    if cx[m + 13] == 0:
                                        run = 1
                                    else:
                                        d = (cx[curb + cx[m + 12]] - _BIAS) * cx[m + 13] - (cx[m + 11] - _BIAS)
                                        if d < 0:
                                            d = 0 - d
                                        if on != 0:
                                            if d <= cx[m + 15] - _BIAS:
                                                run = 1
                                        elif d > cx[m + 14] - _BIAS or cx[pend + k] != 0:
                                            run = 1
                            else:
                                g = lp[cx[m + 1]]
                                if g >= 0 and g < groups:
                                    ring_t = ptr32(self.ring_t)
                                    ring_v = ptr32(self.ring_v)
                                    per = cx[m + 3]
                                    row = cx[m + 4] + cx[m + 2] * g
                                    ok = 1
                                    total = 0
                                    i = 0
                                    while i < per:
                                        raw = lp[st[row]]
                                        b = raw + _BIAS
                                        if b < st[row + 2] or b > st[row + 3]:
                                            ok = 0
                                        total += raw
                                        row += cx[m + 8]
                                        i += 1
                                    a = cx[m + 7] + g
                                    sums = cx[m + 11] - _BIAS
                                    if ring_t[a] != 0:
                                        sums -= ring_v[a]
                                    if ok != 0:
                                        ring_v[a] = total
                                        sums += total
                                        if ring_t[a] == 0:
                                            ring_t[a] = 1
                                            cx[m + 9] = cx[m + 9] + 1
                                    elif ring_t[a] != 0:
                                        ring_t[a] = 0
                                        cx[m + 9] = cx[m + 9] - 1
                                    cx[m + 11] = sums + _BIAS
                        else:  # _MN_MEAN: _mean_plain
                            ring_t = ptr32(self.ring_t)
                            ring_v = ptr32(self.ring_v)
                            size = cx[m + 8]
                            a = cx[m + 7]  # the ring's start
                            head = cx[m + _MN_HEAD]
                            filled = cx[m + _MN_COUNT]
                            total = cx[m + _MN_TOTAL] - _BIAS
                            s = cx[m + 1]
                            if cx[fresh + s] != 0:
                                if filled == size:  # full: the oldest goes
                                    total -= ring_v[a + head] - _BIAS
                                    head += 1
                                    if head == size:
                                        head = 0
                                    filled -= 1
                                i = head + filled
                                if i >= size:
                                    i -= size
                                ring_t[a + i] = t
                                v = cx[curb + s]
                                ring_v[a + i] = v
                                total += v - _BIAS
                                filled += 1
                            window = cx[m + 2]
                            while filled != 0 and ((t - ring_t[a + head]) & _MASK) >= window:
                                total -= ring_v[a + head] - _BIAS
                                head += 1
                                if head == size:
                                    head = 0
                                filled -= 1
                            cx[m + _MN_HEAD] = head
                            cx[m + _MN_COUNT] = filled
                            cx[m + _MN_TOTAL] = total + _BIAS
                            if filled != 0:
                                if on != 0:
                                    q = cx[m + 5] - _BIAS
                                    r = cx[m + 6]
                                else:
                                    q = cx[m + 3] - _BIAS
                                    r = cx[m + 4]
                                d = total - filled * q
                                above = 0
                                if d >= size:
                                    above = 1
                                elif d >= 0 and 1000 * d > filled * r:
                                    above = 1
                                if (on != 0 and above == 0) or (on == 0 and above != 0):
                                    run = 1
                        if run != 0:
                            out |= 1 << (npre + j)
                    j += 1
            if out != 0:
                self._conditions(frame_no, t, result, lanes, out)
            return True

        @micropython.viper
        def _due_v(st: ptr32, n: int, t: int) -> int:
            i = 0
            while i < n:
                m = _MSG + _MW * i
                if st[m + _TIMED_OUT] == 0:
                    since = (t - st[m + _RX]) & _MASK
                    if since > st[m + _LIMIT] and since < _HALF:
                        return i
                i += 1
            return -1

        Supervisor.frame = _frame_v  # type: ignore[method-assign]
        _due = _due_v
        # the plain twins are the host's reference (held to the board by the e2e tests): on
        # the board they would only take RAM
        del _fast_plain, _due_plain, _slots_plain, _acts, _mean_plain, _sway_plain, _sum_plain
    except (ImportError, AttributeError):
        pass
