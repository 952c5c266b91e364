# A fake `pyb` for the unix port: enough of pyb.CAN (STM32 bxCAN) to run the firmware's
# live source off a board. It enforces what the real one does: frames reach a FIFO only
# through a matching filter bank (LIST16 = standard ids, LIST32 = extended ids, masks),
# each FIFO holds 3 frames and loses the newest when full (rxcallback reason 2),
# recv() fills the caller's 5-item list, and error states follow the counters.
# Tests feed the "bus" with CAN.inject(). Tested only on this fake: real bit timing.


class CAN:
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

    instances = {}

    def __init__(self, bus, mode=None, extframe=False, prescaler=100, *, sjw=1, bs1=6, bs2=8,
                 auto_restart=False, baudrate=0, sample_point=75):
        if bus not in (1, 2):
            raise ValueError("CAN(%d) doesn't exist" % bus)
        self.bus = bus
        self.mode = mode
        self.baudrate = baudrate
        self.auto_restart = auto_restart
        self.filters = {}
        self.fifos = ([], [])
        self.callbacks = [None, None]
        self.tec = 0
        self.rec = 0
        self.entries = [0, 0, 0]  # warning, passive, bus-off
        CAN.instances[bus] = self

    def setfilter(self, bank, mode, fifo, params, *, rtr=None):
        if not 0 <= bank < CAN.BANKS or fifo not in (0, 1):
            raise ValueError("CAN filter parameter error")
        size = 4 if mode in (CAN.MASK16, CAN.LIST16) else 2
        if mode not in (CAN.MASK16, CAN.LIST16, CAN.MASK32, CAN.LIST32) or len(params) != size:
            raise ValueError("CAN filter parameter error")
        self.filters[bank] = (mode, fifo, tuple(params))

    def _match(self, can_id, ext):
        """(fifo, fmi) of the first matching filter, or None. FMI numbers filter entries."""
        fmi = 0
        for bank in sorted(self.filters):
            mode, fifo, params = self.filters[bank]
            if mode == CAN.LIST16 and not ext:
                for p in params:
                    if p == can_id:
                        return fifo, fmi
                    fmi += 1
            elif mode == CAN.MASK16 and not ext:
                for i in (0, 2):
                    if can_id & params[i + 1] == params[i] & params[i + 1]:
                        return fifo, fmi
                    fmi += 1
            elif mode == CAN.LIST32 and ext:
                for p in params:
                    if p == can_id:
                        return fifo, fmi
                    fmi += 1
            elif mode == CAN.MASK32 and ext:
                if can_id & params[1] == params[0] & params[1]:
                    return fifo, fmi
                fmi += 1
            else:
                fmi += len(params) if mode in (CAN.LIST16, CAN.LIST32) else len(params) // 2
        return None

    # --- test hooks: the bus -----------------------------------------------------------
    def inject(self, can_id, data, ext=False, rtr=False):
        """A frame on the bus. Returns True when a FIFO took it."""
        if self.state() == CAN.BUS_OFF:
            return False
        hit = self._match(can_id, ext)
        if hit is None:
            return False
        fifo, fmi = hit
        queue = self.fifos[fifo]
        if len(queue) >= CAN.FIFO_DEPTH:
            if self.callbacks[fifo]:
                self.callbacks[fifo](self, 2)
            return False
        queue.append((can_id, ext, rtr, fmi, bytes(data)))
        if self.callbacks[fifo]:
            self.callbacks[fifo](self, 1 if len(queue) == CAN.FIFO_DEPTH else 0)
        return True

    def set_error_counters(self, tec, rec):
        before = self.state()
        self.tec, self.rec = tec, rec
        after = self.state()
        if after != before:
            if after == CAN.ERROR_WARNING:
                self.entries[0] += 1
            elif after == CAN.ERROR_PASSIVE:
                self.entries[1] += 1
            elif after == CAN.BUS_OFF:
                self.entries[2] += 1

    # --- the pyb.CAN API ---------------------------------------------------------------
    def any(self, fifo):
        return bool(self.fifos[fifo])

    def recv(self, fifo, lst=None, *, timeout=5000):
        queue = self.fifos[fifo]
        if not queue:
            raise OSError(110)  # ETIMEDOUT, as the real one after `timeout`
        can_id, ext, rtr, fmi, data = queue.pop(0)
        if lst is None:
            return [can_id, ext, rtr, fmi, data]
        # The real recv resizes the caller's memoryview in place (no allocation); a
        # Python fake cannot, so it writes into the same buffer and slices it.
        view = lst[4]
        backing = getattr(self, "_backing", None)
        if backing is None or len(backing) < 8:
            backing = self._backing = bytearray(8)
        if len(view) < len(data) and len(view) < 8 and view is not getattr(self, "_view", None):
            raise ValueError("recv list item 4 must be a memoryview of at least 8 bytes")
        backing[: len(data)] = data
        lst[0], lst[1], lst[2], lst[3] = can_id, ext, rtr, fmi
        self._view = lst[4] = memoryview(backing)[: len(data)]
        return lst

    def rxcallback(self, fifo, fun):
        self.callbacks[fifo] = fun

    def state(self):
        if self.tec > 255:
            return CAN.BUS_OFF
        if self.tec > 127 or self.rec > 127:
            return CAN.ERROR_PASSIVE
        if self.tec > 95 or self.rec > 95:
            return CAN.ERROR_WARNING
        return CAN.ERROR_ACTIVE

    def info(self, lst=None):
        lst = lst if lst is not None else [0] * 8
        lst[0], lst[1] = self.tec, self.rec
        lst[2], lst[3], lst[4] = self.entries
        lst[5] = 0
        lst[6], lst[7] = len(self.fifos[0]), len(self.fifos[1])
        return lst

    def restart(self):
        self.tec = self.rec = 0


def wfi():
    pass
