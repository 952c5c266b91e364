"""CAN logs are read frame by frame with their origin; nothing malformed slips through."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import can
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from host_tools.logfile import (
    Frame,
    LogError,
    LogStats,
    read_frames,
    supported_suffixes,
)

LOGS = Path(__file__).resolve().parents[1] / "files" / "logs"
FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)


def read(path: Path, **kw) -> tuple[list[Frame], LogStats]:
    stats = LogStats()
    frames = list(read_frames(path, stats=stats, **kw))
    return frames, stats


def lines_of(frames: list[Frame]) -> list[int]:
    return [int(f.where.rsplit(":", 1)[1]) for f in frames]


def summary(frames: list[Frame]) -> list[tuple]:
    return [(f.kind, f.can_id, f.ext, f.data, f.is_fd, f.channel) for f in frames]


def trc_start(days: float) -> float:
    return (datetime(1899, 12, 30, tzinfo=timezone.utc) + timedelta(days=days)).timestamp()


# --------------------------------------------------------------------------- good files


def test_supported_suffixes():
    assert set(supported_suffixes()) == {".log", ".asc", ".blf", ".trc", ".csv"}


def test_candump_good():
    path = LOGS / "candump_good.log"
    frames, stats = read(path)
    assert summary(frames) == [
        ("data", 0x123, False, bytes.fromhex("DEADBEEF"), False, "can0"),
        ("data", 0x1ABCDEF0, True, bytes(range(1, 9)), False, "can0"),
        ("remote", 0x7FF, False, b"", False, "can1"),
        ("data", 0x456, False, bytes(range(16)), True, "can0"),
        # bus error: python-can recognises it; the error class is kept as can_id
        ("error", 0x80, True, b"", False, "can0"),
        ("data", 0x1, True, b"", False, "can0"),
        ("data", 0x001, False, bytes.fromhex("8D00100100820100"), False, "vcan0"),
        # controller error: python-can would have made it a data frame with id 4
        ("error", 0x4, True, b"", False, "can0"),
        ("remote", 0x123, False, b"", False, "can0"),
    ]
    assert [f.where for f in frames] == [f"{path}:{n}" for n in (1, 2, 3, 4, 5, 6, 7, 9, 10)]
    assert frames[0].t == 1700000000.0 and frames[-1].t == pytest.approx(1700000000.008)
    assert stats.frames == 9
    assert stats.bad_records == []
    assert stats.ignored == {"log:blank": 1}


def test_frame_is_frozen():
    frame = next(read_frames(LOGS / "candump_good.log"))
    assert type(frame) is Frame
    with pytest.raises(AttributeError):
        frame.can_id = 5  # type: ignore[misc]
    assert frame == Frame(
        t=1700000000.0,
        can_id=0x123,
        ext=False,
        data=bytes.fromhex("DEADBEEF"),
        kind="data",
        is_fd=False,
        channel="can0",
        where=f"{LOGS / 'candump_good.log'}:1",
    )
    assert hash(frame) == hash(Frame(**{k: getattr(frame, k) for k in Frame.__dataclass_fields__}))


# what each well-formed log must read as: frames (kind, id, ext, data, fd, channel), their
# line numbers, and the lines counted as ignored (the files' formats documented in each file)
GOOD = json.loads((LOGS.parent / "logs_expected.json").read_text())


@pytest.mark.parametrize("name", GOOD)
def test_good_files(name):
    want = GOOD[name]
    frames, stats = read(LOGS / name)
    assert summary(frames) == [(f["kind"], int(f["id"], 16), f["ext"], bytes.fromhex(f["data"]), f["fd"],
                                f["channel"]) for f in want["frames"]]
    assert lines_of(frames) == want["lines"]
    assert stats.bad_records == []
    assert stats.ignored == want["ignored"]


def test_asc_times():
    frames, _ = read(LOGS / "asc_good.asc")
    assert [f.t for f in frames] == pytest.approx([0.001, 0.002, 0.003, 0.004, 0.005, 0.009, 0.010])


@pytest.mark.parametrize("name,reader,python_can_ids,want,lines,ignored", [
    # python-can alone swallows the first line after an ASC header without "internal events logged"
    ("asc_no_events_header.asc", can.ASCReader, [0x101], [(0x100, b"\x01"), (0x101, b"\x02")], [3, 4],
     {"asc:header": 2}),
    # python-can alone takes the first record of a CSV without a header row for its header
    ("csv_no_header.csv", can.CSVReader, [0x124], [(0x123, b"\x01\x02"), (0x124, b"\x03")], [1, 2], {}),
])
def test_the_first_record_python_can_loses_is_kept(name, reader, python_can_ids, want, lines, ignored):
    path = LOGS / name
    assert [m.arbitration_id for m in reader(str(path))] == python_can_ids
    frames, stats = read(path)
    assert [(f.can_id, f.data) for f in frames] == want
    assert lines_of(frames) == lines
    assert stats.ignored == ignored


def test_trc_v21_times():
    frames, _ = read(LOGS / "trc_v21_good.trc")
    start = trc_start(45000.5)
    assert [f.t for f in frames] == pytest.approx([start + x for x in (0, 0.0015, 0.002, 0.003, 0.006)])


def test_suffix_is_case_insensitive(tmp_path):
    upper = tmp_path / "CAPTURE.LOG"
    shutil.copy(LOGS / "candump_good.log", upper)
    frames, _ = read(upper)
    assert len(frames) == 9
    assert frames[0].where == f"{upper}:1"


def test_streams_lazily():
    # the first frame is available before the malformed line 7 is reached
    it = read_frames(LOGS / "candump_bad_hex_line7.log")
    assert next(it).can_id == 0x100
    it.close()


# --------------------------------------------------------------------------- malformed files

# file -> (line, text in the reason, fatal even with skip_bad)
MALFORMED = {
    "candump_bad_hex_line7.log": (7, "invalid literal for int() with base 16: '0Z'", False),
    "candump_odd_hex.log": (2, "dlc 1 disagrees with 2 data bytes (odd number of hex digits?)", False),
    "candump_std_id_above_7ff_line2.log": (2, "id 0xFFF is above 0x7FF but marked standard", False),
    "candump_id_over_29_bits_line2.log": (2, "id 0x40000123 does not fit in 29 bits", False),
    "candump_classic_9_bytes_line1.log": (1, "classic CAN frame with 9 data bytes (max 8)", False),
    "candump_fd_bad_length_line1.log": (1, "CAN FD frame with 10 data bytes (not a valid CAN FD length)", False),
    "candump_missing_field_line2.log": (2, "not enough values to unpack", False),
    "candump_nan_timestamp_line1.log": (1, "timestamp nan is not finite", False),
    "asc_garbled_frame.asc": (7, "looks like a CAN frame but python-can did not parse it", False),
    "asc_bad_id_hex_line7.asc": (7, "invalid literal for int() with base 16: '1G0'", False),
    "asc_dec_base_bad_line7.asc": (7, "invalid literal for int() with base 10: '29A'", False),
    "asc_short_data_line6.asc": (6, "dlc 8 disagrees with 2 data bytes", False),
    "asc_std_id_too_big_line6.asc": (6, "id 0x800 is above 0x7FF but marked standard", False),
    "asc_uppercase_base.asc": (2, "needs lowercase 'hex' or 'dec'", True),
    "trc_short_record_line15.trc": (15, "frame record not parsed by python-can", False),
    "trc_bad_data_line15.trc": (15, "non-hexadecimal number found in fromhex()", False),
    "trc_v12_unsupported.trc": (1, "TRC file version '1.2' is not read by python-can", True),
    "csv_bad_dlc_line3.csv": (3, "dlc 3 disagrees with 2 data bytes", False),
    "csv_garbled_line2.csv": (2, "not enough values to unpack (expected 7, got 4)", False),
    "csv_foreign_header.csv": (1, "unsupported CSV header 'Time,ID,DLC,Data'", True),
}


def test_every_log_file_is_covered():
    good = {
        "candump_good.log",
        "asc_good.asc",
        "asc_no_events_header.asc",
        "trc_v21_good.trc",
        "trc_v11_good.trc",
        "csv_good.csv",
        "csv_no_header.csv",
        "asc_fd_dlc_mismatch_line7.asc",  # an oddity: test_log_formats.py
        "formats",
    }
    hostile = {"make_hostile_logs.py", *HOSTILE}
    assert sorted(p.name for p in LOGS.iterdir()) == sorted(good | set(MALFORMED) | hostile)


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_raises_naming_file_and_line(name):
    path = LOGS / name
    line, reason, _ = MALFORMED[name]
    with pytest.raises(LogError) as info:
        list(read_frames(path))
    err = info.value
    assert err.path == path
    assert err.line == line
    assert str(err).startswith(f"{path}:{line}: ")
    assert reason in err.reason
    # the offending line is quoted (whitespace squeezed, maybe shortened)
    text = path.read_text().splitlines()[line - 1]
    assert " ".join(text.split())[:25] in str(err)


@pytest.mark.parametrize("name", sorted(n for n, v in MALFORMED.items() if not v[2]))
def test_skip_bad_keeps_going(name):
    path = LOGS / name
    line, reason, _ = MALFORMED[name]
    frames, stats = read(path, skip_bad=True)
    assert [w for w, _ in stats.bad_records] == [f"{path}:{line}"]
    assert reason in stats.bad_records[0][1]
    assert line not in lines_of(frames)
    # every line after the bad one that holds a frame still comes through
    assert all(f.kind == "data" for f in frames)
    n_lines = len(path.read_text().splitlines())
    assert stats.frames == len(frames)
    # nothing is silent: every line is a frame, a bad record or ignored
    assert len(frames) + len(stats.bad_records) + sum(stats.ignored.values()) == n_lines


@pytest.mark.parametrize("name", sorted(n for n, v in MALFORMED.items() if v[2]))
def test_header_errors_are_fatal_even_with_skip_bad(name):
    with pytest.raises(LogError):
        list(read_frames(LOGS / name, skip_bad=True))


@pytest.mark.parametrize(
    "name",
    ["candump_good.log", "asc_good.asc", "asc_no_events_header.asc", "trc_v21_good.trc",
     "trc_v11_good.trc", "csv_good.csv", "csv_no_header.csv"],
)
def test_every_line_of_a_good_file_is_accounted_for(name):
    path = LOGS / name
    frames, stats = read(path)
    n_lines = len(path.read_text().splitlines())
    assert len(frames) + sum(stats.ignored.values()) == n_lines
    assert len(set(lines_of(frames))) == len(frames)


def test_skip_bad_lines_after_bad_record():
    path = LOGS / "candump_bad_hex_line7.log"
    frames, stats = read(path, skip_bad=True)
    assert lines_of(frames) == [1, 2, 3, 4, 5, 6, 8, 9]
    assert [f.can_id for f in frames] == [0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x107, 0x108]


def test_asc_hex_base_resumes_after_bad_line():
    frames, stats = read(LOGS / "asc_bad_id_hex_line7.asc", skip_bad=True)
    assert [(f.can_id, f.data) for f in frames] == [(0x1A0, b"\x0a\x0b"), (0x1B0, b"\x1c\x1d")]
    assert lines_of(frames) == [6, 8]


def test_asc_dec_base_is_replayed_to_the_resumed_reader():
    # if the header were not replayed, python-can would fall back to hex
    frames, stats = read(LOGS / "asc_dec_base_bad_line7.asc", skip_bad=True)
    assert [(f.can_id, f.data) for f in frames] == [(291, bytes([10, 11])), (100, bytes([20, 21]))]
    assert lines_of(frames) == [6, 8]
    assert len(stats.bad_records) == 1


def test_trc_columns_survive_resume():
    frames, _ = read(LOGS / "trc_bad_data_line15.trc", skip_bad=True)
    start = trc_start(45000.5)
    assert [(f.can_id, f.data, f.channel) for f in frames] == [(0x123, b"\x01", 1), (0x125, b"\x03", 1)]
    assert [f.t for f in frames] == pytest.approx([start, start + 0.002])


def test_skip_bad_without_stats():
    frames = list(read_frames(LOGS / "candump_odd_hex.log", skip_bad=True))
    assert [f.can_id for f in frames] == [0x100, 0x102]


# --------------------------------------------------------------------------- file level errors


def test_unknown_extension_raises_at_call(tmp_path):
    path = tmp_path / "capture.txt"
    path.write_text("(1.0) can0 123#00\n")
    with pytest.raises(LogError, match="unknown log format '.txt'") as info:
        read_frames(path)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.line is None


def test_missing_file(tmp_path):
    path = tmp_path / "nothere.log"
    with pytest.raises(LogError, match="cannot open") as info:
        read_frames(path)
    assert info.value.path == path
    assert str(path) in str(info.value)


def test_directory_is_not_a_log(tmp_path):
    path = tmp_path / "dir.asc"
    path.mkdir()
    with pytest.raises(LogError, match="cannot open"):
        read_frames(path)


def test_empty_files(tmp_path):
    for suffix in (".log", ".asc", ".trc", ".csv"):
        path = tmp_path / f"empty{suffix}"
        path.write_text("")
        assert read(path)[0] == []


# --------------------------------------------------------------------------- BLF


def blf_messages() -> list[can.Message]:
    msgs = [
        can.Message(timestamp=1700000000 + i * 0.001, arbitration_id=0x100 + i,
                    is_extended_id=bool(i % 2), data=bytes([i % 256]) * (i % 9), channel=0)
        for i in range(300)
    ]
    msgs.append(can.Message(timestamp=1700000001.0, is_error_frame=True, channel=1))
    msgs.append(can.Message(timestamp=1700000001.1, arbitration_id=0x7FF, is_extended_id=False,
                            is_remote_frame=True, dlc=3, channel=0))
    msgs.append(can.Message(timestamp=1700000001.2, arbitration_id=0x123, is_extended_id=False,
                            is_fd=True, bitrate_switch=True, data=bytes(range(64)), channel=2))
    return msgs


def write_blf(path: Path, msgs: list[can.Message], *, container: int = 1024,
              compression: int = -1, marker: str | None = None) -> Path:
    writer = can.BLFWriter(str(path), compression_level=compression)
    writer.max_container_size = container  # several containers
    for msg in msgs:
        writer.on_message_received(msg)
    if marker:
        writer.log_event(marker, 1700000002.0)
    writer.stop()
    return path


def test_blf_roundtrip(tmp_path):
    msgs = blf_messages()
    path = write_blf(tmp_path / "a.blf", msgs)
    frames, stats = read(path)
    assert len(frames) == len(msgs)
    for i, (f, m) in enumerate(zip(frames, msgs), 1):
        assert f.where == f"{path}#{i}"
        assert f.t == pytest.approx(m.timestamp, abs=1e-6)
        assert f.kind == ("error" if m.is_error_frame else "remote" if m.is_remote_frame else "data")
        assert f.channel == m.channel
        assert f.is_fd == m.is_fd
        if f.kind != "error":
            assert (f.can_id, f.ext) == (m.arbitration_id, m.is_extended_id)
        assert f.data == (b"" if f.kind != "data" else bytes(m.data))
    assert stats.frames == len(msgs)
    assert stats.ignored == {}


def test_blf_other_objects_are_counted(tmp_path):
    path = write_blf(tmp_path / "m.blf", blf_messages()[:5], marker="hello")
    frames, stats = read(path)
    assert len(frames) == 5
    assert stats.ignored == {"blf:other-object": 1}


@pytest.mark.parametrize("cut", [10, 1000, 3000, 5000])
def test_blf_truncated(tmp_path, cut):
    full = write_blf(tmp_path / "full.blf", blf_messages())
    data = full.read_bytes()
    path = tmp_path / "cut.blf"
    path.write_bytes(data[: len(data) - cut])
    good = []
    with pytest.raises(LogError) as info:
        for frame in read_frames(path):
            good.append(frame)
    err = info.value
    assert err.path == path
    assert err.index == len(good) + 1
    assert str(err).startswith(f"{path}#{len(good) + 1}: ")
    assert "truncated" in str(err) and "cannot resync" in str(err)
    assert len(good) < len(blf_messages())

    assert err.truncated
    frames, stats = read(path, skip_bad=True)
    assert frames == good
    # not one "bad record": everything after the cut is lost, and said so
    assert stats.bad_records == []
    assert stats.truncated and f"{len(good):,} frames read before it" in stats.truncated


def test_blf_unknown_compression(tmp_path):
    path = write_blf(tmp_path / "c.blf", blf_messages(), compression=0)
    data = bytearray(path.read_bytes())
    assert data[144:148] == b"LOBJ" and struct.unpack_from("<L", data, 156)[0] == 10
    struct.pack_into("<H", data, 160, 5)  # compression method of the first container
    path.write_bytes(bytes(data))
    with pytest.raises(LogError, match="unknown compression method 5") as info:
        list(read_frames(path))
    assert info.value.index == 1

    assert "cannot resync" in str(info.value)
    # objects span containers, so reading cannot go on after a skipped one
    frames, stats = read(path, skip_bad=True)
    assert frames == []
    # the rest of the file is unreadable: said so, not counted as one bad record
    assert stats.bad_records == []
    assert "unknown compression method 5" in stats.truncated and "0 frames read before it" in stats.truncated


def test_blf_absurd_object_size(tmp_path):
    path = write_blf(tmp_path / "s.blf", blf_messages())
    data = bytearray(path.read_bytes())
    struct.pack_into("<L", data, 144 + 8, 0xFFFFFFF0)  # object size of the first container
    path.write_bytes(bytes(data))
    with pytest.raises(LogError, match="object size") as info:
        list(read_frames(path))
    assert str(info.value).startswith(f"{path}#1: ")


def test_blf_bad_dlc(tmp_path):
    msgs = blf_messages()[:3]
    msgs[1] = can.Message(timestamp=1700000000.5, arbitration_id=0x55, is_extended_id=False,
                          data=bytes(8), dlc=9, channel=0)
    path = write_blf(tmp_path / "d.blf", msgs)
    with pytest.raises(LogError, match="dlc 9 disagrees with 8 data bytes") as info:
        list(read_frames(path))
    assert info.value.index == 2
    frames, stats = read(path, skip_bad=True)
    assert [f.where for f in frames] == [f"{path}#1", f"{path}#3"]
    assert [w for w, _ in stats.bad_records] == [f"{path}#2"]


def test_not_a_blf(tmp_path):
    path = tmp_path / "x.blf"
    path.write_bytes(b"hello, this is not a BLF file" * 10)
    with pytest.raises(LogError, match="not a readable BLF file") as info:
        list(read_frames(path))
    assert str(info.value).startswith(f"{path}: ")


# --------------------------------------------------------------------------- properties


@st.composite
def can_messages(draw, *, remote: bool = True, error: bool = True, fd: bool = True):
    kinds = ["data"] + (["remote"] if remote else []) + (["error"] if error else [])
    kind = draw(st.sampled_from(kinds))
    ext = draw(st.booleans())
    can_id = draw(st.integers(0, 0x1FFFFFFF if ext else 0x7FF))
    if kind == "error":
        return can.Message(is_error_frame=True, channel=0)
    if kind == "remote":
        return can.Message(arbitration_id=can_id, is_extended_id=ext, is_remote_frame=True,
                           dlc=draw(st.integers(0, 8)), channel=0)
    is_fd = fd and draw(st.booleans())
    n = draw(st.sampled_from(FD_LENGTHS)) if is_fd else draw(st.integers(0, 8))
    return can.Message(arbitration_id=can_id, is_extended_id=ext, is_fd=is_fd,
                       data=draw(st.binary(min_size=n, max_size=n)), channel=0)


def expected(msgs: list[can.Message]) -> list[tuple]:
    out = []
    for m in msgs:
        if m.is_error_frame:
            out.append(("error", b""))
        elif m.is_remote_frame:
            out.append(("remote", m.arbitration_id, m.is_extended_id, b""))
        else:
            out.append(("data", m.arbitration_id, m.is_extended_id, bytes(m.data), m.is_fd))
    return out


def got(frames: list[Frame]) -> list[tuple]:
    out = []
    for f in frames:
        if f.kind == "error":
            out.append(("error", f.data))
        elif f.kind == "remote":
            out.append(("remote", f.can_id, f.ext, f.data))
        else:
            out.append(("data", f.can_id, f.ext, f.data, f.is_fd))
    return out


def write_and_read(writer_cls, suffix: str, msgs: list[can.Message]) -> list[Frame]:
    for i, m in enumerate(msgs):
        m.timestamp = 1700000000.0 + i * 0.001
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"roundtrip{suffix}"
        with writer_cls(str(path)) as writer:
            for m in msgs:
                writer.on_message_received(m)
        frames, stats = read(path)
        assert stats.bad_records == []
        return frames


PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.lists(can_messages(), min_size=1, max_size=30))
def test_candump_roundtrip(msgs):
    frames = write_and_read(can.CanutilsLogWriter, ".log", msgs)
    assert got(frames) == expected(msgs)
    assert lines_of(frames) == list(range(1, len(msgs) + 1))


@PROPERTY
@given(st.lists(can_messages(), min_size=1, max_size=30))
def test_asc_roundtrip(msgs):
    frames = write_and_read(can.ASCWriter, ".asc", msgs)
    assert got(frames) == expected(msgs)


@PROPERTY
@given(st.lists(can_messages(), min_size=1, max_size=30))
def test_blf_roundtrip_property(msgs):
    frames = write_and_read(can.BLFWriter, ".blf", msgs)
    assert got(frames) == expected(msgs)


@PROPERTY
@given(st.lists(can_messages(fd=False), min_size=1, max_size=30))
def test_csv_roundtrip(msgs):
    frames = write_and_read(can.CSVWriter, ".csv", msgs)
    assert got(frames) == expected(msgs)


@PROPERTY
@given(st.lists(can_messages(remote=False, error=False, fd=False), min_size=1, max_size=30))
def test_trc_roundtrip(msgs):
    frames = write_and_read(can.TRCWriter, ".trc", msgs)
    assert got(frames) == expected(msgs)


def add_noise(lines: list, entry: tuple, bad_lines: list, ignored: dict) -> bool:
    """Append a noise line (text, what): "bad" or "junk" must come back as a bad record at its
    line number, anything else as ignored[what]. True for a line meant as a frame ("bad")."""
    text, what = entry
    lines.append(text)
    if what in ("bad", "junk"):
        bad_lines.append(len(lines))
        return what == "bad"
    ignored[what] = ignored.get(what, 0) + 1
    return False


def read_noisy(lines: list, suffix: str, kind: str, no_record: bool):
    """`lines` as a log noise.SUFFIX read with skip_bad: (frames, stats); None after checking
    that a file with no record in it (`no_record`) is refused ("no KIND frame in the file")."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"noise{suffix}"
        path.write_text("\n".join(lines) + "\n")
        if no_record:
            with pytest.raises(LogError, match=f"no {kind} frame in the file"):
                read(path, skip_bad=True)
            return None
        return read(path, skip_bad=True)


