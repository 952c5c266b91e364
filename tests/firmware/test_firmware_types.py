"""firmware/ type-checks (mypy) against the Pyboard's own modules: micropython-stm32-stubs
over micropython-stdlib-stubs, never CPython's typeshed (static_checks/firmware_mypy.py).
The generated decoder and supervision tables are checked with it. The snippets prove the
same configuration accepts the board's API as the firmware uses it and rejects wrong
calls, so this test can fail."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from host_tools import REPO_ROOT
from host_tools.codegen.build import write_decoder
from host_tools.dbc import load_dbc
from host_tools.flash import DECODER_MODULE
from host_tools.supervision.rules import RULES_MODULE, write_rules
from mule_testing import FILES, PROJECT_DBC

HERE = Path(__file__).resolve().parent
SNIPPETS = HERE / "static_checks" / "snippets"
FIRMWARE = sorted((REPO_ROOT / "firmware").glob("*.py"))


def _load(name: str):
    """A module of static_checks/ (a folder of tools, not a package)."""
    spec = importlib.util.spec_from_file_location(f"static_checks_{name}", HERE / "static_checks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


firmware_mypy = _load("firmware_mypy")


@pytest.fixture(scope="module")
def typeshed(tmp_path_factory):
    return firmware_mypy.build_typeshed(tmp_path_factory.mktemp("mp_typeshed"))


def errors(findings):
    return [f for f in findings if f["severity"] == "error"]


def report(findings) -> str:
    return "\n".join(f"{f['path']}:{f['line']}: {f['message']}  [{f['code']}]" for f in errors(findings))


def expected_errors(path: Path) -> set[tuple[int, str]]:
    """(line, mypy error code) of every line marked `# expect: CODE`."""
    marks = set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        m = re.search(r"# expect: ([a-z-]+)", line)
        if m:
            marks.add((number, m[1]))
    return marks


def test_firmware_and_generated_modules_type_check(typeshed, tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    vehicle = load_dbc(FILES / "dbc" / "vehicle_330_canfd_overlapping.dbc", warn=None)  # the walkers, board profile
    generated = [write_decoder(dbc, tmp_path / f"{DECODER_MODULE}.py", "viper"),
                 write_rules(dbc, tmp_path / f"{RULES_MODULE}.py")[0],
                 write_decoder(vehicle, tmp_path / "vehicle_decoder.py", "viper", board=True),
                 write_decoder(dbc, tmp_path / "board_decoder.py", "viper", board=True)]  # _KINDS, no walker
    code, findings = firmware_mypy.run_mypy(FIRMWARE + generated, typeshed)
    assert code == 0 and not errors(findings), (
        "firmware/ does not type-check against the MicroPython STM32 stubs "
        "(re-run: .venv/bin/python tests/firmware/static_checks/firmware_mypy.py):\n" + report(findings))


def test_board_api_as_the_firmware_uses_it_passes(typeshed):
    """pyb.CAN(1, CAN.NORMAL, baudrate=...), recv into a reused list, stream write(buf, n),
    time.ticks_*, gc.mem_free, micropython.const records, viper ptr8/ptr16/ptr32."""
    code, findings = firmware_mypy.run_mypy([SNIPPETS / "board_api_ok.py"], typeshed)
    assert code == 0 and not errors(findings), report(findings)


def test_wrong_calls_of_the_board_api_fail(typeshed):
    snippet = SNIPPETS / "board_api_misuse.py"
    expected = expected_errors(snippet)
    assert len(expected) >= 15
    code, findings = firmware_mypy.run_mypy([snippet], typeshed)
    reported = {(f["line"], f["code"]) for f in errors(findings)}
    assert code == 1
    assert not expected - reported, f"not caught: {sorted(expected - reported)}\n{report(findings)}"
    assert reported <= expected, f"unexpected errors:\n{report(findings)}"


def test_modules_resolve_to_micropython_stubs_not_cpython(typeshed, tmp_path):
    """time.monotonic and gc.get_objects exist in CPython only: if CPython's typeshed or
    site-packages answered, mypy would accept them. pyb and machine come from the STM32
    package (machine.CAN exists there, and only there)."""
    probe = tmp_path / "probe.py"
    probe.write_text("import time, gc, machine, pyb\n"
                     "time.monotonic()\n"
                     "gc.get_objects()\n"
                     "machine.CAN(1, 500000)\n"
                     "reveal_type(pyb.CAN.LIST16)\n")
    _, findings = firmware_mypy.run_mypy([probe], typeshed)
    lines = {(f["line"], f["code"]) for f in errors(findings)}
    assert lines == {(2, "attr-defined"), (3, "attr-defined")}, report(findings)
    notes = [f["message"] for f in findings if f["severity"] == "note"]
    assert notes == ['Revealed type is "int"'], notes


def test_every_stub_correction_applies_exactly_once(typeshed):
    for name, cls, old, new, why in firmware_mypy.STUB_CORRECTIONS:
        text = (typeshed / "stdlib" / name).read_text()
        start, stop = firmware_mypy.class_span(text, cls)
        body = text[start:stop]
        assert body.count(new) == 1 and old not in body.replace(new, ""), (name, cls, why)


def test_a_stub_overwritten_by_another_port_is_refused(tmp_path, monkeypatch):
    """FACTS: stub packages of different ports overwrite each other's machine.pyi. The
    typeshed is built only from files whose hash matches the stm32 wheel's RECORD."""
    real_read = Path.read_bytes

    def other_port(self):
        data = real_read(self)
        return data + b"\n# another port\n" if self.name == "machine.pyi" else data

    monkeypatch.setattr(Path, "read_bytes", other_port)
    with pytest.raises(firmware_mypy.StubError, match="machine.pyi"):
        firmware_mypy.build_typeshed(tmp_path / "typeshed")
