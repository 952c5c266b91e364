# Runs inside MicroPython: firmware/link.py against tests/vectors/, and the board's
# receive → decode → TELEMETRY path for tests/firmware/test_link_mp.py.
# Usage: micropython link_vectors_mp.py FIRMWARE_DIR MODE ARGS... [plain]
#   vectors VECTORS_DIR        prints {"checks", "failures", "constants"}
#   streams FILE               FILE: u32 longest, then (u32 length, u32 chunk, bytes) per case; prints a
#                              JSON line per frame, then {"counters"} per case
#   pipeline DIR MODULE FILE   FILE: host → board wire bytes; prints the board's
#                              output (hex lines), then {"frames", "alloc_1", "alloc_2"}
import sys
import gc


def _read_whole(path):
    import os

    buf = bytearray(os.stat(path)[6])
    with open(path, "rb") as f:
        f.readinto(buf)
    return buf


# The pipeline's stream is one contiguous buffer: take it before any import fragments a
# 100 KB heap (once link.py was compiled there, no free block of 8 KB was left).
STREAM = _read_whole(sys.argv[5]) if sys.argv[2] == "pipeline" else None

import json  # noqa: E402
from array import array
from binascii import hexlify, unhexlify

sys.path.insert(0, sys.argv[1])
import link  # noqa: E402

MODE = sys.argv[2]
VIPER = sys.argv[-1] != "plain"
failures = []
checks = [0]


def check(ok, what):
    checks[0] += 1
    if not ok:
        failures.append(what)


def hx(buf, n=-1):
    return hexlify(buf if n < 0 else bytes(buf[:n])).decode()


def load(path):
    gc.collect()  # a 100 KB heap after compiling link.py: its garbage first
    with open(path) as f:
        return json.load(f)


# firmware/link.py's private constants (const() names with _ are not importable)
_POS = 0  # FrameReader._st slots
_LEN = 6
_SINCE = 7
_FRAME = 1  # _feed results
_BAD = 2
_MAX_WIRE = 517
_TELEMETRY = 0x11


def decode_run(src):
    """One call of the reader's COBS decoder on src: (result, payload hex, bytes consumed)."""
    reader = link.FrameReader(VIPER)
    reader.feed(src)
    r = reader._feed(0, 0, reader._st, reader.payload, reader._src)
    return r, hx(reader.payload, reader._st[_LEN]), reader._st[_POS]


def receive(data, chunk, show=False, size=-1):
    """Feed data[0:size] in chunks as a port's readinto() would: [(type, seq, body hex)],
    counters. With show, print each frame as a JSON line instead of keeping it."""
    size = len(data) if size < 0 else size
    reader = link.FrameReader(VIPER)
    rx = bytearray(min(chunk, size))
    src = memoryview(data)
    got = []
    for at in range(0, size, chunk):
        n = min(chunk, size - at)
        rx[0:n] = src[at:at + n]
        reader.feed(rx, n)
        t = reader.next()
        while t >= 0:
            frame = {"type": t, "seq": reader.seq, "body": hx(reader.body())}
            if show:
                print(json.dumps(frame))
            else:
                got.append(frame)
            t = reader.next()
    counters = {"frames": reader.frames, "crc_errors": reader.crc_errors,
                "bad_frames": reader.bad_frames, "seq_gaps": reader.seq_gaps}
    return got, counters, reader


def constants():
    """The link constants the board's other modules read (link.py's others are private
    const()s: test_link_mp.py reads those from the source)."""
    names = ("SYNC", "STOP", "PING", "CAN", "MODE_LIVE", "MODE_REPLAY")
    return {name: getattr(link, name) for name in names}


def crc_vectors(directory):
    crc = link._crc if VIPER else __import__("link_plain")._crc_plain
    v = load(directory + "/crc.json")
    for case in [v["check"]] + v["cases"]:
        data = unhexlify(case["data"])
        buf = bytearray(data + b"\x00\x00\x00\x00")
        crc(0, 0, link._CRC_TABLE, buf, len(data), 1)
        want = case["crc"]
        got = buf[-4] | (buf[-3] << 8) | (buf[-2] << 16) | (buf[-1] << 24)
        check(got == want, "crc %s: %x != %x" % (case["data"][:16], got, want))
        check(crc(0, 0, link._CRC_TABLE, buf, len(data), 0) == 1, "crc compare " + case["data"][:16])
        buf[-1] ^= 1
        check(crc(0, 0, link._CRC_TABLE, buf, len(data), 0) == 0, "crc mismatch " + case["data"][:16])


