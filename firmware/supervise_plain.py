# The bytecode twins of firmware/supervise.py's viper code: the host's reference (CPython runs
# them: host_tools/supervision/firmware.py puts frame, _due and other into supervise), which
# tests/firmware/test_supervise_twins.py and the e2e tests hold the board's viper code to,
# alert for alert. Not on the board's path: a Pyboard loads a module's bytecode into its heap.
# The constants are supervise.py's private ones, by the same names (a test holds them equal).
try:
    from micropython import const
except ImportError:  # CPython (the host's reference)
    def const(x):  # type: ignore[misc]  # CPython's stand-in for micropython.const
        return x

from supervise import _CRC8, _in_range, _out_of_range, _raw

_BIAS = const(0x20000000)
_CM_GATE = const(6)
_CM_GATE_VALUE = const(7)
_CM_NPRE = const(5)
_CM_NSLOTS = const(1)
_CM_NTRIG = const(3)
_CM_PRE = const(4)
_CM_SLOTS = const(0)
_CM_TRIG = const(2)
_COND = const(9)
_CRC_LANE = const(5)
_CTR_LANE = const(4)
_CTR_MASK = const(6)
_CXW = const(8)
_CX_ACTIVE = const(10)
_CX_CUR = const(0)
_CX_CURB = const(8)
_CX_DEP = const(7)
_CX_FRESH = const(3)
_CX_KNOWN = const(2)
_CX_MEAN = const(9)
_CX_MEMO = const(6)
_CX_MSG = const(14)
_CX_PEND = const(11)
_CX_PREV = const(1)
_CX_ROW = const(5)
_CX_VER = const(4)
_EE_FROM = const(3)
_EE_SPEED = const(5)
_EE_SPEED_SLOT = const(2)
_EE_TO = const(4)
_EI_CLEAR = const(6)
_EI_LOWER = const(3)
_EI_MARGIN = const(5)
_EI_PER = const(4)
_EI_UPPER = const(2)
_EL_OFF_FROM = const(4)
_EL_OFF_TO = const(5)
_EL_ON_BELOW = const(3)
_EL_ON_FROM = const(2)
_EM_COUNT = const(10)
_EM_HEAD = const(9)
_EM_Q_OFF = const(5)
_EM_Q_ON = const(3)
_EM_RING = const(7)
_EM_R_OFF = const(6)
_EM_R_ON = const(4)
_EM_SIZE = const(8)
_EM_TOTAL = const(11)
_EM_WINDOW = const(2)
_EP_A = const(1)
_EP_B = const(2)
_EP_OFF = const(4)
_EP_ON = const(3)
_ES_BAND = const(2)
_ES_DIR = const(9)
_ES_EXT = const(3)
_ES_HIGH = const(4)
_ES_LONGEST = const(7)
_ES_LOW = const(5)
_ES_SEEN = const(10)
_ES_TURNED = const(8)
_ES_TURN_T = const(6)
_ES_TURN_V = const(11)
_EU_FIRST_ROW = const(4)
_EU_GROUPS = const(6)
_EU_GROUP_STEP = const(2)
_EU_KNOWN = const(9)
_EU_MSG = const(5)
_EU_MUX_LANE = const(1)
_EU_OFF = const(15)
_EU_ON = const(14)
_EU_PER = const(13)
_EU_PER_GROUP = const(3)
_EU_RING = const(7)
_EU_SIGNAL_STEP = const(8)
_EU_SLOT = const(12)
_EU_TOTAL = const(11)
_E_HOW = const(0)
_E_SLOT = const(1)
_F_CRC = const(4)
_F_JUMP = const(16)
_F_OUT_OF_ORDER = const(64)
_F_REPEATED = const(8)
_HALF = const(0x20000000)
_LANE_MASK = const(0xFFFF)
_LAST_CTR = const(3)
_LATEST = const(3)
_LIMIT = const(1)
_MASK = const(0x3FFFFFFF)
_MAX_DELTA = const(6)
_MNW = const(16)
_MN_ALWAYS = const(0)
_MN_EDGE = const(6)
_MN_LEVEL = const(2)
_MN_LIMITS = const(7)
_MN_MEAN = const(1)
_MN_SPREAD = const(5)
_MN_SUM = const(4)
_MN_SWAY = const(3)
_MSG = const(16)
_MW = const(10)
_NM = const(7)
_NO_CTR = const(0x3FFFFFFF)
_OLD_RX = const(8)
_OPEN = const(7)
_ROWS = const(9)
_ROW_BITS = const(0)
_RW = const(1)
_RX = const(0)
_R_BACK = const(0x400)
_R_LATE = const(0x800)
_R_OPEN = const(0x2000)
_R_RANGE = const(0x200)
_R_SCAN = const(0x100)
_R_TOW = const(0x1000)
_SCAN_AT = const(4)
_SCAN_US = const(5)
_SIG_START = const(8)
_SKIP = const(0xFF)
_STARTED = const(0)
_TIMED_OUT = const(2)
_TOW_AT = const(10)
_TOW_US = const(11)


