"""The MCP2515 SPI CAN driver (firmware/mcp2515.py) against the register-level fake
(tests/firmware/fakes/mcp2515_chip.py), inside the unix-port MicroPython with a
Pyboard-sized heap, plus the pure planning functions and the fake itself under CPython.
Tested only on the fake: no MCP2515 has been on this machine's SPI bus."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
import time
import types
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools import REPO_ROOT
from host_tools.codegen.build import HOST_MARCH, PYBOARD_MARCH
from host_tools.tools import tool

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "mcp2515_mp.py"
FAKES = HERE / "fakes"
DRIVER = REPO_ROOT / "firmware" / "mcp2515.py"
EXT = 0x20000000  # the decoder's key flag for extended ids


def load(name: str, path: Path):
    """A firmware or fake module under CPython; `micropython.const` exists only while it loads."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    with mock.patch.dict(sys.modules, {"micropython": types.SimpleNamespace(const=lambda value: value)}):
        spec.loader.exec_module(module)
    return module


driver = load("mule_firmware_mcp2515", DRIVER)
fake = load("mule_fake_mcp2515_chip", FAKES / "mcp2515_chip.py")


class MicroPythonTime:
    """The time functions the driver uses, for running it under CPython."""

    @staticmethod
    def sleep_ms(ms):
        pass

    @staticmethod
    def ticks_ms():
        return int(time.monotonic() * 1000)

    @staticmethod
    def ticks_us():
        return int(time.monotonic() * 1_000_000)

    @staticmethod
    def ticks_diff(a, b):
        return a - b


driver.time = MicroPythonTime  # this private copy of the module only