def cobs_vectors(directory):
    encode = link._encode if VIPER else __import__("link_plain")._encode_plain
    v = load(directory + "/cobs.json")
    wire = bytearray(_MAX_WIRE)
    for case in v["cases"]:
        data = unhexlify(case["decoded"])
        n = encode(0, 0, wire, data, len(data))
        check(hx(wire, n) == "00" + case["encoded"] + "00", "cobs encode " + case["name"])
    for case in v["cases"] + v["noncanonical"]:
        src = unhexlify("00" + case["encoded"] + "00")
        r, payload, consumed = decode_run(src)
        check(r == _FRAME and payload == case["decoded"], "cobs decode " + case["name"])
        check(consumed == len(src), "cobs consumed " + case["name"])
    for case in v["invalid"]:
        r, _, consumed = decode_run(unhexlify("00" + case["encoded"] + "00"))
        check(r == _BAD, "cobs invalid " + case["name"])


class FakeDecoder:
    """The decoder API the Writer reads (docs/decoder.md): two lanes per signal."""

    def __init__(self, wide, count):
        self.wide = wide
        self.MESSAGES = [None] * count

    def signal_count(self, mi):
        return 8

    def lane_of(self, mi, si):
        return 2 * si

    def kind_of(self, mi, si):
        return 64 if [mi, si] in self.wide else 32


class _Run:
    """changed.Changed's run state alone (no deadband file needed)."""

    def __init__(self):
        self.st = array("i", [0, -1])


def board_message(m):
    f = m["fields"]
    name = m["type_name"]
    if name == "TELEMETRY":
        w = link.Writer(FakeDecoder(m["wide"], 8), VIPER)
    else:
        w = link.Writer(None, VIPER)
    w.seq = m["seq"]
    if name == "HELLO":
        return w, w.hello(f["boot_id"], f["mode"], f["caps"], f["rx_window"], unhexlify(f["dbc_sha256"]),
                          f["fw_version"], f["board"], f["heap_free"])
    if name == "LOG":
        return w, w.log(f["level"], f["text"])
    if name == "ALERT":
        return w, w.alert(f["frame_no"], f["code"], f["severity"], f["mi"], f["si"], f["value"], f["text"])
    if name == "TOW_RANGE":
        return w, w.tow_range(f["frame_no"], f["range_dkm"], f["wh_per_km"], f["window_m"])
    if name == "STATS":
        names = load(sys.argv[3] + "/messages.json")["stats_fields"]
        return w, w.stats([f[k] for k in names], f["can_state"])
    if name == "CREDIT":
        reader = link.FrameReader(VIPER)
        reader._last = -1 if f["ack"] == 0xFFFF else f["ack"]  # as after a frame with that seq
        reader._st[_SINCE] = 77
        n = w.credit(reader, f["window"])
        check(reader.since_credit() == 0, "credit resets since_credit")
        return w, n
    if name == "TELEMETRY" and not f["records"]:
        return w, w.raw(_TELEMETRY, b"\x00")  # telemetry_flush() sends no empty frame
    if name == "TELEMETRY":
        lanes = array("i", bytes(4 * 16))
        selected = array("H", bytes(2 * 9))
        for r in f["records"]:
            if "run" in r:  # telemetry "changed": each frame of the run through changed.py
                import changed

                run = _Run()
                for i, c in enumerate(r["run"]):
                    no = (r["frame_no"] + i) & 0x3FFFFFFF
                    check(changed.Changed.suppressed(run, w, no, 1 if c == "u" else 0) == -1, "run fits")
                continue
            selected[0] = len(r["signals"])
            for k, (si, v0, v1) in enumerate(r["signals"]):
                selected[1 + k] = si
                lanes[2 * si] = v0
                lanes[2 * si + 1] = v1 or 0
            check(w.telemetry(r["frame_no"], r["result"], lanes, selected) == -1, "telemetry fits")
        return w, w.telemetry_flush()
    return None, 0


