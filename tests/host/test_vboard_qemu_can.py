"""The emulated Pyboard's virtual CAN bus (`mule vboard --board qemu`): an slcan port beside
the REPL's, and the firmware's machine.CAN on the bus with the unix board's behaviour (the
filters, the 3-deep FIFO and its overrun, frames sent reaching the slcan client, unacknowledged
frames raising TEC to error passive); the controller's objects do not come out of the
board's 100 KB (the heap is built larger by their share, taken off without a bus)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import can
import pytest
from mpremote.transport_serial import SerialTransport

from host_tools import REPO_ROOT
from host_tools.vboard import QemuBoard
from qemu_testing import qemu_firmware

MULE = [sys.executable, "-m", "host_tools.cli.main"]


@pytest.fixture(scope="module")
def firmware():
    return qemu_firmware("100K")


def _repl(port: str) -> SerialTransport:
    transport = SerialTransport(port, baudrate=115200)
    transport.enter_raw_repl(soft_reset=False, timeout_overall=30)
    return transport


def _lines(proc: subprocess.Popen, n: int, timeout: float) -> list[str]:
    """The first n lines of its stdout, or fewer when it does not print them in time."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout.readline().strip() for _ in range(n)),
                              daemon=True)
    reader.start()
    reader.join(timeout)
    return (lines + [""] * n)[:n]


def _run(transport: SerialTransport, code: str) -> str:
    out, err = transport.exec_raw(code, timeout=30)
    assert not err, err.decode(errors="replace")
    return out.decode().strip()


def test_mule_vboard_qemu_puts_the_boards_machine_can_on_an_slcan_bus(tmp_path, firmware):
    proc = subprocess.Popen(MULE + ["vboard", "--board", "qemu", "--dir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    transport = client = None
    try:
        port, slcan = _lines(proc, 2, timeout=60)
        assert port.startswith("/dev/pts/") and slcan.startswith("slcan /dev/pts/"), (port, slcan)
        transport = _repl(port)
        _run(transport, "import machine\nc = machine.CAN(1, 500000)\n"
                        "c.set_filters([(0x100, 0x7F0, 0), (0x1234567, 0x1FFFFFFF, c.FLAG_EXT_ID)])\n"
                        "l = [0, memoryview(bytearray(8)), 0, 0]")
        client = can.Bus(interface="slcan", channel=slcan.split()[1], bitrate=500000, sleep_after_open=0)
        # the controller hears the bus (state() does) but nobody takes frames from its FIFO
        # for 0.6 s: it holds 3, and the 4th and 5th passing frames are lost (one overrun)
        transport.exec_raw_no_follow("import time\nt0 = time.ticks_ms()\n"
                                     "while time.ticks_diff(time.ticks_ms(), t0) < 600:\n c.state()")
        time.sleep(0.1)
        client.send(can.Message(arbitration_id=0x1234567, data=b"ext", is_extended_id=True))
        client.send(can.Message(arbitration_id=0x200, data=b"no", is_extended_id=False))  # no filter passes it
        for i in range(1, 5):
            client.send(can.Message(arbitration_id=0x100 + i, data=bytes([i]) * 8, is_extended_id=False))
        out, err = transport.follow(timeout=30)
        assert not err, err
        got = _run(transport, "while True:\n r = c.recv(l)\n if r is None:\n  break\n"
                              " print(hex(r[0]), bytes(r[1]).hex(), r[2])\nprint('overruns', c.get_counters()[7])")
        assert got.splitlines() == ["0x1234567 657874 2", "0x101 0101010101010101 0", "0x102 0202020202020202 0",
                                    "overruns 1"], got
        _run(transport, "c.send(0x321, b'hi', 0)\nc.state()")
        back = client.recv(5)
        assert back is not None and (back.arbitration_id, bytes(back.data)) == (0x321, b"hi")
        client.shutdown()  # the adapter closes: nobody acknowledges the board's frames now
        client = None
        got = _run(transport, "import time\nfor i in range(16):\n while c.send(0x321, b'x', 0) is None:\n"
                              "  time.sleep_ms(1)\n  c.state()\nt0 = time.ticks_ms()\n"
                              "while c.get_counters()[0] < 128 and time.ticks_diff(time.ticks_ms(), t0) < 5000:\n"
                              " time.sleep_ms(5)\ntime.sleep_ms(20)\n"
                              "print(c.state() == c.STATE_PASSIVE, c.get_counters()[0])")
        assert got == "True 128", got
    finally:
        if client is not None:
            client.shutdown()
        if transport is not None:
            transport.close()
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "virtual CAN bus" in err and "virtual board stopped" in err


def test_the_controller_does_not_take_the_boards_heap(tmp_path, firmware):
    free = {}
    for can_bus in (False, True):
        folder = tmp_path / str(can_bus)
        folder.mkdir()
        with QemuBoard(folder, firmware=firmware, can=can_bus) as board:
            transport = _repl(board.port)
            try:
                free[can_bus] = _run(transport, "import gc, machine\nhas = hasattr(machine, 'CAN')\n"
                                                "c = machine.CAN(1, 500000) if has else None\n"
                                                "c and c.set_filters([(i, 0x7FF, 0) for i in range(8)])\n"
                                                "gc.collect()\nprint(has, gc.mem_free())").split()
            finally:
                transport.close()
    assert free[False][0] == "False" and free[True][0] == "True"  # machine.CAN only with a bus
    # with its controller and 8 filters, the board has what it has without a bus (256 B: GC blocks)
    assert abs(int(free[True][1]) - int(free[False][1])) <= 256, free
