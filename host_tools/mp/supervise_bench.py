# Runs inside MicroPython: the board's decode and supervision stages over preloaded frames.
# Usage: micropython supervise_bench.py FIRMWARE_DIR FRAMES_FILE COUNT ROUNDS [BOARD 0|1] [ONLY]
# FRAMES_FILE: COUNT records of 18 bytes (t_us u32 mod 2**30, id u32, ext u8, length u8,
# data 8 bytes). Prints "<decode us/frame> <decode+supervise us/frame> <heap bytes in the
# steady part> <steady frames> <alerts> <board path us/frame> <board path + supervise>
# <unpacking alone us/frame>" (each variant's time includes the unpacking)
# (times: the best of ROUNDS rounds; heap over the last three quarters of the first round;
# "board path": app.Board.decode, i.e. decode + TELEMETRY packing, as the replay loop runs it).
# ONLY (a variant's number, below): run just that one in the rounds, for instruction counts
# under valgrind (the others print 0).
import gc
import sys
import time

sys.path.insert(0, sys.argv[1])
import dbc_decoder as dbc  # noqa: E402
import supervise  # noqa: E402
import supervise_rules  # noqa: E402

_REC = 18


class NullPort:
    def write(self, buf, n):
        pass


with_board = len(sys.argv) > 5 and sys.argv[5] == "1"  # also time app.Board.decode
board = None
board_sup = None
if with_board:
    import app  # noqa: E402

    board = app.Board({"mode": "replay", "decimation": 1, "board": "bench"}, NullPort())
    board_sup = board.supervisor
    board.supervisor = None
gc.collect()
count = int(sys.argv[3])
rounds = int(sys.argv[4])
blob = bytearray(count * _REC)
with open(sys.argv[2], "rb") as f:
    f.readinto(blob)
lanes, selected = dbc.new_buffers()
data = bytearray(8)
alerts = [0]


import link  # noqa: E402

writer = link.Writer()  # alerts are packed as the board packs them (not sent)


def emit(frame_no, code, severity, mi, si, value, text):
    alerts[0] += 1
    writer.alert(frame_no, code, severity, mi, si, value, text)


def tow(frame_no, range_dkm, wh_per_km, window_m):  # packed as the board packs it
    writer.tow_range(frame_no, range_dkm, wh_per_km, window_m)


sup = supervise.Supervisor(supervise_rules, dbc.lookup, emit, tow)
decoders = dbc.DECODERS


# Variants: 0 the decoder call, 1 with supervision, 2 the board path, 3 with supervision,
# 4 the frame's unpacking from the blob alone (this harness's own cost, taken off the others).
_UNPACK = 4


def one(i, v):
    at = i * _REC
    t = blob[at] | (blob[at + 1] << 8) | (blob[at + 2] << 16) | ((blob[at + 3] & 0x3F) << 24)
    can_id = blob[at + 4] | (blob[at + 5] << 8) | (blob[at + 6] << 16) | ((blob[at + 7] & 0x1F) << 24)
    ext = blob[at + 8]
    n = blob[at + 9]
    for k in range(n):
        data[k] = blob[at + 10 + k]
    if v == _UNPACK:
        return
    if v >= 2:
        board.decode(i, can_id, ext, data, n, t)
        return
    fn = decoders.get(can_id | 0x20000000 if ext else can_id)
    result = -1 if fn is None else fn(data, lanes, selected, n)
    if v:
        sup.frame(i, t, result, can_id, ext, data, n, lanes, selected)


def run(v, measure_heap=False):
    sup.reset()
    if board_sup is not None:
        board_sup.reset()
    heap = 0
    steady = 0
    start = time.ticks_us()
    quarter = count // 4
    for i in range(count):
        if measure_heap and i == quarter:
            gc.collect()
            gc.disable()
            heap = gc.mem_alloc()
        one(i, v)
    took = time.ticks_diff(time.ticks_us(), start)
    if measure_heap:
        heap = gc.mem_alloc() - heap
        gc.enable()
        steady = count - quarter
    return took, heap, steady


def variant(v):
    if with_board:
        board.supervisor = board_sup if v == 3 else None
    return run(v)[0]


_, heap, steady = run(1, True)
alerts_first = alerts[0]
only = int(sys.argv[6]) if len(sys.argv) > 6 else -1
# The best round of each: a virtual machine's neighbours slow some rounds by half; the
# variants alternate, so each gets the same chances at a quiet round.
best = [1 << 30] * 5
ran = [v for v in ((0, 1, 2, 3, _UNPACK) if with_board else (0, 1, _UNPACK)) if only < 0 or v == only]
for _ in range(rounds):
    for v in ran:
        best[v] = min(best[v], variant(v))
us = [best[v] / count if v in ran else 0 for v in range(5)]
print(us[0], us[1], heap, steady, alerts_first, us[2], us[3], us[_UNPACK])
