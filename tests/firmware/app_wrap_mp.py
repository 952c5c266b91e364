# Runs inside MicroPython: app.Board replays the wire file and prints what it sends, in hex.
# Usage: micropython app_wrap_mp.py FIRMWARE_DIR WIRE_FILE
import gc
import sys
from binascii import hexlify

sys.path.insert(0, sys.argv[1])
import app  # noqa: E402


class Port:
    def __init__(self, path):
        with open(path, "rb") as f:
            self.wire = f.read()
        self.at = 0

    def readinto(self, buf):
        n = min(len(buf), len(self.wire) - self.at)
        buf[:n] = self.wire[self.at:self.at + n]
        self.at += n
        return n

    def write(self, buf, n):
        print(hexlify(bytes(buf[:n])).decode())

    def wait(self, ms):
        pass

    def close(self):
        pass


cfg = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "wrap"}
port = Port(sys.argv[2])
board = app.Board(cfg, port)
gc.collect()
print("free", gc.mem_free())  # what HELLO should say
board.run()
