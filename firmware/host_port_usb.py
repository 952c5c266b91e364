# pyb.USB_VCP (host_port.py: the module is the port): recv with timeout 0 never blocks;
# send waits at most `timeout` ms.
import pyb
import time

_io = pyb.USB_VCP()


def start():
    pass


def readinto(buf):
    return _io.recv(buf, timeout=0)


def write(buf, n):
    _io.write(buf, n)


def wait(ms):
    deadline = time.ticks_add(time.ticks_ms(), ms)
    while not _io.any() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        pyb.wfi()


def close():
    pass
