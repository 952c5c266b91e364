# stdin/stdout of the unix port, a pseudo-terminal under `mule vboard` (host_port.py: the
# module is the port).
import select
import sys
import termios

_saved = []  # type: list
_in = sys.stdin.buffer
_out = sys.stdout.buffer
_poll = select.poll()


def start():
    attrs = termios.tcgetattr(0)
    _saved[:] = [attrs[0], attrs[1], attrs[2], attrs[3], attrs[4], attrs[5], list(attrs[6])]
    attrs[6][6] = 0  # VMIN: a read returns what is there, possibly nothing
    attrs[6][5] = 0  # VTIME
    termios.tcsetattr(0, termios.TCSANOW, attrs)
    _poll.register(sys.stdin, select.POLLIN)


def readinto(buf):
    return _in.readinto(buf) or 0


def write(buf, n):
    _out.write(buf, n)


def wait(ms):
    for _ in _poll.ipoll(ms):  # ipoll: no result list per call (poll() allocates 96 B)
        break


def close():
    termios.tcsetattr(0, termios.TCSANOW, _saved)
