"""Vehicle-scale DBCs (tests/files/dbc/make_vehicle_dbc.py): loaded as cantools loads them, and
what does not fit a board's heap said whole."""

from __future__ import annotations

import subprocess
import sys

import pytest

from host_tools.dbc import DbcError, load_dbc
from host_tools.engines.firmware_engine import EngineError, FirmwareEngine
from mule_testing import FILES

VEHICLE = FILES / "dbc" / "vehicle_330_canfd_overlapping.dbc"
GENERATOR = FILES / "dbc" / "make_vehicle_dbc.py"


def test_the_generator_rewrites_the_checked_in_files_byte_for_byte(tmp_path):
    for script in (GENERATOR, GENERATOR.with_name("make_many_messages.py")):  # the second: a module of the first
        (tmp_path / script.name).write_text(script.read_text())
    subprocess.run([sys.executable, str(tmp_path / GENERATOR.name)], check=True, capture_output=True)
    for made in tmp_path.glob("*.dbc"):
        assert made.read_bytes() == (GENERATOR.parent / made.name).read_bytes(), made.name


def test_the_vehicle_dbc_is_what_its_name_says():
    said = []
    dbc = load_dbc(VEHICLE, warn=said.append)
    messages = dbc.messages
    assert len(messages) >= 300
    assert any(m.is_fd and m.length == 64 for m in messages)
    assert sum(m.is_extended_frame for m in messages) > 50
    assert any(s.length == 64 for m in messages for s in m.signals)
    assert any(s.byte_order == "big_endian" and s.is_signed for m in messages for s in m.signals)
    nested = [m for m in messages if any(s.is_multiplexer and s.multiplexer_ids for s in m.signals)]
    assert nested, "a multiplexer under a multiplexer"
    assert any("each is decoded from its own bits" in text for text in said)
    assert any("cantools cannot decode such frames" in text for text in said)
    assert len(said) == len(dbc.warnings) >= 10
    with pytest.raises(DbcError, match="are overlapping"):
        load_dbc(VEHICLE, strict=True)


def test_a_memory_error_at_import_reaches_the_user_whole():
    dbc = load_dbc(VEHICLE, warn=None)
    with pytest.raises(EngineError) as info:
        with FirmwareEngine(dbc, heap="100K"):
            pass
    text = str(info.value)
    assert "with a 100K heap" in text
    assert "Traceback (most recent call last):" in text
    assert "MemoryError: memory allocation failed" in text


def test_a_decoder_of_the_selected_messages_counts_the_others_as_unknown():
    import random

    from host_tools.dbc import select_messages
    from mule_testing import random_frame

    full = load_dbc(VEHICLE, warn=None)
    chosen = select_messages(full, ["VCU_S0E5_016"], ["HITCH"])
    names = {m.name for m in chosen.messages}
    assert "VCU_S0E5_016" in names and all(m.name == "VCU_S0E5_016" or "HITCH" in m.senders
                                          for m in chosen.messages)
    assert 5 < len(names) < 60
    rnd = random.Random("select")
    frames = [random_frame(full, rnd, faults=False) for _ in range(400)]
    with FirmwareEngine(chosen) as engine:
        outcomes = [(f, o) for f, o in engine.decode(frames)]
    for frame, outcome in outcomes:
        message = full.lookup(frame.can_id, frame.ext)
        if message.name in names:
            assert outcome.status != "unknown_id" and outcome.msg == message.name
        else:
            assert outcome.status == "unknown_id"
    with pytest.raises(DbcError, match="no node named 'ABS'"):
        select_messages(full, None, ["ABS"])


def test_codegen_prints_what_the_selected_decoder_costs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "codegen", str(VEHICLE), "--nodes", "HITCH",
                             "--messages", "VCU_S0E5_016", "-o", str(tmp_path / "hitch.py")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert " of 330 messages" in result.stderr
    assert "decoder cost: " in result.stderr and "bytes of .mpy (armv7emsp)" in result.stderr
    assert "bytes of heap after import" in result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("mule: warning: ")]
    assert len(warnings) == len(load_dbc(VEHICLE, warn=None).warnings)
