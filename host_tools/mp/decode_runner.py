# Runs inside MicroPython (unix port): the firmware decode engine of `mule decode`.
# Usage: micropython decode_runner.py MODULE_DIR MODULE_NAME
# Reads frames from stdin, one per line: "<can id> <ext 0|1> <hex payload>".
# Writes first a JSON line (UTF-8) of the module's names [[message, [signals...]], ...], exactly
# as signal_names() gives them, then one line per frame:
#   "U"                       the DBC lacks the id
#   "E <code> <mi>"           decode() refused a frame of message mi (ERR_LENGTH, ERR_MUX)
#   "D <mi> <si>:<raw>:<phys> ..."
# Numbers are ints in decimal, or "f" + the 16 hex digits of the IEEE double (exact).
import sys
import json
import struct
from binascii import hexlify, unhexlify

sys.path.insert(0, sys.argv[1])
decoder = __import__(sys.argv[2])


def number(value):
    if isinstance(value, float):
        return "f" + hexlify(struct.pack(">d", value)).decode()
    return str(value)


def main():
    names = []
    for mi, row in enumerate(decoder.MESSAGES):
        names.append([row[decoder.M_NAME], decoder.signal_names(mi)])
    print(json.dumps(names))
    lanes, selected = decoder.new_buffers()
    readline = sys.stdin.readline
    write = sys.stdout.write
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
            out.append("%d:%s:%s" % (si, number(decoder.raw_value(mi, si, lanes)),
                                     number(decoder.phys_value(mi, si, lanes))))
        write(" ".join(out) + "\n")


main()