def _checks_plain(st, t, mi, n, lanes, data, sel):
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


def _due_plain(st, n, t):
    # first message not yet timed out whose last frame is older than its limit, else -1
    for i in range(n):
        m = _MSG + _MW * i
        if not st[m + _TIMED_OUT]:
            since = (t - st[m + _RX]) & _MASK
            if st[m + _LIMIT] < since < _HALF:
                return i
    return -1


def _other_plain(st, t):
    # another ECU's frame (the decoder's ERR_UNKNOWN_ID) at time t: 1 when all it does is
    # move the clock (in order, no timeout scan due), done here; 0: call Supervisor.frame
    # (which then does everything). frame() of such a frame does exactly this.
    if not st[_STARTED] or (t - st[_LATEST]) & _MASK >= _HALF or (t - st[_SCAN_AT]) & _MASK >= st[_SCAN_US]:
        return 0
    st[_LATEST] = t
    return 1


def _slots_plain(cx, lanes, st, mi, t, ring_t, ring_v):
    # bit j set when rule j of the message (its gate rules, then its trigger pairs:
    # Supervisor._conditions) must be evaluated: a gate rule when its status changed; then, if
    # the gate is open, the frame's tracked values are taken (_take_plain) and a triggered
    # rule's bit set when it will act (_wants_plain)
    h = _CX_MSG + _CXW * (st[_MSG + _MW * mi + _COND] - 1)
    memo = cx[_CX_MEMO]
    out = 0
    at = cx[h + _CM_PRE]
    npre = cx[h + _CM_NPRE]
    for j in range(npre):
        k = cx[at + 2 * j]
        v = lanes[cx[at + 2 * j + 1]]
        if v != cx[memo + k]:
            cx[memo + k] = v
            out |= 1 << j
    gate = cx[h + _CM_GATE]
    if gate and lanes[gate - 1] != cx[h + _CM_GATE_VALUE]:
        return out
    _take_plain(cx, lanes, st, h)
    fresh = cx[_CX_FRESH]
    ver = cx[_CX_VER]
    dep = cx[_CX_DEP]
    at = cx[h + _CM_TRIG]
    for j in range(cx[h + _CM_NTRIG]):
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
        if _wants_plain(cx, lanes, st, k, mi, t, ring_t, ring_v):
            out |= 1 << (npre + j)
    return out


def _take_plain(cx, lanes, st, h):
    # the message's tracked values, those in range, into cur/prev/curb (fresh: taken now)
    cur = cx[_CX_CUR]
    known = cx[_CX_KNOWN]
    fresh = cx[_CX_FRESH]
    ver = cx[_CX_VER]
    at = cx[h + _CM_SLOTS]
    for j in range(cx[h + _CM_NSLOTS]):
        s = cx[at + j]
        row = cx[cx[_CX_ROW] + s]
        raw = _raw(st, row, lanes)
        if st[(st[row] >> 16) + _ROW_BITS] == _SKIP or _in_range(st, row, raw):
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


def _wants_plain(cx, lanes, st, k, mi, t, ring_t, ring_v):
    # rule k's entry: whether Supervisor._rule must evaluate it on this frame
    m = cx[_CX_MEAN] + _MNW * k
    how = cx[m + _E_HOW]
    if how == _MN_ALWAYS:
        return True
    if how == _MN_MEAN:
        return _mean_plain(cx, k, t, ring_t, ring_v)
    if how == _MN_SWAY:
        return _sway_plain(cx, k, t)
    if how == _MN_SUM:
        return _sum_plain(cx, lanes, st, k, mi, ring_t, ring_v)
    return _acts(cx, k, m, how)


