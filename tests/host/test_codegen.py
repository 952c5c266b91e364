"""The generator's output: compiles with mpy-cross for the unix port and a Pyboard, is
deterministic, and places every bit where cantools does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cantools.database.utils import create_encode_decode_formats, encode_data

from host_tools.codegen.build import HOST_MARCH, PYBOARD_MARCH, compile_mpy, write_decoder
from host_tools.codegen.emit import generate
from host_tools.codegen.layout import lanes, payload_bits
from host_tools.dbc import load_dbc
from mule_testing import FEATURE_DBCS, FILES, PROJECT_DBC


@pytest.mark.parametrize("path", [PROJECT_DBC, *FEATURE_DBCS], ids=lambda p: p.stem)
@pytest.mark.parametrize("mode", ["viper", "plain"])
def test_output_compiles_for_the_unix_port_and_a_pyboard(path, mode, tmp_path):
    source = write_decoder(load_dbc(path), tmp_path / "decoder.py", mode)
    for march in (HOST_MARCH, PYBOARD_MARCH):
        mpy = compile_mpy(source, march, tmp_path / f"decoder_{march}.mpy")
        assert mpy.stat().st_size > 0


def test_generation_is_deterministic():
    dbc = load_dbc(PROJECT_DBC)
    assert generate(dbc) == generate(load_dbc(PROJECT_DBC))
    assert f"DBC_SHA256 = '{dbc.sha256}'" in generate(dbc)


def test_viper_functions_are_specialized_per_message():
    """One decode function per message, no table walking: the mux message branches on
    its group and each branch reads fixed byte positions."""
    dbc = load_dbc(PROJECT_DBC)
    text = generate(dbc)
    assert text.count("@micropython.viper") == len(dbc.messages)  # no table walker: every message has its own
    assert "DECODERS = {\n" + "".join(f"    {k}: _d{mi},\n" for mi, k in enumerate(dbc.by_key)) in text
    assert "for " not in text[text.index("def _d0"):text.index("DECODERS = {")]


@pytest.mark.parametrize("path", [PROJECT_DBC, *FEATURE_DBCS], ids=lambda p: p.stem)
def test_each_bit_lands_where_cantools_puts_it(path):
    """Pack a single 1 bit with cantools' own packer and find it where layout says."""
    dbc = load_dbc(path)
    for message in dbc.messages:
        for signal in message.signals:
            if signal.is_float:
                continue
            bits = payload_bits(signal.start, signal.length, signal.byte_order)
            formats = create_encode_decode_formats([signal], message.length)
            for k in sorted({0, signal.length // 2, signal.length - 1}):
                raw = -(1 << k) if signal.is_signed and k == signal.length - 1 else 1 << k
                packed = encode_data({signal.name: raw}, [signal], formats, scaling=False)
                payload = packed.to_bytes(message.length, "big")  # as Message.encode does
                ones = [(i, b) for i in range(message.length) for b in range(8) if payload[i] >> b & 1]
                assert ones == [bits[k]], (message.name, signal.name, k)


def test_lanes_split_at_32_bits():
    wide = lanes(0, 64, "little_endian")
    assert [(lane.base, lane.width) for lane in wide] == [(0, 32), (32, 32)]
    assert lanes(3, 7, "big_endian")[0].segments  # crosses into the next byte


def test_cli_writes_and_compiles(tmp_path):
    out = tmp_path / "kia_ev_pickup_dbc.py"
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", "codegen", str(PROJECT_DBC),
                             "-o", str(out), "--mpy", "--march", PYBOARD_MARCH],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert out.exists() and out.with_suffix(".mpy").exists()
    assert "8 messages" in result.stderr


def test_module_name_must_be_importable(tmp_path):
    with pytest.raises(Exception, match="module name"):
        write_decoder(load_dbc(PROJECT_DBC), tmp_path / "kia-ev.py")


def test_multiplexer_branches_alike_share_one():
    """BmsCellVoltages' 32 cell groups differ only in which lanes and indices they fill: one
    branch for them all (lane = first + group), not 32 (8 KB of the board's 13.7 KB of .mpy).
    mux_runs.dbc: a run starts at its first value and ends where the shape or a step changes."""
    text = generate(load_dbc(PROJECT_DBC))
    cells = text[text.index("def _d6"):text.index("def _d7")]
    assert cells.count("if (m0 >= 0 and m0 <= 31):\n        x0 = m0\n") == 1
    assert "o[33 + x0] = v\n" in cells and "s[c] = 65 + x0\n" in cells and "m0 == 1" not in cells
    runs = generate(load_dbc(FILES / "dbc" / "mux_runs.dbc"), tables="none")
    first = runs[runs.index("def _d0"):runs.index("def _d1")]
    assert [line.strip() for line in first.splitlines() if "m0 " in line][1:] == [
        "if m0 == 0 or m0 == 15:", "elif m0 == 2:", "elif m0 == 3:", "elif (m0 >= 4 and m0 <= 6):",
        "x0 = m0 - 4", "elif m0 == 7:", "elif (m0 >= 8 and m0 <= 10):", "x0 = m0 - 8", "elif m0 == 13:",
        "elif m0 == 14:"]
    assert "o[1 + 2 * x0] = v\n" in runs and "o[2 + 2 * x0] = v\n" in runs  # two lanes a value
    assert "o[4 - x0] = v\n" in runs  # ReverseRun: signals defined last value first


def test_a_board_module_names_its_file_not_the_hosts_build_folder(tmp_path):
    """A board interns the source name an .mpy records (heap it keeps after start-up) and
    prints it in tracebacks: the module's name, never the folder it was built in."""
    from host_tools.flash import FIRMWARE, build_firmware

    files = build_firmware(load_dbc(PROJECT_DBC), tmp_path / "fw", PYBOARD_MARCH, {"mode": "replay"})
    mpys = [f for f in files if f.suffix == ".mpy"]
    assert len(mpys) > 3
    for mpy in mpys:
        data = mpy.read_bytes()
        for host in (str(tmp_path), str(FIRMWARE)):
            assert host.encode() not in data, f"{mpy.name} holds the host path {host}"
        assert (mpy.stem + ".py").encode() not in data, mpy.name  # the module's name: interned already
        assert mpy.stem.encode() in data, mpy.name


def test_the_board_profile_holds_no_name_the_board_never_reads():
    """Each global a module defines is an interned name and a dict slot the board keeps: the
    board profile has no DBC_NAME (HELLO names the DBC by its SHA-256) and no decode() (the
    firmware calls DECODERS' functions and table_decode); the full profile keeps both."""
    dbc = load_dbc(PROJECT_DBC)
    board, full = generate(dbc, board=True), generate(dbc)
    for name in ("DBC_NAME = ", "def decode("):
        assert name not in board and name in full, name
    assert f"DBC_SHA256 = '{dbc.sha256}'" in board
    # constants no board module reads: private (`_X = const(..)` interns no name on the board)
    for name in ("ERR_MUX", "KIND_SIGNED", "KIND_FLOAT", "MAX_LANES"):
        assert f"\n{name} = " not in board and f"\n_{name} = const(" in board, name
        assert f"\n{name} = const(" in full, name
        # defined before any use: MicroPython folds a private const only after its line
        assert board.index(f"_{name}") == board.index(f"\n_{name} = const(") + 1, name
