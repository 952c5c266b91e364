"""Telemetry "changed" (docs/protocol.md, TELEMETRY) on the unix board: app.Board replays
a busy bus (the simulator at 60 % bus load) with `telemetry: changed`; the signals it sends
for every frame are the ones host_tools.telemetry_changed.BoardRule picks, and the replay's
accounting (FrameBook with replay.changed.ChangedCheck) verifies every frame: the values
sent exactly, the others within their deadband of the last value sent, the counts exact."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from host_tools.board_codes import replay_us
from host_tools.dbc import load_dbc
from host_tools.engines import DECODED
from host_tools.flash import build_firmware
from host_tools.link import messages as m
from host_tools.link import wire
from host_tools.logfile import read_frames
from host_tools.replay.changed import ChangedCheck
from host_tools.replay.check import Checker
from host_tools.replay.inflight import FrameBook
from host_tools.sample_frames import random_frame
from host_tools.simulate.run import simulate
from host_tools.telemetry_changed import (DEADBAND_FILE, UNTRACKED, BoardRule, deadband_bytes, deadbands)
from host_tools.tools import tool
from mule_testing import FILES, PROJECT_DBC

SCRIPT = Path(__file__).resolve().parent / "replay_mp.py"
FAKES = Path(__file__).resolve().parent / "fakes"
REFRESH_MS = 250


@pytest.fixture(scope="module")
def dbc():
    return load_dbc(PROJECT_DBC)


@pytest.fixture(scope="module")
def busy(dbc, tmp_path_factory):
    """2 s of highway_tow at 60 % bus load (5,500 frames, most of them other ECUs' ids)."""
    log = tmp_path_factory.mktemp("busy") / "busy.log"
    simulate("highway_tow", log, duration_s=2, bus_load_pct=60, dbc=dbc)
    return list(read_frames(log))


@pytest.fixture(scope="module")
def firmware(dbc, tmp_path_factory):
    fw = tmp_path_factory.mktemp("fw") / "fw"
    build_firmware(dbc, fw, "x64", {"mode": "replay"})
    return fw


def replay_wire(frames) -> bytes:
    t0 = frames[0].t
    encoder = wire.FrameEncoder()
    records = [m.CanRecord(replay_us(f.t, t0), f.can_id, f.ext, f.data) for f in frames]
    out = b"".join(encoder.encode(*m.encode(batch)) for batch in m.split_batches(records))
    return out + encoder.encode(wire.STOP)


def run_board(fw: Path, frames, tmp: Path, table: bytes | None = None, **config) -> tuple[list, dict]:
    """(the board's frames (wire.Frame), the stdout lines) for frames replayed to app.Board."""
    if table is not None:
        (fw / DEADBAND_FILE).write_bytes(table)
    (tmp / "wire.bin").write_bytes(replay_wire(frames))
    out = tmp / "out.bin"
    config = {"supervise": False, **config}
    result = subprocess.run([tool("micropython"), "-X", "heapsize=1M", str(SCRIPT), str(fw), str(FAKES),
                             json.dumps(config), str(tmp / "wire.bin"), str(out)], capture_output=True, text=True,
                            timeout=120, cwd=fw)  # the board's files are in its working directory
    assert result.returncode == 0, result.stdout + result.stderr
    lines = dict(line.partition(" ")[::2] for line in result.stdout.splitlines())
    if config.get("_heap"):
        return [], lines
    receiver = m.host_receiver()
    got = receiver.feed(out.read_bytes())
    assert receiver.counters()["crc_errors"] == receiver.counters()["bad_frames"] == 0
    return got, lines


def telemetry(dbc, frames_out) -> list[m.Telemetry]:
    wide = m.wide_signals(dbc)
    return [m.decode_frame(f, wide) for f in frames_out if f.type == m.TELEMETRY]


def account(dbc, frames, messages, table):
    book = FrameBook(Checker(dbc))
    book.changed = ChangedCheck(book.checker, table)
    book.sent(frames, 0.0)
    for message in messages:
        for rec in message.records:
            book.record(rec, 0.0)
    book.settle_all()
    return book


def expected(dbc, frames, table, refresh_ms=REFRESH_MS) -> list:
    """Per frame, BoardRule's signal names (decoded frames), or the cantools status."""
    rule = BoardRule(dbc, table, refresh_ms)
    checker = Checker(dbc)
    t0 = frames[0].t
    out = []
    for frame in frames:
        status, mi, raw = checker.expected(frame)
        out.append(sorted(rule.carried(mi, replay_us(frame.t, t0), raw)) if status == DECODED else status)
    return out


def carried(dbc, messages) -> list:
    """Per frame, the names the board sent (a frame in a run: [])."""
    out = []
    for message in messages:
        for rec in message.records:
            if rec.result == m.SUPPRESSED:
                out.append([])
            elif rec.result >= 0:
                signals = dbc.messages[rec.result].signals
                out.append(sorted(signals[s.si].name for s in rec.signals))  # the decoder's order: any
            else:
                out.append({-1: "unknown_id", -2: "wrong_length", -3: "bad_multiplexer"}[rec.result])
    return out


def deadband_table(dbc, band: int) -> list[list[int]]:
    """The DBC's table with `band` raw steps on every signal that may have one."""
    return [[b if b == UNTRACKED or s.is_float or s.length >= 31 else band for b, s in zip(row, msg.signals)]
            for row, msg in zip(deadbands(dbc), dbc.messages)]


def test_changed_sends_what_moved_and_every_frame_verifies(dbc, busy, firmware, tmp_path):
    table = deadbands(dbc)
    out, _ = run_board(firmware, busy, tmp_path, telemetry="changed", refresh_ms=REFRESH_MS)
    hello = next(m.decode_frame(f) for f in out if f.type == m.HELLO)
    assert hello.caps & m.CAP_TELEMETRY_CHANGED
    messages = telemetry(dbc, out)
    assert carried(dbc, messages) == expected(dbc, busy, table)  # frame for frame, signal for signal
    book = account(dbc, busy, messages, table)
    t = book.tally
    want = expected(dbc, busy, table)
    assert (t.sent, t.verified, t.mismatched, t.lost, t.unchecked) == (len(busy), len(busy), 0, 0, 0)
    assert t.suppressed == sum(1 for names in want if names == [])
    assert t.suppressed > 50  # of 286 decoded frames: the busy bus repeats itself
    # all: every frame's record, 8 bytes per unknown id; changed: runs, a bit per frame
    all_out, _ = run_board(firmware, busy, tmp_path, telemetry="all")
    size = sum(len(f.body) for f in out if f.type == m.TELEMETRY)
    size_all = sum(len(f.body) for f in all_out if f.type == m.TELEMETRY)
    assert size * 4 < size_all, (size, size_all)


def test_deadband_in_raw_steps(dbc, busy, firmware, tmp_path):
    """3 raw steps on every integer signal under 31 bits: a value within 3 of the last one
    sent stays at the board, and the host checks it is within 3."""
    table = deadband_table(dbc, 3)
    try:
        out, _ = run_board(firmware, busy, tmp_path, deadband_bytes(table), telemetry="changed", refresh_ms=REFRESH_MS)
    finally:
        (firmware / DEADBAND_FILE).write_bytes(deadband_bytes(deadbands(dbc)))
    messages = telemetry(dbc, out)
    want = expected(dbc, busy, table)
    assert carried(dbc, messages) == want
    t = account(dbc, busy, messages, table).tally
    assert (t.verified, t.mismatched, t.unchecked, t.suppressed) == (len(busy), 0, 0,
                                                                       sum(1 for n in want if n == []))
    exact = expected(dbc, busy, deadbands(dbc))
    assert sum(map(len, filter(lambda n: isinstance(n, list), want))) < \
        sum(map(len, filter(lambda n: isinstance(n, list), exact)))  # fewer values than "changed at all"
    # the host holds the board to its deadband: checked with 2 steps, a value 3 away is a mismatch
    t2 = account(dbc, busy, messages, deadband_table(dbc, 2)).tally
    assert t2.mismatched > 0


def test_a_lost_telemetry_frame_is_counted_never_guessed(dbc, busy, firmware, tmp_path):
    """One TELEMETRY frame dropped on the way: its frames are lost; until the board sends a
    signal again (at the latest refresh_ms later) a frame that relies on it is unchecked,
    not verified and not a mismatch."""
    table = deadbands(dbc)
    out, _ = run_board(firmware, busy, tmp_path, telemetry="changed", refresh_ms=REFRESH_MS)
    messages = telemetry(dbc, out)
    k = len(messages) // 2
    dropped = {r.frame_no for r in messages[k].records}
    book = account(dbc, busy, messages[:k] + messages[k + 1:], table)
    t = book.tally
    assert t.lost == len(dropped) and t.mismatched == 0
    assert t.verified + t.unchecked + t.lost == t.sent
    assert t.unchecked > 0
    resumed = max(dropped) + 1
    horizon = busy[resumed].t + REFRESH_MS / 1000
    late = [n for n in range(resumed, len(busy)) if busy[n].t > horizon]
    assert t.verified >= len(busy) - len(dropped) - (len(busy) - len(late) - resumed)  # unchecked only near the loss


def test_changed_allocates_nothing_per_frame(dbc, busy, firmware, tmp_path):
    _, lines = run_board(firmware, busy[:1500], tmp_path, telemetry="changed", refresh_ms=REFRESH_MS, _heap=True,
                         supervise=True)
    heap, frames = map(int, lines["heap"].split())
    assert frames > 500 and heap == 0, (heap, frames)


class _Frame(NamedTuple):
    t: float
    can_id: int
    ext: bool
    data: bytes
    where: str


def repeating_frames(dbc, count: int, seed: int) -> list:
    """Frames of every message from a few payloads each, mostly the last one again (so
    values repeat and change, some by one bit), 1 ms apart, with the sampler's faults (wrong lengths, unknown
    ids, undefined multiplexer values) among them."""
    rnd = random.Random(seed)
    choices = {}
    out = []
    for i in range(count):
        frame = random_frame(dbc, rnd)
        key = (frame.can_id, frame.ext)
        kept = choices.setdefault(key, [frame.data])
        roll = rnd.random()
        if roll < 0.8:
            data = kept[-1]
        elif roll < 0.9 and kept[-1]:  # one byte of it changed: e.g. only a wide signal's high lane
            data = bytearray(kept[-1])
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
            data = bytes(data)
            kept.append(data)
        else:
            data = frame.data
            kept.append(data)
        out.append(_Frame(i / 1000, frame.can_id, frame.ext, data, f"frame {i}"))
    return out


@pytest.mark.parametrize("name", ["wide_signals", "float_signals", "mux_extended"])
def test_changed_on_wide_float_and_multiplexed_signals(name, tmp_path):
    """Signals wider than 32 bits (both lanes compared), IEEE floats (bits), multiplexed
    messages (only the signals a frame carries): the board's choice is BoardRule's, every
    frame verifies."""
    dbc = load_dbc(FILES / "dbc" / f"{name}.dbc")
    frames = repeating_frames(dbc, 800, 7)
    build_firmware(dbc, tmp_path / "fw", "x64", {"mode": "replay", "supervise": False})
    table = deadbands(dbc)
    out, _ = run_board(tmp_path / "fw", frames, tmp_path, telemetry="changed", refresh_ms=100)
    messages = telemetry(dbc, out)
    want = expected(dbc, frames, table, refresh_ms=100)
    assert carried(dbc, messages) == want
    t = account(dbc, frames, messages, table).tally
    assert (t.verified, t.mismatched, t.unchecked) == (len(frames), 0, 0)
    assert t.suppressed == sum(1 for n in want if n == []) > 100
