"""`mule codegen` (and `mule flash`, the same line) says what a float32 Pyboard does with a
DBC's IEEE float64 signals, naming them; nothing for a DBC without any."""

from __future__ import annotations

import subprocess
import sys

from mule_testing import FILES, PROJECT_DBC, REPO


def codegen(dbc, tmp_path) -> str:
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "codegen", str(dbc), "-o",
                             str(tmp_path / "decoder.py")], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_codegen_names_the_float64_signals_and_says_the_board_holds_float32(tmp_path):
    said = codegen(FILES / "dbc" / "float_signals.dbc", tmp_path)
    line = next(text for text in said.splitlines() if "IEEE float64" in text)
    assert "5 IEEE float64 signals" in line and "F64_Intel.F64I" in line and "F_FD16_Ext.FDX_F64M" in line
    assert "64 raw bits" in line and "float32" in line and "supervision does not range-check" in line


def test_no_note_without_float64_signals(tmp_path):
    assert "IEEE float64" not in codegen(PROJECT_DBC, tmp_path)
