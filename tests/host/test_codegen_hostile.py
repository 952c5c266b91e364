"""Hostile names (issue 16): nothing from a DBC or its file name becomes code in the
generated decoder, and every name, unit and label comes back from MicroPython exactly as
cantools gives it, whatever it contains."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cantools.database.can import Database, Message, Signal
from cantools.database.conversion import BaseConversion
from cantools.database.errors import Error as CantoolsError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from host_tools.codegen.build import BuildError
from host_tools.codegen.emit import generate
from host_tools.dbc import checked_dbc, load_dbc
from host_tools.engines.cantools_engine import CantoolsEngine
from host_tools.engines.firmware_engine import MODULE, FirmwareEngine, build_module, micropython_command
from host_tools.tools import tool
from mule_testing import FILES, REPO, SampleFrame

LONG_NAMES = FILES / "dbc" / "long_signal_names.dbc"
VALUE_TABLES = FILES / "dbc" / "value_tables.dbc"
DUMP = REPO / "tests" / "firmware" / "dump_metadata_mp.py"  # the module's metadata as JSON, via its API
PAYLOAD = "import os;os.system('touch PWNED')"
HOSTILE_FILE_NAMES = [
    f"x\n{PAYLOAD}\n#.dbc",  # the issue's: a line of its own after the header comment
    f'y"""\n{PAYLOAD}\n""".dbc',  # out of the docstring
    f"z'\n{PAYLOAD}\n'.dbc",  # out of a '...' literal
    f"w\r{PAYLOAD}\r#.dbc",  # carriage returns as line breaks
]
# Names a generator is likely to get wrong: code, quoting, separators, sanitising, case, Unicode.
HOSTILE_NAMES = [
    "import", "None", "def", "lambda", "__import__", "_d0", "DECODERS", "MESSAGES",
    f"__import__('os').system('touch PWNED')", '"""', "'''", "'", '"', "\\", "\\n", "\\x00",
    "a b", "a_b", "a-b", "a\tb", "a  b", " a", "a ", " ", "", "a\nb", "a\r\nb", "\r", "#", "# x",
    "x:y", "3:abc", "\x00", "\x7f", "\x80", "\x1b[2J", "é", "e\u0301", "\u0301", "\U0001F69A",
    "\U0001D54F\U0001F600", "\u2028", "\u2029", "\x85", "\ufeff", "\uffff", "\U0010FFFF",
    "Gear", "gear", "GEAR", "ǅ", "ǆ", "Ǆ", "ß", "SS", "ﬁ", "fi",
]