def mp(commands: list[str], firmware_dir: Path = DRIVER.parent) -> list[str]:
    """Run commands through mcp2515_mp.py in MicroPython: one output line per command."""
    result = subprocess.run([tool("micropython"), "-X", "heapsize=100K", str(SCRIPT), str(firmware_dir), str(FAKES)],
                            input="\n".join(commands) + "\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(commands) + 1, result.stdout
    end = lines[-1].split()
    assert end[0] == "end" and end[1] == "0", f"the driver misused the chip: {lines[-1]}"
    return lines[:-1]


def frame_line(can_id: int, ext: bool, rtr: bool, fmi: int, data: bytes) -> str:
    return f"frame {can_id:x} {int(ext)} {int(rtr)} {fmi} {data.hex() or '-'}"


def inject(can_id: int, ext: bool, data: bytes = b"", rtr: bool = False) -> str:
    return f"inject {can_id:x} {int(ext)} {int(rtr)} {data.hex() or '-'}"


# --- bit timing ---------------------------------------------------------------------------

def decode_timing(crystal: int, cnf1: int, cnf2: int, cnf3: int) -> dict:
    """The datasheet's arithmetic from the register values, independent of the driver."""
    brp = cnf1 & 0x3F
    sjw = (cnf1 >> 6) + 1
    prop = (cnf2 & 7) + 1
    ps1 = ((cnf2 >> 3) & 7) + 1
    ps2 = (cnf3 & 7) + 1
    tq = 1 + prop + ps1 + ps2
    return {"btlmode": bool(cnf2 & 0x80), "sam": bool(cnf2 & 0x40), "brp": brp, "sjw": sjw, "prop": prop,
            "ps1": ps1, "ps2": ps2, "tq": tq, "bitrate": crystal / (2 * (brp + 1) * tq),
            "sample_point": (1 + prop + ps1) / tq}


def check_datasheet_limits(t: dict) -> None:
    assert t["btlmode"], "BTLMODE 0 would ignore PHSEG2"
    assert 5 <= t["tq"] <= 25
    assert t["ps2"] >= 2 and t["ps2"] > t["sjw"]  # IPT is 2 TQ; PS2 > SJW
    assert t["prop"] + t["ps1"] >= t["ps2"]


CRYSTALS = (8_000_000, 16_000_000)
BITRATES = (125_000, 250_000, 500_000, 1_000_000)


def test_bit_timing_registers_give_each_bitrate_within_the_datasheet_limits():
    combos = [(c, b) for c in CRYSTALS for b in BITRATES]
    out = mp([f"timing {c} {b}" for c, b in combos])
    got = dict(zip(combos, out))
    assert got[(8_000_000, 1_000_000)].startswith("error ValueError")  # 4 TQ per bit: refused
    assert "1000000 bit/s" in got[(8_000_000, 1_000_000)]
    for (crystal, bitrate), line in got.items():
        if (crystal, bitrate) == (8_000_000, 1_000_000):
            continue
        cnf1, cnf2, cnf3 = map(int, line.split()[1:])
        t = decode_timing(crystal, cnf1, cnf2, cnf3)
        check_datasheet_limits(t)
        assert t["bitrate"] == bitrate
        assert t["sjw"] == 1
        assert 0.75 <= t["sample_point"] <= 0.875
    # cross-checks: 16 MHz / 500 kbit/s: TQ = 2/16 MHz = 125 ns, 2 µs per bit = 16 TQ
    t = decode_timing(16_000_000, *map(int, got[(16_000_000, 500_000)].split()[1:]))
    assert (t["brp"], t["tq"], t["sample_point"]) == (0, 16, 14 / 16)
    # 8 MHz / 125 kbit/s: 8 µs per bit; TQ = 2*(1+1)/8 MHz = 500 ns: 16 TQ
    t = decode_timing(8_000_000, *map(int, got[(8_000_000, 125_000)].split()[1:]))
    assert (t["brp"], t["tq"], t["sample_point"]) == (1, 16, 14 / 16)


def test_driver_writes_the_bit_timing_in_configuration_mode():
    commands = []
    for crystal in CRYSTALS:
        commands += [f"timing {crystal} 250000", f"init {crystal} 250000 normal 100", "regs 28 3", "regs e 1"]
    out = mp(commands)
    for i in range(0, len(out), 4):
        cnf1, cnf2, cnf3 = map(int, out[i].split()[1:])
        assert out[i + 1] == "ok"
        assert bytes.fromhex(out[i + 2]) == bytes((cnf3, cnf2, cnf1))  # CNF3, CNF2, CNF1 at 0x28..
        assert int(out[i + 3], 16) & 0xE0 == 0x00  # CANSTAT.OPMOD: normal after init


def feasible(crystal: int, bitrate: int) -> bool:
    """Brute force over every register value the datasheet allows."""
    for brp in range(64):
        for tq in range(5, 26):
            if crystal == 2 * (brp + 1) * tq * bitrate:
                for ps2 in range(2, 9):
                    for prop in range(1, 9):
                        ps1 = tq - 1 - prop - ps2
                        if 1 <= ps1 <= 8 and prop + ps1 >= ps2:
                            return True
    return False


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40).map(lambda m: m * 1_000_000),
       st.sampled_from([10_000, 20_000, 33_333, 50_000, 83_333, 100_000, 125_000, 250_000, 500_000, 800_000,
                        1_000_000]))
def test_bit_timing_refuses_only_impossible_combinations(crystal, bitrate):
    if not feasible(crystal, bitrate):
        with pytest.raises(ValueError, match="cannot be made"):
            driver.bit_timing(crystal, bitrate)
        return
    t = decode_timing(crystal, *driver.bit_timing(crystal, bitrate))
    check_datasheet_limits(t)
    assert t["bitrate"] == bitrate


# --- acceptance filters -------------------------------------------------------------------

def decode_filter(regs: bytes) -> tuple[int, bool]:
    sidh, sidl, eid8, eid0 = regs
    sid = sidh << 3 | sidl >> 5
    if sidl & 0x08:
        return sid << 18 | (sidl & 3) << 16 | eid8 << 8 | eid0, True
    return sid, False


