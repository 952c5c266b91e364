# CAN frames from a controller, one interface for every backend: pyb.CAN (STM32 bxCAN,
# explicit bit timing and filter banks from the DBC's ids), machine.CAN (MicroPython
# 1.29's cross-port class), and an MCP2515 over SPI (firmware/mcp2515.py). In replay mode
# with "replay_path": "loopback" the controller runs in silent loopback and the link's
# frames go through its filters and FIFO (loop()). Only this module imports pyb/machine.CAN.
#
# The interface (all backends):
#   recv()    -> the same list every call [id, ext, rtr, fmi, data (memoryview, frame length)]
#                or None when nothing waits; allocates nothing
#   state()   -> STATE_ACTIVE / WARNING / PASSIVE / BUS_OFF / NONE
#   errors()  -> error-state entries since start (warning + passive + bus-off)
#   overflows -> FIFO overflow events (each lost at least one frame; the controllers
#                report the event, not how many frames it lost)
#   restart() -> leave bus-off (constructed with auto restart off: BusGuard decides when)
#   send(can_id, ext, data, n) -> True when queued
#   loop(can_id, ext, data, n) -> in loopback mode: the frame back through the filters, or
#                None when they rejected it (pyb/machine: built on send, recv, tx_pending()
#                and frame_us)
#   kind      -> "pyb", "machine" or "mcp2515"
import time

from micropython import const

_EXT_KEY = const(0x20000000)  # the decoder's key flag for extended ids
_FIFO = const(0)
_OVERFLOW = const(2)  # pyb rxcallback reason: a frame was lost, the FIFO was full
_LOOP_TIMEOUT_US = const(20000)  # a looped frame not sent by then: the controller is stuck
_LOOP_GRACE_US = const(50)  # after TX completes, how long the FIFO may take to show it
_FRAME_BITS = const(160)  # an 8-byte extended frame, worst-case bit stuffing, + interframe

# can_state values reported in STATS
STATE_ACTIVE = const(0)
STATE_WARNING = const(1)
STATE_PASSIVE = const(2)
STATE_BUS_OFF = const(3)
STATE_NONE = const(255)

# BusGuard.update() results
BUS_STEADY = const(0)
BUS_CHANGED = const(1)  # the state differs from the last one seen (guard.state is the new one)
BUS_RESTART = const(2)  # bus-off for the backoff time: call restart(), then guard.restarted()

BACKOFF_FIRST_MS = const(100)
BACKOFF_MAX_MS = const(5000)
BACKOFF_RESET_MS = const(10000)  # error-active this long: the next bus-off starts over at 100 ms


def plan_timing(pclk_hz, bitrate, sample_permille=875):
    """(prescaler, sjw, bs1, bs2) for an exact bitrate = pclk / (prescaler * (1 + bs1 + bs2))
    with the sample point (1 + bs1) / (1 + bs1 + bs2) nearest sample_permille (CiA 301:
    87.5 %). bxCAN limits: prescaler 1..1024, bs1 1..16, bs2 1..8, 8..25 quanta per bit.
    On ties, more quanta per bit (finer resynchronisation)."""
    best = None
    best_err = 0
    best_tq = 1
    for tq in range(25, 7, -1):
        if bitrate <= 0 or pclk_hz % (bitrate * tq):
            continue
        prescaler = pclk_hz // (bitrate * tq)
        if not 1 <= prescaler <= 1024:
            continue
        for bs2 in range(1, 9):
            bs1 = tq - 1 - bs2
            if not 1 <= bs1 <= 16:
                continue
            err = abs((1 + bs1) * 1000 - sample_permille * tq)  # in 1/tq per mille
            if best is None or err * best_tq < best_err * tq:
                best = (prescaler, min(4, bs2), bs1, bs2)
                best_err, best_tq = err, tq
    if best is None:
        raise ValueError("CAN bitrate %d bit/s cannot be made exactly from a %d Hz clock "
                         "(try 125000, 250000, 500000 or 1000000)" % (bitrate, pclk_hz))
    return best