# lines that break a candump log in different ways, and how each must be reported
CANDUMP_NOISE = [
    ("(1.0) can0 12G#00", "bad"),  # python-can raises
    ("(1.0) can0 123#ABC", "bad"),  # odd hex: python-can yields a wrong frame
    ("(1.0) can0", "bad"),
    ("garbage", "junk"),  # bad, and not even meant as a frame
    ("(1.0) can0 FFFF0000F#00", "bad"),  # id beyond 29 bits, masked by python-can
    ("", "blank"),
    ("   ", "blank"),
]


@PROPERTY
@given(st.lists(st.one_of(st.integers(0, 0x7FF), st.sampled_from(range(len(CANDUMP_NOISE)))
                          .map(lambda i: -1 - i)), min_size=1, max_size=40))
@example(items=[-1])  # only a frame python-can chokes on
@example(items=[-4])  # only junk: no candump log at all
def test_candump_noise_is_reported_and_frames_survive(items):
    lines, want, bad_lines, ignored, frame_like = [], [], [], {}, False
    for n, item in enumerate(items, 1):
        if item >= 0:
            lines.append(f"({n}.000000) can0 {item:03X}#{n % 256:02X}")
            want.append((n, item))
        else:
            frame_like |= add_noise(lines, CANDUMP_NOISE[-1 - item], bad_lines, ignored)
    # nothing in it is a candump record: refused
    if (read_back := read_noisy(lines, ".log", "candump", bad_lines and not want and not frame_like)) is None:
        return
    frames, stats = read_back
    assert [(int(f.where.rsplit(":", 1)[1]), f.can_id) for f in frames] == want
    assert all(f.data == bytes([n % 256]) for (n, _), f in zip(want, frames))
    assert [int(w.rsplit(":", 1)[1]) for w, _ in stats.bad_records] == bad_lines
    assert sum(stats.ignored.values()) == ignored.get("blank", 0)


