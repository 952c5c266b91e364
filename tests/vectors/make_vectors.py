"""Generator of tests/vectors/*.json: an independent reference written from docs/protocol.md,
not from either implementation. Run it to rewrite the vectors; both implementations must pass them."""
import hashlib, json, struct, zlib, random
from pathlib import Path

OUT = Path(__file__).resolve().parent
OUT.mkdir(parents=True, exist_ok=True)

T = dict(HELLO=0x01, SYNC=0x02, STOP=0x03, PING=0x04, CAN=0x10, TELEMETRY=0x11, ALERT=0x12, STATS=0x13, LOG=0x14, CREDIT=0x15,
         TOW_RANGE=0x16)
MAX_PAYLOAD = 512; MAX_ENCODED = 515

def crc(b): return zlib.crc32(b) & 0xFFFFFFFF

def cobs_encode(data):
    out = bytearray(); block = bytearray(); just_full = False
    for b in data:
        just_full = False
        if b == 0:
            out.append(len(block) + 1); out += block; block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255); out += block; block = bytearray(); just_full = True
    if not just_full:
        out.append(len(block) + 1); out += block
    return bytes(out)

def cobs_decode(run):
    out = bytearray(); i = 0; prev = 0xFF; first = True
    while i < len(run):
        code = run[i]; i += 1
        if not first and prev != 0xFF:
            out.append(0)
        first = False
        if i + code - 1 > len(run):
            return None
        out += run[i:i + code - 1]; i += code - 1
        prev = code
    return bytes(out)

def payload(t, seq, body):
    p = bytes([t]) + struct.pack("<H", seq) + body
    return p + struct.pack("<I", crc(p))

def frame(t, seq, body):
    return b"\x00" + cobs_encode(payload(t, seq, body)) + b"\x00"

def s8(text):
    b = text.encode()
    if len(b) > 255:
        cut = 255
        while b[cut] & 0xC0 == 0x80:
            cut -= 1
        b = b[:cut]
    return bytes([len(b)]) + b

# ---------------- constants
constants = {"types": T, "MAX_PAYLOAD": 512, "MAX_BODY": 505, "MAX_ENCODED": 515, "MAX_WIRE": 517,
             "HEADER": 3, "CRC_SIZE": 4, "PROTO_VERSION": 2, "CAN_BATCH_HEADER": 5, "CAN_RECORD_HEADER": 9,
             "CAN_MAX_DATA": 64, "STATS_SIZE": 73, "CAN_EXT_FLAG": 0x80000000, "FRAME_NO_MASK": 0x3FFFFFFF,
             "NO_ACK": 0xFFFF, "PING_WIRE": 10,
             "note": "docs/protocol.md; firmware/link.py and host_tools/link must define the same values"}

# ---------------- crc
crcs = [{"data": b.hex(), "crc": crc(b)} for b in
        [b"123456789", b"", b"\x00", b"\xff" * 4, bytes(range(256)), b"\x02\x00\x00"]]
assert crcs[0]["crc"] == 0xCBF43926

# ---------------- cobs
def nz(n, start=1):
    return bytes((start + i) % 255 + 1 if (start + i) % 255 + 1 else 1 for i in range(n))
cases = [
    ("empty", b""),
    ("one_zero", b"\x00"),
    ("two_zeros", b"\x00\x00"),
    ("all_zeros_8", bytes(8)),
    ("zero_between", bytes([0x11, 0x00, 0x22])),
    ("zero_first_last", bytes([0x00, 0x11, 0x22, 0x00])),
    ("one_byte", b"\x01"),
    ("run_253", nz(253)),
    ("run_254", nz(254)),
    ("run_255", nz(255)),
    ("run_256", nz(256)),
    ("run_254_then_zero", nz(254) + b"\x00"),
    ("zero_then_run_254", b"\x00" + nz(254)),
    ("run_508", nz(508)),
    ("run_512_max_payload", nz(512)),
    ("wikipedia_10", bytes(range(2, 256)) + b"\x00"),
    ("wikipedia_11", bytes(range(3, 256)) + b"\x00\x01"),
    ("zeros_512", bytes(512)),
]
cobs = []
for name, data in cases:
    enc = cobs_encode(data)
    assert 0 not in enc and cobs_decode(enc) == data, name
    cobs.append({"name": name, "decoded": data.hex(), "encoded": enc.hex()})
