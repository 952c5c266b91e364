"""`mule decode` as a user runs it: both engines, every log format, honest summaries."""

from __future__ import annotations

import json
import subprocess
import sys

import can
import pytest

from host_tools.dbc import load_dbc
from host_tools.e2e import payload_crc
from host_tools.simulate import simulate
from mule_testing import FILES, PROJECT_DBC

LOGS = FILES / "logs"


def mule(*args, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "host_tools.cli.main", *map(str, args)],
                            capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def drive_log(tmp_path_factory):
    path = tmp_path_factory.mktemp("drive") / "drive.log"
    drive = simulate("highway_tow", path, duration_s=3.0, seed=2, bus_load_pct=4)
    return path, drive


def test_both_engines_write_identical_output(drive_log):
    path, drive = drive_log
    frames = drive.frames
    outputs = {engine: mule("decode", path, "--engine", engine) for engine in ("cantools", "firmware")}
    assert outputs["cantools"].stdout == outputs["firmware"].stdout
    records = [json.loads(line) for line in outputs["firmware"].stdout.splitlines()]
    (other,) = drive.truth["faults"][0]["ids"]  # the other ECU the simulator put on the bus
    unknown = other["frames"]
    assert len(records) == frames - unknown
    assert set(records[0]) == {"t", "id", "ext", "msg", "raw", "phys"}
    hitch = [r for r in records if r["msg"] == "HitchLoad"]
    assert hitch[0]["ext"] is True and hitch[0]["id"] == 0x0CFF4D2A
    tongue = sum(r["phys"]["tongue_load_kg"] for r in hitch) / len(hitch)
    assert 250 < tongue < 450  # highway_tow: 12 % of a 3.2 t trailer, less while pulling away
    cells = [r for r in records if r["msg"] == "BmsCellVoltages"]
    assert cells and all(len(r["raw"]) == 6 for r in cells)  # group, 3 cells, counter, CRC
    for engine, result in outputs.items():
        assert f"{frames - unknown} of {frames} data frames decoded ({engine} engine)" in result.stderr
        assert f"{unknown} frames with ids the DBC lacks: {other['id']} std x{unknown}" in result.stderr


def test_timestamps_and_order_follow_the_log(drive_log):
    path, _ = drive_log
    records = [json.loads(line) for line in mule("decode", path, "--engine", "firmware").stdout.splitlines()]
    times = [r["t"] for r in records]
    assert times == sorted(times) and times[0] >= 1_700_000_000


def test_csv_has_one_row_per_signal(drive_log, tmp_path):
    path, _ = drive_log
    out = tmp_path / "drive.csv"
    mule("decode", path, "--format", "csv", "-o", out, "--engine", "firmware")
    rows = out.read_text().splitlines()
    assert rows[0] == "t,id,ext,msg,signal,raw,phys"
    jsonl = [json.loads(line) for line in mule("decode", path).stdout.splitlines()]
    assert len(rows) - 1 == sum(len(r["raw"]) for r in jsonl)
    t, can_id, ext, msg, signal, raw, phys = rows[1].split(",")
    assert msg == jsonl[0]["msg"] and signal == next(iter(jsonl[0]["raw"]))


def test_blf_and_asc_decode_like_candump(drive_log, tmp_path):
    path, _ = drive_log
    want = mule("decode", path).stdout
    messages = list(can.LogReader(str(path)))
    for suffix, writer_class in ((".blf", can.BLFWriter), (".asc", can.ASCWriter)):
        other = tmp_path / f"drive{suffix}"
        with writer_class(str(other)) as writer:
            for message in messages:
                writer.on_message_received(message)
        got = [json.loads(line) for line in mule("decode", other, "--engine", "firmware").stdout.splitlines()]
        expected = [json.loads(line) for line in want.splitlines()]
        assert [(r["id"], r["raw"]) for r in got] == [(r["id"], r["raw"]) for r in expected], suffix


def test_malformed_line_stops_with_file_and_line():
    log = LOGS / "candump_bad_hex_line7.log"
    result = mule("decode", log, check=False)
    assert result.returncode == 1
    assert f"{log}:7:" in result.stderr
    assert "Traceback" not in result.stderr


def test_skip_bad_counts_and_reports_the_line():
    log = LOGS / "candump_bad_hex_line7.log"
    result = mule("decode", log, "--skip-bad", "--engine", "firmware")
    assert f"1 malformed records skipped (first: {log}:7:" in result.stderr
    lines = sum(1 for line in log.read_text().splitlines() if line.strip())
    assert f"0 of {lines - 1} data frames decoded" in result.stderr  # ids unknown to the DBC
    assert f"{lines - 1} frames with ids the DBC lacks" in result.stderr


