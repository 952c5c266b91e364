"""Live mode on the fake pyb.CAN (tested only on the fake, see docs/hardware notes):
hardware filters built from the DBC pass exactly its ids, every frame that reaches the
FIFO is decoded as cantools does, FIFO overflows and error states reach STATS."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path


from host_tools.board_stream import board_outcome
from host_tools.dbc import load_dbc
from host_tools.engines.cantools_engine import decode_one
from host_tools.flash import build_firmware
from host_tools.link import messages as m
from host_tools.sample_frames import random_frame
from host_tools.telemetry import TelemetryDecoder
from host_tools.tools import tool
from host_tools.verify import mismatches
from mule_testing import FILES, PROJECT_DBC

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "live_mode_mp.py"
FAKES = HERE / "fakes"


def run_live(dbc, tmp_path, events: list[str], heap: str = "100K"):
    build_firmware(dbc, tmp_path, "x64", {"mode": "live"})
    result = subprocess.run([tool("micropython"), "-X", f"heapsize={heap}", str(SCRIPT), str(tmp_path), str(FAKES)],
                            input="\n".join(events) + "\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    filters, setup, wire, accepted = result.stdout.splitlines()[-4:]
    receiver = m.host_receiver()
    messages = [m.decode_frame(f, m.wide_signals(dbc)) for f in receiver.feed(bytes.fromhex(wire))]
    assert receiver.counters()["crc_errors"] == receiver.counters()["bad_frames"] == 0
    return filters, setup, int(accepted), messages


def telemetry(messages):
    return [r for msg in messages if isinstance(msg, m.Telemetry) for r in msg.records]


def test_filters_pass_the_dbc_ids_and_frames_decode_like_cantools(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(5)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(120)]
    strangers = [(0x7DF, False), (0x18DAF110, True), (0x110, True)]  # not in the DBC (0x110 is std there)
    events, sent = [], []
    for i, f in enumerate(frames):
        events.append(f"{f.can_id} {int(f.ext)} {f.data.hex()}")
        sent.append(f)
        if i % 2:
            can_id, ext = strangers[i % 3]
            events.append(f"{can_id} {int(ext)} 0011223344556677")
        events.append("poll")  # the board keeps up: FIFO never overflows
    filters, setup, accepted, messages = run_live(dbc, tmp_path, events)
    assert "500000" in setup
    assert accepted == len(frames)  # strangers never reach the FIFO
    records = telemetry(messages)
    assert [r.frame_no for r in records] == list(range(1, len(frames) + 1))
    decoder = TelemetryDecoder(dbc)
    for frame, record in zip(sent, records):
        want = decode_one(dbc, frame.can_id, frame.ext, frame.data)
        got = board_outcome(decoder, [record])
        assert got.msg == want.msg
        assert not mismatches(dbc.lookup(frame.can_id, frame.ext), want.raw, want.phys, got.raw, got.phys)
    stats = [x for x in messages if isinstance(x, m.Stats)][-1]
    assert stats.frames_received == stats.frames_decoded == len(frames)
    assert stats.unknown_ids == 0 and stats.can_fifo_overflows == 0 and stats.can_state == 0
    hello = [x for x in messages if isinstance(x, m.Hello)][0]
    assert hello.mode == m.MODE_LIVE and hello.caps & m.CAP_PYB_CAN


def test_fifo_overflow_and_bus_off_are_reported(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    pack = dbc.database.get_message_by_name("BmsPackStatus")
    burst = [f"{pack.frame_id} 0 {bytes(8).hex()}"] * 5  # 3-deep FIFO: 2 lost
    events = burst + ["poll", "errors 300 0"]
    _, _, accepted, messages = run_live(dbc, tmp_path, events)
    assert accepted == 3
    stats = [x for x in messages if isinstance(x, m.Stats)][-1]
    assert stats.can_fifo_overflows == 2
    assert stats.frames_received == 3
    assert stats.can_state == 3  # bus-off
    assert stats.can_errors == 1


def test_too_many_ids_for_the_filter_banks_fall_back_to_accept_all(tmp_path):
    dbc = load_dbc(FILES / "dbc" / "many_messages.dbc")
    stranger = "2047 0 00"
    # 400 messages' decoder needs more than a Pyboard's heap on the 64-bit unix port
    filters, _, accepted, messages = run_live(dbc, tmp_path, [stranger, "poll"], heap="2M")
    assert "(0, 0, (0, 0, 0, 0))" in filters and "(2, 0, (0, 0))" in filters  # MASK16 + MASK32 accept all
    assert accepted == 1
    stats = [x for x in messages if isinstance(x, m.Stats)][-1]
    assert stats.unknown_ids == 1  # counted in software instead
