# machine.UART with a receive buffer (host_port.py: the module is the port); its
# readinto returns None when empty.
import machine
import time

_io = None  # type: machine.UART  # type: ignore[assignment]  # the UART, once start() ran


def start(port, baudrate):  # names the board interns already
    global _io
    _io = machine.UART(port, baudrate=baudrate, timeout=0, rxbuf=4096)


def readinto(buf):
    return _io.readinto(buf) or 0


def write(buf, n):
    _io.write(buf, n)


def wait(ms):
    deadline = time.ticks_add(time.ticks_ms(), ms)
    while not _io.any() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        time.sleep_ms(1)


def close():
    pass
