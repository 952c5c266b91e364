# Runs on the emulated Pyboard under QEMU -icount (tests/firmware/test_link_cost_qemu.py):
# instructions per byte of the link's byte loops, as slopes between a short and a long input
# (the call's own cost cancels). Prints one line "feed=N crc=N encode=N" (instructions x 10).
import sys
import time

sys.path.insert(0, "/flash/link")
import link  # noqa: E402

REPS = 20


def cost(f):
    f()
    t0 = time.ticks_us()
    for _ in range(REPS):
        f()
    return time.ticks_diff(time.ticks_us(), t0)  # µs = 1,000 instructions under -icount


def can_batch(records):
    """A CAN frame on the wire: `records` 8-byte frames as a replay sends them."""
    body = bytearray(5 + 17 * records)
    body[4] = records
    for r in range(records):
        body[5 + 17 * r:22 + 17 * r] = bytes([r + 1, 0x12, 0x34, 0x01, 0x23, 0x01, 0, 0, 8,
                                              1, 0, 3, 0, 0x55, r, 0, 9])
    w = link.Writer()
    return bytearray(w.wire[:w.raw(link.CAN, body)])


def slope(short, long, f_short, f_long):
    return (cost(f_long) - cost(f_short)) * 1000 * 10 // (REPS * (long - short))


reader = link.FrameReader()
st, pay = reader._st, reader.payload
wires = [can_batch(2), can_batch(25)]


def feed(wire):
    def f():
        st[0] = 0
        st[1] = len(wire)
        link._feed(0, 0, st, pay, wire)
    return f


out = ["feed=%d" % slope(len(wires[0]), len(wires[1]), feed(wires[0]), feed(wires[1]))]
# TELEMETRY-like payloads: a record header, then signal numbers (u16) and small lane values
tm = bytearray(512)
for k in range(8, 500, 6):
    tm[k:k + 6] = bytes([k & 0x3F, 0, 0x34, 0x12, 0, 0])
table = link._CRC_TABLE
out.append("crc=%d" % slope(40, 400, lambda: link._crc(0, 0, table, tm, 40, 1),
                            lambda: link._crc(0, 0, table, tm, 400, 1)))
wire = bytearray(600)
out.append("encode=%d" % slope(40, 400, lambda: link._encode(0, 0, wire, tm, 40),
                               lambda: link._encode(0, 0, wire, tm, 400)))
print(" ".join(out))
