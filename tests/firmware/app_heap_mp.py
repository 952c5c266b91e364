# Runs inside MicroPython: heap bytes app.Board allocates while replaying CAN batches.
# Usage: micropython app_heap_mp.py FIRMWARE_DIR WIRE_HEX_FILE
# The file holds host→board wire bytes (CAN batches, then STOP). The port notes
# the heap and the frames received at each read; the script prints, for the steady part
# (after the first quarter of the bytes, before the last read), "<heap bytes> <frames>
# <all frames> <1: supervision ran>".
import gc
import sys
from array import array

sys.path.insert(0, sys.argv[1])
import app  # noqa: E402


class FeedPort:
    """Hands the board preloaded bytes, 256 at a time; swallows what it writes. The bytes
    sit in 256-byte chunks: a 100 KB heap holding the board has no room left in one piece."""

    def __init__(self):
        self.chunks = []
        self.size = 0
        self.at = 0
        self.board = None
        # heap allocated and frames received when steady reading began and ended: a
        # preallocated array, so noting them allocates nothing itself
        self.marks = array("i", [-1, 0, -1, 0])

    def load(self, path):
        with open(path, "rb") as f:
            while True:
                chunk = f.read(256)
                if not chunk:
                    break
                self.chunks.append(chunk)
                self.size += len(chunk)

    def readinto(self, buf):
        at = self.at
        if at >= self.size:
            return 0
        last_read = at + 256 >= self.size  # the chunk that ends with STOP
        marks = self.marks
        if self.board is not None and at >= self.size // 4:
            k = 0 if marks[0] < 0 else 2 if last_read and marks[2] < 0 else -1
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


config = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "heap"}
port = FeedPort()
board = app.Board(config, port)  # first, as on a board: its buffers come from a fresh heap
port.load(sys.argv[2])
board.hello()
port.board = board
gc.collect()
gc.disable()
board.run()
gc.enable()
marks = port.marks
print(marks[2] - marks[0], marks[3] - marks[1], board.stats[1], 1 if board.supervisor is not None else 0)
