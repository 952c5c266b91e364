# E2E protection of the truck's messages (docs/dbc.md): CRC-8 SAE J1850 over every
# payload byte but the last, and a 4-bit rolling counter. Plain Python that runs on
# MicroPython and CPython alike: the host's traffic tools and the board share this file.

_POLY = 0x1D


def _make_table():
    table = bytearray(256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ _POLY) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[i] = crc
    return bytes(table)


_TABLE = _make_table()
del _make_table  # start-up only: its bytecode leaves the board's heap with it


def crc8_j1850(data, end=-1):
    """CRC-8 SAE J1850 (init 0xFF, xorout 0xFF) of data[0:end]; end=-1 means all bytes.
    Allocates nothing, so the board can check every frame."""
    if end < 0:
        end = len(data)
    crc = 0xFF
    table = _TABLE
    for i in range(end):
        crc = table[crc ^ data[i]]
    return crc ^ 0xFF


def payload_crc(data):
    """The CRC a protected frame must carry in its last byte."""
    return crc8_j1850(data, len(data) - 1)


def next_counter(counter):
    return (counter + 1) & 0x0F