def plan_filters(keys, banks):
    """Filter banks for the decoder's frame keys: [(mode, params), ...].

    bxCAN semantics (pyb.CAN 1.29, extframe given per bank): a LIST16 bank holds four
    standard ids, a LIST32 bank (extframe=True) two extended ids. When the ids need more
    banks than the controller has, accept everything (MASK16 all-std + MASK32 all-ext)
    and let the decoder count the unknown ids."""
    std = sorted(k for k in keys if not k & _EXT_KEY)
    ext = sorted(k & 0x1FFFFFFF for k in keys if k & _EXT_KEY)
    plan = []
    for i in range(0, len(std), 4):
        chunk = std[i:i + 4]
        plan.append(("LIST16", tuple(chunk + [chunk[-1]] * (4 - len(chunk)))))
    for i in range(0, len(ext), 2):
        chunk = ext[i:i + 2]
        plan.append(("LIST32", tuple(chunk + [chunk[-1]] * (2 - len(chunk)))))
    if len(plan) > banks:
        plan = [("MASK16", (0, 0, 0, 0)), ("MASK32", (0, 0))]
    return plan


def plan_id_filters(keys, limit, ext_flag):
    """machine.CAN filters [(id, mask, flags), ...]: one exact-id filter per DBC id, or
    None (accept all; the decoder counts the unknown ids) when they exceed `limit`."""
    if len(keys) > limit:
        return None
    out = []
    for k in sorted(keys):
        if k & _EXT_KEY:
            out.append((k & 0x1FFFFFFF, 0x1FFFFFFF, ext_flag))
        else:
            out.append((k, 0x7FF, 0))
    return out


class BusGuard:
    """The controller's error state over time: reports each change once, and restarts a
    bus-off controller after a backoff that starts at 100 ms and doubles up to 5 s while
    bus-off recurs, back to 100 ms after 10 s error-active. Pure: times are given."""

    CHANGED = BUS_CHANGED
    RESTART = BUS_RESTART

    def __init__(self, now_ms):
        self.state = STATE_ACTIVE
        self.backoff_ms = BACKOFF_FIRST_MS
        self.since = now_ms  # when the current state began (or the last restart)
        self.restarts = 0

    def update(self, state, now_ms):
        if state != self.state:
            self.state = state
            self.since = now_ms
            return BUS_CHANGED
        waited = time.ticks_diff(now_ms, self.since)
        if state == STATE_BUS_OFF:
            if waited >= self.backoff_ms:
                return BUS_RESTART
        elif state == STATE_ACTIVE and waited >= BACKOFF_RESET_MS:
            self.backoff_ms = BACKOFF_FIRST_MS
        return BUS_STEADY

    def restarted(self, now_ms):
        """After restart(): returns the backoff just waited; the next one is doubled."""
        waited = self.backoff_ms
        self.restarts += 1
        self.backoff_ms = min(waited * 2, BACKOFF_MAX_MS)
        self.since = now_ms  # still bus-off after this restart: try again after the new backoff
        return waited


class _Views:
    """memoryview slices [0:n] of one send buffer, made once: send() allocates nothing."""

    def __init__(self):
        self.buf = None
        self.views = _slices(bytearray(0))

    def get(self, data, n):
        if data is not self.buf:
            self.views = _slices(data)
            self.buf = data
        return self.views[n]


def _slices(data):
    # not inline in get(): a comprehension there would make a cell, allocated at every call
    whole = memoryview(data)
    return [whole[:i] for i in range(min(len(data), 8) + 1)]


