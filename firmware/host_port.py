# The serial port to the host: USB VCP or a UART on a board, stdin/stdout on the unix
# port (the virtual board). One small interface: readinto(buf) -> n (never blocks,
# 0 when nothing is waiting), write(buf, n) (no slicing, no allocation), wait(ms) to
# idle until bytes arrive, close().
import sys
import time


class UnixPort:
    """stdin/stdout of the unix port, a pseudo-terminal under `mule vboard`."""

    def __init__(self):
        import select
        import termios

        attrs = termios.tcgetattr(0)
        self._saved = [attrs[0], attrs[1], attrs[2], attrs[3], attrs[4], attrs[5], list(attrs[6])]
        attrs[6][6] = 0  # VMIN: a read returns what is there, possibly nothing
        attrs[6][5] = 0  # VTIME
        termios.tcsetattr(0, termios.TCSANOW, attrs)
        self._mod = termios
        self._in = sys.stdin.buffer
        self._out = sys.stdout.buffer
        self._poll = select.poll()
        self._poll.register(sys.stdin, select.POLLIN)

    def readinto(self, buf):
        return self._in.readinto(buf) or 0

    def write(self, buf, n):
        self._out.write(buf, n)

    def wait(self, ms):
        for _ in self._poll.ipoll(ms):  # ipoll: no result list per call (poll() allocates 96 B)
            break

    def close(self):
        self._mod.tcsetattr(0, self._mod.TCSANOW, self._saved)


class UsbPort:
    """pyb.USB_VCP: recv with timeout 0 never blocks; send waits at most `timeout` ms."""

    def __init__(self):
        import pyb

        self._io = pyb.USB_VCP()
        self._mod = pyb

    def readinto(self, buf):
        return self._io.recv(buf, timeout=0)

    def write(self, buf, n):
        self._io.write(buf, n)

    def wait(self, ms):
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while not self._io.any() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            self._mod.wfi()

    def close(self):
        pass


class UartPort:
    """machine.UART with a receive buffer; readinto returns None when empty."""

    def __init__(self, port, baudrate):  # names the board interns already
        import machine

        self._io = machine.UART(port, baudrate=baudrate, timeout=0, rxbuf=4096)

    def readinto(self, buf):
        return self._io.readinto(buf) or 0

    def write(self, buf, n):
        self._io.write(buf, n)

    def wait(self, ms):
        deadline = time.ticks_add(time.ticks_ms(), ms)
        while not self._io.any() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            time.sleep_ms(1)

    def close(self):
        pass


def open_port(config):
    """The port named by config["port"]: "auto", "usb", "stdio" or "uart:ID:BAUD". Call it
    once: this module then keeps only the class of the port opened."""
    name = config.get("port", "auto")
    if name == "auto":
        name = "stdio" if sys.platform in ("linux", "darwin") else "usb"
    if name == "stdio":
        return _only(UnixPort())
    if name == "usb":
        return _only(UsbPort())
    if name.startswith("uart:"):
        _, uart_id, baud = name.split(":")
        return _only(UartPort(int(uart_id), int(baud)))
    raise ValueError("unknown port " + name)


def _only(port):
    # A port's methods hold this module's globals, and with them every class here: the
    # others (and open_port) leave, so their code leaves the heap (RAM is the budget).
    g = globals()
    for name in ("UnixPort", "UsbPort", "UartPort", "open_port", "_only"):
        if g[name] is not type(port):
            del g[name]
    return port
