# Runs inside MicroPython: the firmware's live mode (app.Board with a CAN source) on the
# fake controllers. Usage: micropython live_mode_mp.py FIRMWARE_DIR FAKES_DIR CONFIG_JSON OUT_FILE
# CONFIG_JSON: the board's config; its "_fake": "machine" installs the fake machine.CAN
# (sys.modules["machine"], before the firmware imports it), else only the fake pyb is there.
# stdin: one event per line:
#   "<id> <ext 0|1> <hex>"  a frame on the bus
#   "poll"                  the board's CAN poll
#   "errors <tec> <rec>"    the controller's error counters
#   "watch <ms>"            the board's bus watch at time <ms> (BusGuard: ALERTs, restarts)
#   "heap"                  a poll with the GC off: heap bytes it allocated, frames it took
# OUT_FILE gets the bytes the board wrote. stdout, "key value" lines: setup, filters, free
# (heap after start-up), accepted (frames the fake controller took), heap (bytes frames, per "heap" event), restarts.
import gc
import sys
import time
from binascii import unhexlify

from fake_board_mp import setup  # this script's folder is sys.path[0]

config, fake = setup({"mode": "live", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "capture",
                      "board": "fake"})
import app  # noqa: E402


class CapturePort:
    """What the board writes: staged in a buffer made once (writing allocates nothing),
    appended to the out file when it fills and at flush()."""

    def __init__(self, size, out):
        self.buf = bytearray(size)
        self.n = 0
        self.out = out

    def flush(self):
        self.out.write(memoryview(self.buf)[:self.n])
        self.n = 0

    def readinto(self, buf):
        return 0

    def write(self, src, n):
        if self.n + n > len(self.buf):
            self.flush()
        buf = self.buf
        at = self.n
        for i in range(n):
            buf[at + i] = src[i]
        self.n = at + n

    def wait(self, ms):
        pass

    def close(self):
        pass


port = CapturePort(2048, open(sys.argv[4], "wb"))
board = app.Board(config, port)
# the fake controller behind the source (the MCP2515 behind the fake SPI)
can = fake.chip if config.get("_fake") == "mcp2515" else board.source._can
shown = board.source if config.get("_fake") == "mcp2515" else can  # the driver holds the settings
print("setup", repr((board.source.kind, getattr(shown, "bitrate", None), getattr(shown, "mode", None),
                     getattr(shown, "timing", None), getattr(shown, "sample_point", None))))
filters = getattr(can, "filters", None)
print("filters", repr(sorted(filters.items()) if isinstance(filters, dict) else filters))
gc.collect()
print("free", gc.mem_free())
board.hello()
accepted = 0
heaps = []
for line in sys.stdin:
    fields = line.split()
    if not fields:
        continue
    if fields[0] == "poll":
        board.poll_can()
    elif fields[0] == "errors":
        can.set_error_counters(int(fields[1]), int(fields[2]))
    elif fields[0] == "watch":
        board.watch_bus(int(fields[1]))
    elif fields[0] == "heap":
        before_frames = board.live_no
        port.flush()
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        board.poll_can()
        used = gc.mem_alloc() - before
        gc.enable()
        heaps.append((used, board.live_no - before_frames))
    else:
        data = unhexlify(fields[2]) if len(fields) > 2 else b""
        took = can.inject(int(fields[0]), data, ext=fields[1] == "1")
        if took is not None and took is not False:  # the MCP2515 fake names the buffer: 0 or 1
            accepted += 1
board.send(board.writer.telemetry_flush())
board.send_stats(time.ticks_ms())
port.flush()
port.out.close()
print("accepted", accepted)
for used, frames in heaps:
    print("heap", used, frames)
print("restarts", getattr(can, "restarts", None), board.bus_guard.restarts)