def run_filter_case(keys: list[int], frames: list[tuple[int, bool]]):
    """Each frame alone on the bus, then drained: which came through, with which filter."""
    commands = [f"init 16000000 500000 normal {' '.join(f'{k:x}' for k in keys)}", "regs 0 12", "regs 10 12"]
    for can_id, ext in frames:
        commands += [inject(can_id, ext, b"\x5a"), "drain"]
    out = mp(commands)
    assert out[0] == "ok", out[0]
    raw = bytes.fromhex(out[1]) + bytes.fromhex(out[2])
    filters = [decode_filter(raw[4 * n:4 * n + 4]) for n in range(6)]
    passed = {}
    for i, (can_id, ext) in enumerate(frames):
        drained = out[4 + 2 * i]
        if drained == "none":
            continue
        fields = drained.split()
        assert (int(fields[1], 16), fields[2] == "1") == (can_id, ext)
        passed[(can_id, ext)] = int(fields[4])
    return passed, filters


def as_frame(key: int) -> tuple[int, bool]:
    return (key & 0x1FFFFFFF, True) if key & EXT else (key, False)


# ids that differ only in EXIDE, only in the EID bits, or a standard id equal to an
# extended id's SID: a filter that ignores EXIDE or the EID bits lets them through
NEIGHBOURS = [(0x123, True), (0x124, False), (0x18FF0002, True), (0x08FF0001, True), (0x18FF0001 >> 18, False),
              (0x7FF, False), (0x1FFFFFFF, True), (0, False), (0, True)]

EXACT_CASES = {
    "6 standard": [0x123, 0x100, 0x200, 0x300, 0x400, 0x7FE],
    "6 extended": [EXT | 0x18FF0001, EXT | 0x18FF0003, EXT | 1, EXT | 0x10000, EXT | 0x40000, EXT | 0x1FFFFFFE],
    "2 standard + 4 extended": [0x123, 0x7FE, EXT | 0x18FF0001, EXT | 0x18FE0001, EXT | 0x123, EXT | 0x3FFFF],
    "4 standard + 2 extended": [0x123, 0x100, 0x101, 0x102, EXT | 0x18FF0001, EXT | 0x1],
    "1 standard": [0x123],
    "1 extended": [EXT | 0x18FF0001],
}


@pytest.mark.parametrize("case", EXACT_CASES)
def test_exact_filters_pass_the_listed_ids_and_nothing_else(case):
    keys = EXACT_CASES[case]
    listed = [as_frame(k) for k in keys]
    strangers = [f for f in NEIGHBOURS if f not in listed and (f[1] or f[0] <= 0x7FF)]
    passed, filters = run_filter_case(keys, listed + strangers)
    assert set(passed) == set(listed)
    for frame, fmi in passed.items():
        assert filters[fmi] == frame  # the filter hit names the filter holding that id


ACCEPT_ALL_CASES = {
    "7 standard": [0x100 + i for i in range(7)],
    "3 standard + 3 extended": [0x100, 0x101, 0x102, EXT | 1, EXT | 2, EXT | 3],
    "many": [0x100 + i for i in range(40)] + [EXT | (0x18FF0000 + i) for i in range(40)],
    "none": [],
}


@pytest.mark.parametrize("case", ACCEPT_ALL_CASES)
def test_ids_that_do_not_fit_fall_back_to_accepting_everything(case):
    frames = [(0x7DF, False), (0x123, False), (0x18DAF110, True), (0, True), (0x1FFFFFFF, True), (0, False)]
    passed, _ = run_filter_case(ACCEPT_ALL_CASES[case], frames)
    assert set(passed) == set(frames)


def test_plan_filters_rejects_keys_that_are_no_can_id():
    with pytest.raises(ValueError, match="0x800"):
        driver.plan_filters([0x800])  # an 11-bit id without the extended flag
    with pytest.raises(ValueError):
        driver.plan_filters([0x40000000])  # beyond 29 bits + flag