def _loop(source, can_id, ext, data, n):
    # shared by the backends: send, wait until the controller has sent it (in loopback it
    # is then in the FIFO, or the filters dropped it), read it back. A controller that does
    # not count pending TX frames (None) gets two frame times before "rejected".
    if not source.send(can_id, ext, data, n):
        raise OSError("CAN loopback: TX queue full for id 0x%x" % can_id)
    start = time.ticks_us()
    sent_at = start
    sent = False
    while True:
        frame = source.recv()
        if frame is not None:
            return frame
        now = time.ticks_us()
        pending = source.tx_pending()
        if pending == 0:
            if not sent:
                sent = True
                sent_at = now
            elif time.ticks_diff(now, sent_at) > _LOOP_GRACE_US:
                return None  # sent, and not in the FIFO: the filters rejected it
        elif time.ticks_diff(now, start) > (_LOOP_TIMEOUT_US if pending else source.frame_us * 2):
            if pending is None:
                return None
            raise OSError("CAN loopback: id 0x%x not sent within %d us" % (can_id, _LOOP_TIMEOUT_US))


class PybCanSource:
    """pyb.CAN FIFO 0 into one reused list: [id, ext, rtr, fmi, data]."""

    kind = "pyb"

    def __init__(self, bus, bitrate, keys, loopback=False, banks=14):
        import pyb

        CAN = pyb.CAN
        prescaler, sjw, bs1, bs2 = plan_timing(pyb.freq()[2], bitrate)  # CAN runs on APB1
        mode = CAN.SILENT_LOOPBACK if loopback else CAN.NORMAL
        self._can = CAN(bus, mode, prescaler=prescaler, sjw=sjw, bs1=bs1, bs2=bs2, auto_restart=False)
        self.timing = (prescaler, sjw, bs1, bs2)
        self.frame_us = _FRAME_BITS * 1000000 // bitrate  # the longest classic frame on the wire
        for bank, (fmode, params) in enumerate(plan_filters(keys, banks)):
            self._can.setfilter(bank, getattr(CAN, fmode), _FIFO, params, extframe=fmode[-2:] == "32")
        self._frame = [0, False, False, 0, memoryview(bytearray(8))]
        self._info = [0] * 8
        self._views = _Views()
        self.overflows = 0
        self._states = {CAN.ERROR_ACTIVE: STATE_ACTIVE, CAN.ERROR_WARNING: STATE_WARNING,
                        CAN.ERROR_PASSIVE: STATE_PASSIVE, CAN.BUS_OFF: STATE_BUS_OFF}
        self._can.rxcallback(_FIFO, self._on_rx)

    def _on_rx(self, can, reason):
        # runs in an interrupt with the heap locked: no allocation, just count. pyb reports
        # an overflow once, then not again until recv() has run.
        if reason == _OVERFLOW:
            self.overflows += 1

    def recv(self):
        """The next frame (the same list every time, data as a memoryview), or None."""
        if not self._can.any(_FIFO):
            return None
        return self._can.recv(_FIFO, self._frame, timeout=0)

    def state(self):
        return self._states.get(self._can.state(), STATE_NONE)

    def errors(self):
        """Error counters: warning + passive + bus-off entries since start."""
        info = self._can.info(self._info)
        return info[2] + info[3] + info[4]

    def restart(self):
        self._can.restart()

    def send(self, can_id, ext, data, n):
        try:
            self._can.send(self._views.get(data, n), can_id, timeout=0, extframe=ext)
        except OSError:  # no free TX mailbox (or bus-off)
            return False
        return True

    def tx_pending(self):
        return self._can.info(self._info)[5]

    def loop(self, can_id, ext, data, n):
        return _loop(self, can_id, ext, data, n)


