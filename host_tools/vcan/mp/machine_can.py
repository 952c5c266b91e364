# A fake machine.CAN (MicroPython 1.29's cross-port class, stub micropython-stm32-stubs)
# for the unix port, whose `machine` has no CAN: the firmware tests' controller and, with
# mule_vcan.py feeding its bus, the virtual board's (docs/hardware.md). A test installs it before importing the
# firmware:  import machine_can; sys.modules["machine"] = machine_can
# (sys.modules wins over the builtin; this module re-exports the builtin machine's names,
# so the rest of the firmware sees the same module plus CAN). It enforces what the real
# one does:
# - set_filters([(id, mask, flags), ...]): at most FILTERS_MAX, ids and masks in range
#   for their kind (ValueError "invalid id"), FLAG_EXT_ID selects extended ids only,
#   FLAG_RTR remote frames only; None accepts all; nothing is received before the call;
# - recv(lst) fills a 4-item list [id, memoryview, flags, errors] (the memoryview resized
#   to the frame: here one of the views made at the first call), None when empty; errors
#   carry RECV_ERR_OVERRUN once after frames were lost, then reset;
# - one RX queue RX_DEPTH (3) deep (simplified: the real bxCAN spreads filters over two
#   3-deep FIFOs); a frame arriving when it is full is lost;
# (the FIFO's slots, the error counters and the recv views: can_model.py, shared with the
# tests' fake pyb.CAN)
# - send(id, data, flags) -> TX index, None when the 3-deep queue is full or the same id is
#   pending without FLAG_UNORDERED, OSError when bus-off; frames leave at the next bus
#   tick (recv/state/get_counters); MODE_SILENT_LOOPBACK receives its own frames only;
# - states from TEC/REC; bus-off stays until restart(), which zeroes TEC/REC and the
#   state-entry counters (as the docs say it always clears those).
try:
    from machine import *  # noqa: F401,F403 (the builtin module's names)
except ImportError:
    pass

import can_model
from can_model import heap_lock, heap_unlock


class _Irq:
    def __init__(self, can):
        self._can = can

    def flags(self):
        return self._can._irq_flags