class Bus:
    """The driver on the fake chip under CPython."""

    def __init__(self, keys, mode="normal"):
        self.chip = fake.Mcp2515Chip()
        self.can = driver.Mcp2515(fake.FakeSPI(self.chip), fake.FakePin(self.chip), keys=keys, mode=mode)


ids = st.one_of(st.integers(0, 0x7FF), st.integers(0, 0x1FFFFFFF).map(lambda i: EXT | i),
                st.sampled_from([0x123, EXT | 0x123, EXT | 0x18FF0001, EXT | 0x18FF0002, 0x63F]))


@settings(max_examples=120, deadline=None)
@given(keys=st.lists(ids, max_size=9), frames=st.lists(ids, min_size=1, max_size=12))
def test_any_key_set_passes_exactly_its_ids_or_everything(keys, frames):
    bus = Bus(keys)
    masks, _ = driver.plan_filters(keys)
    accept_all = masks == ((0, False), (0, False))
    for key in frames + keys:
        can_id, ext = as_frame(key)
        bus.chip.inject(can_id, b"\x01\x02", ext=ext)
        got = bus.can.recv()
        if accept_all or key in keys:
            assert got is not None and (got[0], got[1]) == (can_id, ext)
        else:
            assert got is None, f"0x{can_id:x} ext={ext} passed filters planned for {keys}"
        assert bus.can.recv() is None
    assert not bus.chip.violations
    std = {k for k in keys if not k & EXT}
    ext = set(keys) - std
    fits = ((not ext and len(std) <= 6) or (not std and len(ext) <= 6) or (len(std) <= 2 and len(ext) <= 4)
            or (len(ext) <= 2 and len(std) <= 4))
    assert accept_all == (not keys or not fits)  # RXB0: 2 filters, RXB1: 4, one kind of id each


# --- frames -------------------------------------------------------------------------------

def random_frames(rnd: random.Random, n: int):
    for _ in range(n):
        ext = rnd.random() < 0.5
        can_id = rnd.getrandbits(29 if ext else 11)
        rtr = rnd.random() < 0.15
        data = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 8)))
        yield can_id, ext, rtr, data


def test_frames_round_trip_bit_exact_through_the_receive_path():
    rnd = random.Random(2515)
    frames = list(random_frames(rnd, 150)) + [(0x7FF, False, False, bytes(range(8))), (0x1FFFFFFF, True, True, b"\0" * 8),
                                             (0, True, False, b""), (0, False, True, b"")]
    commands = ["init 8000000 125000 normal"]
    for can_id, ext, rtr, data in frames:
        commands += [inject(can_id, ext, data, rtr), "recv"]
    out = mp(commands)
    assert out[0] == "ok"
    for i, (can_id, ext, rtr, data) in enumerate(frames):
        assert out[1 + 2 * i] == "0"  # RXB0 took it
        fields = out[2 + 2 * i].split()
        assert (int(fields[1], 16), fields[2] == "1", fields[3] == "1") == (can_id, ext, rtr)
        got = bytes.fromhex(fields[5]) if fields[5] != "-" else b""
        assert len(got) == len(data)  # the DLC, for remote frames too
        if not rtr:
            assert got == data


def test_dlc_above_8_gives_8_bytes():
    out = mp(["init 16000000 500000 normal", f"inject 123 0 0 {bytes(range(1, 9)).hex()} 15", "recv"])
    assert out[2] == frame_line(0x123, False, False, 0, bytes(range(1, 9)))


