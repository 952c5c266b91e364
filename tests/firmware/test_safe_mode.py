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
