"""firmware/e2e.py: the CRC-8 SAE J1850 of docs/dbc.md, the same in MicroPython and CPython."""

from __future__ import annotations

import subprocess

from host_tools import REPO_ROOT
from host_tools.e2e import crc8_j1850, next_counter, payload_crc
from host_tools.tools import tool


def bitwise_crc8(data: bytes) -> int:
    """The definition in docs/dbc.md, bit by bit: the table-driven code must match it."""
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1D) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc ^ 0xFF


def test_check_value():
    assert crc8_j1850(b"123456789") == 0x4B


def test_table_matches_the_definition():
    for n in range(0, 300, 7):
        data = bytes((i * 37 + n) & 0xFF for i in range(n % 13))
        assert crc8_j1850(data) == bitwise_crc8(data)


def test_payload_crc_covers_all_but_the_last_byte():
    frame = bytes([1, 2, 3, 4, 5, 6, 7, 0xAA])
    assert payload_crc(frame) == bitwise_crc8(frame[:7])


def test_counter_wraps_at_15():
    assert [next_counter(c) for c in (0, 14, 15)] == [1, 15, 0]


def test_same_results_in_micropython_with_no_heap_use_per_frame():
    script = (
        "import sys, gc\n"
        f"sys.path.insert(0, {str(REPO_ROOT / 'firmware')!r})\n"
        "import e2e\n"
        "print(e2e.crc8_j1850(b'123456789'))\n"
        "frame = bytes([1, 2, 3, 4, 5, 6, 7, 0])\n"
        "print(e2e.payload_crc(frame))\n"
        "e2e.payload_crc(frame)\n"
        "gc.collect(); gc.disable(); before = gc.mem_alloc()\n"
        "for _ in range(50): e2e.payload_crc(frame)\n"
        "after = gc.mem_alloc()\n"
        "for _ in range(100): e2e.payload_crc(frame)\n"
        "print(gc.mem_alloc() - after - (after - before))\n"  # 100 calls cost what 50 did: fixed, not per call
    )
    result = subprocess.run([tool("micropython"), "-X", "heapsize=100K", "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.split()
    assert int(lines[0]) == 0x4B
    assert int(lines[1]) == bitwise_crc8(bytes([1, 2, 3, 4, 5, 6, 7]))
    assert int(lines[2]) == 0