# spot checks against the published examples
assert cobs_encode(b"") == b"\x01"
assert cobs_encode(b"\x00") == b"\x01\x01"
assert cobs_encode(b"\x11\x22\x00\x33") == bytes.fromhex("03112202 33".replace(" ", ""))
assert cobs_encode(bytes(range(1, 255))) == b"\xff" + bytes(range(1, 255))
assert cobs_encode(bytes(range(1, 256))) == b"\xff" + bytes(range(1, 255)) + b"\x02\xff"
assert cobs_encode(bytes(range(2, 256)) + b"\x00") == b"\xff" + bytes(range(2, 256)) + b"\x01\x01"
assert cobs_encode(bytes(range(3, 256)) + b"\x00\x01") == b"\xfe" + bytes(range(3, 256)) + b"\x02\x01"
invalid = [
    {"name": "code_past_end", "encoded": "05112233"},
    {"name": "ff_short", "encoded": "ff" + "01" * 100},
    {"name": "second_block_short", "encoded": "0211" + "0322"},
]
for v in invalid:
    assert cobs_decode(bytes.fromhex(v["encoded"])) is None
noncanonical = [  # decoders accept them (the CRC decides), encoders never write them
    {"name": "ff_then_trailing_01", "encoded": "ff" + nz(254).hex() + "01", "decoded": nz(254).hex()},
]
for v in noncanonical:
    assert cobs_decode(bytes.fromhex(v["encoded"])).hex() == v["decoded"]

# ---------------- messages
def hello(f):
    return (struct.pack("<BIBHH", f["proto"], f["boot_id"], f["mode"], f["caps"], f["rx_window"])
            + bytes.fromhex(f["dbc_sha256"]) + s8(f["fw_version"]) + s8(f["board"])
            + struct.pack("<I", f["heap_free"]))

def can(f):
    b = struct.pack("<IB", f["first_no"], len(f["records"]))
    for r in f["records"]:
        d = bytes.fromhex(r["data"])
        b += struct.pack("<IIB", r["t_us"], r["id"] | (0x80000000 if r["ext"] else 0), len(d)) + d
    return b

def telemetry(f, wide):
    b = bytes([len(f["records"])])
    for r in f["records"]:
        if "run" in r:  # telemetry "changed": a run of frames, a bit each (1: unknown id), LSB first
            bits = [c == "u" for c in r["run"]]
            b += struct.pack("<IhH", r["frame_no"], -4, len(bits))
            b += bytes(sum(1 << k for k, u in enumerate(bits[i:i + 8]) if u) for i in range(0, len(bits), 8))
            continue
        b += struct.pack("<IhH", r["frame_no"], r["result"], len(r["signals"]))
        for si, v0, v1 in r["signals"]:
            b += struct.pack("<Hi", si, v0)
            if [r["result"], si] in wide:
                b += struct.pack("<i", v1)
            else:
                assert v1 is None
    return b

def alert(f):
    return struct.pack("<IHBhhi", f["frame_no"], f["code"], f["severity"], f["mi"], f["si"], f["value"]) + s8(f["text"])

STATS_FIELDS = ["uptime_ms", "frames_received", "frames_decoded", "unknown_ids", "wrong_length", "bad_mux",
                "link_crc_errors", "link_bad_frames", "link_seq_gaps", "frames_dropped", "can_fifo_overflows",
                "can_errors", "heap_free", "heap_min_free", "loop_us_max", "loop_us_avg", "gc_count", "gc_max_us"]
def stats(f):
    return struct.pack("<%dIB" % len(STATS_FIELDS), *[f[k] for k in STATS_FIELDS], f["can_state"])

def tow_range(f):
    return struct.pack("<IiiI", f["frame_no"], f["range_dkm"], f["wh_per_km"], f["window_m"])

def log(f):
    return bytes([f["level"]]) + s8(f["text"])

def credit(f):
    return struct.pack("<HH", f["window"], f["ack"])

msgs = []
def add(name, typ, seq, fields, body, **extra):
    v = {"name": name, "type": T[typ], "type_name": typ, "seq": seq, "fields": fields, **extra,
         "body": body.hex(), "wire": frame(T[typ], seq, body).hex()}
    msgs.append(v)

