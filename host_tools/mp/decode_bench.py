# Runs inside MicroPython (unix port): speed and heap use of a generated decoder.
# Usage: micropython decode_bench.py MODULE_DIR MODULE_NAME FRAMES_FILE ROUNDS
# FRAMES_FILE has one frame per line: "<can id> <ext 0|1> <hex payload>".
# Prints one JSON object: frames per pass, microseconds of the best and the median pass and
# heap bytes for the raw path (decode()), the firmware's hot loop (the key and the length
# computed per frame, DECODERS.get + the message's decoder, as app.Board.decode does) and
# the physical path (decode() + phys_value of every present signal).
import sys
import gc
import json
import micropython
import time
from binascii import unhexlify
from micropython import const

_EXT_KEY = const(0x20000000)  # the decoder's key flag (app.py's, a const: no RAM)

sys.path.insert(0, sys.argv[1])
decoder = __import__(sys.argv[2])


def load(path):
    with open(path) as f:
        count = sum(1 for line in f if line.strip())
    frames = [None] * count  # one allocation: a growing list fragments a small heap
    i = 0
    with open(path) as f:
        for line in f:
            fields = line.split()
            if fields:
                data = unhexlify(fields[2]) if len(fields) > 2 else b""
                can_id = int(fields[0])
                ext = fields[1] == "1"
                frames[i] = (can_id, ext, data)
                i += 1
    return frames


def decode_pass(frames, lanes, selected):
    """decode(): the module's one-call API."""
    decode = decoder.decode
    decoded = 0
    for frame in frames:
        if decode(frame[0], frame[1], frame[2], lanes, selected) >= 0:
            decoded += 1
    return decoded


@micropython.native
def hot_pass(frames, lanes, selected):
    """The firmware's hot loop, as app.Board.decode runs it (native code): the key from id
    and flag, one dict look-up, the payload's length, then the message's viper decoder."""
    get = decoder.DECODERS.get
    decoded = 0
    for frame in frames:
        data = frame[2]
        fn = get(frame[0] | _EXT_KEY if frame[1] else frame[0])
        if fn is not None and fn(data, lanes, selected, len(data)) >= 0:
            decoded += 1
    return decoded


def phys_pass(frames, lanes, selected):
    decode = decoder.decode
    phys_value = decoder.phys_value
    decoded = 0
    for frame in frames:
        mi = decode(frame[0], frame[1], frame[2], lanes, selected)
        if mi >= 0:
            for k in range(1, selected[0] + 1):
                phys_value(mi, selected[k], lanes)
            decoded += 1
    return decoded


def measure(fn, frames, lanes, selected, rounds):
    fn(frames, lanes, selected)  # warm up: first calls may allocate caches
    times = [0] * rounds  # whole before the passes: a list grown by append wants one block twice its size
    gc.collect()
    gc.disable()
    before = gc.mem_alloc()
    fn((), lanes, selected)
    fixed = gc.mem_alloc() - before  # per pass, not per frame (e.g. a bound method)
    before = gc.mem_alloc()
    fn(frames, lanes, selected)
    allocated = gc.mem_alloc() - before - fixed
    gc.enable()
    gc.collect()
    for k in range(rounds):  # best and median: a virtual machine's neighbours slow some by half
        start = time.ticks_us()
        decoded = fn(frames, lanes, selected)
        times[k] = time.ticks_diff(time.ticks_us(), start)
    times.sort()
    return {"us": times[0], "median_us": times[len(times) // 2], "alloc_bytes": allocated, "decoded": decoded}


def main():
    frames = load(sys.argv[3])
    rounds = int(sys.argv[4])
    lanes, selected = decoder.new_buffers()
    gc.collect()
    result = {"frames": len(frames), "rounds": rounds, "emit": decoder.EMIT,
              "heap_used": gc.mem_alloc(), "heap_free": gc.mem_free(),
              "raw": measure(decode_pass, frames, lanes, selected, rounds),
              "hot": measure(hot_pass, frames, lanes, selected, rounds),
              "phys": measure(phys_pass, frames, lanes, selected, rounds)}
    print(json.dumps(result))


main()