def _acts(cx, k, m, how):
    # _MN_LEVEL, _MN_SPREAD, _MN_EDGE, _MN_LIMITS: True when _rule evaluates the rule on this
    # frame and finds its state flips (the off-condition when raised, else the on-condition)
    # or its debounce counts
    curb = cx[_CX_CURB]
    active = cx[cx[_CX_ACTIVE] + k]
    pend = cx[cx[_CX_PEND] + k]
    if how == _MN_LEVEL:
        b = cx[curb + cx[m + _E_SLOT]]
        if active:
            return cx[m + _EL_OFF_FROM] <= b <= cx[m + _EL_OFF_TO]
        return b >= cx[m + _EL_ON_FROM] or b < cx[m + _EL_ON_BELOW] or pend > 0
    if how == _MN_SPREAD:
        fresh = cx[_CX_FRESH]
        a = cx[m + _EP_A]
        b = cx[m + _EP_B]
        if not (cx[fresh + a] and cx[fresh + b]):
            return False
        d = cx[curb + a] - cx[curb + b]
        if active:
            return d <= cx[m + _EP_OFF] - _BIAS
        return d >= cx[m + _EP_ON] - _BIAS or pend > 0
    if how == _MN_EDGE:  # no debounce: an edge is one frame
        s = cx[m + _E_SLOT]
        if not cx[cx[_CX_FRESH] + s]:
            return False
        v = cx[cx[_CX_CUR] + s]
        if active:
            return v == cx[m + _EE_FROM]
        return (v == cx[m + _EE_TO] and cx[cx[_CX_KNOWN] + s] == 2 and cx[cx[_CX_PREV] + s] == cx[m + _EE_FROM]
                and cx[curb + cx[m + _EE_SPEED_SLOT]] >= cx[m + _EE_SPEED])
    known = cx[_CX_KNOWN]  # _MN_LIMITS
    s = cx[m + _E_SLOT]
    u = cx[m + _EI_UPPER]
    lo_slot = cx[m + _EI_LOWER]
    if not (cx[known + s] and cx[known + u] and cx[known + lo_slot]):
        return False
    v = cx[curb + s] - _BIAS
    up = cx[m + _EI_PER] * (cx[curb + u] - _BIAS)
    lo = -cx[m + _EI_PER] * (cx[curb + lo_slot] - _BIAS)
    if active:
        margin = cx[m + _EI_CLEAR] - _BIAS
        return lo - margin <= v <= up + margin
    margin = cx[m + _EI_MARGIN] - _BIAS
    return v > up + margin or v < lo - margin or pend > 0


def _sway_plain(cx, k, t):
    # the frame's value against the last extreme: a turning point when it has come back by
    # the band (docs/supervision.md, trailer_sway)
    m = cx[_CX_MEAN] + _MNW * k
    v = cx[cx[_CX_CURB] + cx[m + _E_SLOT]]
    band = cx[m + _ES_BAND]
    direction = cx[m + _ES_DIR]
    turn = -1
    if direction == 0:
        cx[m + _ES_HIGH] = v
        cx[m + _ES_LOW] = v
        cx[m + _ES_DIR] = 3
    elif direction == 3:
        if v > cx[m + _ES_HIGH]:
            cx[m + _ES_HIGH] = v
        if v < cx[m + _ES_LOW]:
            cx[m + _ES_LOW] = v
        if v <= cx[m + _ES_HIGH] - band:
            turn = cx[m + _ES_HIGH]
            cx[m + _ES_DIR] = 2
            cx[m + _ES_EXT] = v
        elif v >= cx[m + _ES_LOW] + band:
            turn = cx[m + _ES_LOW]
            cx[m + _ES_DIR] = 1
            cx[m + _ES_EXT] = v
    elif direction == 1:
        if v > cx[m + _ES_EXT]:
            cx[m + _ES_EXT] = v
        elif v <= cx[m + _ES_EXT] - band:
            turn = cx[m + _ES_EXT]
            cx[m + _ES_DIR] = 2
            cx[m + _ES_EXT] = v
    else:
        if v < cx[m + _ES_EXT]:
            cx[m + _ES_EXT] = v
        elif v >= cx[m + _ES_EXT] + band:
            turn = cx[m + _ES_EXT]
            cx[m + _ES_DIR] = 1
            cx[m + _ES_EXT] = v
    if turn >= 0:
        cx[m + _ES_TURN_V] = turn
        cx[m + _ES_TURNED] = 1
        return True
    return bool(cx[cx[_CX_ACTIVE] + k] and cx[m + _ES_SEEN] and (t - cx[m + _ES_TURN_T]) & _MASK > cx[m + _ES_LONGEST])


