# Runs inside MicroPython: the firmware's live mode (app.Board with pyb.CAN) on the fake
# pyb. Usage: micropython live_mode_mp.py FIRMWARE_DIR FAKES_DIR < frames
# stdin: one bus event per line: "<id> <ext 0|1> <hex>" injects a frame, "poll" runs the
# board's CAN poll, "errors <tec> <rec>" sets the controller's error counters.
# stdout: the filters set, the CAN settings, the hex of everything the board wrote to
# its port, and how many frames the fake controller accepted.
import sys
import time
from binascii import hexlify, unhexlify

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import app  # noqa: E402
import pyb  # noqa: E402


class CapturePort:
    """What the board writes goes to stdout as hex, on one line."""

    def readinto(self, buf):
        return 0

    def write(self, buf, n):
        sys.stdout.write(hexlify(memoryview(buf)[:n]))

    def wait(self, ms):
        pass

    def close(self):
        pass


config = {"mode": "live", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "capture", "board": "fake"}
port = CapturePort()
board = app.Board(config, port)
can = pyb.CAN.instances[1]
print(sorted(can.filters.items()))
print(can.baudrate, can.mode)
board.hello()
accepted = 0
for line in sys.stdin:
    fields = line.split()
    if not fields:
        continue
    if fields[0] == "poll":
        board.poll_can()
    elif fields[0] == "errors":
        can.set_error_counters(int(fields[1]), int(fields[2]))
    else:
        data = unhexlify(fields[2]) if len(fields) > 2 else b""
        if can.inject(int(fields[0]), data, ext=fields[1] == "1"):
            accepted += 1
board.send(board.writer.telemetry_flush())
board.send_stats(time.ticks_ms())
print()
print(accepted)