def test_loopback_sends_frames_back_through_the_filters():
    rnd = random.Random(7)
    frames = [f for f in random_frames(rnd, 40) if not f[2]]  # send() makes data frames
    keys = [0x321, EXT | 0x18FF0001]
    commands = [f"init 16000000 500000 loopback {' '.join(f'{k:x}' for k in keys)}"]
    for can_id, ext, _, data in frames + [(0x321, False, False, b"\x01"), (0x18FF0001, True, False, b"")]:
        commands += [f"send {can_id:x} {int(ext)} {data.hex() or '-'}", "drain"]
    commands += ["sent", inject(0x321, False, b"\x01"), "recv"]
    out = mp(commands)
    assert out[0] == "ok"
    wanted = [(0x321, False), (0x18FF0001, True)]
    for i, (can_id, ext, _, data) in enumerate(frames + [(0x321, False, False, b"\x01"), (0x18FF0001, True, False, b"")]):
        assert out[1 + 2 * i] == "True"
        drained = out[2 + 2 * i]
        if (can_id, ext) in wanted:
            fields = drained.split()
            assert (int(fields[1], 16), fields[2] == "1", fields[3]) == (can_id, ext, "0")
            assert fields[5] == (data.hex() or "-")
        else:
            assert drained == "none"
    assert out[-3] == "none"  # loopback keeps frames off the bus
    assert out[-2] == "None" and out[-1] == "none"  # and ignores the bus


def test_loop_returns_the_frame_through_the_filters_or_none():
    out = mp(["init 16000000 500000 loopback 321 38ff0001", "loop 321 0 0102", "loop 322 0 0102",
              "loop 18ff0001 1 -", "loop 123 1 ff", "recv",
              "init 16000000 500000 normal 321", "loop 321 0 01"])
    assert out[1] == frame_line(0x321, False, False, 0, b"\x01\x02")
    assert out[2] == "none"
    assert out[3] == frame_line(0x18FF0001, True, False, 2, b"")
    assert out[4] == "none"  # 0x123 listed as standard only
    assert out[5] == "none"
    assert out[7] == "error OSError: mcp2515: loop() needs mode 'loopback', not 'normal'"


def test_send_returns_false_while_txb0_is_pending():
    out = mp(["init 16000000 500000 normal", "noack", "send 123 0 0102", "send 124 0 -", "sent", "ack", "sent",
              "send 1abcdef 1 ff", "sent",
              "init 16000000 500000 listen-only", "send 123 0 -", "send 123 0 -", "sent"])
    assert out[1:5] == ["ok", "True", "False", "none"]  # no ACK: TXREQ stays set
    assert out[5:7] == ["ok", "123 0 0 0102"]
    assert out[7:9] == ["True", "123 0 0 0102"]  # still no ACK for the next one
    assert out[10:] == ["True", "False", "none"]  # listen-only never transmits


# --- rollover, overflow, errors -----------------------------------------------------------

def test_rollover_into_rxb1_and_overflow_counting():
    a, b, c = (bytes([i]) * 3 for i in (1, 2, 3))
    out = mp(["init 16000000 500000 normal 100 200 7ff",  # std only: RXB0 0x100 0x200, RXB1 0x7ff
              inject(0x100, False, a), inject(0x200, False, b), inject(0x100, False, c), inject(0x7FF, False, c),
              "state", "recv", "recv", "recv", "state",
              inject(0x7FF, False, a), inject(0x7FF, False, b), "recv", "recv", "state",
              inject(0x100, False, a), inject(0x100, False, b), inject(0x100, False, c), inject(0x100, False, c),
              "drain", "recv", "state"])
    assert out[1:5] == ["0", "1", "None", "None"]  # 0x200 rolled over; RXB0 and RXB1 full: lost
    assert out[5] == "state 0 errors 0 overflows 1"  # one RX1OVR flag for two lost frames
    assert out[6] == frame_line(0x100, False, False, 0, a)  # RXB0 first
    assert out[7] == frame_line(0x200, False, False, 1, b)  # rolled over: FILHIT names RXF1
    assert out[8] == "none"
    assert out[9] == "state 0 errors 0 overflows 1"  # the flag was cleared: not counted twice
    assert out[10:12] == ["1", "None"]  # RXB1's own filter: RXB1 full is an overflow
    assert out[12] == frame_line(0x7FF, False, False, 2, a)
    assert out[13] == "none"  # recv() finds the flag while idle
    assert out[14] == "state 0 errors 0 overflows 2"
    assert out[15:19] == ["0", "1", "None", "None"]
    assert out[19] == ";".join([frame_line(0x100, False, False, 0, a), frame_line(0x100, False, False, 0, b)])
    assert out[20] == "none"
    assert out[21] == "state 0 errors 0 overflows 3"


