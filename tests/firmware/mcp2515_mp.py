# Runs inside MicroPython: firmware/mcp2515.py driving the fake chip of
# tests/firmware/fakes/mcp2515_chip.py. Usage: micropython mcp2515_mp.py FIRMWARE_DIR FAKES_DIR
# stdin: one command a line; stdout: exactly one line per command (test_mcp2515.py pairs
# them), then "end <violations> <ignored writes>".
#   init CRYSTAL BITRATE MODE [KEY_HEX ...]   Mcp2515 on a fresh chip: "ok" or "error ..."
#   timing CRYSTAL BITRATE                    bit_timing(): "cnf C1 C2 C3" or "error ..."
#   inject ID_HEX EXT RTR DATA_HEX|- [DLC]    a frame on the bus: the buffer that took it
#   recv                                      "frame ID_HEX EXT RTR FMI DATA_HEX" or "none"
#   drain                                     every waiting frame, ";"-separated
#   send ID_HEX EXT DATA_HEX|-                True/False
#   loop ID_HEX EXT DATA_HEX|-                can.loop(): the frame back, "none" or "error ..."
#   noack | ack                               no node acknowledges / one acknowledges now
#   recover | restart                         chip.recover_from_bus_off / driver.restart
#   errors TEC REC                            chip.set_error_counters
#   state                                     "state S errors E overflows O"
#   regs ADDR_HEX N                           hex of N chip registers
#   sent                                      frames the chip put on the bus
#   nowire IDLE_HEX                           Mcp2515 with nothing on the SPI bus
#   alloc N                                   bytes allocated by N frames' recv(), ns per recv
#   sendalloc N                               bytes allocated by N send() calls, frames sent
import gc
import sys
import time
from binascii import hexlify, unhexlify

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import mcp2515  # noqa: E402
from mcp2515_chip import FakePin, FakeSPI, Mcp2515Chip  # noqa: E402

chip = None
can = None


def hexdata(field):
    return b"" if field == "-" else unhexlify(field)


def show(frame):
    if frame is None:
        return "none"
    return "frame %x %d %d %d %s" % (frame[0], frame[1], frame[2], frame[3], hexlify(frame[4]).decode() or "-")


def error(exc):
    return "error %s: %s" % (type(exc).__name__, exc)


def measure(n):
    """recv() of n frames (std/ext, DLC 0..8, both buffers) with the GC off: the bytes
    allocated between the calls, injection outside the measured span."""
    payload = bytearray(8)
    total = 0
    frames = 0
    spent = 0
    recv = can.recv
    for i in range(n // 2):
        for j in range(8):
            payload[j] = (i + j) & 0xFF
        data = memoryview(payload)[:i % 9]
        chip.inject(0x100 + (i & 1), data)
        chip.inject(0x18FF0000 | (i & 0xFF), data, ext=True)
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        t0 = time.ticks_us()
        a = recv()
        b = recv()
        c = recv()
        spent += time.ticks_diff(time.ticks_us(), t0)
        total += gc.mem_alloc() - before
        gc.enable()
        if a is None or b is None or c is not None:
            return "alloc error: frames lost in measurement"
        frames += 2
    return "alloc %d %d %d" % (total, frames, spent * 1000 // (frames * 3 // 2))


def measure_send(n):
    """send() of n frames with the GC off (no node ACKs: the chip's side allocates
    nothing; the ACK that frees TXB0 is outside the measured span)."""
    chip.auto_ack = False
    payload = bytearray(range(8))
    total = 0
    for i in range(n):
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        queued = can.send(0x18FF0000 | i if i & 1 else i & 0x7FF, i & 1 == 1, payload, i % 9)
        total += gc.mem_alloc() - before
        gc.enable()
        if not queued:
            return "sendalloc error: TXB0 still pending"
        chip.ack_tx()
    return "sendalloc %d %d" % (total, len(chip.sent))


def run(fields):
    global chip, can
    cmd = fields[0]
    if cmd == "init":
        chip = Mcp2515Chip()
        keys = [int(k, 16) for k in fields[4:]]
        try:
            can = mcp2515.Mcp2515(FakeSPI(chip), FakePin(chip), bitrate=int(fields[2]),
                                  crystal_hz=int(fields[1]), keys=keys, mode=fields[3])
        except (ValueError, OSError) as exc:
            return error(exc)
        return "ok"
    if cmd == "timing":
        try:
            return "cnf %d %d %d" % mcp2515.bit_timing(int(fields[1]), int(fields[2]))
        except ValueError as exc:
            return error(exc)
    if cmd == "inject":
        dlc = int(fields[5]) if len(fields) > 5 else None
        return str(chip.inject(int(fields[1], 16), hexdata(fields[4]), ext=fields[2] == "1",
                               rtr=fields[3] == "1", dlc=dlc))
    if cmd == "recv":
        return show(can.recv())
    if cmd == "drain":
        got = []
        while True:
            frame = can.recv()
            if frame is None:
                return ";".join(got) or "none"
            got.append(show(frame))
    if cmd == "send":
        data = hexdata(fields[3])
        return str(can.send(int(fields[1], 16), fields[2] == "1", data, len(data)))
    if cmd == "loop":
        data = hexdata(fields[3])
        try:
            return show(can.loop(int(fields[1], 16), fields[2] == "1", data, len(data)))
        except OSError as exc:
            return error(exc)
    if cmd == "noack":
        chip.auto_ack = False
        return "ok"
    if cmd == "ack":
        chip.ack_tx()
        return "ok"
    if cmd == "recover":
        chip.recover_from_bus_off()
        return "ok"
    if cmd == "restart":
        can.restart()
        return "ok"
    if cmd == "errors":
        chip.set_error_counters(int(fields[1]), int(fields[2]))
        return "ok"
    if cmd == "state":
        return "state %d errors %d overflows %d" % (can.state(), can.errors(), can.overflows)
    if cmd == "regs":
        addr = int(fields[1], 16)
        return hexlify(bytes(chip.regs[addr:addr + int(fields[2])])).decode()
    if cmd == "sent":
        return ";".join("%x %d %d %s" % (i, e, r, hexlify(d).decode() or "-") for i, e, r, d in chip.sent) or "none"
    if cmd == "nowire":
        try:
            mcp2515.Mcp2515(FakeSPI(None, int(fields[1], 16)), FakePin(None))
        except OSError as exc:
            return error(exc)
        return "ok"
    if cmd == "alloc":
        return measure(int(fields[1]))
    if cmd == "sendalloc":
        return measure_send(int(fields[1]))
    return "unknown command " + cmd


for line in sys.stdin:
    fields = line.split()
    if fields:
        print(run(fields))
print("end %d %d" % (len(chip.violations) if chip else 0, chip.ignored_writes if chip else 0))
