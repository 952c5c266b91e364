# The virtual boards' CAN controller: machine_can.py's machine.CAN (filters, 3-deep RX FIFO
# with overrun, TX queue, TEC/REC states) with its bus on the host's virtual CAN bus
# (host_tools/vcan/bus.py). The unix board reaches it over a Unix socket: PATH (set by the
# virtual board's preamble) or the environment variable MULE_VCAN; the emulated Pyboard
# through its C module vcan_link (host_tools/qemu_board: records in from a file, out on
# UART1), this module frozen into its firmware. Importing this module installs it as
# `machine` (the builtin's names plus CAN), as a Pyboard build with machine.CAN has it.
#
# Wire, both ways: 20-byte records [kind, dlc, rtr, 0, id (u32 LE, bit 31: extended),
# data (8), time (u32 LE: the host's clock in us, mod 2**30)]. Host->board: kind 1 a frame
# on the bus at that time (paced to the bitrate by the host), kind 2 a receive error (REC + 1), kind 3 an
# acknowledged transmission (TEC - 1), kind 4 a transmission nobody acknowledged (TEC + 8,
# error passive at most, as CAN's ACK-error rule). Board->host: kind 0x81 a frame this
# controller sent, kind 0x80 the controller's bitrate (id field) when it starts, 0 when it stops.
import sys
import time

import machine_can
from micropython import const

_REC = 20
_MOD = const(0x3FFFFFFF)
_FRAME = 1
_RX_ERROR = 2
_TX_ACKED = 3
_TX_NO_ACK = 4
_SLACK_US = 5000  # host scheduling jitter allowed before a full FIFO loses a frame
# frames read from the bus, waiting for room in the FIFO: more than the slack lets wait at
# 1 Mbit/s (~8 per ms), few enough for a 100 KB heap (the emulated Pyboard's)
_STAGE = 48
PATH = None


def _wrap(d):
    # a difference of two times mod 2**30 as a signed number
    d &= _MOD
    return d - 0x40000000 if d >= 0x20000000 else d


_Base = machine_can.CAN  # the fake's controller; machine_can.CAN becomes the subclass below


class CAN(_Base):
    def __init__(self, id, *args, **kwargs):
        self._sock = None
        self._inbuf = bytearray(_REC * 16)
        self._fill = 0
        self._stage = []  # (host time on the bus, id, ext, rtr, data)
        self._offset = None  # least (our clock - host clock) seen: the pipe's delay, ~0
        self._out = bytearray(_REC)
        _Base.__init__(self, id, *args, **kwargs)
        self._sock = _connect()
        if self._sock is not None:
            self._record(0x80, self.bitrate, False, False, b"")

    def _record(self, kind, can_id, ext, rtr, data):
        out = self._out
        out[0] = kind
        out[1] = len(data)
        out[2] = 1 if rtr else 0
        out[3] = 0
        for i in range(4):
            out[4 + i] = (can_id >> (8 * i)) & 0xFF
        if ext:
            out[7] |= 0x80  # (an id | 0x80000000 would be a big int on a 32-bit board)
        for i in range(8):
            out[8 + i] = data[i] if i < len(data) else 0
        for i in range(4):
            out[16 + i] = 0
        view = memoryview(out)
        sent = 0
        while sent < _REC:
            n = self._sock.write(view[sent:])
            if n:
                sent += n

    def _pump(self):
        sock = self._sock
        while True:
            n = sock.readinto(memoryview(self._inbuf)[self._fill:])
            if not n:
                break
            self._fill += n
            whole = self._fill - self._fill % _REC
            buf = self._inbuf
            now = time.ticks_us() & _MOD
            for at in range(0, whole, _REC):
                kind = buf[at]
                if kind == _FRAME:
                    can_id = buf[at + 4] | buf[at + 5] << 8 | buf[at + 6] << 16 | (buf[at + 7] & 0x3F) << 24
                    ext = bool(buf[at + 7] & 0x80)
                    rtr = bool(buf[at + 2])
                    if len(self._stage) >= _STAGE:
                        self._stage.pop(0)
                        self.overruns += 1
                        self._overrun_flag = _Base.RECV_ERR_OVERRUN
                    sent = buf[at + 16] | buf[at + 17] << 8 | buf[at + 18] << 16 | (buf[at + 19] & 0x3F) << 24
                    lag = _wrap(now - sent)
                    if self._offset is None or lag < self._offset:
                        self._offset = lag
                    self._stage.append((sent, can_id, ext, rtr, bytes(buf[at + 8:at + 8 + buf[at + 1]])))
                elif kind == _RX_ERROR:
                    self.set_error_counters(self.tec, min(self.rec + 1, 255))
                elif kind == _TX_ACKED:
                    self.set_error_counters(max(self.tec - 1, 0), self.rec)
                elif kind == _TX_NO_ACK:
                    if self.tec < 128:
                        self.set_error_counters(min(self.tec + 8, 128), self.rec)
            rest = self._fill - whole
            buf[0:rest] = buf[whole:self._fill]
            self._fill = rest
        # into the FIFO: a frame waits only while it is younger than the slack; older, it
        # meets the full FIFO as it would have on the wire and is lost (an overrun)
        stage = self._stage
        now = time.ticks_us() & _MOD
        while stage:
            arrived, can_id, ext, rtr, data = stage[0]
            if not self._accepts(can_id, ext, rtr):
                stage.pop(0)
                continue
            if self.rx.count >= _Base.RX_DEPTH and _wrap(now - arrived) - self._offset < _SLACK_US:
                break
            stage.pop(0)
            if self.bus_off or self.mode in (_Base.MODE_SILENT_LOOPBACK, _Base.MODE_SLEEP):
                continue
            if self._receive(can_id, ext, rtr, data) and self.rec:
                self.rec -= 1

    def _run_bus(self):
        _Base._run_bus(self)
        if self._sock is None:
            return
        for can_id, ext, rtr, data in self.on_bus:
            self._record(0x81, can_id, ext, rtr, data)
        self.on_bus = []
        self._pump()

    def deinit(self):
        _Base.deinit(self)
        if self._sock is not None:
            self._record(0x80, 0, False, False, b"")  # stopped: the bus no longer delivers to it
            self._sock.close()
            self._sock = None


def _connect():
    # the emulated Pyboard's link when its host attached a bus, else the unix board's socket
    try:
        import vcan_link
    except ImportError:
        vcan_link = None
    if vcan_link is not None:
        return vcan_link if vcan_link.open() else None
    import os
    import socket

    path = PATH or os.getenv("MULE_VCAN")
    if not path:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(b"\x01\x00" + path.encode() + b"\x00")
    s.setblocking(False)
    return s


machine_can.CAN = CAN
sys.modules["machine"] = machine_can