def test_error_states_follow_the_counters_and_transitions_are_counted():
    steps = [((0, 0), 0, 0), ((95, 95), 0, 0), ((96, 0), 1, 1), ((0, 100), 1, 1), ((127, 127), 1, 1),
             ((128, 0), 2, 2), ((0, 128), 2, 2), ((255, 255), 2, 2), ((256, 0), 3, 3), ((0, 0), 0, 3),
             ((0, 96), 1, 4), ((130, 0), 2, 5), ((96, 0), 1, 6)]
    commands = ["init 16000000 500000 normal"]
    for (tec, rec), _, _ in steps:
        commands += [f"errors {tec} {rec}", "state"]
    out = mp(commands)
    for i, ((tec, rec), state, errors) in enumerate(steps):
        assert out[2 + 2 * i] == f"state {state} errors {errors} overflows 0", (tec, rec)


def test_restart_recovers_from_bus_off_and_keeps_the_configuration():
    out = mp(["init 16000000 250000 normal 123", "regs 0 4", "regs 28 3", "errors 256 0", "state",
              "send 123 0 01", "send 123 0 01", "sent", inject(0x123, False, b"\x01"),
              "restart", "state", "regs 0 4", "regs 28 3", "regs e 1", "send 123 0 02", "sent",
              inject(0x123, False, b"\x03"), "recv", "errors 256 0", "state", "recover", "state"])
    assert out[4] == "state 3 errors 1 overflows 0"
    assert out[5:9] == ["True", "False", "none", "None"]  # bus-off: nothing leaves, nothing arrives
    assert out[10] == "state 0 errors 1 overflows 0"
    assert out[11:13] == out[1:3]  # filters and bit timing reprogrammed
    assert int(out[13], 16) & 0xE0 == 0  # normal mode again
    assert out[14:16] == ["True", "123 0 0 02"]
    assert out[17] == frame_line(0x123, False, False, 0, b"\x03")
    assert out[19] == "state 3 errors 2 overflows 0"
    assert out[21] == "state 0 errors 2 overflows 0"  # the chip's own recovery, seen by state()


def test_nothing_on_the_spi_bus_is_a_clear_error():
    out = mp(["nowire ff", "nowire 00"])
    for line, canstat in zip(out, ("0xff", "0x00")):
        assert line.startswith("error OSError: mcp2515: chip did not enter configuration mode")
        assert f"CANSTAT={canstat}" in line and "wiring" in line


def test_bad_arguments_are_refused_before_touching_the_chip():
    out = mp(["init 8000000 1000000 normal", "init 16000000 500000 silent"])
    assert out[0].startswith("error ValueError: bit timing: 1000000 bit/s")
    assert out[1].startswith("error ValueError: mcp2515: mode must be")


# --- allocation and speed -----------------------------------------------------------------

def test_recv_allocates_nothing_per_frame():
    out = mp(["init 16000000 500000 normal", "alloc 1000"])
    _, allocated, frames, ns_per_recv = out[1].split()
    assert int(frames) == 1000
    assert int(allocated) == 0, f"{allocated} bytes for {frames} frames"
    print(f"recv: 0 B/frame, {int(ns_per_recv) / 1000:.1f} µs per recv() on the unix port with the fake SPI")


def test_send_allocates_nothing():
    out = mp(["init 16000000 500000 normal", "sendalloc 300", "init 16000000 500000 normal", "sendalloc 9", "sent"])
    assert out[1] == "sendalloc 0 300" and out[3] == "sendalloc 0 9"
    sent = out[4].split(";")
    assert sent[0] == "0 0 0 -" and sent[1] == "18ff0001 1 0 00" and sent[8] == "8 0 0 0001020304050607"


