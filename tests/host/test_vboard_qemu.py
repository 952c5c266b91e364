"""The emulated Pyboard (`mule vboard --board qemu`) behaves like a Pyboard on a serial port:
armv7emsp and float32 inside, mpremote and `mule flash` work on its /flash drive, files
survive soft and hard resets, a soft reset reruns main.py, Ctrl-C interrupts running code
only while kbd_intr is on, and a simulated drive replays with every value verified."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import serial

from host_tools import REPO_ROOT
from host_tools.flash import flash
import mule_testing
from host_tools.qemu_board.build import build
from host_tools.vboard import FLASH_IMAGE, QemuBoard
from mule_testing import KBD_INTR_MAIN, assert_stop_ends_it
from qemu_testing import QemuScripts, ScriptError, qemu_firmware

MULE = [sys.executable, "-m", "host_tools.cli.main"]


@pytest.fixture(scope="module")
def firmware():
    return qemu_firmware("100K")


def read_until(port: serial.Serial, marker: bytes, timeout: float = 15.0) -> bytes:
    return mule_testing.read_until(port, marker, timeout)


def mpremote(board: QemuBoard, *args: str) -> str:
    return mule_testing.mpremote(board.port, *args)


@pytest.fixture
def board(tmp_path, firmware):
    with QemuBoard(tmp_path, firmware=firmware) as qb:
        yield qb


def test_it_is_a_32_bit_cortex_m4f_with_float32_and_a_100k_heap(board):
    out = mpremote(board, "exec", "import sys, gc; gc.collect()\n"
                                  "print(sys.implementation._mpy >> 10, 1.0 + 2.0 ** -30 == 1.0, "
                                  "type(2 ** 30).__name__, gc.mem_free() + gc.mem_alloc(), sys.platform)")
    arch, float32, big, heap, platform = out.split()
    assert arch == "7"  # armv7emsp: the code `mule flash` builds for a Pyboard
    assert float32 == "True"  # a double would keep 2**-30
    assert big == "int"  # (a big int here, a small one on the unix port; both print "int")
    assert 90_000 < int(heap) <= 100 * 1024
    assert platform == "qemu"


def test_mpremote_copies_lists_and_imports_from_flash(board, tmp_path):
    source = tmp_path / "greet.py"
    source.write_text('def hello():\n    return "hello from the emulated board"\n')
    mpremote(board, "fs", "cp", str(source), ":greet.py")
    assert "greet.py" in mpremote(board, "fs", "ls")
    assert "hello from the emulated board" in mpremote(board, "exec", "import greet; print(greet.hello())")
    assert mpremote(board, "exec", "import os; print(os.getcwd())").strip() == "/flash"


def test_soft_reset_reruns_main_py_and_keeps_the_files(board, tmp_path):
    main = tmp_path / "main.py"
    main.write_text('print("main ran")\n')
    mpremote(board, "fs", "cp", str(main), ":main.py")
    with serial.Serial(board.port, timeout=0.1) as port:
        port.write(b"\r\x02")  # the friendly REPL (mpremote may have left a prompt queued too)
        read_until(port, b">>> ")
        time.sleep(0.5)
        port.reset_input_buffer()
        port.write(b"\x04")
        data = read_until(port, b">>> ")
    assert b"MPY: soft reboot" in data and b"main ran" in data


def test_a_hard_reset_restarts_qemu_with_the_same_drive(board, tmp_path):
    main = tmp_path / "main.py"
    main.write_text('print("main ran after power-up")\n')
    mpremote(board, "fs", "cp", str(main), ":main.py")
    pid = board._proc.pid
    with serial.Serial(board.port, timeout=0.1) as port:
        board.soft_reset()  # the reset button: QEMU starts again
        data = read_until(port, b">>> ")
    assert board._proc.pid != pid
    assert b"main ran after power-up" in data
    assert (board.directory / FLASH_IMAGE).stat().st_size == 1024 * 1024


def test_ctrl_c_interrupts_only_while_kbd_intr_is_on(tmp_path, firmware):
    main = tmp_path / "main.py"
    main.write_text(KBD_INTR_MAIN)
    with QemuBoard(tmp_path, firmware=firmware) as qb:
        # mpremote's own Ctrl-C stops main.py: the board is interruptible while listening
        mpremote(qb, "fs", "cp", str(main), ":main.py")
        with serial.Serial(qb.port, timeout=0.1) as port:
            qb.soft_reset()
            read_until(port, b"listening")
            port.write(b"\x03")
            assert b"KeyboardInterrupt" in read_until(port, b">>> ")
            port.write(b"f = open('deaf', 'w'); f.close()\r")
            read_until(port, b">>> ")
            qb.soft_reset()
            read_until(port, b"deaf")
            port.write(b"\x03\x03")
            time.sleep(0.5)
            assert b">>> " not in port.read(1000)


def test_stop_kills_qemu_and_closes_the_port(tmp_path, firmware):
    assert_stop_ends_it(QemuBoard(tmp_path, firmware=firmware))


def test_the_build_is_reused_while_its_inputs_are_unchanged(firmware):
    again = build("100K", log=lambda text: None)
    assert again.elf == firmware and again.build_seconds is None
    assert (firmware.parent / "stamp").read_text().split()[0] in firmware.parent.name


def test_mule_flash_then_a_simulated_drive_replays_with_nothing_lost(board, dbc, tmp_path):
    log = tmp_path / "city.log"
    subprocess.run(MULE + ["simulate", "city_drive", "--duration", "3", "-o", str(log)], check=True,
                   capture_output=True, cwd=REPO_ROOT)
    report = flash(dbc, board.port, {"mode": "replay"}, tmp_path / "flash", log=lambda text: None)
    assert report.info.arch == "armv7emsp"
    result = subprocess.run(MULE + ["replay", "--port", board.port, "--speed", "max", str(log)],
                            capture_output=True, text=True, timeout=180, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout + result.stderr
    assert "everything verified" in summary
    assert "mismatched 0, lost 0" in summary


def test_mule_vboard_qemu_prints_its_port_and_stops_on_sigterm(tmp_path, firmware):
    proc = subprocess.Popen(MULE + ["vboard", "--board", "qemu", "--dir", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        port = proc.stdout.readline().strip()
        assert port.startswith("/dev/pts/")
        with serial.Serial(port, timeout=0.1) as link:
            link.write(b"\r")
            read_until(link, b">>> ")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "emulated Pyboard" in err and "virtual board stopped" in err


def test_mule_replay_board_qemu_raises_the_expected_sway_alert(tmp_path, firmware):
    """`mule replay --board qemu`: flashed on the fly, supervision in float32 on the board,
    the simulator's expected trailer_sway alert raised and matched."""
    log = tmp_path / "sway.log"
    subprocess.run(MULE + ["simulate", "trailer_sway", "--duration", "15", "--set", "sway_start_s=2",
                           "-o", str(log)], check=True, capture_output=True, cwd=REPO_ROOT)
    result = subprocess.run(MULE + ["replay", "--board", "qemu", "--speed", "max", str(log)],
                            capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    summary = result.stdout + result.stderr
    assert result.returncode == 0, summary
    assert "emulated Pyboard" in summary and "mismatched 0, lost 0" in summary
    assert "expected 1, raised 1, matched 1" in summary


def test_scripts_runner_recovers_after_a_script_runs_out_of_memory(firmware, tmp_path):
    """QemuScripts (the qemu tier's one board per module): a script that fills the heap
    and fails leaves the board able to take the next file and script."""
    greedy = tmp_path / "greedy.py"
    greedy.write_text("keep = []\nwhile True:\n    keep.append(bytearray(1000))\n")
    fine = tmp_path / "fine.py"
    fine.write_text("import sys\nprint(len(open(sys.argv[1], 'rb').read()))\n")
    with QemuScripts(firmware) as board:
        with pytest.raises(ScriptError, match="MemoryError"):
            board.run(greedy)
        board.put(bytes(40_000), "/flash/blob.bin")
        assert board.run(fine, ["/flash/blob.bin"]).strip() == "40000"
