# Runs inside MicroPython: the firmware decode engine of `mule decode` on the unix port
# (host_tools/engines/firmware_engine.py) and on the emulated Pyboard
# (host_tools/qemu_board/engine.py, through QemuScripts: sys.argv and sys.stdin are given).
# Usage: micropython decode_runner.py MODULE_DIR MODULE_NAME [float32]
# Reads frames from stdin, one per line: "<can id> <ext 0|1> <hex payload>".
# Writes first a JSON line (UTF-8) of the module's names [[message, [signals...]], ...], exactly
# as signal_names() gives them, then one line per frame:
#   "U"                       the DBC lacks the id
#   "E <code> <mi>"           decode() refused a frame of message mi (ERR_LENGTH, ERR_MUX)
#   "D <mi> <si>:<raw>:<phys> ..."
# Numbers are ints in decimal, or "f" + the 16 hex digits of the IEEE double (exact).
# float32 (a board whose floats are float32): floats are "g" + the 8 hex digits of the float32
# (exact, and half the bytes of a double over the emulated UART); an IEEE float64 signal's raw
# value is "f" + the 16 hex digits of its own bits (the board cannot hold the double) and its
# physical value "h": the host rebuilds both; the board computes neither in float32.
import sys
import json
import struct
from binascii import hexlify, unhexlify

sys.path.insert(0, sys.argv[1])
decoder = __import__(sys.argv[2])
FLOAT32 = len(sys.argv) > 3 and sys.argv[3] == "float32"
_PACK, _TAG = (">f", "g") if FLOAT32 else (">d", "f")


def number(value):
    if isinstance(value, float):
        return _TAG + hexlify(struct.pack(_PACK, value)).decode()
    return str(value)


def main():
    names = []
    for mi, row in enumerate(decoder.MESSAGES):
        names.append([row[decoder.M_NAME], decoder.signal_names(mi)])
    print(json.dumps(names))
    names = None
    lanes, selected = decoder.new_buffers()
    bits = bytearray(8)
    readline = sys.stdin.readline
    write = sys.stdout.write
    float64 = decoder.KIND_FLOAT | 64
    while True:
        line = readline()
        if not line:
            break
        fields = line.split()
        data = unhexlify(fields[2]) if len(fields) > 2 else b""
        can_id = int(fields[0])
        ext = fields[1] == "1"
        mi = decoder.decode(can_id, ext, data, lanes, selected)
        if mi == decoder.ERR_UNKNOWN_ID:
            write("U\n")
            continue
        if mi < 0:
            write("E %d %d\n" % (mi, decoder.lookup(can_id, ext)))
            continue
        out = ["D", str(mi)]
        for k in range(1, selected[0] + 1):
            si = selected[k]
            if FLOAT32 and decoder.kind_of(mi, si) & (decoder.KIND_FLOAT | 0x7F) == float64:
                lane = decoder.lane_of(mi, si)
                struct.pack_into(">ii", bits, 0, lanes[lane + 1], lanes[lane])
                out.append("%d:f%s:h" % (si, hexlify(bits).decode()))
                continue
            out.append("%d:%s:%s" % (si, number(decoder.raw_value(mi, si, lanes)),
                                     number(decoder.phys_value(mi, si, lanes))))
        write(" ".join(out) + "\n")


main()
