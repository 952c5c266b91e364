# Runs inside MicroPython: app.Board in replay mode fed preloaded host->board wire bytes,
# on the fake CAN controllers. Usage: micropython replay_mp.py FIRMWARE_DIR FAKES_DIR
# CONFIG_JSON WIRE_FILE OUT_FILE. WIRE_FILE: host->board bytes; OUT_FILE gets the bytes
# the board writes (raw: writing a file allocates no hex copies on the tight heap).
# CONFIG_JSON "_fake": "machine" installs the fake machine.CAN.
# stdout, "key value" lines: kind (the CAN source's, or None), sent (frames the controller
# transmitted), on_bus (frames it put on the bus).
# CONFIG_JSON "_heap": true measures instead: the board's writes are dropped, and "heap
# <bytes> <frames>" gives the heap allocated over the steady part (after the first quarter
# of the wire, before its last read) with the GC off, and the frames received meanwhile.
import sys
import time

from fake_board_mp import setup  # this script's folder is sys.path[0]
from heap_port_mp import HeapPort

config, fake = setup({"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed",
                      "board": "fake"})
import app  # noqa: E402


class FeedPort:
    """Hands the board the wire file's bytes, 256 at a time (read as it goes: the heap is
    Pyboard-sized); what the board writes goes to the out file."""

    def __init__(self, f, out):
        self.f = f
        self.out = out

    def readinto(self, buf):
        return self.f.readinto(memoryview(buf)[:256]) or 0

    def write(self, buf, n):
        self.out.write(memoryview(buf)[:n])

    def wait(self, ms):
        pass

    def close(self):
        pass


if config.get("_heap"):
    port = HeapPort()
    port.load(sys.argv[4])
    print("heap", *port.run(app.Board(config, port)))
    board = port.board
    print("kind", board.source.kind if board.source is not None else None)
    sys.exit(0)

port = FeedPort(open(sys.argv[4], "rb"), open(sys.argv[5], "wb"))
board = app.Board(config, port)
if config.get("_no_tx_count") and board.source is not None:
    board.source._can.count_tx = False  # get_counters() reports pending TX as None
if config.get("_lose") and board.source is not None:
    board.source._can.lose = config["_lose"]  # the first N looped frames vanish (a glitch)
board.run()
board.send_stats(time.ticks_ms())  # the counters at the end
port.out.close()
source = board.source
print("kind", source.kind if source is not None else None)
if config.get("_fake") == "machine" and fake.WDT.started:
    wdt = fake.WDT.started[0]
    print("wdt", wdt.timeout, wdt.feeds, wdt.longest_ms)
if source is not None:
    if config.get("_fake") == "mcp2515":
        print("on_bus", len(fake.chip.sent))
    else:
        print("sent", source._can.transmitted)
        print("on_bus", len(source._can.on_bus))
