# A fake `pyb` for the unix port: enough of pyb.CAN (STM32 bxCAN, MicroPython 1.29) to run
# the firmware's CAN source off a board. It enforces what the real one does:
# - bit timing: prescaler 1..1024, sjw 1..4, bs1 1..16, bs2 1..8; the bitrate is
#   pclk1 / (prescaler * (1 + bs1 + bs2)) with pclk1 from freq() (42 MHz, a Pyboard F405);
# - filters: frames reach a FIFO only through a matching bank, compared as the hardware
#   does on the 16-bit (STID, RTR, IDE, EXID[17:15]) or 32-bit (ID, IDE, RTR) images; 32-bit
#   banks take extended ids with extframe=True, standard ids without;
# - each FIFO holds 3 frames and drops new ones when full; rxcallback follows pyb's IRQ
#   state machine (reason 0 first frame, 1 full, 2 overflow, each once until recv() runs)
#   and runs with the heap locked, as the real one runs with gc locked;
# - recv() fills the caller's 5-item list and resizes its memoryview (here: one of the
#   views made at the first call) without allocating;
# - send() uses one of 3 TX mailboxes; the frame leaves at the next bus tick (any/info/
#   recv/state); NORMAL puts it on the bus, LOOPBACK on the bus and into its own receive
#   path, SILENT_LOOPBACK only into its own receive path (the bus sees nothing, and bus
#   frames do not reach it);
# - error states follow TEC/REC; bus-off stays until restart() when auto_restart=False,
#   then error-active with counters 0.
# FIFOs and mailboxes are preallocated slots: receiving and looping back allocate nothing
# in the fake, so heap tests measure the firmware alone. The slots, the error counters and
# the recv views are host_tools/vcan/mp/can_model.py, shared with the fake machine.CAN.
# Tests feed the "bus" with CAN.inject() and CAN.set_error_counters().
import can_model
from can_model import heap_lock, heap_unlock


PCLK1 = 42000000
_FREQ = (168000000, 168000000, PCLK1, 84000000)


def freq():
    return _FREQ


def _image16(can_id, ext, rtr):
    if ext:
        return ((can_id >> 18) << 5) | (rtr << 4) | 8 | ((can_id >> 15) & 7)
    return (can_id << 5) | (rtr << 4)


def _image32(can_id, ext, rtr):
    if ext:
        return (can_id << 3) | 4 | (rtr << 1)
    return (can_id << 21) | (rtr << 1)


