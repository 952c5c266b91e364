# Runs inside MicroPython: heap bytes app.Board allocates while replaying CAN batches.
# Usage: micropython app_heap_mp.py FIRMWARE_DIR WIRE_HEX_FILE
# The file holds host→board wire bytes in hex (CAN batches, then STOP). The port notes
# the heap and the frames received at each read; the script prints, for the steady part
# (after the first quarter of the bytes, before the last read), "<heap bytes> <frames>
# <all frames>".
import gc
import sys
from array import array
from binascii import unhexlify

sys.path.insert(0, sys.argv[1])
import app  # noqa: E402


class FeedPort:
    """Hands the board preloaded bytes, 256 at a time; swallows what it writes."""

    def __init__(self, wire):
        self.wire = wire
        self.at = 0
        self.board = None
        # heap allocated and frames received when steady reading began and ended: a
        # preallocated array, so noting them allocates nothing itself
        self.marks = array("i", [-1, 0, -1, 0])

    def readinto(self, buf):
        wire = self.wire
        at = self.at
        last_read = at + 256 >= len(wire)  # the chunk that ends with STOP
        marks = self.marks
        if self.board is not None and at >= len(wire) // 4:
            k = 0 if marks[0] < 0 else 2 if last_read and marks[2] < 0 else -1
            if k >= 0:
                marks[k] = gc.mem_alloc()
                marks[k + 1] = self.board.stats[1]
        n = min(len(buf), 256, len(wire) - at)
        for i in range(n):
            buf[i] = wire[at + i]
        self.at = at + n
        return n

    def write(self, buf, n):
        pass

    def wait(self, ms):
        pass

    def close(self):
        pass


config = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "heap"}
with open(sys.argv[2]) as f:
    port = FeedPort(unhexlify(f.read().strip()))
board = app.Board(config, port)
board.hello()
port.board = board
gc.collect()
gc.disable()
board.run()
gc.enable()
marks = port.marks
print(marks[2] - marks[0], marks[3] - marks[1], board.stats[1])
