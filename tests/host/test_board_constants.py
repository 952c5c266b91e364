"""The numbers both runtimes define (decoder result codes, the decoder's extended-id key
flag, HELLO capabilities, CAN controller states, the bus-state ALERT and its cleared bit)
are specified once, in tests/files/constants/board.json; every copy is held to it. The
firmware keeps its own `const()` copies on purpose (a const costs no RAM, an import of
another module does), so this test is what keeps them one value."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from host_tools import board_codes, dbc
from host_tools.codegen import emit
from host_tools.link import messages as m
from host_tools.supervision import firmware as supervision_fw
from mule_testing import FILES, REPO

SPEC = json.loads((FILES / "constants" / "board.json").read_text())
NAMES = {k: v for k, v in SPEC.items() if k != "note"}
# MicroPython sources: the firmware, the decoder's templates, the scripts the host runs in it
SOURCES = (sorted((REPO / "firmware").glob("*.py")) + sorted((REPO / "host_tools" / "codegen").glob("*_template.py"))
           + sorted((REPO / "host_tools" / "mp").glob("*.py")))


def definitions(path: Path, names=NAMES) -> dict[str, int]:
    """Module-level `NAME = const(value)` (or a plain number) for `names` (the spec's; None:
    every const() of a number), a leading underscore dropped."""
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        name = node.targets[0].id.lstrip("_")
        value = node.value
        is_const = isinstance(value, ast.Call) and getattr(value.func, "id", None) == "const" and value.args
        if is_const:
            value = value.args[0]
        if names is None:  # every const() of a number (not `TM_NO = const(_TM_NO)`, an alias)
            if is_const and isinstance(value, ast.Constant):
                out.setdefault(name, value.value)
            continue
        if name in names:
            try:
                out[name] = ast.literal_eval(value)
            except ValueError:
                out[name] = ast.unparse(value)
    return out


def board_copies() -> list[tuple[str, str, object]]:
    return [(str(p.relative_to(REPO)), name, v) for p in SOURCES for name, v in definitions(p).items()]


def host_copies() -> list[tuple[str, str, object]]:
    return [
        ("host_tools/codegen/emit.py", "ERR_UNKNOWN_ID", emit.ERR_UNKNOWN_ID),
        ("host_tools/codegen/emit.py", "ERR_LENGTH", emit.ERR_LENGTH),
        ("host_tools/codegen/emit.py", "ERR_MUX", emit.ERR_MUX),
        ("host_tools/board_codes.py", "ERR_UNKNOWN_ID", board_codes.STATUS_RESULT["unknown_id"]),
        ("host_tools/board_codes.py", "ERR_LENGTH", board_codes.STATUS_RESULT["wrong_length"]),
        ("host_tools/board_codes.py", "ERR_MUX", board_codes.STATUS_RESULT["bad_multiplexer"]),
        ("host_tools/dbc.py", "EXT_KEY", dbc.EXT_KEY),
        *[("host_tools/link/messages.py", name, getattr(m, name)) for name in NAMES if name.startswith("CAP_")],
        ("host_tools/link/messages.py", "STATE_NONE", m.CAN_STATE_NONE),
        ("host_tools/supervision/firmware.py", "CLEARED", supervision_fw.CLEARED),
    ]


def test_every_copy_holds_the_specified_value():
    wrong = [(where, name, value, NAMES[name]) for where, name, value in board_copies() + host_copies()
             if value != NAMES[name]]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_number_is_defined_on_the_board(name):
    """Not a name the spec keeps after both sides dropped it."""
    assert any(n == name for _, n, _ in board_copies())


def test_telemetry_changeds_copies_of_the_links_telemetry_state_are_the_links():
    # firmware/changed.py writes into link.Writer's TELEMETRY buffer and state array with
    # const() copies of link.py's offsets (an import would cost RAM and lookups per frame)
    link = definitions(REPO / "firmware" / "link.py", None)
    changed = definitions(REPO / "firmware" / "changed.py", None)
    shared = {"TM_AT", "TM_COUNT", "TM_NO", "TM_LIMIT", "HEADER", "FRAME_NO_MASK"}
    assert shared <= changed.keys() & link.keys()
    assert {k: changed[k] for k in shared} == {k: link[k] for k in shared}


def test_app_starts_copies_of_the_links_constants_are_the_links():
    # link.py keeps them private (a public name is heap on the board): app_start.py its own copies
    # (HELLO's caps bits are app_start's alone, held to the spec by the test above)
    link = definitions(REPO / "firmware" / "link.py", None)
    app_start = definitions(REPO / "firmware" / "app_start.py", None)
    shared = {"STATS_COUNT", "CAN_MAX_DATA"}
    assert shared <= app_start.keys() & link.keys()
    assert {k: app_start[k] for k in shared} == {k: link[k] for k in shared}


def test_the_check_reads_a_const_copy(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("from micropython import const\n_STATE_BUS_OFF = const(4)\nEXT_KEY = const(0x20000000)\n")
    assert definitions(path) == {"STATE_BUS_OFF": 4, "EXT_KEY": 0x20000000}