class CAN(can_model.ErrorCounters):
    NORMAL = 0
    LOOPBACK = 67108864
    SILENT = 134217728
    SILENT_LOOPBACK = 201326592
    MASK16 = 0
    LIST16 = 1
    MASK32 = 2
    LIST32 = 3
    STOPPED = 0
    ERROR_ACTIVE = 1
    ERROR_WARNING = 2
    ERROR_PASSIVE = 3
    BUS_OFF = 4
    FIFO_DEPTH = 3
    BANKS = 14
    MAILBOXES = 3

    instances = {}

    def __init__(self, bus, mode=None, extframe=False, prescaler=100, *, sjw=1, bs1=6, bs2=8,
                 auto_restart=False, baudrate=0, sample_point=75, num_filter_banks=14):
        if bus not in (1, 2):
            raise ValueError("CAN(%d) doesn't exist" % bus)
        if mode not in (CAN.NORMAL, CAN.LOOPBACK, CAN.SILENT, CAN.SILENT_LOOPBACK):
            raise ValueError("CAN mode %r" % (mode,))
        if not (1 <= prescaler <= 1024 and 1 <= sjw <= 4 and 1 <= bs1 <= 16 and 1 <= bs2 <= 8):
            raise ValueError("CAN timing out of range")
        self.bus = bus
        self.mode = mode
        self.baudrate = baudrate
        self.timing = (prescaler, sjw, bs1, bs2)
        tq = 1 + bs1 + bs2
        # what the controller really runs at (the real one ignores timing args when
        # baudrate is given; the firmware never gives it)
        self.bitrate = PCLK1 / (prescaler * tq) if not baudrate else baudrate
        self.sample_point = (1 + bs1) / tq
        self.auto_restart = auto_restart
        self.filters = {}
        # FIFOs and TX mailboxes are preallocated slots, as in the hardware: the fake's own
        # receive and loopback paths allocate nothing, so allocation tests see the firmware's
        self._rx = (can_model.Fifo(CAN.FIFO_DEPTH), can_model.Fifo(CAN.FIFO_DEPTH))
        self.callbacks = [None, None]
        self.rx_state = [0, 0]  # 0 empty, 1 pending, 2 full, 3 overflow (pyb's IRQ states)
        self._tx = can_model.Fifo(CAN.MAILBOXES)  # in request order
        self._banks = []  # self.filters' entries in bank order
        self.on_bus = []  # frames this controller put on the bus: (id, ext, rtr, data)
        self.transmitted = 0  # frames that left the TX mailboxes
        self.lose = 0  # test hook: this many transmitted frames never reach the receive path
        self.init_errors()
        self._views = None
        CAN.instances[bus] = self

    def setfilter(self, bank, mode, fifo, params, *, rtr=None, extframe=False):
        if not 0 <= bank < CAN.BANKS or fifo not in (0, 1):
            raise ValueError("CAN filter parameter error")
        size = 4 if mode in (CAN.MASK16, CAN.LIST16) else 2
        if mode not in (CAN.MASK16, CAN.LIST16, CAN.MASK32, CAN.LIST32) or len(params) != size:
            raise ValueError("CAN filter parameter error")
        if extframe and size == 4:
            raise ValueError("fake pyb: 16-bit banks for extended ids are not modelled")
        if size == 4:
            values = [p << 5 for p in params]  # RTR 0, IDE 0: standard data frames
        elif extframe:
            values = [(p << 3) | 4 for p in params]
        else:
            values = [p << 21 for p in params]
        if mode in (CAN.MASK16, CAN.MASK32):
            values[1] |= 4 if size == 2 else 0  # 32-bit masks always compare IDE
        self.filters[bank] = (mode, fifo, tuple(values), size)
        self._banks = [self.filters[b] for b in sorted(self.filters)]

    def _match(self, can_id, ext, rtr):
        """fifo << 8 | fmi of the first matching filter, or -1. FMI numbers filter entries
        (bxCAN numbers list entries one by one and masks as one entry per id/mask pair)."""
        fmi = 0
        im16 = _image16(can_id, ext, rtr)
        im32 = _image32(can_id, ext, rtr)
        for entry in self._banks:
            mode, fifo, values, size = entry
            image = im16 if size == 4 else im32
            if mode == CAN.LIST16 or mode == CAN.LIST32:
                for v in values:
                    if image == v:
                        return (fifo << 8) | fmi
                    fmi += 1
            else:
                for i in range(0, size, 2):
                    if image & values[i + 1] == values[i] & values[i + 1]:
                        return (fifo << 8) | fmi
                    fmi += 1
        return -1

    def _irq(self, fifo, reason):
        heap_lock()  # the real callback runs with the GC locked: it must not allocate
        try:
            self.callbacks[fifo](self, reason)
        finally:
            heap_unlock()

    def _receive(self, can_id, ext, rtr, data, n):
        """The controller's receive path: filters, FIFO, IRQ state machine."""
        hit = self._match(can_id, ext, rtr)
        if hit < 0:
            return False
        fifo = hit >> 8
        state = self.rx_state
        cb = self.callbacks[fifo]
        if not self._rx[fifo].push(can_id, ext, rtr, hit & 0xFF, data, n):
            if cb and state[fifo] == 2:
                state[fifo] = 3
                self._irq(fifo, 2)
            return False
        count = self._rx[fifo].count
        if cb:
            if state[fifo] == 0:
                state[fifo] = 1
                self._irq(fifo, 0)
            if state[fifo] == 1 and count == CAN.FIFO_DEPTH:
                state[fifo] = 2
                self._irq(fifo, 1)
        return True

    def _run_bus(self):
        """The frames in the TX mailboxes go out (nothing leaves while bus-off)."""
        if self.bus_off:
            return
        mode = self.mode
        while True:
            slot = self._tx.pop()
            if slot is None:
                return
            self.transmitted += 1
            if mode == CAN.NORMAL or mode == CAN.LOOPBACK:
                self.on_bus.append((slot[0], slot[1], slot[2], bytes(slot[4][:slot[5]])))
            if self.lose:
                self.lose -= 1
            elif mode == CAN.LOOPBACK or mode == CAN.SILENT_LOOPBACK:
                self._receive(slot[0], slot[1], slot[2], slot[4], slot[5])

    # --- test hooks: the bus -----------------------------------------------------------
    def inject(self, can_id, data, ext=False, rtr=False):
        """A frame on the bus. Returns True when a FIFO took it."""
        if self.state() == CAN.BUS_OFF or self.mode == CAN.SILENT_LOOPBACK:
            return False
        return self._receive(can_id, ext, rtr, data, len(data))

    # --- the pyb.CAN API ---------------------------------------------------------------
    def any(self, fifo):
        self._run_bus()
        return self._rx[fifo].count > 0

    def send(self, data, id, *, timeout=0, rtr=False, extframe=False, fdf=False, brs=False):
        if isinstance(data, int):
            data = bytes([data & 0xFF])
        n = len(data)
        if n > 8:
            raise ValueError("CAN data field too long")
        if not self._tx.push(id & (0x1FFFFFFF if extframe else 0x7FF), extframe is True or extframe == 1,
                             rtr is True or rtr == 1, 0, data, n):
            raise OSError(110)  # no free mailbox within `timeout` (ETIMEDOUT)

    def recv(self, fifo, lst=None, *, timeout=5000):
        self._run_bus()
        slot = self._rx[fifo].pop()
        if slot is None:
            raise OSError(110)  # ETIMEDOUT, as the real one after `timeout`
        count = self._rx[fifo].count
        if self.callbacks[fifo]:  # recv re-arms the interrupts, as pyb_can_recv does
            state = self.rx_state[fifo]
            if state == 1 and not count:
                self.rx_state[fifo] = 0
            elif state == 2 or state == 3:
                self.rx_state[fifo] = 1
        n = slot[5]
        if lst is None:
            return [slot[0], slot[1], slot[2], slot[3], bytes(slot[4][:n])]
        if len(lst) < 5:
            raise ValueError("recv list needs 5 items")
        self._views = can_model.recv_views(self._views, lst[4], 4)
        lst[0] = slot[0]
        lst[1] = slot[1]
        lst[2] = slot[2]
        lst[3] = slot[3]
        lst[4] = can_model.copy_out(self._views, slot)
        return lst

    def rxcallback(self, fifo, fun):
        self.callbacks[fifo] = fun
        self.rx_state[fifo] = 1 if self._rx[fifo].count else 0

    def state(self):
        self._run_bus()
        if self.bus_off:
            if self.auto_restart:  # recovers by itself after 128 x 11 recessive bits
                self.bus_off = False
                self.tec = self.rec = 0
            else:
                return CAN.BUS_OFF
        return self.error_state()

    def info(self, lst=None):
        self._run_bus()
        lst = self.fill_counters(lst if lst is not None else [0] * 8)
        lst[5] = self._tx.count
        lst[6] = self._rx[0].count
        lst[7] = self._rx[1].count
        return lst

    def restart(self):
        self.restart_errors()


def wfi():
    pass