ASC_HEADER = [
    "date Mon Jan 15 10:20:30.123 am 2024",
    "base dec  timestamps absolute",
    "internal events logged",
]
ASC_NOISE = [
    ("   1.000000 1  12G             Rx   d 1 1", "bad"),  # python-can raises (decimal base)
    ("   1.000000 1  100             Qx   d 1 1", "bad"),  # python-can skips silently
    ("   1.000000 1  100             Rx   d 4 1 2", "bad"),  # dlc 4, 2 bytes
    ("   1.000000 CANFD", "bad"),
    ("\x01\x02 binary junk \x7f", "junk"),  # python-can skips it without a word
    ("// comment", "asc:comment"),
    ("   1.000000 1  Statistic: D 1 R 0 XD 0 XR 0 E 0 O 0 B 0.12%", "asc:statistic"),
    ("   1.000000 CAN 1 Status:chip status error active", "asc:chip-status"),
    ("Begin Triggerblock Mon Jan 15 10:20:30.123 am 2024", "asc:triggerblock"),
    ("", "asc:blank"),
]


@PROPERTY
@given(st.lists(st.one_of(st.integers(0, 2047), st.sampled_from(range(len(ASC_NOISE)))
                          .map(lambda i: -1 - i)), min_size=1, max_size=40))
