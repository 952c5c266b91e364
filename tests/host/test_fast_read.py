"""The fast candump path gives exactly the frames the exact reader gives, and hands over
to it (with file:line) at the first line that is not a plain data frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from host_tools import DEFAULT_DBC
from host_tools.dbc import load_dbc
from host_tools.decode import DecodeSummary
from host_tools.engines.vector_engine import FrameTable
from host_tools.fast_read import Fallback, candump_tables
from host_tools.logfile import read_frames
from host_tools.parquet_out import frame_tables

FORMATS = Path(__file__).resolve().parents[1] / "files" / "logs" / "formats"


def plain_log(path: Path, n: int = 300) -> Path:
    lines = []
    for i in range(n):
        cid = f"{0x100 + i % 50:03X}" if i % 3 else f"{0x18FF0000 + i:08X}"
        data = bytes((i * 7 + k) & 0xFF for k in range(i % 9)).hex().upper()
        lines.append(f"({1700000000 + i * 0.0013:.6f}) can{i % 2} {cid}#{data}" + (" R" if i % 4 == 0 else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def same(tables, frames):
    t = FrameTable.from_frames(frames)
    got = [tab for tab in tables]
    assert sum(len(x) for x in got) == len(t)
    assert np.array_equal(np.concatenate([x.t for x in got]), t.t)
    assert np.array_equal(np.concatenate([x.can_id for x in got]), t.can_id)
    assert np.array_equal(np.concatenate([x.ext for x in got]), t.ext)
    assert np.array_equal(np.concatenate([x.length for x in got]), t.length)
    rows = [bytes(x.payload[i, : x.length[i]]) for x in got for i in range(len(x))]
    assert rows == [f.data for f in frames]
    assert [c for x in got for c in x.channels()] == [f.channel for f in frames]
    assert [x.place(i) for x in got for i in range(len(x))] == [f.where for f in frames]


def test_fast_equals_exact(tmp_path, monkeypatch):
    path = plain_log(tmp_path / "plain.log")
    monkeypatch.setattr("host_tools.fast_read.BLOCK", 1000)  # many blocks, lines cut across reads
    same(candump_tables(path), list(read_frames(path)))


def test_fast_equals_exact_on_one_channel(tmp_path):
    path = tmp_path / "one.log"
    path.write_text(plain_log(tmp_path / "two.log").read_text().replace("can1", "can0"))
    tables = list(candump_tables(path))
    assert tables[0].channel_codes[1] == ["can0"]
    same(tables, list(read_frames(path)))


def test_a_line_that_is_not_plain_hands_over_to_the_exact_reader(tmp_path, monkeypatch):
    path = plain_log(tmp_path / "mixed.log")
    lines = path.read_text().splitlines(keepends=True)
    lines[200] = "(1700000001.000000) can0 123#R\n"  # a remote frame: not for the fast path
    path.write_text("".join(lines))
    monkeypatch.setattr("host_tools.fast_read.BLOCK", 1000)
    with pytest.raises(Fallback) as info:
        list(candump_tables(path))
    assert 0 < info.value.index <= 200
    summary = DecodeSummary("vector")
    tables = list(frame_tables(path, summary, chunk=64))
    frames = [f for f in read_frames(path) if f.kind == "data"]
    same(tables, frames)
    assert summary.remote_frames == 1 and summary.data_frames == len(frames)


def test_project_dbc_loads():
    assert load_dbc(DEFAULT_DBC, warn=None).messages


@pytest.fixture(scope="module")
def tow_blf(tmp_path_factory):
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("blf") / "tow.blf"
    subprocess.run([sys.executable, "-m", "host_tools.cli.main", "simulate", "highway_tow", "--duration", "4",
                    "--seed", "5", "-o", str(path)], check=True, capture_output=True)
    return path


def test_fast_blf_equals_exact(tow_blf, monkeypatch):
    from host_tools.fast_read import blf_tables

    monkeypatch.setattr("host_tools.fast_read.BLF_BLOCK_OBJECTS", 50)  # objects across blocks
    same(blf_tables(tow_blf), list(read_frames(tow_blf)))


def test_blf_with_remote_and_fd_frames_goes_the_exact_way():
    from host_tools.fast_read import blf_tables

    with pytest.raises(Fallback):
        list(blf_tables(FORMATS / "frames.blf"))
    summary = DecodeSummary("vector")
    tables = list(frame_tables(FORMATS / "frames.blf", summary))
    same(tables, [f for f in read_frames(FORMATS / "frames.blf") if f.kind == "data"])
    assert summary.remote_frames == 1


def test_uneven_time_stamps_take_the_expression_path(tmp_path, monkeypatch):
    from host_tools import fast_read

    path = tmp_path / "uneven.log"
    path.write_text("(0.5) can0 123#11\n(10.25) can1 1ABCDEF0#2233 T\n(100.125) can0 7FF#\n")
    calls = []
    real = fast_read._LINE

    class Spy:
        def findall(self, block):
            calls.append(block)
            return real.findall(block)

    monkeypatch.setattr(fast_read, "_LINE", Spy())
    same(candump_tables(path), list(read_frames(path)))
    assert calls  # the column path declined (time stamps of three widths)


@pytest.mark.parametrize("line", ["(1.5) can0 800#11", "(1.5) can0 20000000#11", "(1.5) can0 123#1",
                                  "(1.5) can0 123#112233445566778899", "(1.5)  can0 123#11", "(1.5) can0 123#GG",
                                  "(1.5) can0 123#11 X", "(1.5x can0 123#11", "(1.5) can0 12#11"])
def test_no_fast_path_for_what_the_exact_reader_refuses(tmp_path, line):
    path = tmp_path / "odd.log"
    path.write_text("(1.0) can0 123#11\n" + line + "\n")
    with pytest.raises(Fallback):
        list(candump_tables(path))
