"""Every firmware module compiles with mpy-cross for the unix port and a Pyboard. Modules
with @micropython.viper code (link.py, supervise.py) need -march: mpy-cross without it
answers "invalid arch" for them, which is why `mule flash` and `make build` always pass
the board's architecture."""

from __future__ import annotations

import ast
import subprocess

import pytest

from host_tools import REPO_ROOT
from host_tools.codegen.build import HOST_MARCH, PYBOARD_MARCH
from host_tools.tools import tool

FIRMWARE = sorted((REPO_ROOT / "firmware").glob("*.py"))
# CPython-only modules that must never be imported on the board
CPYTHON_ONLY = {"typing", "dataclasses", "pathlib", "abc", "enum", "functools", "itertools", "logging",
                "subprocess", "threading", "os.path", "collections.abc", "__future__"}


def uses_viper(path) -> bool:
    return "@micropython.viper" in path.read_text() or "@micropython.native" in path.read_text()


@pytest.mark.parametrize("path", FIRMWARE, ids=lambda p: p.name)
@pytest.mark.parametrize("march", [HOST_MARCH, PYBOARD_MARCH, None])
def test_compiles_with_mpy_cross(path, march, tmp_path):
    cmd = [tool("mpy-cross"), "-o", str(tmp_path / "out.mpy")]
    if march:
        cmd.append(f"-march={march}")
    result = subprocess.run(cmd + [str(path)], capture_output=True, text=True)
    if march is None and uses_viper(path):
        assert result.returncode != 0 and "invalid arch" in result.stderr + result.stdout
    else:
        assert result.returncode == 0, result.stderr + result.stdout


@pytest.mark.parametrize("path", FIRMWARE, ids=lambda p: p.name)
def test_no_cpython_only_imports_or_annotations(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        assert not CPYTHON_ONLY & set(names), f"{path.name}:{node.lineno}: imports {names}"
        if isinstance(node, ast.AnnAssign):
            raise AssertionError(f"{path.name}:{node.lineno}: variable annotation (CPython typing)")
