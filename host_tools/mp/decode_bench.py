# Runs inside MicroPython (unix port): speed and heap use of a generated decoder.
# Usage: micropython decode_bench.py MODULE_DIR MODULE_NAME FRAMES_FILE ROUNDS
# FRAMES_FILE has one frame per line: "<can id> <ext 0|1> <hex payload>".
# Prints one JSON object: frames per pass, microseconds and heap bytes for the raw path
# (lookup + decode_raw) and the physical path (raw path + phys_value of every signal).
import sys
import gc
import json
import time
from binascii import unhexlify

sys.path.insert(0, sys.argv[1])
decoder = __import__(sys.argv[2])


def load(path):
    frames = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if fields:
                data = unhexlify(fields[2]) if len(fields) > 2 else b""
                frames.append((int(fields[0]), fields[1] == "1", data))
    return frames


def raw_pass(frames, lanes, selected):
    lookup = decoder.lookup
    decode_raw = decoder.decode_raw
    decoded = 0
    for frame in frames:
        mi = lookup(frame[0], frame[1])
        if mi >= 0 and decode_raw(mi, frame[2], lanes, selected) >= 0:
            decoded += 1
    return decoded


def phys_pass(frames, lanes, selected):
    lookup = decoder.lookup
    decode_raw = decoder.decode_raw
    phys_value = decoder.phys_value
    decoded = 0
    for frame in frames:
        mi = lookup(frame[0], frame[1])
        if mi >= 0:
            n = decode_raw(mi, frame[2], lanes, selected)
            for k in range(n):
                phys_value(mi, selected[k], lanes)
            if n >= 0:
                decoded += 1
    return decoded


def measure(fn, frames, lanes, selected, rounds):
    fn(frames, lanes, selected)  # warm up: first calls may allocate caches
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn(frames, lanes, selected)
    allocated = gc.mem_alloc() - before
    gc.enable()
    gc.collect()
    start = time.ticks_us()
    for _ in range(rounds):
        decoded = fn(frames, lanes, selected)
    elapsed = time.ticks_diff(time.ticks_us(), start)
    return {"us": elapsed, "alloc_bytes": allocated, "decoded": decoded}


def main():
    frames = load(sys.argv[3])
    rounds = int(sys.argv[4])
    lanes, selected = decoder.new_buffers()
    result = {"frames": len(frames), "rounds": rounds, "emit": decoder.EMIT,
              "raw": measure(raw_pass, frames, lanes, selected, rounds),
              "phys": measure(phys_pass, frames, lanes, selected, rounds)}
    print(json.dumps(result))


main()
