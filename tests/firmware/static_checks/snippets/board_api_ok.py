# Input for test_firmware_types.py: MicroPython code the checker must accept as it stands
# (the board's time, gc, micropython, pyb, machine, array, binascii; viper; const records).
import array
import binascii
import gc
import time

import machine
import micropython
import pyb
from micropython import const

_FIFO = const(0)
_NAME = const(0)
_LAYOUT = const(2)
_RECORDS = (("VcuStatus", 272, b"\x00\x10"),)

can = pyb.CAN(1, pyb.CAN.NORMAL, baudrate=500000, auto_restart=True)
can.setfilter(0, pyb.CAN.LIST16, _FIFO, (0x110, 0x111, 0x112, 0x113))
can.setfilter(1, pyb.CAN.LIST32, _FIFO, (0x18FF0001, 0x18FF0002), extframe=True)
frame = [0, False, False, 0, memoryview(bytearray(8))]
if can.any(_FIFO):
    can.recv(_FIFO, frame, timeout=0)
can.send(b"\x01\x02", 0x123, timeout=10)
info = can.info([0] * 8)
state = can.state() == pyb.CAN.BUS_OFF

vcp = pyb.USB_VCP()
out = bytearray(64)
vcp.write(out, 10)  # stream write(buf, max_len): no slice, no allocation
uart = machine.UART(2, baudrate=115200, timeout=0, rxbuf=4096)
uart.write(out, 10)

started = time.ticks_ms()
time.sleep_ms(1)
took = time.ticks_diff(time.ticks_ms(), started)
deadline = time.ticks_add(time.ticks_us(), 500)
stamp_us = time.ticks_us() & 0x3FFFFFFF  # the replay records' 30-bit time
free = gc.mem_free() + gc.mem_alloc()
gc.collect()
micropython.kbd_intr(-1)
lanes = array.array("i", bytes(16))
crc = binascii.crc32(out, 0) ^ binascii.crc32(b"\x00")
layout = _RECORDS[0][_LAYOUT]
name = _RECORDS[0][_NAME].upper()
low = layout[0] | (layout[1] << 8)


@micropython.viper
def sum_bytes(buf, n: int) -> int:
    p = ptr8(buf)
    w = ptr32(lanes)
    h = ptr16(buf)
    total = 0
    for i in range(n):
        total += p[i]
    w[0] = total + h[0]
    return total


@micropython.native
def first(buf):
    return buf[0]
