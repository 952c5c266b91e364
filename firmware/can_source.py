# CAN frames from the bus for live mode: pyb.CAN on STM32 boards, with hardware
# filters built from the DBC's ids. Replay mode needs no source here: its frames arrive
# over the link. Only this module imports pyb.
from micropython import const

_EXT_KEY = const(0x20000000)  # the decoder's key flag for extended ids
_FIFO = const(0)
_OVERFLOW = const(2)  # rxcallback reason: a frame was lost, the FIFO was full

# can_state values reported in STATS
STATE_ACTIVE = const(0)
STATE_WARNING = const(1)
STATE_PASSIVE = const(2)
STATE_BUS_OFF = const(3)
STATE_NONE = const(255)


def plan_filters(keys, banks):
    """Filter banks for the decoder's frame keys: [(mode, params), ...].

    bxCAN semantics (pyb.CAN with extframe=False): a LIST16 bank holds four standard
    ids, a LIST32 bank two extended ids. When the ids need more banks than the
    controller has, accept everything (MASK16 all-std + MASK32 all-ext) and let the
    decoder count the unknown ids."""
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


class PybCanSource:
    """Frames from pyb.CAN FIFO 0 into one reused list: [id, ext, rtr, fmi, data]."""

    def __init__(self, bus, bitrate, keys, banks=14):
        import pyb

        CAN = pyb.CAN
        self._can = CAN(bus, CAN.NORMAL, baudrate=bitrate, auto_restart=True)
        for bank, (mode, params) in enumerate(plan_filters(keys, banks)):
            self._can.setfilter(bank, getattr(CAN, mode), _FIFO, params)
        self._frame = [0, False, False, 0, memoryview(bytearray(8))]
        self._info = [0] * 8
        self.overflows = 0
        self._states = {CAN.ERROR_ACTIVE: STATE_ACTIVE, CAN.ERROR_WARNING: STATE_WARNING,
                        CAN.ERROR_PASSIVE: STATE_PASSIVE, CAN.BUS_OFF: STATE_BUS_OFF}
        self._can.rxcallback(_FIFO, self._on_rx)

    def _on_rx(self, can, reason):
        # runs in an interrupt: no allocation, just count
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
