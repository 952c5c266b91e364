# Runs inside MicroPython: what the firmware reads from a decoder module at start-up (either
# profile), as JSON. Usage: micropython dump_board_mp.py MODULE_DIR MODULE_NAME
import sys
import json

sys.path.insert(0, sys.argv[1])
decoder = __import__(sys.argv[2])

messages = []
for mi in range(len(decoder.MESSAGES)):
    n = decoder.signal_count(mi)
    messages.append({"lanes": [decoder.lane_of(mi, si) for si in range(n)],
                     "kinds": [decoder.kind_of(mi, si) & 0x1FF for si in range(n)]})
keys = decoder.keys()
keys.sort()
print(json.dumps({"messages": messages, "keys": keys, "lookup": [decoder.lookup(k & 0x1FFFFFFF, k >> 29) for k in keys],
                  "max_signals": decoder.MAX_SIGNALS, "max_lanes": len(decoder.new_buffers()[0]),  # MAX_LANES: private on the board
                  "own": sorted(decoder.DECODERS)}))
