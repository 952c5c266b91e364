# The serial port to the host: USB VCP or a UART on a board, stdin/stdout on the unix
# port (the virtual board). Each kind is a module of its own, and the module is the port
# (host_port_stdio.py, host_port_usb.py, host_port_uart.py): a board loads only the one
# it opens, so only that one's names are interned (they stay for good; docs/hardware.md).
# One small interface: readinto(buf) -> n (never blocks, 0 when nothing is waiting),
# write(buf, n) (no slicing, no allocation), wait(ms) to idle until bytes arrive, close().
# (String literals of 10 characters or fewer are interned: the module names are longer.)
import sys


def open_port(config):
    """The port named by config["port"]: "auto", "usb", "stdio" or "uart:ID:BAUD"."""
    name = config.get("port", "auto")
    if name == "auto":
        name = "stdio" if sys.platform in ("linux", "darwin") else "usb"
    if name == "stdio":
        port = __import__("host_port_stdio")
        port.start()
    elif name == "usb":
        port = __import__("host_port_usb")
        port.start()
    elif name[:5] == "uart:ID:BAUD"[:5]:  # "uart:" and ":" as literals would be two more
        parts = name.split(name[4])  # interned names (board names stay under 300: docs/hardware.md)
        port = __import__("host_port_uart")
        port.start(int(parts[1]), int(parts[2]))
    else:
        raise ValueError("unknown port " + name)
    return port
