"""The virtual board behaves like a dev board on a serial port: mpremote works, soft
reset reruns main.py, Ctrl-C interrupts only while kbd_intr is on, and it cleans up."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import serial

import mule_testing
from host_tools.vboard import VirtualBoard
from mule_testing import KBD_INTR_MAIN, assert_stop_ends_it, read_until


def mpremote(board: VirtualBoard, *args: str) -> str:
    return mule_testing.mpremote(board.port, *args, timeout=60)


@pytest.fixture
def board(tmp_path):
    (tmp_path / "main.py").write_text('print("main ran")\n')
    with VirtualBoard(tmp_path) as vb:
        yield vb


def test_boot_runs_main_py_then_the_repl(board):
    with serial.Serial(board.port, timeout=0.1) as port:
        data = read_until(port, b">>> ")
    assert data.startswith(b"main ran")
    assert b"MicroPython" in data


def test_mpremote_copies_lists_and_runs(board, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "greet.py").write_text('def hello():\n    return "hello from the board"\n')
    mpremote(board, "fs", "cp", str(source / "greet.py"), ":greet.py")
    assert "greet.py" in mpremote(board, "fs", "ls")
    assert "hello from the board" in mpremote(board, "exec", "import greet; print(greet.hello())")
    assert (board.directory / "greet.py").exists()


def test_soft_reset_from_the_friendly_repl_reruns_main(board):
    with serial.Serial(board.port, timeout=0.1) as port:
        read_until(port, b">>> ")
        boots = board.boots
        port.write(b"\x04")
        data = read_until(port, b">>> ")
    assert b"MPY: soft reboot" in data and b"main ran" in data
    assert board.boots == boots + 1


def test_mpremote_soft_reset_keeps_state_out(board):
    mpremote(board, "exec", "marker = 1")
    out = mpremote(board, "resume", "exec", "print('marker' in globals())")
    assert out.strip() == "True"  # resume: no reset, same MicroPython
    mpremote(board, "soft-reset")
    out = mpremote(board, "resume", "exec", "print('marker' in globals())")
    assert out.strip() == "False"


def test_ctrl_c_interrupts_only_while_kbd_intr_is_on(tmp_path):
    (tmp_path / "main.py").write_text(KBD_INTR_MAIN)
    with VirtualBoard(tmp_path) as vb, serial.Serial(vb.port, timeout=0.1) as port:
        read_until(port, b"listening")
        port.write(b"\x03")
        data = read_until(port, b">>> ")
        assert b"KeyboardInterrupt" in data
    (tmp_path / "deaf").write_text("")
    with VirtualBoard(tmp_path) as vb, serial.Serial(vb.port, timeout=0.1) as port:
        read_until(port, b"deaf")
        port.write(b"\x03\x03")
        time.sleep(0.5)
        assert vb._proc.poll() is None  # still running, still looping
        assert b">>> " not in port.read(1000)


def test_bytes_pass_unchanged_both_ways(tmp_path):
    (tmp_path / "main.py").write_text(
        "import micropython, sys\n"
        "micropython.kbd_intr(-1)\n"
        "data = sys.stdin.buffer.read(256)\n"
        "sys.stdout.buffer.write(b'<' + bytes(reversed(data)) + b'>')\n")
    payload = bytes(range(256))
    with VirtualBoard(tmp_path) as vb, serial.Serial(vb.port, timeout=0.1) as port:
        time.sleep(0.3)
        port.write(payload)
        data = read_until(port, b"<")
        end = time.monotonic() + 10
        while len(data) - data.index(b"<") < 258 and time.monotonic() < end:
            data += port.read(300)
    start = data.index(b"<")
    assert data[start + 1:start + 257] == bytes(reversed(payload))


def test_stop_kills_micropython_and_closes_the_port(tmp_path):
    (tmp_path / "main.py").write_text("import time\nwhile True:\n    time.sleep(1)\n")
    assert_stop_ends_it(VirtualBoard(tmp_path))


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        VirtualBoard(tmp_path / "nope").start()


def test_soft_reset_from_the_host_side_reruns_main(board):
    with serial.Serial(board.port, timeout=0.1) as port:
        read_until(port, b">>> ")
        boots = board.boots
        board.soft_reset()
        assert board.boots == boots + 1
        data = read_until(port, b">>> ")
    assert b"MPY: soft reboot" in data and b"main ran" in data


def test_heap_defaults_to_a_pyboards_100k(tmp_path):
    (tmp_path / "main.py").write_text("import gc\ngc.collect()\nprint('heap', gc.mem_free() + gc.mem_alloc())\n")
    with VirtualBoard(tmp_path) as vb, serial.Serial(vb.port, timeout=0.1) as port:
        data = read_until(port, b">>> ")
    heap = int(data.split(b"heap ")[1].split()[0])
    assert 90_000 < heap <= 100 * 1024  # MicroPython's own default would be ~2 MB


@pytest.mark.parametrize("heap, why", [("1K", "below 32K"), ("abc", "give a size in bytes"), ("", "give a size")])
def test_mule_vboard_refuses_a_heap_no_board_can_run_with(heap, why):
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "vboard", "--heap", heap],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert why in result.stderr and "--heap" in result.stderr
    assert "Invalid command line arguments" not in result.stderr and "Traceback" not in result.stderr
