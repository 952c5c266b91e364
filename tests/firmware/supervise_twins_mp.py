# Runs inside MicroPython (the unix port, or the emulated Pyboard via QemuScripts): the
# board's supervision (the viper Supervisor.frame) over preloaded frames, printing every
# ALERT and towing range estimate.
# Usage: micropython supervise_twins_mp.py FIRMWARE_DIR FRAMES_FILE
# FRAMES_FILE: records of 18 bytes (host_tools.supervise_bench.pack_frames), read one at a
# time (a 100 KB heap has no room for the whole file). Prints one line per ALERT,
# "A frame_no code severity mi si value", and per estimate, "T frame_no range_dkm
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


rec = bytearray(_REC)
lanes, selected = dbc.new_buffers()
data = bytearray(8)
sup = supervise.Supervisor(supervise_rules, dbc.lookup, emit, tow)
i = 0
with open(sys.argv[2], "rb") as f:
    while f.readinto(rec) == _REC:
        t = int.from_bytes(rec[0:4], "little")
        can_id = int.from_bytes(rec[4:8], "little")
        ext = rec[8]
        n = rec[9]
        for k in range(n):
            data[k] = rec[10 + k]
        fn = dbc.DECODERS.get(can_id | 0x20000000 if ext else can_id)
        result = dbc.ERR_UNKNOWN_ID if fn is None else fn(data, lanes, selected, n)
        # as the board's replay loop does: another ECU's frame through supervise.other first
        if result != dbc.ERR_UNKNOWN_ID or not supervise.other(sup.st, t):
            sup.frame(i, t, result, can_id, ext, data, n, lanes, selected)
        i += 1
