"""The virtual CAN bus (host_tools/vcan): python-can's own slcan client against its adapter,
the bitrate's pace, and the board's machine.CAN (MicroPython) on the other end: filters,
frames both ways, FIFO overrun, error states from a bitrate mismatch."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import can
import pytest

from host_tools.tools import tool
from host_tools.vcan.bus import VirtualCanBus, board_modules, board_preamble, frame_bits

BOARD_SCRIPT = Path(__file__).resolve().parents[1] / "files" / "vcan" / "board_controller_mp.py"


def slcan(port: str, bitrate: int | None = 500000) -> can.BusABC:
    return can.Bus(interface="slcan", channel=port, bitrate=bitrate, sleep_after_open=0)


def _until(condition, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_python_can_slcan_client_opens_sets_bitrate_and_asks_version():
    with VirtualCanBus() as bus:
        client = slcan(bus.port, 250000)
        try:
            assert _until(lambda: bus.adapter.open) and bus.adapter.bitrate == 250000
            assert client.get_version(2) == (10, 13)
            assert client.get_serial_number(2) == "VCAN"
        finally:
            client.shutdown()
        assert _until(lambda: not bus.adapter.open)  # shutdown sends C


def test_adapter_refuses_frames_while_closed_and_bad_commands(tmp_path):
    with VirtualCanBus() as bus:
        import serial

        with serial.Serial(bus.port, timeout=1) as port:
            port.write(b"t1232AABB\r")  # closed: BEL
            assert port.read(1) == b"\x07"
            port.write(b"S9\r")  # no such bitrate
            assert port.read(1) == b"\x07"
            port.write(b"S4\rO\r")
            assert port.read(2) == b"\r\r"
            port.write(b"S6\r")  # S while open: BEL
            assert port.read(1) == b"\x07"
            port.write(b"t1232AABB\r")
            assert port.read(2) == b"z\r"
            port.write(b"t12x2AABB\r")  # a bad id
            assert port.read(1) == b"\x07"
        assert bus.adapter.bitrate == 125000


def test_bus_carries_no_more_frames_than_its_bitrate():
    # 10 kbit/s: an 8-byte standard frame holds the bus 111 bits = 11.1 ms
    with VirtualCanBus() as bus:
        client = slcan(bus.port, 10000)
        try:
            started = time.monotonic()
            for i in range(30):
                client.send(can.Message(arbitration_id=0x100 + i, data=bytes(8), is_extended_id=False))
            while bus.stats.frames < 30 and time.monotonic() - started < 5:
                time.sleep(0.01)
            elapsed = time.monotonic() - started
        finally:
            client.shutdown()
    assert bus.stats.frames == 30
    assert frame_bits(False, 8) == 111
    assert elapsed >= 29 * 111 / 10000 * 0.95, f"30 frames in {elapsed:.3f} s: faster than 10 kbit/s carries"
    assert abs(bus.stats.busy_s - 30 * 111 / 10000) < 1e-9


def _board(bus: VirtualCanBus, tmp_path: Path, bitrate: int) -> subprocess.Popen:
    modules = board_modules(tmp_path)
    script = board_preamble(bus.socket_path, modules) + BOARD_SCRIPT.read_text()
    return subprocess.Popen([tool("micropython"), "-c", f"import sys\nsys.argv.append('{bitrate}')\n" + script],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)


def _line(proc: subprocess.Popen, word: str) -> str:
    line = proc.stdout.readline()
    assert line.startswith(word), line + proc.stdout.read()
    return line.split(None, 1)[1].strip() if " " in line.strip() else ""


@contextlib.contextmanager
def _bus_with_board(tmp_path: Path, board_bitrate: int):
    """A virtual bus with a 500 kbit/s slcan client and the board's controller at
    `board_bitrate`, ready; (bus, client, board process), all closed afterwards."""
    with VirtualCanBus() as bus:
        client = slcan(bus.port, 500000)
        proc = _board(bus, tmp_path, board_bitrate)
        try:
            _line(proc, "ready")
            yield bus, client, proc
        finally:
            client.shutdown()
            proc.kill()
            proc.wait()


def test_board_controller_filters_sends_and_overruns(tmp_path):
    with _bus_with_board(tmp_path, 500000) as (bus, client, proc):
        for can_id, data in ((0x123, b"\x01"), (0x124, b"\x02"), (0x123, b"\x03\x04"), (0x123, b"")):
            client.send(can.Message(arbitration_id=can_id, data=data, is_extended_id=False))
        assert _line(proc, "received") == "123:01 123:0304 123:"  # 0x124: not in the filters
        _line(proc, "sent")
        msg = client.recv(2)
        while msg is not None and msg.arbitration_id != 0x321:
            msg = client.recv(2)
        assert msg is not None and bytes(msg.data) == b"\x01\x02\x03" and not msg.is_extended_id
        proc.stdin.write("go\n")
        proc.stdin.flush()
        for i in range(10):  # while the board does not read: its 3-deep FIFO fills
            client.send(can.Message(arbitration_id=0x123, data=bytes([i]), is_extended_id=False))
        n, overruns, state = _line(proc, "after-pause").split()
        assert int(n) == 3 and int(overruns) == 1 and int(state) == 1  # STATE_ACTIVE


def test_board_at_another_bitrate_sees_errors_not_frames(tmp_path):
    with _bus_with_board(tmp_path, 250000) as (bus, client, proc):
        for _ in range(100):
            client.send(can.Message(arbitration_id=0x123, data=b"\x01", is_extended_id=False))
        assert _until(lambda: bus.stats.frames == 100)
        assert bus.stats.rx_errors_board == 100


def test_play_sends_a_log_in_real_time_onto_any_python_can_bus(tmp_path):
    from host_tools.vcan.play import BusError, open_bus, play

    log = tmp_path / "three.log"
    log.write_text("(1.000000) can0 123#01\n(1.200000) can0 124#02\n(1.400000) can0 125#03\n")
    listener = can.Bus(interface="virtual", channel="mule-play-test")
    bus = open_bus("virtual:mule-play-test")
    try:
        result = play(log, bus)
        got = [listener.recv(1) for _ in range(3)]
    finally:
        bus.shutdown()
        listener.shutdown()
    assert result.frames == 3 and result.seconds >= 0.38  # 0.4 s of log, not faster
    assert [m.arbitration_id for m in got] == [0x123, 0x124, 0x125]
    with pytest.raises(BusError, match="INTERFACE:CHANNEL"):
        open_bus("/dev/pts/3")
    with pytest.raises(BusError, match="no interface 'slcann'"):
        open_bus("slcann:/dev/pts/3")


def test_mule_vboard_prints_the_board_port_then_its_slcan_port(tmp_path):
    import signal
    import sys

    import select

    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli.main", "vboard", "--dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)

    def line(timeout=30.0) -> str:  # a line of stdout, or "" after the timeout (never hangs)
        out = b""
        deadline = time.monotonic() + timeout
        while not out.endswith(b"\n") and select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))[0]:
            byte = proc.stdout.read(1)
            if not byte:
                break
            out += byte
        return out.decode()

    try:
        board = line().strip()
        adapter = line().split() + ["", ""]
        assert board.startswith("/dev/") and adapter[0] == "slcan" and adapter[1].startswith("/dev/")
        client = slcan(adapter[1], 250000)
        client.shutdown()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


def test_mpremote_ls_on_the_virtual_board_shows_file_sizes(tmp_path):
    # issue 13: every file was listed as 0 bytes (the unix port's os.ilistdir has no size)
    from host_tools.vboard import VirtualBoard

    (tmp_path / "notes.txt").write_text("twelve bytes")
    (tmp_path / "lib").mkdir()
    with VirtualBoard(tmp_path, can=True) as board:
        result = subprocess.run([tool("mpremote"), "connect", board.port, "fs", "ls"], capture_output=True,
                                text=True, timeout=60)
    sizes = {line.split()[1]: int(line.split()[0]) for line in result.stdout.splitlines()[1:] if line.strip()}
    assert sizes.get("notes.txt") == 12, result.stdout + result.stderr
    assert sizes.get("lib/") == 0