h = dict(proto=2, boot_id=0xDEADBEEF, mode=1, caps=0b1011, rx_window=1024,
         dbc_sha256=hashlib.sha256(b"mule").hexdigest(), fw_version="0.1.0", board="pyboard-v1.1", heap_free=41_000)
add("hello", "HELLO", 0, h, hello(h))
h2 = dict(h, boot_id=0, mode=0, caps=0, rx_window=0, dbc_sha256="00" * 32, fw_version="", board="", heap_free=0)
add("hello_zeros", "HELLO", 65535, h2, hello(h2))
add("sync", "SYNC", 0, {}, b"")
add("stop", "STOP", 7, {}, b"")
add("ping", "PING", 65535, {}, b"")
c = dict(first_no=1000, records=[
    dict(t_us=0, id=0x123, ext=False, data="0011223344556677"),
    dict(t_us=0xFFFFFFF0, id=0x18FEF100, ext=True, data=""),
    dict(t_us=5000, id=0x7FF, ext=False, data=bytes(range(64)).hex()),
    dict(t_us=0x40000001, id=0x1FFFFFFF, ext=True, data="ff00"),
    dict(t_us=1, id=0, ext=False, data="00"),
])
add("can_mixed", "CAN", 1, c, can(c))
c16 = dict(first_no=0x3FFFFFF8, records=[dict(t_us=i * 250, id=0x100 + i, ext=False,
           data=bytes((i * 8 + k) & 0xFF for k in range(8)).hex()) for i in range(16)])
add("can_16_classic", "CAN", 2, c16, can(c16))
add("can_empty", "CAN", 3, dict(first_no=5, records=[]), can(dict(first_no=5, records=[])))
t = dict(records=[
    dict(frame_no=1000, result=2, signals=[[0, 5, None], [1, -1, None], [2, 0x12345678, -2], [7, -2147483648, None]]),
    dict(frame_no=1001, result=-1, signals=[]),
    dict(frame_no=0x3FFFFFFF, result=-3, signals=[]),
    dict(frame_no=1002, result=0, signals=[[3, 2147483647, None]]),
    dict(frame_no=1003, result=-2, signals=[]),
])
wide = [[2, 2]]
add("telemetry", "TELEMETRY", 4, t, telemetry(t, wide), wide=wide)
# telemetry "changed": signals that moved, runs of frames with nothing to send ("s") or an
# unknown id ("u"); a run never crosses a gap in the numbers nor another record
tc = dict(records=[
    dict(frame_no=2000, result=1, signals=[[3, 7, None]]),
    dict(frame_no=2001, result=-4, run="suusssssu"),
    dict(frame_no=2010, result=-2, signals=[]),
    dict(frame_no=2011, result=-4, run="u"),
    dict(frame_no=0x3FFFFFFE, result=-4, run="sss"),
    dict(frame_no=5, result=2, signals=[[2, -5, -1]]),
])
add("telemetry_changed", "TELEMETRY", 14, tc, telemetry(tc, wide), wide=wide)
add("telemetry_empty", "TELEMETRY", 5, dict(records=[]), telemetry(dict(records=[]), []), wide=[])
a = dict(frame_no=1234, code=7, severity=2, mi=3, si=-1, value=-100000, text="drawbar force over limit")
add("alert", "ALERT", 6, a, alert(a))
st = {k: i * 1000 + 1 for i, k in enumerate(STATS_FIELDS)}
st.update(uptime_ms=0xFFFFFFFF, heap_free=0x40000000, can_state=255)
add("stats", "STATS", 8, st, stats(st))
r = dict(frame_no=0x3FFFFFF0, range_dkm=1234, wh_per_km=-1, window_m=1800)
add("tow_range", "TOW_RANGE", 7, r, tow_range(r))
add("log", "LOG", 9, dict(level=1, text="stopped"), log(dict(level=1, text="stopped")))
add("log_utf8", "LOG", 10, dict(level=2, text="Zugkraft über 5 kN ✓"), log(dict(level=2, text="Zugkraft über 5 kN ✓")))
long = "x" * 300
add("log_truncated", "LOG", 11, dict(level=3, text=long), log(dict(level=3, text=long)), decoded={"level": 3, "text": "x" * 255})
long2 = "é" * 200  # 400 bytes: cut to 254 bytes, 127 characters
add("log_truncated_utf8", "LOG", 12, dict(level=0, text=long2), log(dict(level=0, text=long2)), decoded={"level": 0, "text": "é" * 127})
add("credit", "CREDIT", 13, dict(window=1024, ack=0x1234), credit(dict(window=1024, ack=0x1234)))
add("credit_before_any_frame", "CREDIT", 65535, dict(window=0xFFFF, ack=0xFFFF), credit(dict(window=0xFFFF, ack=0xFFFF)))
add("credit_ack_0", "CREDIT", 0, dict(window=256, ack=0), credit(dict(window=256, ack=0)))

