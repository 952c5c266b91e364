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
import gc
import json
import sys
import time

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
config = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "fake"}
config.update(json.loads(sys.argv[3]))
if config.get("_fake") == "machine":
    import machine_can  # noqa: E402

    sys.modules["machine"] = machine_can
elif config.get("_fake") == "mcp2515":
    import machine_spi  # noqa: E402

    sys.modules["machine"] = machine_spi

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


class HeapPort:
    """The wire preloaded in 256-byte chunks, copied out without allocating; marks the heap
    and the frames received when the steady part begins and ends; drops what it is sent."""

    def __init__(self, path):
        self.chunks = []
        self.size = 0
        with open(path, "rb") as f:
            while True:
                chunk = f.read(256)
                if not chunk:
                    break
                self.chunks.append(chunk)
                self.size += len(chunk)
        self.at = 0
        self.board = None
        self.marks = [-1, 0, -1, 0]  # small ints stored in place: noting allocates nothing

    def readinto(self, buf):
        at = self.at
        if at >= self.size:
            return 0
        marks = self.marks
        if self.board is not None and at >= self.size // 4:
            k = 0 if marks[0] < 0 else 2 if at + 256 >= self.size and marks[2] < 0 else -1
            if k >= 0:
                marks[k] = gc.mem_alloc()
                marks[k + 1] = self.board.stats[1]
        chunk = self.chunks[at // 256]
        n = len(chunk)
        for i in range(n):
            buf[i] = chunk[i]
        self.at = at + n
        return n

    def write(self, buf, n):
        pass

    def wait(self, ms):
        pass

    def close(self):
        pass


if config.get("_heap"):
    port = HeapPort(sys.argv[4])
    board = app.Board(config, port)
    board.hello()
    port.board = board
    gc.collect()
    gc.disable()
    board.run()
    gc.enable()
    marks = port.marks
    print("heap", marks[2] - marks[0], marks[3] - marks[1])
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
if config.get("_fake") == "machine" and machine_can.WDT.started:
    wdt = machine_can.WDT.started[0]
    print("wdt", wdt.timeout, wdt.feeds, wdt.longest_ms)
if source is not None:
    if config.get("_fake") == "mcp2515":
        print("on_bus", len(machine_spi.chip.sent))
    else:
        print("sent", source._can.transmitted)
        print("on_bus", len(source._can.on_bus))