def host_message(m):
    f = m["fields"]
    got, counters, reader = receive(unhexlify(m["wire"]), 4096)
    check(len(got) == 1 and got[0]["type"] == m["type"] and got[0]["seq"] == m["seq"]
          and got[0]["body"] == m["body"], "receive " + m["name"])
    if m["type_name"] != "CAN" or not got:
        return
    rec = array("i", bytes(16))
    data = bytearray(64)
    check(reader.count == len(f["records"]), "can count " + m["name"])
    check(reader.can_first_no() == f["first_no"], "can first_no " + m["name"])
    for i, r in enumerate(f["records"]):
        n = reader.can_record(i, rec, data)
        want = [r["t_us"] & 0x3FFFFFFF, r["id"], int(r["ext"]), len(r["data"]) // 2]
        check(list(rec) == want and n == want[3] and hx(data, n) == r["data"],
              "can record %s %d: %s" % (m["name"], i, list(rec)))
        check(reader.can_frame_no(i) == (f["first_no"] + i) & 0x3FFFFFFF, "can frame_no")  # mod 2**30


def stream_vectors(directory):
    """streams.json's vectors; from DIRECTORY/streams/*.json (one vector per file, as
    test_link_mp.py writes them) when there: a 100 KB heap does not hold them all at once."""
    import os

    try:
        names = sorted(os.listdir(directory + "/streams"))
    except OSError:
        for s in load(directory + "/streams.json")["streams"]:
            yield s
        return
    for name in names:
        yield load(directory + "/streams/" + name)


def vectors(directory):
    crc_vectors(directory)
    gc.collect()
    cobs_vectors(directory)
    gc.collect()
    for m in load(directory + "/messages.json")["messages"]:
        if m["type"] in (link.SYNC, link.STOP, link.PING, link.CAN):
            host_message(m)
        else:
            w, n = board_message(m)
            check(hx(w.wire, n) == m["wire"], "pack " + m["name"])
            check(w.seq == (m["seq"] + 1) & 0xFFFF, "seq advances " + m["name"])
    gc.collect()
    for s in stream_vectors(directory):
        if s["receiver"] != "board":
            continue
        data = unhexlify(s["stream"])
        s["stream"] = None
        last = -1 if s["last_seq"] is None else s["last_seq"]
        for chunk in (len(data) + 1, 1, 7, 64):
            got, counters, reader = receive(data, chunk)
            check(got == s["frames"] and counters == s["counters"],
                  "stream %s chunk %d: %s" % (s["name"], chunk, counters))
            check(reader.last_seq() == last, "stream %s: CREDIT acknowledges %d" % (s["name"], reader.last_seq()))
        s = data = got = None
        gc.collect()
    print(json.dumps({"checks": checks[0], "failures": failures, "constants": constants()}))


def _u32(b, at):
    return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)


def streams(path):
    with open(path, "rb") as f:
        # u32 longest case; then per case: u32 length, u32 chunk size, the bytes.
        # One buffer for all: a 100 KB heap fragments otherwise.
        head = bytearray(8)
        f.readinto(memoryview(head)[:4])
        data = bytearray(_u32(head, 0))
        while f.readinto(head) == 8:
            n = _u32(head, 0)
            f.readinto(memoryview(data)[:n])
            _, counters, _ = receive(data, _u32(head, 4), True, n)
            print(json.dumps({"counters": counters}))
            gc.collect()


def pipeline(directory, module, src):
    sys.path.insert(0, directory)
    dbc = __import__(module)
    lanes, selected = dbc.new_buffers()
    decoders = dbc.DECODERS
    reader = link.FrameReader(VIPER)
    writer = link.Writer(dbc, VIPER)
    rec = array("i", bytes(16))
    data = bytearray(64)

    def emit(n, keep):
        if n and keep:
            print(hx(writer.wire, n))

    def run(keep):
        reader.feed(src, len(src))
        t = reader.next()
        while t >= 0:
            if t == link.CAN:
                for i in range(reader.count):
                    n = reader.can_record(i, rec, data)
                    fn = decoders.get(dbc.key(rec[1], rec[2]))
                    mi = fn(data, lanes, selected, n) if fn else dbc.ERR_UNKNOWN_ID
                    frame_no = reader.can_frame_no(i)
                    k = writer.telemetry(frame_no, mi, lanes, selected)
                    while k >= 0:
                        emit(writer.telemetry_flush(), keep)
                        k = writer.telemetry(frame_no, mi, lanes, selected, k)
            t = reader.next()
        emit(writer.telemetry_flush(), keep)

    run(True)
    frames = reader.frames
    run(False)  # warm up: every path taken once
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    run(False)
    m1 = gc.mem_alloc()
    run(False)
    run(False)
    m2 = gc.mem_alloc()
    gc.enable()
    print(json.dumps({"frames": frames, "alloc_1": m1 - m0, "alloc_2": m2 - m1,
                      "counters": [reader.crc_errors, reader.bad_frames, reader.seq_gaps],
                      "mem_free": gc.mem_free()}))


if MODE == "vectors":
    vectors(sys.argv[3])
elif MODE == "streams":
    streams(sys.argv[3])
elif MODE == "pipeline":
    pipeline(sys.argv[3], sys.argv[4], STREAM)