# ---------------- streams (the reference receiver; each vector also says what its author expects)
BOARD_TYPES = {T["SYNC"], T["STOP"], T["PING"], T["CAN"]}
HOST_TYPES = {T["HELLO"], T["TELEMETRY"], T["ALERT"], T["STATS"], T["LOG"], T["CREDIT"], T["TOW_RANGE"]}

def str_end(b, i):
    if i >= len(b): return None
    j = i + 1 + b[i]
    return j if j <= len(b) else None

def body_ok(t, b):
    if t in (T["SYNC"], T["STOP"], T["PING"]): return len(b) == 0
    if t == T["CAN"]:
        if len(b) < 5: return False
        if struct.unpack_from("<I", b)[0] > 0x3FFFFFFF: return False  # first_no: frame numbers < 2**30
        i = 5
        for _ in range(b[4]):
            if i + 9 > len(b): return False
            key = struct.unpack_from("<I", b, i + 4)[0]
            if key & 0x60000000: return False
            if not key & 0x80000000 and key > 0x7FF: return False
            n = b[i + 8]
            if n > 64 or i + 9 + n > len(b): return False
            i += 9 + n
        return i == len(b)
    if t == T["HELLO"]:
        j = str_end(b, 42); j = str_end(b, j) if j is not None else None
        return j is not None and j + 4 == len(b)  # heap_free u32 last
    if t == T["ALERT"]: return str_end(b, 15) == len(b)
    if t == T["STATS"]: return len(b) == 73
    if t == T["LOG"]: return str_end(b, 1) == len(b)
    if t == T["CREDIT"]: return len(b) == 4
    if t == T["TOW_RANGE"]: return len(b) == 16
    return True  # TELEMETRY: needs the DBC

def receive(stream, types):
    c = dict(frames=0, crc_errors=0, bad_frames=0, seq_gaps=0)
    out = []; run = bytearray(); over = False; last = None
    for x in stream:
        if x:
            if over: continue
            if len(run) == MAX_ENCODED:
                c["bad_frames"] += 1; over = True; run = bytearray(); continue
            run.append(x); continue
        if over or not run:
            over = False; run = bytearray(); continue
        p = cobs_decode(bytes(run)); run = bytearray()
        if p is None or len(p) < 7 or len(p) > MAX_PAYLOAD:
            c["bad_frames"] += 1; continue
        if crc(p[:-4]) != struct.unpack_from("<I", p, len(p) - 4)[0]:
            c["crc_errors"] += 1; continue
        t, seq = p[0], struct.unpack_from("<H", p, 1)[0]
        if t not in (T["HELLO"], T["SYNC"]) and last is not None:
            d = (seq - last) % 65536
            if 1 <= d <= 32768: c["seq_gaps"] += d - 1
        last = seq
        body = p[3:-4]
        if t not in types or not body_ok(t, body):
            c["bad_frames"] += 1; continue
        c["frames"] += 1
        out.append({"type": t, "seq": seq, "body": body.hex()})
    return out, c, last

streams = []
def stream(name, receiver, parts, frames_expected, **counters):
    data = b"".join(parts)
    got, c, last = receive(data, BOARD_TYPES if receiver == "board" else HOST_TYPES)
    want = dict(frames=len(got), crc_errors=0, bad_frames=0, seq_gaps=0)
    want.update(counters)
    assert c == want, (name, c, want)
    assert [(f["type"], f["seq"]) for f in got] == frames_expected, (name, got)
    # last_seq: the seq of the last frame that passed its CRC, what the board's CREDIT acknowledges (null: none)
    streams.append({"name": name, "receiver": receiver, "stream": data.hex(), "frames": got, "counters": c,
                    "last_seq": last})

