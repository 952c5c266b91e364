"""Any database cantools loads: ARXML, KCD, SYM (with or without a UTF-8 BOM)."""

from __future__ import annotations

from pathlib import Path

import cantools
import pytest

from host_tools.dbc import DbcError, load_dbc

DBCS = Path(__file__).resolve().parents[1] / "files" / "dbc"
OTHERS = {"wheel.arxml": 1, "mux_simple.kcd": 4, "byte_order.sym": 11}


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_loads_as_cantools_does(name):
    path = DBCS / name
    dbc = load_dbc(path, warn=None)
    want = cantools.database.load_file(str(path), encoding="utf-8-sig")
    assert len(dbc.messages) == OTHERS[name]
    assert sorted(m.name for m in dbc.messages) == sorted(m.name for m in want.messages)
    assert not any(m.name.startswith("\ufeff") or "ï»¿" in m.name for m in dbc.messages)


def test_bom_arxml_scales_come_through():
    dbc = load_dbc(DBCS / "wheel.arxml", warn=None)
    speed = dbc.messages[0].get_signal_by_name("Speed")
    assert (speed.scale, speed.offset) == (0.5, -40)


def test_not_a_database_names_the_formats(tmp_path):
    path = tmp_path / "broken.arxml"
    path.write_text("\ufeffnot xml")
    with pytest.raises(DbcError, match=r"not a valid ARXML database.*mule reads DBC, or \.arxml, \.kcd, \.sym"):
        load_dbc(path, warn=None)
