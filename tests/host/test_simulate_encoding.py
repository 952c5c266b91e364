"""The simulator's fast encoder against cantools: same bytes for any values the DBC allows."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.dbc import load_dbc
from host_tools.e2e import payload_crc, protection
from host_tools.simulate.crc import payload_crc_function
from host_tools.simulate.ecus import GROUPS, MUX_MESSAGE, SIGNALS, cell_group_signals
from host_tools.simulate.encoding import Packer, not_available_raw, raw_limits, raw_range
from mule_testing import PROJECT_DBC

DBC = load_dbc(PROJECT_DBC)


def _packers():
    for message in DBC.messages:
        guard = protection(message)
        tail = (guard.counter, guard.crc) if guard else ()
        if message.name == MUX_MESSAGE:
            for group in (0, 1, 17, GROUPS - 1):
                yield message, Packer(message, cell_group_signals(group) + tail)
        else:
            yield message, Packer(message, SIGNALS[message.name] + tail)


PACKERS = list(_packers())
IDS = [f"{m.name}:{p.fields[1].name}" if m.is_multiplexed() else m.name for m, p in PACKERS]


@pytest.mark.parametrize("message,packer", PACKERS, ids=IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_packer_writes_the_bytes_cantools_writes(message, packer, data):
    raws = []
    for f in packer.fields:
        signal = message.get_signal_by_name(f.name)
        if signal.is_multiplexer:
            first_cell = int(packer.fields[1].name[5:8])  # cell_NNN_mv
            raws.append((first_cell - 1) // 3)  # the group this packer is for
        else:
            lo, hi = raw_limits(signal)
            raws.append(data.draw(st.integers(lo, hi), label=f.name))
    want = message.encode(dict(zip((f.name for f in packer.fields), raws)), scaling=False, strict=False)
    assert bytes(packer.pack(raws)) == want


def _all_packers():
    """Every message, the multiplexed one with each of its 32 groups."""
    for message in DBC.messages:
        guard = protection(message)
        tail = (guard.counter, guard.crc) if guard else ()
        if message.name == MUX_MESSAGE:
            for group in range(GROUPS):
                yield message, guard, group, Packer(message, cell_group_signals(group) + tail)
        else:
            yield message, guard, None, Packer(message, SIGNALS[message.name] + tail)


ALL_PACKERS = list(_all_packers())
ALL_IDS = [m.name if group is None else f"{m.name}:{group}" for m, _, group, _ in ALL_PACKERS]


@pytest.mark.parametrize("message,guard,group,packer", ALL_PACKERS, ids=ALL_IDS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_the_compiled_encoder_writes_what_cantools_encode_message_writes(message, guard, group, packer, data):
    """Physical values anywhere in the DBC's range (on the raw grid or between two steps),
    the counter set, the CRC left 0: the per-frame fast path against cantools' own encoding."""
    data_fields = packer.fields[:-2] if guard else packer.fields
    values, physical = [], {}
    for f in data_fields:
        signal = message.get_signal_by_name(f.name)
        if signal.is_multiplexer:
            value = group
        else:  # a step inside the clamp, so cantools (which does not clamp) sees the same raw
            raw = data.draw(st.integers(f.lo + 1, f.hi - 1) if f.hi - f.lo > 2 else st.sampled_from([f.lo, f.hi]),
                            label=f.name)
            value = (raw + data.draw(st.sampled_from([0.0, 0.25, -0.3, 0.4]), label="between")) * f.scale + f.offset
        values.append(value)
        physical[f.name] = value
    if guard:
        counter = data.draw(st.integers(0, 15), label="counter")
        raws, payload = packer.encoder(True)(values, counter)
        physical.update({guard.counter: counter, guard.crc: 0})
    else:
        raws, payload = packer.encoder(False)(values)
    want = message.encode(physical, scaling=True, strict=False)
    assert payload.to_bytes(packer.length, "little") == want
    assert raws[:len(values)] == packer.raws(values)


@pytest.mark.parametrize("message,guard,group,packer", ALL_PACKERS, ids=ALL_IDS)
def test_the_compiled_encoder_agrees_with_the_plain_one_on_any_value(message, guard, group, packer):
    """Out of range, not available (None), ints, signed zeros: clamped and coded exactly as
    raws() and pack() do it, and what cantools writes for those raws."""
    rng = random.Random(f"encoder:{message.name}:{group}")
    data_fields = packer.fields[:-2] if guard else packer.fields
    encode = packer.encoder(bool(guard))
    for _ in range(300):
        values = [group if message.get_signal_by_name(f.name).is_multiplexer else
                  rng.choice([None, -0.0, 0.0, rng.randrange(-70_000, 70_000), rng.uniform(-1e6, 1e6),
                              rng.uniform(f.lo, f.hi) * f.scale + f.offset,
                              (rng.randrange(f.lo, f.hi + 1) + 0.5) * f.scale + f.offset])  # a tie to round
                  for f in data_fields]
        counter = rng.randrange(16)
        raws, payload = encode(values, counter) if guard else encode(values)
        want_raws = packer.raws(values) + ([counter, 0] if guard else [])
        assert raws == want_raws, values
        assert payload.to_bytes(packer.length, "little") == bytes(packer.pack(want_raws)), values
        named = dict(zip((f.name for f in packer.fields), want_raws))
        assert payload.to_bytes(packer.length, "little") == message.encode(named, scaling=False, strict=False)


@pytest.mark.parametrize("message,packer", PACKERS, ids=IDS)
def test_encode_clamps_physics_into_the_dbc_range(message, packer):
    guard = protection(message)
    data_fields = packer.fields[:-2] if guard else packer.fields
    huge = [1e9 for _ in data_fields]
    if message.is_multiplexed():
        huge[0] = (int(packer.fields[1].name[5:8]) - 1) // 3  # the group, not a value
    raws, payload = packer.encode(huge, 7 if guard else None)
    decoded = message.decode(bytes(payload), decode_choices=False)
    for f in data_fields:
        signal = message.get_signal_by_name(f.name)
        if not signal.is_multiplexer:
            assert decoded[f.name] == pytest.approx(signal.maximum), f.name
    if guard:
        assert decoded[guard.counter] == 7


def test_not_available_codes_come_from_the_dbc_comments():
    by_name = {s.name: s for m in DBC.messages for s in m.signals}
    assert not_available_raw(by_name["soc_pct"]) == 0xFF
    assert not_available_raw(by_name["vehicle_speed_kph"]) == 0xFFFF
    assert not_available_raw(by_name["trailer_brake_output_pct"]) == 127
    assert not_available_raw(by_name["cell_v_max_index"]) == 0
    assert not_available_raw(by_name["pack_current_a"]) is None


def test_raw_range_follows_scale_and_offset():
    by_name = {s.name: s for m in DBC.messages for s in m.signals}
    assert raw_range(by_name["vehicle_speed_kph"]) == (0, 25000)
    assert raw_range(by_name["ambient_temp_c"]) == (0, 250)  # -40..85 at 0.5 degC, offset -40
    assert raw_range(by_name["tongue_load_kg"]) == (-2000, 2000)
    assert raw_limits(by_name["tongue_load_kg"]) == (-2048, 2047)


@pytest.mark.parametrize("length", [1, 2, 3, 7, 8, 12, 64])
def test_the_unrolled_crc_is_the_shared_payload_crc(length):
    rng = random.Random(length)
    crc = payload_crc_function(length)
    for _ in range(500):
        data = bytes(rng.getrandbits(8) for _ in range(length))
        assert crc(data) == payload_crc(data), data.hex()