@example(items=[-1])  # only a frame python-can chokes on: a bad frame, not "no ASC log"
@example(items=[-10])  # only junk: no ASC log at all
def test_asc_noise_is_reported_and_decimal_base_survives(items):
    lines, want, bad_lines, frame_like = list(ASC_HEADER), [], [], False
    ignored: dict[str, int] = {"asc:header": 3}
    for item in items:
        n = len(lines) + 1
        if item >= 0:
            # decimal id and data: read with hex base they would come out wrong
            lines.append(f"   {n}.000000 1  {item}             Rx   d 2 {n % 100} 19")
            want.append((n, item, bytes([n % 100, 19])))
        else:
            frame_like |= add_noise(lines, ASC_NOISE[-1 - item], bad_lines, ignored)
    # nothing in it is an ASC record: refused
    if (read_back := read_noisy(lines, ".asc", "ASC", bad_lines and not want and not frame_like)) is None:
        return
    frames, stats = read_back
    assert [(int(f.where.rsplit(":", 1)[1]), f.can_id, f.data) for f in frames] == want
    assert [int(w.rsplit(":", 1)[1]) for w, _ in stats.bad_records] == bad_lines
    assert stats.ignored == ignored


def test_log_error_pickles():
    import pickle

    for err in (LogError(Path("a.log"), 3, "bad"), LogError(Path("b.blf"), None, "x", index=7)):
        back = pickle.loads(pickle.dumps(err))
        assert (back.path, back.line, back.index, back.reason, str(back)) == (
            err.path, err.line, err.index, err.reason, str(err))


