# Runs inside MicroPython (imported by app_heap_mp.py and replay_mp.py): a host port for
# app.Board that hands it preloaded wire bytes and notes the heap the board allocates.
import gc
from array import array

_CHUNK = 128


class HeapPort:
    """The wire in 128-byte chunks (a 100 KB heap holding the board has no room left for it
    in one piece, and its free space is in holes of a few hundred bytes), copied out without
    allocating, 128 bytes a read; marks the heap allocated
    and the frames received when the steady part begins (a quarter into the wire) and ends
    (the read that ends with STOP); drops what the board writes."""

    def __init__(self):
        self.chunks = []
        self.size = 0
        self.at = 0
        self.board = None  # set once the board is built: marks need its frame counter
        self.marks = array("i", [-1, 0, -1, 0])  # preallocated: noting allocates nothing

    def load(self, path):
        with open(path, "rb") as f:
            while True:
                chunk = f.read(_CHUNK)
                if not chunk:
                    break
                self.chunks.append(chunk)
                self.size += len(chunk)

    def readinto(self, buf):
        at = self.at
        if at >= self.size:
            return 0
        marks = self.marks
        if self.board is not None and at >= self.size // 4:
            k = 0 if marks[0] < 0 else 2 if at + _CHUNK >= self.size and marks[2] < 0 else -1
            if k >= 0:
                marks[k] = gc.mem_alloc()
                marks[k + 1] = self.board.stats[1]
        chunk = self.chunks[at // _CHUNK]
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

    def run(self, board):
        """board.run() over the whole wire, the heap collected first and the GC off meanwhile;
        returns steady()."""
        board.hello()
        self.board = board
        gc.collect()
        gc.disable()
        board.run()
        gc.enable()
        return self.steady()

    def steady(self):
        """(heap bytes allocated, frames received) over the steady part."""
        return self.marks[2] - self.marks[0], self.marks[3] - self.marks[1]
