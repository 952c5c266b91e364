# Runs inside MicroPython on the virtual CAN bus (the test passes board_preamble first):
# the board's machine.CAN as the firmware uses it. Steps, each announced on stdout:
# filters pass 0x123 only; three frames received; one frame sent (0x321); then the board
# stops reading for 300 ms while the host sends ten frames: a 3-deep FIFO overruns.
import sys
import time

import machine

can = machine.CAN(1, int(sys.argv[-1]) if len(sys.argv) > 1 else 500000)
can.set_filters([(0x123, 0x7FF, 0)])
raw = [0, memoryview(bytearray(8)), 0, 0]
print("ready")
got = []
deadline = time.ticks_add(time.ticks_ms(), 20000)  # ends at the third frame; 5 s ran out once on a loaded CI machine
while len(got) < 3 and time.ticks_diff(deadline, time.ticks_ms()) > 0:
    frame = can.recv(raw)
    if frame is not None:
        got.append("%x:%s" % (frame[0], bytes(frame[1]).hex()))
print("received", " ".join(got))
can.send(0x321, b"\x01\x02\x03", 0)
can.state()  # the bus takes the frame at the next tick
print("sent")
sys.stdin.readline()  # the host has seen it and is about to send ten frames
time.sleep_ms(300)
n = 0
while can.recv(raw) is not None:
    n += 1
counters = can.get_counters()
print("after-pause", n, counters[7], can.state())