SYNC, STOP, CAN, PING = T["SYNC"], T["STOP"], T["CAN"], T["PING"]
def canb(first, n, seed=0):
    r = random.Random(seed)
    return can(dict(first_no=first, records=[dict(t_us=r.getrandbits(32), id=r.getrandbits(11), ext=False,
               data=bytes(r.getrandbits(8) for _ in range(8)).hex()) for _ in range(n)]))
F = lambda t, s, b=b"": frame(t, s, b)
cb = canb(0, 3, 1)
stream("clean", "board", [F(SYNC, 0), F(CAN, 1, cb), F(STOP, 2)], [(SYNC, 0), (CAN, 1), (STOP, 2)])
stream("delimiter_runs_are_one_boundary", "board", [b"\x00\x00\x00", F(SYNC, 0), b"\x00" * 5, F(STOP, 1), b"\x00"],
       [(SYNC, 0), (STOP, 1)])
stream("trailing_delimiter_only", "board", [F(SYNC, 0)[1:], F(STOP, 1)[1:]], [(SYNC, 0), (STOP, 1)])
stream("modem_manager_probe_between_frames", "board", [F(SYNC, 0), b"AT\r", F(CAN, 1, cb)],
       [(SYNC, 0), (CAN, 1)], bad_frames=1)
# garbage without a delimiter before the frame: only the leading 0x00 saves the frame
stream("garbage_glued_to_frame", "board", [b"\x13\x37\xbe\xef", F(CAN, 5, cb), F(STOP, 6)],
       [(CAN, 5), (STOP, 6)], bad_frames=1)