def test_undecodable_frames_are_counted_alike_by_both_engines(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    pack = dbc.database.get_message_by_name("BmsPackStatus")
    cells = dbc.database.get_message_by_name("BmsCellVoltages")
    good = bytearray(8)
    good[-1] = payload_crc(good)
    bad_mux = bytearray([99, 0, 0, 0, 0, 0, 0, 0])  # cell_group 99: the DBC defines 0..31
    log = tmp_path / "faults.log"
    log.write_text(
        f"(1.000000) can0 {pack.frame_id:03X}#{good.hex().upper()}\n"
        f"(1.010000) can0 {pack.frame_id:03X}#{good[:7].hex().upper()}\n"  # short frame
        f"(1.020000) can0 {cells.frame_id:03X}#{bad_mux.hex().upper()}\n"
        f"(1.030000) can0 {pack.frame_id:08X}#{good.hex().upper()}\n"  # same number, extended: unknown
        "(1.040000) can0 123#R\n")
    outputs = [mule("decode", log, "--engine", engine) for engine in ("cantools", "firmware")]
    for result in outputs:
        assert len(result.stdout.splitlines()) == 1
        assert "1 of 4 data frames decoded" in result.stderr
        assert f"1 frames with wrong payload length for BmsPackStatus (first at {log}:2)" in result.stderr
        assert f"1 frames with multiplexer value undefined in BmsCellVoltages (first at {log}:3)" in result.stderr
        assert f"1 frames with ids the DBC lacks: {pack.frame_id:#x} ext x1" in result.stderr
        assert "not decoded: 1 remote frames, 0 error frames" in result.stderr
    assert outputs[0].stdout == outputs[1].stdout


def test_firmware_engine_on_a_pyboard_sized_heap(drive_log):
    path, _ = drive_log
    big = mule("decode", path, "--engine", "firmware").stdout
    small = mule("decode", path, "--engine", "firmware", "--heap", "100K").stdout
    assert small == big


def test_missing_log_and_unknown_format_are_user_errors(tmp_path):
    result = mule("decode", tmp_path / "nothere.log", check=False)
    assert result.returncode == 1 and "nothere.log" in result.stderr and "Traceback" not in result.stderr
    odd = tmp_path / "drive.xyz"
    odd.write_text("")
    result = mule("decode", odd, check=False)
    assert result.returncode == 1 and "drive.xyz" in result.stderr


def test_random_bytes_named_asc_are_an_error_with_or_without_skip_bad():
    log = LOGS / "asc_random_bytes.asc"
    for extra in ((), ("--skip-bad",)):
        result = mule("decode", log, *extra, check=False)
        assert result.returncode == 1, extra
        assert f"mule: error: {log}:1: " in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert "no ASC frame in the file" in result.stderr


def test_a_truncated_blf_fails_unless_accepted_and_says_what_was_lost():
    log = LOGS / "blf_truncated_half.blf"
    lost = ("191 frames read before it (the last: #191); the header lists 400 objects, "
            "so up to 209 frames or other objects after it are lost")
    result = mule("decode", log, check=False)
    assert result.returncode == 1 and f"{log}#192: file truncated at byte 2,725" in result.stderr
    assert lost in result.stderr and "--accept-truncated" in result.stderr
    # --skip-bad is for damaged records: the frames before the cut, but still a failure
    result = mule("decode", log, "--skip-bad", check=False)
    assert result.returncode == 1
    assert "0 of 191 data frames decoded" in result.stderr
    assert f"log truncated: file truncated at byte 2,725" in result.stderr and lost in result.stderr
    assert "damaged records" not in result.stderr and "malformed records skipped" not in result.stderr
    accepted = mule("decode", log, "--accept-truncated")
    assert lost in accepted.stderr and "log truncated" in accepted.stderr


def test_a_crafted_trc_puts_no_terminal_escape_on_the_terminal():
    log = LOGS / "trc_terminal_escapes.trc"
    result = mule("decode", log, "--skip-bad", "--engine", "firmware")
    for control in ("\x1b", "\x07", "\x9b"):
        assert control not in result.stderr and control not in result.stdout
    assert "3 malformed records skipped" in result.stderr
    assert "2 warnings from python-can" in result.stderr and "\\x1b[2J" in result.stderr
    result = mule("decode", log, check=False)  # stops at the first, quoted printable
    assert result.returncode == 1 and "\x1b" not in result.stderr and f"{log}:7:" in result.stderr


def test_a_file_name_with_escapes_is_printed_escaped(tmp_path):
    log = tmp_path / "drive\x1b]0;pwned\x07.log"
    log.write_text("(1.0) can0 123#GG\n")
    result = mule("decode", log, check=False)
    assert result.returncode == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "drive\\x1b]0;pwned\\x07.log:1:" in result.stderr
