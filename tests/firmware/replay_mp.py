# Runs inside MicroPython: app.Board in replay mode fed preloaded host->board wire bytes,
# on the fake CAN controllers. Usage: micropython replay_mp.py FIRMWARE_DIR FAKES_DIR
# CONFIG_JSON WIRE_FILE (host->board bytes). CONFIG_JSON "_fake": "machine" installs the fake machine.CAN.
# stdout, "key value" lines: kind (the CAN source's, or None), wire (hex of what the board
# wrote; several lines, in order), sent (frames the controller transmitted), on_bus
# (frames it put on the bus).
import json
import sys
import time
from binascii import hexlify

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
config = {"mode": "replay", "bus": 1, "bitrate": 500000, "decimation": 1, "port": "feed", "board": "fake"}
config.update(json.loads(sys.argv[3]))
if config.get("_fake") == "machine":
    import machine_can  # noqa: E402

    sys.modules["machine"] = machine_can

import app  # noqa: E402


class FeedPort:
    """Hands the board the wire file's bytes, 256 at a time (read as it goes: the heap is
    Pyboard-sized); prints what it writes as hex."""

    def __init__(self, f):
        self.f = f

    def readinto(self, buf):
        return self.f.readinto(memoryview(buf)[:256]) or 0

    def write(self, buf, n):
        print("wire", hexlify(memoryview(buf)[:n]).decode())

    def wait(self, ms):
        pass

    def close(self):
        pass


port = FeedPort(open(sys.argv[4], "rb"))
board = app.Board(config, port)
board.run()
board.send_stats(time.ticks_ms())  # the counters at the end
source = board.source
print("kind", source.kind if source is not None else None)
if source is not None:
    can = source._can
    print("sent", can.transmitted)
    print("on_bus", len(can.on_bus))
