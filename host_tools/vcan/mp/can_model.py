# What the fake CAN controllers share (MicroPython and CPython): the firmware tests' pyb.CAN
# (tests/firmware/fakes/pyb.py) and machine.CAN (machine_can.py, also the virtual boards'
# controller, with mule_vcan.py). One place for:
# - Fifo: a queue of preallocated frame slots [id, ext, rtr, fmi, bytearray(8), n] (bxCAN's
#   3-deep receive FIFOs, pyb's TX mailboxes): push() and pop() allocate nothing;
# - ErrorCounters: the error state from TEC/REC (warning above 95, passive above 127,
#   bus-off once TEC passes 255 and until restart) and the entries into warning, passive
#   and bus-off, counted when the state rises (the drivers count their status interrupts);
# - recv into the caller's list: the real recv resizes the caller's memoryview in place, a
#   fake cannot: it keeps one view per frame length over the caller's bytes, made once.
# The state numbers are pyb.CAN's ERROR_* and machine.CAN's STATE_* alike.
try:
    from micropython import heap_lock, heap_unlock  # noqa: F401 (for the fakes' interrupt handlers)
except ImportError:  # CPython
    def heap_lock():
        pass

    def heap_unlock():
        pass

ACTIVE = 1
WARNING = 2
PASSIVE = 3
BUS_OFF = 4


class Fifo:
    def __init__(self, depth):
        self.depth = depth
        self.slots = [[0, False, False, 0, bytearray(8), 0] for _ in range(depth)]
        self.head = 0
        self.count = 0

    def push(self, can_id, ext, rtr, fmi, data, n):
        """The frame into the next free slot; False when all are taken (it is lost)."""
        if self.count >= self.depth:
            return False
        slot = self.slots[(self.head + self.count) % self.depth]
        slot[0] = can_id
        slot[1] = ext
        slot[2] = rtr
        slot[3] = fmi
        buf = slot[4]
        for i in range(n):
            buf[i] = data[i]
        slot[5] = n
        self.count += 1
        return True

    def pop(self):
        """The oldest slot (its contents stay until a later push), or None when empty."""
        if not self.count:
            return None
        slot = self.slots[self.head]
        self.head = (self.head + 1) % self.depth
        self.count -= 1
        return slot

    def clear(self):
        self.head = 0
        self.count = 0


class ErrorCounters:
    """Mixin: tec, rec, bus_off, entries [warning, passive, bus-off], restarts."""

    def init_errors(self):
        self.tec = 0
        self.rec = 0
        self.bus_off = False
        self.entries = [0, 0, 0]
        self.restarts = 0

    def error_state(self):
        if self.bus_off:
            return BUS_OFF
        if self.tec > 127 or self.rec > 127:
            return PASSIVE
        if self.tec > 95 or self.rec > 95:
            return WARNING
        return ACTIVE

    def set_error_counters(self, tec, rec):
        """Test hook (and the virtual bus's): the counters now; TEC above 255 is bus-off."""
        before = self.error_state()
        self.tec, self.rec = tec, rec
        if tec > 255:
            self.bus_off = True
        after = self.error_state()
        if after > before:
            self.entries[after - WARNING] += 1

    def fill_counters(self, lst):
        """TEC, REC and the three entry counts into lst[0:5] (pyb info(), machine get_counters())."""
        lst[0] = min(self.tec, 255)
        lst[1] = self.rec
        lst[2] = self.entries[0]
        lst[3] = self.entries[1]
        lst[4] = self.entries[2]
        return lst

    def restart_errors(self):
        self.restarts += 1
        self.tec = 0
        self.rec = 0
        self.bus_off = False


def recv_views(views, view, item):
    """The views for the caller's memoryview `view` (recv list item `item`): `views` when they
    were made over it, else new ones (a ValueError for anything else, as the real recv)."""
    if views is not None:
        for v in views:
            if v is view:
                return views
    if not isinstance(view, memoryview) or len(view) < 8:
        raise ValueError("recv list item %d must be a memoryview of at least 8 bytes" % item)
    return _slices(view)


def _slices(view):
    # a comprehension in recv_views() itself would make `view` a cell, allocated at every call
    return [view[:n] for n in range(9)]


def copy_out(views, slot):
    """The slot's payload into the caller's bytes; the view of the frame's length."""
    full = views[8]
    buf = slot[4]
    n = slot[5]
    for i in range(n):
        full[i] = buf[i]
    return views[n]
