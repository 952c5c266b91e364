"""A DBC the board cannot decode faithfully is refused with an error naming the problem."""

from __future__ import annotations

import subprocess
import sys

import pytest

from host_tools.dbc import DbcError, load_dbc
from mule_testing import FILES

MALFORMED = FILES / "dbc" / "malformed"

EXPECTED = {
    "syntax_error.dbc": "Invalid syntax at line 41",
    "duplicate_frame_id.dbc": "'FirstMessage' and 'SecondMessage' share frame id 0x100",
    "infinite_scale.dbc": "signal 'Infinite': scale inf is not a finite number",
    "float_signal_bad_length.dbc": "signal 'Half': IEEE float signals must be 32 or 64 bits, not 16",
    "message_too_long.dbc": "message 'TooLong' (0x100): length 65 exceeds the 64 bytes",
    "empty.dbc": "the DBC defines no messages",
    "duplicate_signal_name.dbc": "signal 'Level': two signals of the message have this name",
}

# cantools loads these non-strictly (its strict load refuses the first two); mule does too, with a
# warning per problem, and --strict refuses them naming the same problems.
LOADED_WITH_WARNINGS = {
    "signal_beyond_length.dbc": ("PastEnd does not fit in message ShortMessage",
                                 ["signal 'PastEnd' reaches byte 2, past the message length 2; cantools "
                                  "cannot decode such frames"]),
    "overlapping_signals.dbc": ("Beta and Alpha are overlapping in message Overlap",
                                ["signals 'Alpha' and 'Beta' overlap in 8 bit(s) of byte(s) 1; cantools "
                                 "cannot decode such frames"]),
    "multiplexer_long_name.dbc": ("signal 'LevelA': its multiplexer 'Mode' is not a signal of the message",
                                  ["signal 'LevelA': its multiplexer 'Mode' is not a signal",
                                   "signal 'LevelB': its multiplexer 'Mode' is not a signal"]),
}


def test_every_malformed_file_has_an_expectation():
    assert sorted(p.name for p in MALFORMED.glob("*.dbc")) == sorted([*EXPECTED, *LOADED_WITH_WARNINGS])


@pytest.mark.parametrize("name", sorted(LOADED_WITH_WARNINGS))
def test_what_cantools_loads_non_strictly_loads_with_one_warning_per_problem(name):
    strict_reason, expected = LOADED_WITH_WARNINGS[name]
    said = []
    dbc = load_dbc(MALFORMED / name, warn=said.append)
    assert len(said) == len(expected)
    for text, part in zip(said, expected):
        assert text.startswith(str(MALFORMED / name)) and part in text
    assert list(dbc.warnings) == said
    with pytest.raises(DbcError) as info:
        load_dbc(MALFORMED / name, strict=True)
    message = str(info.value)
    assert message.startswith(str(MALFORMED / name)) and strict_reason in message
    assert all(text in message for text in said)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_dbc_is_refused_with_the_reason(name):
    with pytest.raises(DbcError) as info:
        load_dbc(MALFORMED / name)
    message = str(info.value)
    assert message.startswith(str(MALFORMED / name))
    assert EXPECTED[name] in message


def test_missing_file_is_named():
    with pytest.raises(DbcError, match="nothere.dbc: cannot read DBC"):
        load_dbc(FILES / "nothere.dbc")


def test_cli_reports_the_error_without_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "codegen",
                             str(MALFORMED / "infinite_scale.dbc"), "-o", str(tmp_path / "x.py")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"mule: error: {MALFORMED / 'infinite_scale.dbc'}: message 'InfScale' "
                                     "(0x100): signal 'Infinite': scale inf is not a finite number")
    assert not (tmp_path / "x.py").exists()
