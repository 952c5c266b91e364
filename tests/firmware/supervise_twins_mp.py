# Runs inside MicroPython: the board's supervision (the viper Supervisor.frame) over
# preloaded frames, printing every ALERT and towing range estimate.
# Usage: micropython supervise_twins_mp.py FIRMWARE_DIR FRAMES_FILE
# FRAMES_FILE: records of 18 bytes (host_tools.supervise_bench.pack_frames). Prints one line per
# ALERT, "A frame_no code severity mi si value", and per estimate, "T frame_no range_dkm
# wh_per_km window_m".
import sys

sys.path.insert(0, sys.argv[1])
import dbc_decoder as dbc  # noqa: E402
import supervise  # noqa: E402
import supervise_rules  # noqa: E402

_REC = 18


def emit(frame_no, code, severity, mi, si, value, text):
    print("A", frame_no, code, severity, mi, si, value)


def tow(frame_no, range_dkm, wh_per_km, window_m):
    print("T", frame_no, range_dkm, wh_per_km, window_m)


with open(sys.argv[2], "rb") as f:
    blob = f.read()
lanes, selected = dbc.new_buffers()
data = bytearray(8)
sup = supervise.Supervisor(supervise_rules, dbc.lookup, emit, tow)
for i in range(len(blob) // _REC):
    at = i * _REC
    t = int.from_bytes(blob[at:at + 4], "little")
    can_id = int.from_bytes(blob[at + 4:at + 8], "little")
    ext = blob[at + 8]
    n = blob[at + 9]
    for k in range(n):
        data[k] = blob[at + 10 + k]
    fn = dbc.DECODERS.get(can_id | 0x20000000 if ext else can_id)
    result = dbc.ERR_UNKNOWN_ID if fn is None else fn(data, lanes, selected, n)
    sup.frame(i, t, result, can_id, ext, data, n, lanes, selected)
