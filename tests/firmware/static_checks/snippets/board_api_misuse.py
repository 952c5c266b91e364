# Input for test_firmware_types.py: every line marked `# expect: CODE` must be reported
# with that mypy error code, and no other line: wrong calls of the board's API.
import array
import binascii
import gc
import time

import micropython
import pyb
from micropython import const

_FIFO = const(0)
_NAME = const(0)
_RECORDS = (("VcuStatus", 272, b"\x00\x10"),)

can = pyb.CAN(1, pyb.CAN.NORMAL, baudrate=500000)
can2 = pyb.CAN(1, pyb.CAN.NORMAL, baudrat=500000)  # expect: call-arg
frame = [0, False, False, 0, memoryview(bytearray(8))]
can.recv(0, frame, timeout="x")  # expect: call-overload
can.setfilter(0, pyb.CAN.LIST16, 0)  # expect: call-overload
can.recieve(0)  # expect: attr-defined
can.send(b"\x01")  # expect: call-arg
pyb.CAN.LIST64  # expect: attr-defined
can.rxcallback(0, 5)  # expect: arg-type

started = time.ticks_ms()
took = time.ticks_ms() - started  # expect: operator
late = time.ticks_us() > 5  # expect: operator
time.monotonic()  # expect: attr-defined
gc.mem_free("x")  # expect: call-arg
gc.get_objects()  # expect: attr-defined
micropython.kbd_intr("off")  # expect: arg-type
array.array(4, bytes(4))  # expect: call-overload
binascii.crc32()  # expect: call-arg
binascii.crc33(b"")  # expect: attr-defined
_RECORDS[0][_NAME] + 1  # expect: operator
_FIFO = 1  # expect: misc


@micropython.viper
def bad_viper(buf) -> int:
    p = ptr8(buf)
    p[0] = "x"  # expect: assignment
    return p.value  # expect: attr-defined