@pytest.mark.parametrize("march", [HOST_MARCH, PYBOARD_MARCH])
def test_compiles_with_mpy_cross(march, tmp_path):
    result = subprocess.run([tool("mpy-cross"), f"-march={march}", "-o", str(tmp_path / "mcp2515.mpy"), str(DRIVER)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
    if march == HOST_MARCH:  # the compiled module runs on the unix port: allocation-free too
        out = mp(["init 16000000 500000 normal", "alloc 200", inject(0x123, False, b"\x01"), "recv"], tmp_path)
        assert out[1].split()[1] == "0"
        assert out[3] == frame_line(0x123, False, False, 0, b"\x01")


# --- the fake itself ----------------------------------------------------------------------

class RawBus:
    """SPI transactions by hand, as a careless driver would send them."""

    def __init__(self):
        self.chip = fake.Mcp2515Chip()
        self.spi = fake.FakeSPI(self.chip)
        self.cs = fake.FakePin(self.chip)

    def transfer(self, *out: int) -> bytes:
        got = bytearray(len(out))
        self.cs.value(0)
        self.spi.write_readinto(bytes(out), got)
        self.cs.value(1)
        return bytes(got)

    def read(self, addr: int, n: int = 1) -> bytes:
        return self.transfer(0x03, addr, *([0] * n))[2:]


def test_fake_ignores_cnf_filter_and_mask_writes_outside_configuration_mode():
    bus = RawBus()
    bus.transfer(0xC0)  # RESET: configuration mode
    assert bus.read(0x0E)[0] & 0xE0 == 0x80
    bus.transfer(0x02, 0x0F, 0x00)  # REQOP normal, as a driver that forgets config mode
    assert bus.read(0x0E)[0] & 0xE0 == 0x00
    before = bus.read(0x00, 0x2B)
    bus.transfer(0x02, 0x28, 0x01, 0xB5, 0x00)  # CNF3..CNF1
    bus.transfer(0x02, 0x00, 0x24, 0x60, 0, 0)  # RXF0
    bus.transfer(0x02, 0x20, 0xFF, 0xE0, 0, 0)  # RXM0
    assert bus.read(0x00, 0x2B) == before
    assert bus.chip.ignored_writes == 4 + 4 + 3
    bus.transfer(0x05, 0x0F, 0xE0, 0x80)  # BIT MODIFY CANCTRL: back to configuration mode
    bus.transfer(0x02, 0x28, 0x01, 0xB5, 0x00)
    assert bus.read(0x28, 3) == bytes((0x01, 0xB5, 0x00))


def test_a_driver_that_configures_outside_configuration_mode_is_caught():
    class Careless(driver.Mcp2515):
        """Asks for normal mode where it should ask for configuration mode."""

        def _set_mode(self, mode):
            super()._set_mode(0x00 if mode == 0x80 else mode)

    chip = fake.Mcp2515Chip()
    with pytest.raises(OSError, match="CNF3..CNF1 read back 000000, wrote"):
        Careless(fake.FakeSPI(chip), fake.FakePin(chip))
    assert chip.ignored_writes >= 3 + 24 + 8  # CNF, filters and masks all dropped
    assert chip.regs[0x28:0x2B] == bytes(3)


def test_fake_bit_modify_is_a_plain_write_where_the_chip_does_not_support_it():
    bus = RawBus()
    bus.transfer(0xC0)
    bus.transfer(0x02, 0x36, 0x00)  # TXB0D0
    bus.transfer(0x05, 0x36, 0x0F, 0xAB)  # mask forced to 0xFF: the whole byte is written
    assert bus.read(0x36) == b"\xab"
    bus.transfer(0x02, 0x2B, 0x00)  # CANINTE supports it
    bus.transfer(0x05, 0x2B, 0x0F, 0xAB)
    assert bus.read(0x2B) == b"\x0b"
    bus.transfer(0x02, 0x2D, 0xFF)  # EFLG: only RX0OVR/RX1OVR are writable
    assert bus.read(0x2D) == b"\xc0"
    assert bus.read(0x1E) == bus.read(0x0E) and bus.read(0x7F) == bus.read(0x0F)  # mirrors


def test_fake_clears_rxnif_only_after_read_rx_buffer_ends():
    bus = RawBus()
    bus.transfer(0xC0)
    bus.transfer(0x02, 0x20, 0, 0, 0, 0, 0, 0, 0, 0)  # masks 0
    bus.transfer(0x02, 0x00, 0, 0, 0, 0)  # RXF0: standard
    bus.transfer(0x02, 0x0F, 0x00)  # normal
    assert bus.chip.inject(0x123, b"\x42") == 0
    assert bus.read(0x2C)[0] & 1
    assert bus.transfer(0xA0, 0)[1] & 1  # READ STATUS: RX0IF
    assert bus.transfer(0xB0, 0)[1] == 0x40  # RX STATUS: RXB0, standard data frame, RXF0
    bus.read(0x61, 13)  # a plain READ leaves the flag
    assert bus.read(0x2C)[0] & 1
    bus.cs.value(0)
    got = bytearray(7)
    bus.spi.write_readinto(bytes([0x90] + [0] * 6), got)
    assert bus.chip.regs[0x2C] & 1  # still set while CS is low
    bus.cs.value(1)
    assert got[1:3] == bytes((0x24, 0x60)) and got[5:7] == bytes((1, 0x42))
    assert not bus.read(0x2C)[0] & 1
    assert bus.chip.violations == []


def test_fake_error_flags_follow_the_datasheet_thresholds():
    chip = fake.Mcp2515Chip()
    for (tec, rec), flags in {(95, 95): 0, (96, 0): 0x05, (0, 96): 0x03, (128, 0): 0x15, (0, 128): 0x0B,
                              (256, 0): 0x35, (255, 0): 0x15}.items():
        chip.set_error_counters(tec, rec)
        assert chip.regs[0x2D] == flags, (tec, rec)
        assert chip.regs[0x1C] == min(tec, 255)


def test_fake_rollover_needs_bukt_and_sets_the_overflow_flag_of_the_full_buffer():
    for bukt, second, flag in ((0x00, None, 0x40), (0x04, 1, 0x80)):
        bus = RawBus()
        bus.transfer(0xC0)
        bus.transfer(0x02, 0x00, 0, 0, 0, 0)  # RXF0: standard id 0
        bus.transfer(0x02, 0x08, 0, 0x08, 0, 0)  # RXF2: extended id 0 (RXB1 only)
        bus.transfer(0x02, 0x20, 0, 0, 0, 0, 0, 0, 0, 0)  # masks 0: RXF0 any std, RXF2 any ext
        bus.transfer(0x02, 0x60, bukt)
        bus.transfer(0x02, 0x0F, 0x00)
        assert bus.chip.inject(0x10, b"") == 0
        assert bus.chip.inject(0x11, b"") == second
        assert bus.read(0x2D)[0] & 0xC0 == (0x40 if bukt == 0 else 0)
        assert bus.chip.inject(0x12, b"") is None
        assert bus.read(0x2D)[0] & 0xC0 == flag
        assert bus.chip.inject(0x1234, b"", ext=True) == (1 if bukt == 0 else None)  # RXB1's own filter


def test_recv_reuses_one_list_and_one_view_per_length():
    bus = Bus([0x123])
    bus.chip.inject(0x123, b"\x01\x02")
    first = bus.can.recv()
    view = first[4]
    bus.chip.inject(0x123, b"\x03\x04")
    second = bus.can.recv()
    assert second is first and second[4] is view and isinstance(view, memoryview)
    assert bytes(second[4]) == b"\x03\x04"
    assert bus.can.recv() is None