class MachineCanSource:
    """machine.CAN (MicroPython 1.29): its 4-item recv list [id, data, flags, errors]
    adapted to [id, ext, rtr, fmi, data]. It does not report which filter matched: fmi 0."""

    kind = "machine"

    def __init__(self, bus, bitrate, keys, loopback=False):
        import machine

        CAN = machine.CAN
        mode = CAN.MODE_SILENT_LOOPBACK if loopback else CAN.MODE_NORMAL
        # the driver derives the quanta from its own clock; 87 % is CiA 301's 87.5 % rounded
        self._can = CAN(bus, bitrate, mode=mode, sample_point=87)
        self.frame_us = _FRAME_BITS * 1000000 // bitrate  # the longest classic frame on the wire
        self._ext = CAN.FLAG_EXT_ID
        self._rtr = CAN.FLAG_RTR
        self._overrun = CAN.RECV_ERR_OVERRUN
        self.filters = plan_id_filters(keys, CAN.FILTERS_MAX, CAN.FLAG_EXT_ID)
        self._can.set_filters(self.filters)  # nothing is received before this
        self._raw = [0, memoryview(bytearray(8)), 0, 0]
        self._frame = [0, False, False, 0, self._raw[1]]
        self._counters = [0] * 8
        self._views = _Views()
        self.overflows = 0
        self._errors_before = 0
        self._states = {CAN.STATE_ACTIVE: STATE_ACTIVE, CAN.STATE_WARNING: STATE_WARNING,
                        CAN.STATE_PASSIVE: STATE_PASSIVE, CAN.STATE_BUS_OFF: STATE_BUS_OFF}

    def recv(self):
        raw = self._can.recv(self._raw)
        if raw is None:
            return None
        frame = self._frame
        flags = raw[2]
        frame[0] = raw[0]
        frame[1] = flags & self._ext != 0
        frame[2] = flags & self._rtr != 0
        frame[4] = raw[1]
        if raw[3] & self._overrun:  # frames were lost before this one
            self.overflows += 1
        return frame

    def state(self):
        return self._states.get(self._can.state(), STATE_NONE)

    def errors(self):
        c = self._can.get_counters(self._counters)
        return self._errors_before + (c[2] or 0) + (c[3] or 0) + (c[4] or 0)

    def restart(self):
        # restart() clears the controller's state-entry counters: keep what they held
        self._errors_before = self.errors()
        self._can.restart()

    def send(self, can_id, ext, data, n):
        return self._can.send(can_id, self._views.get(data, n), self._ext if ext else 0) is not None

    def tx_pending(self):
        return self._can.get_counters(self._counters)[5]

    def loop(self, can_id, ext, data, n):
        return _loop(self, can_id, ext, data, n)


def _has_machine_can():
    try:
        import machine
    except ImportError:
        return False
    return hasattr(machine, "CAN")


def open_source(cfg, keys, loopback=False):
    """The CAN source config["can"] names: "auto" (machine.CAN when the firmware has it,
    else pyb.CAN), "pyb", "machine", or "mcp2515" (SPI, settings "spi" and "cs")."""
    which = cfg.get("can", "auto")
    bus = cfg.get("bus", 1)
    bitrate = cfg.get("bitrate", 500000)
    if which == "auto":
        which = "machine" if _has_machine_can() else "pyb"
    if which == "pyb":
        return PybCanSource(bus, bitrate, keys, loopback)
    if which == "machine":
        return MachineCanSource(bus, bitrate, keys, loopback)
    if which == "mcp2515":
        return _open_mcp2515(cfg, keys, loopback)
    raise ValueError("config \"can\": %r is not auto, pyb, machine or mcp2515" % (which,))


def _open_mcp2515(cfg, keys, loopback):
    # firmware/mcp2515.py (its own module) has the same interface, loop() included; the
    # SPI bus and chip-select pin come from the config: "spi" (bus id), "cs" (pin id),
    # "spi_baudrate", "crystal_hz" (the module's oscillator: 8 or 16 MHz on common boards)
    import machine
    import mcp2515

    spi = machine.SPI(cfg.get("spi", 0), baudrate=cfg.get("spi_baudrate", 8000000))
    cs = machine.Pin(cfg.get("cs", 17), machine.Pin.OUT, value=1)
    return mcp2515.Mcp2515(spi, cs, bitrate=cfg.get("bitrate", 500000), crystal_hz=cfg.get("crystal_hz", 16000000),
                           keys=keys, mode="loopback" if loopback else "normal")