def test_stats_frames_is_live():
    stats = LogStats()
    it = read_frames(LOGS / "candump_good.log", stats=stats)
    next(it)
    next(it)
    assert stats.frames == 2
    it.close()


# --------------------------------------------------------------------------- hostile files
# made by tests/files/logs/make_hostile_logs.py

HOSTILE = ("asc_random_bytes.asc", "trc_terminal_escapes.trc", "blf_truncated_half.blf")


def test_random_bytes_named_asc_are_an_error_naming_the_first_bad_line():
    path = LOGS / "asc_random_bytes.asc"
    with pytest.raises(LogError) as info:
        list(read_frames(path))
    assert info.value.line == 1 and "not an ASC record" in info.value.reason
    # --skip-bad does not make a file without one frame a log
    with pytest.raises(LogError) as info:
        list(read_frames(path, skip_bad=True))
    assert info.value.line == 1 and str(info.value).startswith(f"{path}:1: no ASC frame in the file, ")
    assert "really in ASC format" in info.value.reason


def test_an_asc_line_python_can_skips_silently_is_a_bad_record(tmp_path):
    path = tmp_path / "mixed.asc"
    good = (LOGS / "asc_good.asc").read_text().splitlines()
    path.write_text("\n".join(good[:7] + ["\x01\x02 binary \x7f junk", "   1.5 \u263a not text"] + good[7:]) + "\n")
    frames, stats = read(path, skip_bad=True)
    assert [w for w, _ in stats.bad_records] == [f"{path}:8", f"{path}:9"]
    assert all("not an ASC record" in r for _, r in stats.bad_records)
    assert "asc:unrecognised" not in stats.ignored
    assert len(frames) == len(read(LOGS / "asc_good.asc")[0])