# opened mid-stream: the tail of a frame arrives first
w = F(CAN, 9, cb)
stream("starts_mid_frame", "board", [w[len(w) // 2:], F(CAN, 10, cb)], [(CAN, 10)], crc_errors=1)
# truncated: the last 3 bytes before the closing delimiter are lost
w = F(CAN, 1, cb)
stream("truncated_frame", "board", [F(SYNC, 0), w[:-4] + b"\x00", F(STOP, 2)], [(SYNC, 0), (STOP, 2)],
       bad_frames=1, seq_gaps=1)
# lost bytes in the middle of a frame (a full USB buffer drops them)
stream("lost_bytes_mid_frame", "board", [F(SYNC, 0), w[:20] + w[40:], F(STOP, 2)], [(SYNC, 0), (STOP, 2)],
       bad_frames=1, seq_gaps=1)
# a bit flip in a data byte
wf = bytearray(w); wf[30] ^= 0x10; assert wf[30] != 0
stream("bit_flip", "board", [F(SYNC, 0), bytes(wf), F(STOP, 2)], [(SYNC, 0), (STOP, 2)], crc_errors=1, seq_gaps=1)
# both delimiters between two frames lost: they merge, both are lost, one error
a1, a2 = F(CAN, 1, cb), F(CAN, 2, cb)
stream("merged_frames", "board", [F(SYNC, 0), a1[:-1] + a2[1:], F(STOP, 3)], [(SYNC, 0), (STOP, 3)],
       crc_errors=1, seq_gaps=2)
stream("oversize_run", "board", [F(SYNC, 0), b"\x55" * 600, F(STOP, 1)], [(SYNC, 0), (STOP, 1)], bad_frames=1)
stream("oversize_by_one", "board", [F(SYNC, 0), b"\x00" + b"\x55" * 516 + b"\x00", F(STOP, 1)],
       [(SYNC, 0), (STOP, 1)], bad_frames=1)
stream("run_of_515_is_decoded", "board", [F(SYNC, 0), b"\x00" + b"\x55" * 515 + b"\x00", F(STOP, 1)],
       [(SYNC, 0), (STOP, 1)], bad_frames=1)
stream("oversize_garbage_then_frame", "board", [b"\x55" * 2000, F(SYNC, 0)[0:], F(STOP, 1)],
       [(SYNC, 0), (STOP, 1)], bad_frames=1)
# a valid frame of MAX_PAYLOAD bytes: 3 + 505 + 4, no zeros: encoded run of exactly 515
big_body = bytes([5, 1]) + b""  # placeholder replaced below
# CAN batch filling 505 bytes exactly: header 5 + records; use 64-byte records (73) x 6 = 438 + one 58-byte (67) = 505
for fill in range(0x70, 0x100):  # no zero byte anywhere, CRC included: the COBS run is exactly 515
    recs = [dict(t_us=0x01010101, id=0x01010101, ext=True, data=(bytes([fill]) * 64).hex()) for _ in range(6)]
    recs.append(dict(t_us=0x01010101, id=0x01010101, ext=True, data=(bytes([fill]) * 53).hex()))
    big = can(dict(first_no=0x01010101, records=recs)); assert len(big) == 505
    if len(cobs_encode(payload(CAN, 0x0101, big))) == 515:
        break
stream("max_payload_frame_run_515", "board", [F(CAN, 0x0101, big), F(STOP, 0x0102)], [(CAN, 0x0101), (STOP, 0x0102)])
p513 = payload(CAN, 1, big + b"\x01")
stream("payload_513_is_oversize", "board", [b"\x00" + cobs_encode(p513) + b"\x00", F(STOP, 2)], [(STOP, 2)],
       bad_frames=1)
short = b"\x10\x01\x00" + struct.pack("<I", crc(b"\x10\x01\x00"))[:3]
stream("payload_too_short", "board", [b"\x00" + cobs_encode(short) + b"\x00", F(SYNC, 0)], [(SYNC, 0)], bad_frames=1)
stream("invalid_cobs", "board", [F(SYNC, 0), b"\x00\x05\x11\x22\x00", F(STOP, 1)], [(SYNC, 0), (STOP, 1)],
       bad_frames=1)
stream("seq_gap", "board", [F(CAN, 0, cb), F(CAN, 1, cb), F(CAN, 5, cb)], [(CAN, 0), (CAN, 1), (CAN, 5)], seq_gaps=3)
stream("seq_wraps", "board", [F(CAN, 65534, cb), F(CAN, 65535, cb), F(CAN, 0, cb), F(CAN, 2, cb)],
       [(CAN, 65534), (CAN, 65535), (CAN, 0), (CAN, 2)], seq_gaps=1)
stream("seq_backwards_and_repeat", "board", [F(CAN, 10, cb), F(CAN, 3, cb), F(CAN, 3, cb), F(CAN, 4, cb)],
       [(CAN, 10), (CAN, 3), (CAN, 3), (CAN, 4)])
stream("seq_half_range", "board", [F(CAN, 0, cb), F(CAN, 32768, cb), F(CAN, 1, cb)],
       [(CAN, 0), (CAN, 32768), (CAN, 1)], seq_gaps=32767)  # +32768 is a gap, +32769 is backwards
stream("sync_restarts_tracking", "board", [F(CAN, 100, cb), F(SYNC, 200), F(CAN, 201, cb), F(CAN, 300, cb)],
       [(CAN, 100), (SYNC, 200), (CAN, 201), (CAN, 300)], seq_gaps=98)
stream("unknown_type_counted_seq_tracked", "board", [F(SYNC, 0), F(0x7F, 1, b"\x01\x02"), F(STOP, 2)],
       [(SYNC, 0), (STOP, 2)], bad_frames=1)
stream("wrong_direction_type", "board", [F(T["TELEMETRY"], 0, b"\x00"), F(T["HELLO"], 1, hello(h)), F(STOP, 5)],
       [(STOP, 5)], bad_frames=2, seq_gaps=3)
stream("hello_restarts_tracking_even_when_refused", "board",
       [F(CAN, 10, cb), F(T["HELLO"], 50, hello(h)), F(CAN, 51, cb)], [(CAN, 10), (CAN, 51)], bad_frames=1)
stream("sync_with_body", "board", [F(SYNC, 0, b"\x00"), F(STOP, 1)], [(STOP, 1)], bad_frames=1)
def bad_can(name, body):
    stream(name, "board", [F(CAN, 0, body), F(STOP, 1)], [(STOP, 1)], bad_frames=1)
bad_can("can_missing_record", canb(0, 2)[:-17])
bad_can("can_extra_byte", canb(0, 2) + b"\x00")
bad_can("can_short_header", b"\x01\x00\x00")
bad_can("can_len_65", struct.pack("<IBIIB", 0, 1, 0, 0x100, 65) + bytes(65))
bad_can("can_key_bit_30", struct.pack("<IBIIB", 0, 1, 0, 0xC0000100, 0))
bad_can("can_std_id_too_big", struct.pack("<IBIIB", 0, 1, 0, 0x800, 0))
bad_can("can_record_cut", struct.pack("<IBIIB", 0, 1, 0, 0x100, 8) + bytes(7))
stream("can_ext_id_max_ok", "board", [F(CAN, 0, struct.pack("<IBIIB", 0, 1, 0, 0x9FFFFFFF, 0))], [(CAN, 0)])
stream("ping_between_batches", "board", [F(SYNC, 0), F(CAN, 1, cb), F(PING, 2), F(CAN, 3, cb)],
       [(SYNC, 0), (CAN, 1), (PING, 2), (CAN, 3)])
stream("ping_with_body", "board", [F(SYNC, 0), F(PING, 1, b"\x00"), F(STOP, 2)], [(SYNC, 0), (STOP, 2)], bad_frames=1)
# what CREDIT acknowledges: the last frame that passed its CRC, even one refused after it
stream("ack_is_last_crc_good_frame", "board", [F(SYNC, 0), F(CAN, 1, cb), F(0x7F, 2, b"\x01"), bytes(wf)],
       [(SYNC, 0), (CAN, 1)], bad_frames=1, crc_errors=1)
bad_can("can_first_no_bit_30", struct.pack("<IB", 0x40000000, 0))
bad_can("can_first_no_bit_31", struct.pack("<IB", 0x80000001, 0))
stream("can_first_no_max_ok", "board", [F(CAN, 0, struct.pack("<IB", 0x3FFFFFFF, 0))], [(CAN, 0)])
stream("ends_mid_frame", "board", [F(SYNC, 0), F(STOP, 1)[:-3]], [(SYNC, 0)])
stream("only_garbage_and_zeros", "board", [bytes([0, 0, 7, 0, 0, 0xFF, 0xFE, 0, 0])], [], bad_frames=2)
# the host's receiver
stream("host_clean", "host", [F(T["HELLO"], 0, hello(h)), F(T["CREDIT"], 1, credit(dict(window=1024, ack=3))),
       F(T["LOG"], 2, log(dict(level=1, text="hi")))], [(1, 0), (0x15, 1), (0x14, 2)])
stream("host_hello_restarts_tracking", "host", [F(T["LOG"], 500, log(dict(level=1, text="a"))), F(T["HELLO"], 0, hello(h)),
       F(T["CREDIT"], 2, credit(dict(window=1024, ack=0xFFFF)))], [(0x14, 500), (1, 0), (0x15, 2)], seq_gaps=1)
stream("host_bad_bodies", "host", [F(T["HELLO"], 0, hello(h) + b"\x00"), F(T["STATS"], 1, bytes(72)),
       F(T["CREDIT"], 2, b"\x00\x04\x00"), F(T["LOG"], 3, b"\x01\x05abc"), F(T["ALERT"], 4, alert(a)),
       F(SYNC, 5)], [(0x12, 4)], bad_frames=5)
stream("host_repl_text_after_stop", "host", [F(T["LOG"], 7, log(dict(level=1, text="stopped"))),
       b"MicroPython v1.29.0 on 2025-01-01; PYBv1.1 with STM32F405RG\r\n>>> "], [(0x14, 7)])

def dump(name, obj):
    # one frame / case per line: readable diffs, small files
    text = json.dumps(obj, indent=1)
    import re
    text = re.sub(r'\{\n\s*"type": (\d+),\n\s*"seq": (\d+),\n\s*"body": ("[0-9a-f]*")\n\s*\}',
                  r'{"type": \1, "seq": \2, "body": \3}', text)
    (OUT / name).write_text(text + "\n")

dump("constants.json", constants)
dump("crc.json", {"check": {"data": b"123456789".hex(), "crc": 0xCBF43926}, "cases": crcs})
dump("cobs.json", {"cases": cobs, "invalid": invalid, "noncanonical": noncanonical})
dump("messages.json", {"stats_fields": STATS_FIELDS, "messages": msgs})
dump("streams.json", {"streams": streams})
print(len(cobs), len(msgs), len(streams))
