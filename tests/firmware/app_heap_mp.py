# Runs inside MicroPython: heap bytes app.Board allocates while replaying CAN batches.
# Usage: micropython app_heap_mp.py FIRMWARE_DIR WIRE_FILE
# The file holds host→board wire bytes (CAN batches, then STOP). The port notes
# the heap and the frames received at each read; the script prints, for the steady part
# (after the first quarter of the bytes, before the last read), "<heap bytes> <frames>
# <all frames> <1: supervision ran>".
import sys

from heap_port_mp import HeapPort  # this script's folder is sys.path[0]

sys.path.insert(0, sys.argv[1])
import app  # noqa: E402

config = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "heap"}
port = HeapPort()
board = app.Board(config, port)  # first, as on a board: its buffers come from a fresh heap
port.load(sys.argv[2])
heap, frames = port.run(board)
print(heap, frames, board.stats[1], 1 if board.supervisor is not None else 0)