def test_a_trc_record_type_peak_does_not_define_is_a_bad_record():
    path = LOGS / "trc_terminal_escapes.trc"
    frames, stats = read(path, skip_bad=True)
    assert lines_of(frames) == [6, 10]
    assert [w for w, _ in stats.bad_records] == [f"{path}:{n}" for n in (7, 8, 9)]
    assert "record type '\\x1b]0;pwned\\x07' is not one PEAK defines" in stats.bad_records[1][1]


def test_python_can_warnings_are_captured_printable_not_printed(capfd):
    path = LOGS / "trc_terminal_escapes.trc"
    frames, stats = read(path, skip_bad=True)
    out, err = capfd.readouterr()
    assert out == err == ""  # python-can's last-resort handler printed them raw to stderr
    assert stats.library_message_count == 2
    assert all("\x1b" not in text and "\x07" not in text for text in stats.library_messages)
    assert "Failed to parse message" in stats.library_messages[0] and "\\x1b[2J" in stats.library_messages[0]
    for _, reason in stats.bad_records:
        assert "\x1b" not in reason and "\x07" not in reason
    import logging

    assert logging.getLogger("can.io").propagate  # restored after the read


def test_a_blf_cut_in_half_says_where_and_what_is_lost():
    path = LOGS / "blf_truncated_half.blf"
    good = []
    with pytest.raises(LogError) as info:
        for frame in read_frames(path):
            good.append(frame)
    err = info.value
    assert err.truncated and err.index == 192 and len(good) == 191
    for words in ("file truncated at byte 2,725", "191 frames read before it (the last: #191)",
                  "the header lists 400 objects, so up to 209 frames or other objects after it are lost",
                  "the header gives 5,450 bytes, the file has 2,725"):
        assert words in str(err)
    for options in ({"skip_bad": True}, {"accept_truncated": True}):
        frames, stats = read(path, **options)
        assert frames == good
        assert stats.bad_records == []
        assert stats.truncated == err.reason.removesuffix("; BLF cannot resync, reading stops here")


@pytest.mark.parametrize("suffix,title", [(".log", "candump"), (".trc", "TRC"), (".asc", "ASC")])
def test_random_bytes_under_any_text_suffix_are_no_log(tmp_path, suffix, title):
    path = tmp_path / f"noise{suffix}"
    shutil.copy(LOGS / "asc_random_bytes.asc", path)
    with pytest.raises(LogError, match=f"no {title} frame in the file") as info:
        list(read_frames(path, skip_bad=True))
    assert info.value.line == 1