def _sum_plain(cx, lanes, st, k, mi, ring_t, ring_v):
    # a frame of the summed message: its group's sum replaces the group's last one (a value
    # out of range makes the group unknown); a frame of another, once all groups are known,
    # is an evaluation: True when _T_SUM's test flips or its debounce counts (or it is not
    # tested here)
    m = cx[_CX_MEAN] + _MNW * k
    groups = cx[m + _EU_GROUPS]
    if mi != cx[m + _EU_MSG]:
        if cx[m + _EU_KNOWN] != groups:
            return False
        if not cx[m + _EU_PER]:
            return True
        d = (cx[cx[_CX_CURB] + cx[m + _EU_SLOT]] - _BIAS) * cx[m + _EU_PER] - (cx[m + _EU_TOTAL] - _BIAS)
        if d < 0:
            d = -d
        if cx[cx[_CX_ACTIVE] + k]:
            return d <= cx[m + _EU_OFF] - _BIAS
        return d > cx[m + _EU_ON] - _BIAS or cx[cx[_CX_PEND] + k] > 0
    g = lanes[cx[m + _EU_MUX_LANE]]
    if g < 0 or g >= groups:
        return False
    row = cx[m + _EU_FIRST_ROW] + cx[m + _EU_GROUP_STEP] * g
    ok = True
    total = 0
    for j in range(cx[m + _EU_PER_GROUP]):
        raw = lanes[st[row] & _LANE_MASK]
        if not _in_range(st, row, raw):
            ok = False
        total += raw
        row += cx[m + _EU_SIGNAL_STEP]
    at = cx[m + _EU_RING] + g
    sums = cx[m + _EU_TOTAL] - _BIAS
    if ring_t[at]:
        sums -= ring_v[at]
    if ok:
        ring_v[at] = total
        sums += total
        if not ring_t[at]:
            ring_t[at] = 1
            cx[m + _EU_KNOWN] += 1
    elif ring_t[at]:
        ring_t[at] = 0
        cx[m + _EU_KNOWN] -= 1
    cx[m + _EU_TOTAL] = sums + _BIAS
    return False


def _mean_plain(cx, k, t, ring_t, ring_v):
    # a windowed mean's step: True when its state flips
    m = cx[_CX_MEAN] + _MNW * k
    size = cx[m + _EM_SIZE]
    at = cx[m + _EM_RING]
    head = cx[m + _EM_HEAD]
    count = cx[m + _EM_COUNT]
    total = cx[m + _EM_TOTAL] - _BIAS
    s = cx[m + _E_SLOT]
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
    window = cx[m + _EM_WINDOW]
    while count and (t - ring_t[at + head]) & _MASK >= window:
        total -= ring_v[at + head] - _BIAS
        head += 1
        if head == size:
            head = 0
        count -= 1
    cx[m + _EM_HEAD] = head
    cx[m + _EM_COUNT] = count
    cx[m + _EM_TOTAL] = total + _BIAS
    if not count:
        return False
    active = cx[cx[_CX_ACTIVE] + k]
    q = cx[m + (_EM_Q_OFF if active else _EM_Q_ON)] - _BIAS
    d = total - count * q
    above = d >= size or (d >= 0 and 1000 * d > count * cx[m + (_EM_R_OFF if active else _EM_R_ON)])
    return not above if active else above


def frame(self, frame_no, t, result, can_id, ext, data, n, lanes, selected):
    """Check one received frame (result: the decoder's message index or error code).
    Returns True when its values are usable, False when they must not be trusted."""
    # Supervisor.frame on the host (the board runs _frame_v): keep the two in step
    st = self.st
    if not st[_STARTED]:
        self._start(t)
    if result < 0:
        self._failed(frame_no, t, result, can_id, ext)
        return False
    ret = _checks_plain(st, t, result, n, lanes, data, selected)
    if ret and not self._flagged(frame_no, t, result, lanes, selected, ret):
        return False
    if st[_MSG + _MW * result + _COND]:
        todo = _slots_plain(self.cx, lanes, st, result, t, self.ring_t, self.ring_v)
        if todo:
            self._conditions(frame_no, t, result, lanes, todo)
    return True
