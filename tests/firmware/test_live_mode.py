"""Live mode on the fake CAN controllers (tested only on fakes: tests/firmware/fakes/pyb.py
and machine_can.py): hardware filters built from the DBC pass exactly its ids, every frame
that reaches the FIFO is decoded as cantools does, both backends receive the same frames,
FIFO overflows and error states reach STATS and ALERT, bus-off is restarted with backoff,
and receiving allocates nothing per frame."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from host_tools.codegen.build import compile_mpy
from host_tools.dbc import load_dbc
from host_tools.flash import build_firmware
from host_tools.link import messages as m
from host_tools.replay.check import Checker
from host_tools.sample_frames import random_frame
from host_tools.tools import tool
from mule_testing import FILES, PROJECT_DBC

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "live_mode_mp.py"
FAKES = HERE / "fakes"
SHARED = HERE.parents[1] / "host_tools" / "vcan" / "mp"  # machine_can.py: the virtual board's CAN too
# A Pyboard-sized heap for the board, plus what the fake controllers take: on a board
# pyb and machine are built in (flash), here they are .mpy modules on the heap (~10 KB
# each on the 64-bit unix port).
HEAP = "116K"
CAN_BUS_STATE = 32
CLEARED = 0x100


def compiled_fakes(tmp_path: Path) -> Path:
    out = tmp_path / "fakes"
    out.mkdir(exist_ok=True)
    for name in ("pyb", "machine_can", "can_model", "mcp2515_chip", "machine_spi"):
        compile_mpy((SHARED if name in ("machine_can", "can_model") else FAKES) / f"{name}.py", "x64",
                    out / f"{name}.mpy")
    return out


def run_live(dbc, tmp_path, events: list[str], heap: str = HEAP, fake: str = "pyb", **config):
    fw = tmp_path / f"fw_{fake}"
    build_firmware(dbc, fw, "x64", {"mode": "live"})
    config["_fake"] = fake
    out_file = tmp_path / "out.bin"
    result = subprocess.run([tool("micropython"), "-X", f"heapsize={heap}", str(SCRIPT), str(fw),
                             str(compiled_fakes(tmp_path)), json.dumps(config), str(out_file)],
                            input="\n".join(events) + "\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    receiver = m.host_receiver()
    messages = [m.decode_frame(f, m.wide_signals(dbc)) for f in receiver.feed(out_file.read_bytes())]
    assert receiver.counters()["crc_errors"] == receiver.counters()["bad_frames"] == 0
    out["messages"] = messages
    return out


def telemetry(messages):
    return [r for msg in messages if isinstance(msg, m.Telemetry) for r in msg.records]


def of_type(messages, kind):
    return [x for x in messages if isinstance(x, kind)]


def traffic(dbc, n=120, seed=5):
    """Frames of the DBC with strangers between them (ids the DBC lacks), a poll after each."""
    rnd = random.Random(seed)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(n)]
    strangers = [(0x7DF, False), (0x18DAF110, True), (0x110, True)]  # not in the DBC (0x110 is std there)
    events = []
    for i, f in enumerate(frames):
        events.append(f"{f.can_id} {int(f.ext)} {f.data.hex()}")
        if i % 2:
            can_id, ext = strangers[i % 3]
            events.append(f"{can_id} {int(ext)} 0011223344556677")
        events.append("poll")  # the board keeps up: FIFO never overflows
    return frames, events


@pytest.mark.parametrize("fake", ["pyb", "machine"])
def test_filters_pass_the_dbc_ids_and_frames_decode_like_cantools(tmp_path, fake):
    dbc = load_dbc(PROJECT_DBC)
    frames, events = traffic(dbc)
    out = run_live(dbc, tmp_path, events, fake=fake, can="auto")
    assert int(out["accepted"][0]) == len(frames)  # strangers never reach the FIFO
    records = telemetry(out["messages"])
    assert [r.frame_no for r in records] == list(range(1, len(frames) + 1))
    checker = Checker(dbc)  # `mule replay`'s check: same fate, message and raw values as cantools
    for n, (frame, record) in enumerate(zip(frames, records)):
        checked = checker.check(n, frame, [record])
        assert (checked.status, checked.mismatches) == ("decoded", []), frame
    stats = of_type(out["messages"], m.Stats)[-1]
    assert stats.frames_received == stats.frames_decoded == len(frames)
    assert stats.unknown_ids == 0 and stats.can_fifo_overflows == 0 and stats.can_state == 0
    assert stats.frames_dropped == 0
    hello = of_type(out["messages"], m.Hello)[0]
    assert hello.mode == m.MODE_LIVE
    # "auto" takes machine.CAN when the firmware has it (the fake machine is installed), else pyb.CAN
    want_cap, other_cap = (m.CAP_MACHINE_CAN, m.CAP_PYB_CAN) if fake == "machine" else (m.CAP_PYB_CAN, m.CAP_MACHINE_CAN)
    assert hello.caps & want_cap and not hello.caps & other_cap
    assert eval(out["setup"][0])[0] == fake


def test_pyb_gets_explicit_bit_timing_and_filter_banks_for_std_and_ext_ids(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    out = run_live(dbc, tmp_path, [], can="pyb", bitrate=250_000)
    kind, bitrate, mode, timing, sample_point = eval(out["setup"][0])
    assert (kind, mode) == ("pyb", 0)  # NORMAL
    assert timing == (21, 1, 6, 1) and bitrate == 250_000 and sample_point == 0.875
    banks = eval(out["filters"][0])
    modes = [mode for _, (mode, _, _, _) in banks]
    std = sum(1 for msg in dbc.database.messages if not msg.is_extended_frame)
    ext = len(dbc.database.messages) - std
    assert modes == [1] * -(-std // 4) + [3] * -(-ext // 2)  # LIST16 banks, then LIST32 (extframe=True)


def test_the_two_backends_receive_the_same_frames_for_the_same_traffic(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    frames, events = traffic(dbc, n=60, seed=9)
    pack = dbc.database.get_message_by_name("BmsPackStatus")
    events += [f"{pack.frame_id} 0 {bytes(8).hex()}"] * 5 + ["poll"]  # one overflow
    pyb = run_live(dbc, tmp_path, events, fake="pyb", can="pyb")
    machine = run_live(dbc, tmp_path, events, fake="machine", can="machine")
    assert pyb["accepted"] == machine["accepted"]
    assert telemetry(pyb["messages"]) == telemetry(machine["messages"])
    s1, s2 = of_type(pyb["messages"], m.Stats)[-1], of_type(machine["messages"], m.Stats)[-1]
    for field in ("frames_received", "frames_decoded", "unknown_ids", "can_fifo_overflows", "can_state"):
        assert getattr(s1, field) == getattr(s2, field), field
    assert s1.can_fifo_overflows == 1


@pytest.mark.parametrize("fake", ["pyb", "machine"])
def test_fifo_overflow_is_counted_once_per_episode(tmp_path, fake):
    dbc = load_dbc(PROJECT_DBC)
    pack = dbc.database.get_message_by_name("BmsPackStatus")
    burst = [f"{pack.frame_id} 0 {bytes(8).hex()}"] * 5  # 3-deep FIFO: 2 lost, one overflow event
    out = run_live(dbc, tmp_path, burst + ["poll"] + burst + ["poll"], fake=fake, can=fake)
    assert int(out["accepted"][0]) == 6
    stats = of_type(out["messages"], m.Stats)[-1]
    # the controllers report an overflow once until the FIFO is read, not each lost frame
    assert stats.can_fifo_overflows == 2
    assert stats.frames_received == 6


@pytest.mark.parametrize("fake", ["pyb", "machine"])
def test_error_states_raise_and_clear_alerts_and_bus_off_is_restarted_with_backoff(tmp_path, fake):
    dbc = load_dbc(PROJECT_DBC)
    pack = dbc.database.get_message_by_name("BmsPackStatus")
    frame = f"{pack.frame_id} 0 {bytes(8).hex()}"
    events = [frame, "poll", "watch 0",
              "errors 100 0", "watch 10",  # warning
              "errors 130 0", "watch 20",  # passive
              "errors 0 0", "watch 30",  # back to error-active
              "errors 300 0", "watch 1000",  # bus-off
              frame,  # a bus-off controller receives nothing
              "watch 1099", "watch 1100",  # restart due 100 ms after bus-off
              "watch 1101",  # error-active again
              "errors 300 0", "watch 1200", "watch 1399", "watch 1400", "watch 1401"]  # again: 200 ms
    out = run_live(dbc, tmp_path, events, fake=fake, can=fake)
    alerts = [(a.code, a.severity, a.value, a.mi, a.si, a.text) for a in of_type(out["messages"], m.Alert)
              if a.code & 0xFF == CAN_BUS_STATE]
    raised, cleared = CAN_BUS_STATE, CAN_BUS_STATE | CLEARED
    assert alerts == [(raised, 2, 1, -1, -1, "can_bus_state"), (raised, 2, 2, -1, -1, "can_bus_state"),
                      (cleared, 2, 0, -1, -1, "can_bus_state"),
                      (raised, 3, 3, -1, -1, "can_bus_state"), (cleared, 2, 0, -1, -1, "can_bus_state"),
                      (raised, 3, 3, -1, -1, "can_bus_state"), (cleared, 2, 0, -1, -1, "can_bus_state")]
    assert all(a.frame_no == 1 for a in of_type(out["messages"], m.Alert))  # the last frame seen
    logs = [x.text for x in of_type(out["messages"], m.Log) if "bus-off" in x.text]
    assert logs == ["CAN bus-off: restart 1 after 100 ms (next after 200 ms)",
                    "CAN bus-off: restart 2 after 200 ms (next after 400 ms)"]
    assert out["restarts"] == ["2 2"]  # the controller's restart() ran twice, the guard counted 2
    assert int(out["accepted"][0]) == 1
    stats = of_type(out["messages"], m.Stats)[-1]
    assert stats.can_state == 0 and stats.frames_received == 1
    assert stats.can_errors == 4  # entries: warning, passive, bus-off twice (kept across restarts)


@pytest.mark.parametrize("fake", ["pyb", "machine"])
def test_receiving_allocates_nothing_per_frame(tmp_path, fake):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(2)
    events = []
    for round_no in range(8):
        frames = [random_frame(dbc, rnd, faults=False) for _ in range(3)]  # 3 fill the FIFO
        events += [f"{f.can_id} {int(f.ext)} {f.data.hex()}" for f in frames]
        events.append("poll" if round_no < 2 else "heap")  # warm up first: views, buffers
    out = run_live(dbc, tmp_path, events, fake=fake, can=fake)
    heaps = [tuple(map(int, h.split())) for h in out["heap"]]
    assert sum(frames for _, frames in heaps) == 18
    # steady state: nothing per frame. (The fake machine.CAN run shows 96 bytes once, in the
    # first measured burst only, from the fake's Python lists; pyb shows none.)
    assert heaps[1:] == [(0, 3)] * 5, heaps
    assert heaps[0][0] <= 96, heaps


def test_too_many_ids_for_the_filter_banks_fall_back_to_accept_all(tmp_path):
    dbc = load_dbc(FILES / "dbc" / "many_messages.dbc")
    stranger = "2047 0 00"
    # 400 messages' decoder needs more than a Pyboard's heap on the 64-bit unix port
    out = run_live(dbc, tmp_path, [stranger, "poll"], heap="2M", can="pyb")
    filters = out["filters"][0]
    assert "(0, (0, 0, (0, 0, 0, 0), 4))" in filters and "(1, (2, 0, (4, 4), 2))" in filters  # MASK16 + MASK32 accept all
    assert int(out["accepted"][0]) == 1
    stats = of_type(out["messages"], m.Stats)[-1]
    assert stats.unknown_ids == 1  # counted in software instead
    machine = run_live(dbc, tmp_path, [stranger, "poll"], heap="2M", fake="machine", can="machine")
    assert machine["filters"] == ["None"]  # set_filters(None): accept all
    assert of_type(machine["messages"], m.Stats)[-1].unknown_ids == 1


# ---- replay through the controller (replay_path loopback) ---------------------------------
REPLAY_SCRIPT = HERE / "replay_mp.py"


def replay_wire(frames) -> bytes:
    from host_tools.link import wire

    encoder = wire.FrameEncoder()
    records = [m.CanRecord(i * 100, f.can_id, f.ext, f.data) for i, f in enumerate(frames)]
    out = b"".join(encoder.encode(*m.encode(batch)) for batch in m.split_batches(records))
    return out + encoder.encode(wire.STOP)


def run_replay(dbc, tmp_path, frames, fake: str, heap: str = HEAP, **config):
    fw = tmp_path / "fw_replay"
    if not fw.exists():
        build_firmware(dbc, fw, "x64", {"mode": "replay"})
    wire_file = tmp_path / "wire.bin"
    wire_file.write_bytes(replay_wire(frames))
    config["_fake"] = fake
    out_file = tmp_path / "out.bin"
    result = subprocess.run([tool("micropython"), "-X", f"heapsize={heap}", str(REPLAY_SCRIPT), str(fw),
                             str(compiled_fakes(tmp_path)), json.dumps(config), str(wire_file), str(out_file)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out: dict[str, list[str]] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        out.setdefault(key, []).append(value)
    if config.get("_heap"):  # the board's writes were dropped
        return out
    receiver = m.host_receiver()
    messages = [m.decode_frame(f, m.wide_signals(dbc)) for f in receiver.feed(out_file.read_bytes())]
    assert receiver.counters()["crc_errors"] == receiver.counters()["bad_frames"] == 0
    out["messages"] = messages
    return out


@pytest.mark.parametrize("fake,no_tx_count", [("pyb", False), ("machine", False), ("machine", True)])
def test_loopback_replay_gives_the_same_telemetry_as_plain_replay(tmp_path, fake, no_tx_count):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(11)
    frames = [random_frame(dbc, rnd) for _ in range(300)]  # with faults: unknown ids, wrong lengths
    strangers = [(0x7DF, False), (0x18DAF110, True), (0x110, True)]
    for i, (can_id, ext) in enumerate(strangers * 5):  # ids the filters reject
        frames.insert(17 * i + 3, type(frames[0])(can_id=can_id, ext=ext, data=bytes(range(i % 9))))
    plain = run_replay(dbc, tmp_path, frames, fake, can=fake)
    looped = run_replay(dbc, tmp_path, frames, fake, can=fake, replay_path="loopback", _no_tx_count=no_tx_count)
    assert plain["kind"] == ["None"] and looped["kind"] == [fake]
    want = telemetry(plain["messages"])
    assert len(want) == len(frames)  # one record per frame
    assert telemetry(looped["messages"]) == want
    classic = sum(1 for f in frames if len(f.data) <= 8)
    assert looped["sent"] == [str(classic)]  # every classic frame went through the controller
    assert looped["on_bus"] == ["0"]  # silent loopback: nothing reached the bus
    s_plain, s_loop = of_type(plain["messages"], m.Stats), of_type(looped["messages"], m.Stats)
    unknown = sum(1 for r in want if r.result == -1)
    assert unknown >= 15
    assert s_loop[-1].unknown_ids == s_plain[-1].unknown_ids == unknown
    assert s_loop[-1].frames_received == s_plain[-1].frames_received == len(frames)
    assert s_loop[-1].frames_dropped == 0 and s_loop[-1].can_state == 0 and s_plain[-1].can_state == 255
    assert [x.text for x in of_type(looped["messages"], m.Log)] == ["stopped"]  # no frame errors
    hello = of_type(looped["messages"], m.Hello)[0]
    cap = m.CAP_MACHINE_CAN if fake == "machine" else m.CAP_PYB_CAN
    assert hello.mode == m.MODE_REPLAY and hello.caps & cap
    assert not of_type(plain["messages"], m.Hello)[0].caps & (m.CAP_PYB_CAN | m.CAP_MACHINE_CAN)


def test_loopback_without_a_controller_replays_from_the_link_and_says_so(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(4)
    frames = [random_frame(dbc, rnd) for _ in range(20)]
    # "machine" asked for, but the unix port's machine has no CAN
    out = run_replay(dbc, tmp_path, frames, "pyb", can="machine", replay_path="loopback")
    assert out["kind"] == ["None"]
    assert len(telemetry(out["messages"])) == len(frames)
    assert [x for x in of_type(out["messages"], m.Log) if "loopback unavailable" in x.text]


def test_a_frame_the_controller_loses_in_loopback_is_logged_and_still_reported(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(6)
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(40)]
    plain = run_replay(dbc, tmp_path, frames, "pyb", can="pyb")
    looped = run_replay(dbc, tmp_path, frames, "pyb", can="pyb", replay_path="loopback", _lose=3)
    assert telemetry(looped["messages"]) == telemetry(plain["messages"])  # one record each, from the link's copy
    lost = [x.text for x in of_type(looped["messages"], m.Log) if "loopback gave None" in x.text]
    assert [t.split(":")[0] for t in lost] == ["frame 0", "frame 1", "frame 2"]
    assert f"id 0x{frames[0].can_id:x}" in lost[0]


def test_mcp2515_is_opened_from_the_config_and_decodes_like_the_others(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    frames, events = traffic(dbc, n=30, seed=3)
    # the register-level fake chip takes ~12 KB of heap here (a chip takes none on a board), and
    # the driver ~9.5 KB on this 64-bit port: 140K ran out while importing it here (it leaves
    # 24 KB free once running: the import's peak is the cliff), 150K does
    out = run_live(dbc, tmp_path, events, heap="150K", fake="mcp2515", can="mcp2515", spi=1, cs=5,
                   crystal_hz=8_000_000)
    pyb = run_live(dbc, tmp_path, events, fake="pyb", can="pyb")
    assert eval(out["setup"][0])[:3] == ("mcp2515", 500_000, "normal")
    # the MCP2515's 2 masks + 6 filters pass more than the DBC's ids: the decoder counts the rest
    known = [(r.result, r.signals) for r in telemetry(out["messages"]) if r.result != -1]
    assert known == [(r.result, r.signals) for r in telemetry(pyb["messages"])]
    assert len(known) == len(frames)
    stats = of_type(out["messages"], m.Stats)[-1]
    assert stats.unknown_ids == len(telemetry(out["messages"])) - len(frames) == int(out["accepted"][0]) - len(frames)
    hello = of_type(out["messages"], m.Hello)[0]
    assert not hello.caps & (m.CAP_PYB_CAN | m.CAP_MACHINE_CAN)  # the protocol has no bit for it


def test_loopback_replay_on_the_mcp2515(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(8)
    frames = [random_frame(dbc, rnd) for _ in range(120)]
    # heap: as in the live test above, the fake chip and the driver's import need room here
    plain = run_replay(dbc, tmp_path, frames, "mcp2515", heap="150K", can="mcp2515")
    looped = run_replay(dbc, tmp_path, frames, "mcp2515", heap="150K", can="mcp2515", replay_path="loopback")
    assert looped["kind"] == ["mcp2515"] and looped["on_bus"] == ["0"]
    assert telemetry(looped["messages"]) == telemetry(plain["messages"])
    assert [x.text for x in of_type(looped["messages"], m.Log)] == ["stopped"]


def test_loopback_replay_allocates_nothing_per_frame(tmp_path):
    # on the fake pyb only: its mailboxes and FIFOs are preallocated slots, so what is
    # measured is the firmware's (the fake machine.CAN allocates per frame itself)
    fake = "pyb"
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(3)
    frames = [random_frame(dbc, rnd) for _ in range(600)]  # with unknown ids and bad frames
    # + the wire preloaded in the script (~14 KB: reading it as it goes would allocate)
    out = run_replay(dbc, tmp_path, frames, fake, heap="132K", can=fake, replay_path="loopback", _heap=True)
    assert out["kind"] == [fake]
    heap, steady = map(int, out["heap"][0].split())
    assert steady > 300
    assert heap == 0, f"{heap} heap bytes over {steady} frames"


def test_the_watchdog_is_fed_every_loop_pass_and_said_in_a_log(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random(5)
    frames = [random_frame(dbc, rnd) for _ in range(200)]
    out = run_replay(dbc, tmp_path, frames, "machine", watchdog_ms=800)
    timeout, feeds, longest_ms = map(int, out["wdt"][0].split())
    assert timeout == 800 and feeds >= len(frames) // 40  # a pass per 256 wire bytes at least
    assert longest_ms < 100  # far inside the timeout: a reset would need a stuck loop
    logs = [x.text for x in of_type(out["messages"], m.Log)]
    assert logs[0] == "watchdog on: 800 ms (after STOP the board resets)" and logs[-1] == "stopped"
    assert len(telemetry(out["messages"])) == len(frames)


def test_without_a_watchdog_the_board_says_so_and_runs(tmp_path):
    dbc = load_dbc(PROJECT_DBC)
    frames = [random_frame(dbc, random.Random(6)) for _ in range(20)]
    out = run_replay(dbc, tmp_path, frames, "pyb", watchdog_ms=500)  # the unix port's machine: no WDT
    logs = [x.text for x in of_type(out["messages"], m.Log)]
    assert "watchdog_ms 500: this port has no machine.WDT, running without" in logs
    assert "wdt" not in out and len(telemetry(out["messages"])) == len(frames)