class CAN(can_model.ErrorCounters):
    MODE_NORMAL = 0
    MODE_SLEEP = 1
    MODE_LOOPBACK = 2
    MODE_SILENT = 3
    MODE_SILENT_LOOPBACK = 4
    STATE_STOPPED = 0
    STATE_ACTIVE = 1
    STATE_WARNING = 2
    STATE_PASSIVE = 3
    STATE_BUS_OFF = 4
    FLAG_RTR = 1
    FLAG_EXT_ID = 2
    FLAG_UNORDERED = 16
    RECV_ERR_FULL = 1
    RECV_ERR_OVERRUN = 2
    IRQ_TX = 1
    IRQ_RX = 2
    IRQ_STATE = 8
    FILTERS_MAX = 14
    TX_QUEUE_LEN = 3
    RX_DEPTH = 3

    instances = {}

    def __init__(self, id, *args, **kwargs):
        if id not in (1, 2):
            raise ValueError("CAN(%d) doesn't exist" % id)
        self.id = id
        self.filters = ()  # nothing received until set_filters()
        self.rx = can_model.Fifo(CAN.RX_DEPTH)
        self.tx = [None] * CAN.TX_QUEUE_LEN
        self.on_bus = []  # frames this controller put on the bus
        self.transmitted = 0  # frames that left the TX queue
        self.count_tx = True
        self.init_errors()
        self.overruns = 0
        self._overrun_flag = 0
        self._views = None
        self._handler = None
        self._trigger = 0
        self._hard = False
        self._irq_flags = 0
        self.mode = CAN.STATE_STOPPED
        self.init(*args, **kwargs)
        CAN.instances[id] = self

    def init(self, bitrate, mode=0, sample_point=75, sjw=1, tseg1=None, tseg2=None):
        if not isinstance(bitrate, int) or not 10000 <= bitrate <= 1000000:
            raise ValueError("invalid bitrate")
        if mode not in (0, 1, 2, 3, 4):
            raise ValueError("invalid mode")
        if not 1 <= sjw <= 4 or not 1 <= sample_point <= 99:
            raise ValueError("invalid timing")
        if (tseg1 is None) != (tseg2 is None):
            raise ValueError("tseg1 and tseg2 go together")
        if tseg1 is not None and not (1 <= tseg1 <= 16 and 1 <= tseg2 <= 8):
            raise ValueError("invalid timing")
        self.bitrate = bitrate
        self.mode = mode
        self.sample_point = sample_point
        self.sjw = sjw
        self.tseg = (tseg1, tseg2)

    def deinit(self):
        self.rx.clear()
        self.tx = [None] * CAN.TX_QUEUE_LEN
        self.mode = None

    def set_filters(self, filters):
        if filters is None:
            self.filters = None
            return
        filters = [tuple(f) for f in filters]
        if len(filters) > CAN.FILTERS_MAX:
            raise ValueError("too many filters")
        for can_id, mask, flags in filters:
            top = 0x1FFFFFFF if flags & CAN.FLAG_EXT_ID else 0x7FF
            if not (0 <= can_id <= top and 0 <= mask <= top):
                raise ValueError("invalid id")
            if flags & ~(CAN.FLAG_EXT_ID | CAN.FLAG_RTR):
                raise ValueError("unsupported filter flags")
        self.filters = filters

    def _accepts(self, can_id, ext, rtr):
        if self.filters is None:
            return True
        for fid, mask, flags in self.filters:
            if bool(flags & CAN.FLAG_EXT_ID) != ext:
                continue
            if flags & CAN.FLAG_RTR and not rtr:
                continue
            if can_id & mask == fid & mask:
                return True
        return False

    def _receive(self, can_id, ext, rtr, data):
        if not self._accepts(can_id, ext, rtr):
            return False
        if not self.rx.push(can_id, ext, rtr, 0, data, len(data)):
            if not self._overrun_flag:  # one overrun per episode, as the hardware flag
                self.overruns += 1
                self._overrun_flag = CAN.RECV_ERR_OVERRUN
            return False
        if self._handler is not None and self._trigger & CAN.IRQ_RX:
            self._irq_flags = CAN.IRQ_RX
            if self._hard:
                heap_lock()
            try:
                self._handler(self)
            finally:
                if self._hard:
                    heap_unlock()
        return True

    def _run_bus(self):
        if self.bus_off:
            return
        for i in range(CAN.TX_QUEUE_LEN):
            msg = self.tx[i]
            if msg is None:
                continue
            self.tx[i] = None
            self.transmitted += 1
            can_id, ext, rtr, data = msg
            if self.mode in (CAN.MODE_NORMAL, CAN.MODE_LOOPBACK):
                self.on_bus.append(msg)
            if self.mode in (CAN.MODE_LOOPBACK, CAN.MODE_SILENT_LOOPBACK):
                self._receive(can_id, ext, rtr, data)

    # --- test hooks: the bus -----------------------------------------------------------
    def inject(self, can_id, data, ext=False, rtr=False):
        """A frame on the bus. Returns True when the RX queue took it."""
        if self.bus_off or self.mode in (CAN.MODE_SILENT_LOOPBACK, CAN.MODE_SLEEP):
            return False
        return self._receive(can_id, ext, rtr, data)

    # --- the machine.CAN API -----------------------------------------------------------
    def recv(self, arg=None):
        self._run_bus()
        errors = CAN.RECV_ERR_FULL if self.rx.count >= CAN.RX_DEPTH else 0
        slot = self.rx.pop()
        if slot is None:
            return None
        errors |= self._overrun_flag
        self._overrun_flag = 0
        flags = (CAN.FLAG_EXT_ID if slot[1] else 0) | (CAN.FLAG_RTR if slot[2] else 0)
        if arg is None:
            view = memoryview(bytearray(8))[:slot[5]]
            view[:] = slot[4][:slot[5]]
            return [slot[0], view, flags, errors]
        if len(arg) < 4:
            raise ValueError("recv list needs 4 items")
        self._views = can_model.recv_views(self._views, arg[1], 1)
        arg[0] = slot[0]
        arg[1] = can_model.copy_out(self._views, slot)
        arg[2] = flags
        arg[3] = errors
        return arg

    def send(self, id, data, flags=0):
        if self.bus_off:
            raise OSError(5)  # EIO: bus-off
        if len(data) > 8:
            raise ValueError("data too long")
        top = 0x1FFFFFFF if flags & CAN.FLAG_EXT_ID else 0x7FF
        if not 0 <= id <= top:
            raise ValueError("invalid id")
        ext = bool(flags & CAN.FLAG_EXT_ID)
        free = -1
        for i in range(CAN.TX_QUEUE_LEN):
            msg = self.tx[i]
            if msg is None:
                if free < 0:
                    free = i
            elif msg[0] == id and msg[1] == ext and not flags & CAN.FLAG_UNORDERED:
                return None  # the hardware cannot keep same-id frames in order
        if free < 0:
            return None
        self.tx[free] = (id, ext, bool(flags & CAN.FLAG_RTR), bytes(data))
        return free

    def cancel_send(self, index):
        pending = self.tx[index] is not None
        self.tx[index] = None
        return pending

    def state(self):
        self._run_bus()
        if self.mode is None:
            return CAN.STATE_STOPPED
        return self.error_state()

    def get_counters(self, lst=None):
        self._run_bus()
        lst = self.fill_counters(lst if lst is not None else [0] * 8)
        pending = 0
        for msg in self.tx:
            if msg is not None:
                pending += 1
        # a controller that cannot count a value reports None (tests set count_tx False)
        lst[5] = pending if self.count_tx else None
        lst[6] = self.rx.count
        lst[7] = self.overruns
        return lst

    def irq(self, handler=None, trigger=0, hard=False):
        if handler is not None or trigger:
            self._handler = handler
            self._trigger = trigger
            self._hard = hard
        return _Irq(self)

    def restart(self):
        self.restart_errors()
        self.entries = [0, 0, 0]
        for i in range(CAN.TX_QUEUE_LEN):
            self.tx[i] = None


class WDT:
    """The stm32 port's machine.WDT: WDT(id=0, timeout=ms) starts the independent watchdog at
    once (1 ms .. 32768 ms here, as the IWDG's prescaler allows), feed() restarts its count;
    there is no way to stop it. The fake notes the feeds and the longest gap between two
    (or since it started), which a real board turns into a reset when it exceeds timeout."""

    started = []  # every WDT made, for the test's report

    def __init__(self, id=0, timeout=5000):
        if id != 0:
            raise ValueError("WDT(%d) doesn't exist" % id)
        if not 1 <= timeout <= 32768:
            raise ValueError("WDT timeout too short or too long")
        import time

        self._ticks = time.ticks_ms
        self._diff = time.ticks_diff
        self.timeout = timeout
        self.feeds = 0
        self.longest_ms = 0
        self._last = self._ticks()
        WDT.started.append(self)

    def feed(self):
        now = self._ticks()
        gap = self._diff(now, self._last)
        if gap > self.longest_ms:
            self.longest_ms = gap
        self._last = now
        self.feeds += 1
