"""Every log format python-can reads (and gzip copies), candump's screen formats through
cantools' patterns, and Vector quirks read leniently as python-can does, each counted."""

from __future__ import annotations

import gzip
from pathlib import Path

import can
import pytest

from host_tools.logfile import LogError, LogStats, read_frames

FORMATS = Path(__file__).resolve().parents[1] / "files" / "logs" / "formats"
LOGS = FORMATS.parent
try:
    import asammdf  # noqa: F401
    HAVE_ASAMMDF = True
except ImportError:
    HAVE_ASAMMDF = False
PYTHON_CAN_READS = sorted(p.name for p in FORMATS.iterdir() if p.name.startswith(("frames.", "asc_"))
                          and (HAVE_ASAMMDF or p.suffix != ".mf4"))


def read(path: Path, **kw):
    stats = LogStats()
    return list(read_frames(path, stats=stats, **kw)), stats


@pytest.mark.parametrize("name", PYTHON_CAN_READS)
def test_same_frame_count_as_python_can(name):
    path = FORMATS / name
    frames, stats = read(path)
    assert len(frames) == len(list(can.LogReader(str(path)))) > 0
    assert not stats.bad_records


def test_compressed_gives_the_same_frames():
    for suffix in (".asc", ".blf", ".log", ".trc", ".csv"):
        plain, _ = read(FORMATS / f"frames{suffix}")
        packed, _ = read(FORMATS / f"frames{suffix}.gz")
        assert [(f.t, f.can_id, f.data, f.kind) for f in plain] == [(f.t, f.can_id, f.data, f.kind) for f in packed]


def test_a_cut_gzip_is_reported_truncated(tmp_path):
    data = (FORMATS / "frames.log.gz").read_bytes()
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogError, match="compressed stream cut or corrupt") as info:
        read(cut)
    assert info.value.truncated
    frames, stats = read(cut, accept_truncated=True)
    assert stats.truncated and len(frames) < 15


def test_mf4_without_asammdf_says_what_to_install():
    if HAVE_ASAMMDF:
        pytest.skip("asammdf installed")
    with pytest.raises(LogError, match=r"reading \.mf4 needs asammdf \(pip install asammdf\)"):
        read(FORMATS / "frames.mf4")


def test_mf4_and_sqlite_hold_the_fd_frame():
    for name in ("frames.mf4", "frames.db") if HAVE_ASAMMDF else ("frames.db",):
        frames, stats = read(FORMATS / name)
        fd = [f for f in frames if f.can_id == 0x456]
        assert fd and fd[0].is_fd and fd[0].data == bytes(range(32)), name
    _, stats = read(FORMATS / "frames.db")
    assert stats.oddity_count == 1 and "no CAN FD flag" in stats.oddities[0][1]


def test_asc_classic_dlc_above_8_is_an_oddity_with_its_line():
    path = FORMATS / "asc_classic_dlc_above_8.asc"
    frames, stats = read(path)
    assert [f.data for f in frames] == [bytes(range(1, 9))] * 2
    assert stats.oddity_count == 1 and stats.oddities[0][0] == f"{path}:6"
    assert "DLC code 13" in stats.oddities[0][1]
    with pytest.raises(LogError, match="refused with strict") as info:
        read(path, strict=True)
    assert info.value.line == 6


def test_asc_fd_remote_and_dlc_mismatch_are_oddities():
    path = FORMATS / "asc_fd_remote.asc"
    frames, stats = read(path)
    assert [f.kind for f in frames] == ["remote", "data"]
    assert stats.oddities[0][0] == f"{path}:5"
    path = LOGS / "asc_fd_dlc_mismatch_line7.asc"
    frames, stats = read(path)
    assert stats.oddity_count == 1 and stats.oddities[0][0] == f"{path}:7"
    assert "CAN FD dlc 9 disagrees with data length 8" in stats.oddities[0][1]
    with pytest.raises(LogError, match="refused with strict"):
        read(path, strict=True)


def test_candump_screen_formats():
    frames, stats = read(FORMATS / "candump_screen.log")
    assert [(f.can_id, f.ext, f.kind, f.is_fd, len(f.data)) for f in frames] == [
        (0x123, False, "data", False, 4), (0x1ABCDEF0, True, "data", False, 8),
        (0x7FF, False, "remote", False, 0), (0x456, False, "data", True, 12)]
    assert stats.epoch_offset is None and frames[0].where.endswith("candump_screen.log:1")
    frames, stats = read(FORMATS / "candump_screen_tz.log")
    assert [f.t for f in frames] == [0.0, 0.010012, 0.02002] and frames[2].kind == "error"
    assert frames[1].data == bytes([0xF1]) + bytes(7)  # the ASCII column is not data
    frames, stats = read(FORMATS / "candump_screen_ta.log")
    assert stats.epoch_offset == 0.0 and frames[1].t - frames[0].t == pytest.approx(0.01)
    frames, _ = read(FORMATS / "candump_screen_tz.log.gz")
    assert len(frames) == 3


def test_candump_screen_bad_line_is_named(tmp_path):
    path = tmp_path / "screen.log"
    path.write_text("  can0  123   [4]  DE AD BE EF\n  can0  123   [4]  DE AD\n")
    with pytest.raises(LogError) as info:
        read(path)
    assert info.value.line == 2 and "[4] disagrees with 2 data bytes" in str(info.value)
    frames, stats = read(path, skip_bad=True)
    assert len(frames) == 1 and stats.bad_records[0][0] == f"{path}:2"


def test_unknown_suffix_names_what_is_supported(tmp_path):
    path = tmp_path / "x.asc.bz2"
    path.write_bytes(b"")
    with pytest.raises(LogError, match=r"supported: \.log, \.asc, .*gzip-compressed \(\.asc\.gz\)"):
        read(path)
    path = tmp_path / "x.txt.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"x")
    with pytest.raises(LogError, match="unknown log format '.txt.gz'"):
        read(path)


def test_one_time_convention_for_every_format():
    """Decoded times are epoch seconds whenever the log says when it started: an ASC's
    relative times are shifted by its triggerblock's date, as python-can does."""
    from host_tools import DEFAULT_DBC
    from host_tools.dbc import load_dbc
    from host_tools.decode import DecodeSummary, epoch_shift

    load_dbc(DEFAULT_DBC, warn=None)
    times = {}
    for suffix in (".asc", ".blf", ".log", ".trc") + ((".mf4",) if HAVE_ASAMMDF else ()):
        frames, stats = read(FORMATS / f"frames{suffix}")
        shift = epoch_shift(stats, frames[0].t)
        times[suffix] = [round(f.t + shift, 3) for f in frames if f.kind == "data"][:12]
    assert all(v == times[".log"] for v in times.values()), times
    assert times[".log"][0] == 1_700_000_000.0
    _, stats = read(FORMATS / "candump_screen_tz.log")
    assert stats.epoch_offset is None and DecodeSummary("x")