_hypothesis = settings(max_examples=20, deadline=None, derandomize=True,
                       suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run(args: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=120)


def mule(args: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "host_tools.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def mp_metadata(dbc, tmp: Path, heap: str = "16M") -> dict:
    build_module(dbc, tmp)
    result = subprocess.run(micropython_command(DUMP, [str(tmp), MODULE], heap), capture_output=True,
                            text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def assert_metadata_exact(meta: dict, dbc) -> None:
    assert meta["name"] == dbc.path.name
    assert [m["name"] for m in meta["messages"]] == [m.name for m in dbc.messages]
    for got, message in zip(meta["messages"], dbc.messages):
        assert [s["name"] for s in got["signals"]] == [s.name for s in message.signals]
        assert [s["index"] for s in got["signals"]] == list(range(len(message.signals)))
        assert [s["unit"] for s in got["signals"]] == [s.unit or "" for s in message.signals]
        assert [[tuple(c) for c in s["choices"] or []] for s in got["signals"]] == [
            sorted((int(k), str(v)) for k, v in (s.choices or {}).items()) for s in message.signals]


def assert_engines_identical(dbc, frames, heap: str | None = None) -> None:
    with FirmwareEngine(dbc, heap=heap) as firmware:
        got = list(firmware.decode(frames))
    want = list(CantoolsEngine(dbc).decode(frames))
    for (frame, a), (_, b) in zip(want, got, strict=True):
        where = f"id {frame.can_id:#x} data {frame.data.hex()}"
        assert (a.status, a.msg) == (b.status, b.msg), where
        assert list(a.raw.items()) == list(b.raw.items()), where
        assert list(a.phys.items()) == list(b.phys.items()), where


def frames_for(dbc, per_message: int, seed: int = 16) -> list[SampleFrame]:
    rng = random.Random(seed)
    return [SampleFrame(m.frame_id, m.is_extended_frame, bytes(rng.randrange(256) for _ in range(m.length)))
            for m in dbc.messages for _ in range(per_message)]


# ---- the DBC's file name runs nothing -------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE_FILE_NAMES, ids=["comment", "docstring", "quote", "cr"])
def test_a_dbc_file_name_runs_no_code(name, tmp_path):
    shutil.copy(VALUE_TABLES, tmp_path / name)
    (tmp_path / "vt.log").write_text("(0.0) can0 501#0100000000000000\n")
    result = mule(["codegen", name, "-o", "dec.py", "--mpy"], tmp_path)
    assert not (tmp_path / "PWNED").exists()
    assert result.returncode == 0, result.stderr
    shutil.copy(tmp_path / "dec.mpy", tmp_path / "decmpy.mpy")
    (tmp_path / "dec.mpy").unlink()
    for module in ("dec", "decmpy"):  # the source (as `mule codegen` writes it) and the .mpy
        shown = run([tool("micropython"), "-c", f"import json, {module}; print(json.dumps({module}.DBC_NAME))"],
                    tmp_path)
        assert not (tmp_path / "PWNED").exists(), f"importing {module} ran code"
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert json.loads(shown.stdout) == name
    result = mule(["decode", "--engine", "firmware", "--dbc", name, "vt.log"], tmp_path)
    assert not (tmp_path / "PWNED").exists(), "mule decode --engine firmware ran code"
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["raw"] == {"W64": 1}


def test_a_file_name_that_is_not_utf8_is_shown_not_fatal(tmp_path):
    name = os.fsdecode(b"caf\xe9 \xff.dbc")  # Latin-1 bytes: surrogate escapes in Python
    shutil.copy(LONG_NAMES, tmp_path / name)
    result = mule(["codegen", name, "-o", "dec.py"], tmp_path)
    assert result.returncode == 0, result.stderr
    shown = run([tool("micropython"), "-c", "import json, dec; print(json.dumps(dec.DBC_NAME))"], tmp_path)
    assert json.loads(shown.stdout) == "caf\ufffd \ufffd.dbc"


def test_generated_module_is_ascii_with_names_only_as_data():
    text = generate(load_dbc(LONG_NAMES))
    text.encode("ascii")
    header = text[:text.index("import micropython")]
    assert "long_signal_names" not in header and "road grade" not in header


# ---- long names with spaces: the case ---------------------------------------------

def test_long_signal_names_with_spaces_keep_their_values(tmp_path):
    """SystemSignalLongSymbol "road grade raw" once shifted the board's name table:
    drive_mode was reported as 0 and road_grade_pct as 3, with exit 0."""
    log = tmp_path / "long_names.log"
    log.write_text("(0.0) can0 100#050600\n(0.1) can0 101#01FE21436587A9CB\n(0.2) can0 102#01D2043C\n")
    outputs = {}
    for engine in ("cantools", "firmware"):
        result = mule(["decode", "--engine", engine, "--dbc", str(LONG_NAMES), str(log)], tmp_path)
        assert result.returncode == 0, result.stderr
        outputs[engine] = result.stdout
    assert outputs["firmware"] == outputs["cantools"]
    drive, hostile, mux = (json.loads(line) for line in outputs["firmware"].splitlines())
    assert drive["msg"] == "Drive and grade"
    assert list(drive["raw"].items()) == [("road grade raw", 5), ("drive_mode", 6), ("road_grade_pct", 0)]
    assert hostile["msg"] == 'hostile names "here"'
    assert list(hostile["raw"]) == ["tab\there\nnewline", 'say "hi" and \\\\ back', "Gear", "gear", "a b", "a_b",
                                    "import", "oil temp \u00b0C"]
    assert (hostile["raw"]["Gear"], hostile["raw"]["gear"]) == (1, 2)
    assert (hostile["raw"]["a b"], hostile["raw"]["a_b"]) == (0x43, 0x65)
    assert mux["raw"] == {"ModeSelect": 1, "cell voltage B": 1234, "Tail": 60}


def test_long_names_metadata_reads_back_exactly(tmp_path):
    dbc = load_dbc(LONG_NAMES)
    assert_metadata_exact(mp_metadata(dbc, tmp_path), dbc)


# ---- any name: a property test through codegen and both engines ---------------------------

def names() -> st.SearchStrategy[str]:
    text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)  # Cs: no DBC holds a lone surrogate
    return st.one_of(st.sampled_from(HOSTILE_NAMES), text,
                     st.lists(st.sampled_from(HOSTILE_NAMES), min_size=2, max_size=4).map("".join))


@st.composite
def databases(draw, max_messages: int = 4, max_signals: int = 6):
    messages = []
    for mi in range(draw(st.integers(1, max_messages))):
        signal_names = draw(st.lists(names(), min_size=1, max_size=max_signals, unique=True))
        if draw(st.booleans()):  # names identical but for case
            for name in signal_names[:2]:
                if name.swapcase() not in signal_names:
                    signal_names.append(name.swapcase())
        signals = []
        for si, name in enumerate(signal_names):
            labels = draw(st.lists(names(), max_size=3))
            conversion = BaseConversion.factory(draw(st.sampled_from([1, 0.5, -2])), draw(st.sampled_from([0, -40])),
                                                {raw: label for raw, label in enumerate(labels)} or None)
            signals.append(Signal(name, 8 * si, 8, is_signed=draw(st.booleans()), conversion=conversion,
                                  unit=draw(st.one_of(st.none(), names()))))
        try:
            messages.append(Message(0x100 + mi, draw(names()), len(signals), signals,
                                    is_extended_frame=draw(st.booleans())))
        except CantoolsError:
            assume(False)  # what cantools itself refuses is not ours to decode
    file_name = draw(names()).replace("/", "\u2215").replace("\x00", "0") + ".dbc"
    return checked_dbc(Database(messages), Path(file_name), "0" * 64)


@_hypothesis
@given(dbc=databases())
def test_hostile_names_round_trip_through_both_engines(dbc):
    with tempfile.TemporaryDirectory(prefix="mule-hostile-") as tmp:
        assert_metadata_exact(mp_metadata(dbc, Path(tmp)), dbc)
    assert_engines_identical(dbc, frames_for(dbc, per_message=3))


def test_every_hostile_name_round_trips(tmp_path):
    """Each of HOSTILE_NAMES as a signal name, its unit and a label, eight to a message,
    and as a message name and in the file name: all in one MicroPython run per engine."""
    messages = []
    for first in range(0, len(HOSTILE_NAMES), 8):
        group = HOSTILE_NAMES[first:first + 8]
        signals = [Signal(name, 8 * si, 8, conversion=BaseConversion.factory(1, 0, {0: name, 255: name[::-1]}),
                          unit=name) for si, name in enumerate(group)]
        messages.append(Message(0x200 + first, group[0], len(signals), signals))
    dbc = checked_dbc(Database(messages), Path(f"{PAYLOAD}\n\"\"\"'.dbc"), "0" * 64)
    assert_metadata_exact(mp_metadata(dbc, tmp_path), dbc)
    frames = frames_for(dbc, per_message=3)
    frames += [SampleFrame(m.frame_id, False, bytes([k]) * m.length) for m in dbc.messages for k in (0, 255)]
    assert_engines_identical(dbc, frames)


def test_a_name_of_100k_characters(tmp_path):
    huge = ("\U0001F69Ae\u0301 \"'\\\n" * 12_500)[:100_000]
    assert len(huge) == 100_000
    signals = [Signal(huge, 0, 8, unit=huge[::-1], conversion=BaseConversion.factory(1, 0, {3: huge})),
               Signal(huge[:-1], 8, 8), Signal("after", 16, 8)]
    dbc = checked_dbc(Database([Message(0x123, huge, 3, signals)]), Path("huge.dbc"), "0" * 64)
    assert_metadata_exact(mp_metadata(dbc, tmp_path), dbc)
    assert_engines_identical(dbc, frames_for(dbc, per_message=4), heap="16M")


@pytest.mark.parametrize("where", ["message", "signal", "unit", "label"])
def test_text_that_is_not_unicode_is_a_clear_error(where):
    bad = "lone \udc80 surrogate"
    signal = Signal(bad if where == "signal" else "s", 0, 8, unit=bad if where == "unit" else None,
                    conversion=BaseConversion.factory(1, 0, {1: bad} if where == "label" else None))
    dbc = checked_dbc(Database([Message(0x10, bad if where == "message" else "m", 1, [signal])]),
                      Path("bad.dbc"), "0" * 64)
    with pytest.raises(BuildError, match="is not valid Unicode text"):
        generate(dbc)
