"""No setting and no broken file bricks a board: a virtual board with a mule_config.json
that would leave it deaf to the link, or with firmware that fails at boot, still answers
mpremote, and `mule flash` repairs it in seconds; when the firmware does not start,
`mule flash` shows what the board printed; live mode on a board without a CAN controller
is refused before anything is copied."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest
import serial

import host_tools.flash as flashing
from host_tools.flash import FlashError, build_firmware, flash
from host_tools.link import messages as m
from host_tools.link.session import BoardLink
from host_tools.tools import tool
from host_tools.vboard import VirtualBoard
from mule_testing import FILES

REPAIR_S = 20  # a flash of the virtual board takes ~3 s; a deaf board costs mpremote's 60 s


@pytest.fixture(scope="module")
def firmware(dbc, tmp_path_factory):
    """The firmware for the virtual board, built once (two seconds a build) for every test."""
    directory = tmp_path_factory.mktemp("firmware")
    build_firmware(dbc, directory, "x64", {"mode": "replay"})
    return directory


@pytest.fixture
def prebuilt(firmware, monkeypatch):
    """flash() copies the prebuilt firmware instead of building it again."""

    def build(dbc, out_dir, arch, config):
        if out_dir.exists():
            shutil.rmtree(out_dir)
        shutil.copytree(firmware, out_dir)
        return sorted(out_dir.iterdir())

    monkeypatch.setattr(flashing, "build_firmware", build)
    return firmware


def board_dir(firmware, tmp_path):
    shutil.copytree(firmware, tmp_path / "vb")
    return tmp_path / "vb"


def answers_mpremote(port: str) -> str:
    result = subprocess.run([tool("mpremote"), "connect", port, "exec", "print('repl free')"],
                            capture_output=True, text=True, timeout=15)
    return result.stdout.strip()


def repair(dbc, port: str, build) -> float:
    began = time.monotonic()
    report = flash(dbc, port, {"mode": "replay"}, build, log=lambda text: None)
    assert report.hello.dbc_sha256.hex() == dbc.sha256
    return time.monotonic() - began


def test_a_config_that_bricked_the_board_is_not_used_and_flash_repairs_it(dbc, tmp_path, prebuilt):
    """rx_window 0 (hand-edited, or from an older mule flash): the board used to never read
    the link again; now it says HELLO with the default window, LOGs why, and STOPs."""
    board_dir(prebuilt, tmp_path)
    (tmp_path / "vb" / "mule_config.json").write_text((FILES / "config" / "bricks_the_link.json").read_text())
    with VirtualBoard(tmp_path / "vb") as vb:
        with serial.Serial(vb.port, timeout=1.0) as port:
            boot = port.read(4096)  # what the board said at boot: HELLO, CREDIT, LOG
        logs = [x.text for x in flashing.Boot("link", boot).logs()]
        assert any("rx_window = 0: must be an integer in 517..65535; using 1024" in text for text in logs), logs
        assert any("decimation = 0: must be an integer in 1..65535; using 1" in text for text in logs), logs
        with BoardLink(vb.port, dbc) as link:
            assert link.sync(timeout=5).rx_window == 1024
            said = [x.text for x in link.messages() if isinstance(x, m.Log)]  # again after this HELLO
            assert link.stop(timeout=3)  # the board reads the link
        assert any(text.startswith("mule_config.json: rx_window = 0") for text in said), said
        assert answers_mpremote(vb.port) == "repl free"
        assert repair(dbc, vb.port, tmp_path / "build") < REPAIR_S


def break_app_main(directory):
    (directory / "app.mpy").unlink()
    (directory / "app.py").write_text("def main():\n    raise RuntimeError('start-up failed on purpose')\n")


def break_decoder(directory):
    (directory / "dbc_decoder.mpy").unlink()


def cut_app_short(directory):
    (directory / "app.mpy").write_bytes(b"\x00" * 64)  # a copy that did not finish


BROKEN = {"app.main raises": (break_app_main, "RuntimeError: start-up failed on purpose"),
          "decoder missing": (break_decoder, "ImportError: no module named 'dbc_decoder'"),
          "app.mpy damaged": (cut_app_short, "ValueError: incompatible .mpy file")}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_board_whose_firmware_fails_at_boot_says_why_and_flash_repairs_it(dbc, tmp_path, prebuilt, case):
    breaks, error = BROKEN[case]
    breaks(board_dir(prebuilt, tmp_path))
    with VirtualBoard(tmp_path / "vb") as vb:
        boot = flashing.restart(vb.port, timeout=5)
        assert boot.state == "repl"
        said = boot.text()
        assert "mule: the firmware stopped:" in said and "Traceback (most recent call last):" in said, said
        assert error in said, said
        assert answers_mpremote(vb.port) == "repl free"
        assert repair(dbc, vb.port, tmp_path / "build") < REPAIR_S


def test_flash_shows_the_boot_error_when_no_hello_comes(dbc, tmp_path, prebuilt, monkeypatch):
    """The firmware `mule flash` copies fails at boot: the error says what the board printed
    (its traceback, quoted) at once, not after the HELLO timeout; the next flash repairs it."""
    built = flashing.build_firmware

    def build_broken(dbc, out_dir, arch, config):
        files = built(dbc, out_dir, arch, config)
        break_app_main(out_dir)
        return [f for f in files if f.name != "app.mpy"] + [out_dir / "app.py"]

    (tmp_path / "vb").mkdir()
    with VirtualBoard(tmp_path / "vb") as vb:
        monkeypatch.setattr(flashing, "build_firmware", build_broken)
        began = time.monotonic()
        with pytest.raises(FlashError) as refused:
            flash(dbc, vb.port, {"mode": "replay"}, tmp_path / "build", log=lambda text: None, hello_timeout=10)
        assert time.monotonic() - began < 8  # the REPL prompt says it: no waiting for a HELLO
        text = str(refused.value)
        assert "the firmware did not start; the board said:" in text
        assert "    | Traceback (most recent call last):" in text
        assert "    | RuntimeError: start-up failed on purpose" in text
        monkeypatch.setattr(flashing, "build_firmware", built)
        (tmp_path / "vb" / "app.py").unlink()
        assert repair(dbc, vb.port, tmp_path / "build") < REPAIR_S


def test_live_mode_is_refused_on_a_board_without_a_can_controller(dbc, tmp_path, monkeypatch):
    """The unix port has no pyb and its machine has no CAN: flash asks the board and says
    so before copying anything."""
    (tmp_path / "vb").mkdir()
    copied = []
    monkeypatch.setattr(flashing, "copy_to_board", lambda port, files: copied.append(files))
    with VirtualBoard(tmp_path / "vb") as vb:
        for can, needs in (("auto", "machine.CAN or pyb.CAN"), ("pyb", "pyb.CAN"), ("mcp2515", "machine.SPI")):
            with pytest.raises(FlashError, match=needs) as refused:
                flash(dbc, vb.port, {"mode": "live", "can": can}, tmp_path / "build", log=lambda text: None)
            assert "this board (MicroPython" in str(refused.value) and "--mode replay" in str(refused.value)
    assert copied == []


def test_settings_out_of_range_are_refused_before_the_board_is_touched(dbc, tmp_path, monkeypatch):
    monkeypatch.setattr(flashing, "stop_streaming", lambda *a: pytest.fail("the board was touched"))
    config = json.loads((FILES / "config" / "every_setting_wrong.json").read_text())
    with pytest.raises(FlashError) as refused:
        flash(dbc, "loop://", config, tmp_path / "build", log=lambda text: None)
    text = str(refused.value)
    assert text.startswith("refused, nothing was copied")
    for name in config:
        assert f"{name} = " in text or f'unknown setting "{name}"' in text, name


def test_a_copy_cut_short_leaves_the_board_in_safe_mode(dbc, tmp_path, prebuilt, monkeypatch):
    """The cable goes mid-copy, leaving half an app.mpy (MicroPython's loader spins on a
    truncated .mpy, deaf to Ctrl-C): the board boots to its REPL, and the next flash works."""
    real = flashing.mpremote
    vb_dir = board_dir(prebuilt, tmp_path)

    def cut_short(port, *args, timeout=60):
        if args[0] == "fs":
            app = (prebuilt / "app.mpy").read_bytes()
            (vb_dir / "app.mpy").write_bytes(app[: len(app) // 2])
            raise FlashError(f"mpremote on {port} failed (fs): device disconnected")
        return real(port, *args, timeout=timeout)

    with VirtualBoard(vb_dir) as vb:
        monkeypatch.setattr(flashing, "mpremote", cut_short)
        with pytest.raises(FlashError, match="device disconnected"):
            flash(dbc, vb.port, {"mode": "replay"}, tmp_path / "build", log=lambda text: None)
        monkeypatch.setattr(flashing, "mpremote", real)
        boot = flashing.restart(vb.port, timeout=5)
        assert boot.state == "repl", boot
        assert "safe mode" in boot.text()
        assert repair(dbc, vb.port, tmp_path / "build") < REPAIR_S
        assert not (vb_dir / "SAFE_MODE").exists()


DEAF_APP = "import micropython, time\n\ndef main():\n    micropython.kbd_intr(-1)\n    while True:\n        time.sleep(1)\n"


def test_mule_flash_repairs_a_virtual_board_whose_firmware_never_reads_the_port(tmp_path, prebuilt, capsys):
    """An older firmware that ignores STOP and Ctrl-C (the rx_window=0 board): `mule flash`
    boots the virtual board's folder in safe mode, so it never waits for mpremote's 60 s."""
    from host_tools.cli.main import main

    vb_dir = board_dir(prebuilt, tmp_path)
    (vb_dir / "app.mpy").unlink()
    (vb_dir / "app.py").write_text(DEAF_APP)
    began = time.monotonic()
    assert main(["flash", "--vboard-dir", str(vb_dir)]) == 0, capsys.readouterr().err
    assert time.monotonic() - began < REPAIR_S
    assert not (vb_dir / "SAFE_MODE").exists() and not (vb_dir / "app.py").exists()
    # the board `mule vboard` runs has a machine.CAN on its virtual bus: live mode is flashed
    assert main(["flash", "--vboard-dir", str(vb_dir), "--mode", "live"]) == 0, capsys.readouterr().err
    assert "machine.CAN" in capsys.readouterr().err
    assert not (vb_dir / "SAFE_MODE").exists()  # the next `mule vboard` starts the firmware
