"""Checks of the project CAN database dbc/kia_ev_pickup.dbc.

cantools is the reference parser. These tests pin the conventions described
in docs/dbc.md: ids, byte orders, cycle times, E2E counter/CRC placement,
ranges, units, value tables and the cell-voltage multiplex scheme.
"""

import logging
import re
import warnings
from pathlib import Path

import cantools
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DBC_PATH = REPO_ROOT / "dbc" / "kia_ev_pickup.dbc"
DOC_PATH = REPO_ROOT / "docs" / "dbc.md"

HITCH_FRAME_ID = 0x0CFF4D2A
CELL_COUNT = 96
CELLS_PER_GROUP = 3
GROUP_COUNT = CELL_COUNT // CELLS_PER_GROUP

# Messages that must carry a rolling counter and a CRC (safety relevant).
PROTECTED = {
    "HitchLoad",
    "BmsPackStatus",
    "BmsCellStats",
    "BmsTempStats",
    "BmsPowerLimits",
    "BmsCellVoltages",
    "VcuVehicleStatus",
}
UNPROTECTED = {"VcuEnvironment"}

# Signal name suffix -> unit string.
UNIT_SUFFIXES = {
    "_mv": "mV",
    "_v": "V",
    "_a": "A",
    "_pct": "%",
    "_kph": "km/h",
    "_c": "degC",
    "_kg": "kg",
    "_n": "N",
    "_deg": "deg",
    "_kw": "kW",
}

SENDER_PREFIX = {"VCU": "Vcu", "BMS": "Bms", "HITCH": "Hitch"}


def crc8_j1850(data: bytes) -> int:
    """CRC-8 SAE J1850: poly 0x1D, init 0xFF, xorout 0xFF, not reflected."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x1D) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc ^ 0xFF


def payload_bits(signal) -> set:
    """Payload bit indices (byte * 8 + bit, bit 0 = LSB) used by a signal."""
    bits = set()
    pos = signal.start
    if signal.byte_order == "little_endian":
        return set(range(pos, pos + signal.length))
    # Motorola: start is the MSB in DBC sawtooth numbering.
    for _ in range(signal.length):
        bits.add(pos)
        pos = pos + 15 if pos % 8 == 0 else pos - 1
    return bits


@pytest.fixture(scope="module")
def db():
    return cantools.database.load_file(str(DBC_PATH), strict=True)


def e2e_names(message):
    attrs = message.dbc.attributes
    counter = attrs["E2ECounterSignal"].value if "E2ECounterSignal" in attrs else ""
    crc = attrs["E2ECrcSignal"].value if "E2ECrcSignal" in attrs else ""
    return counter, crc


def e2e_signal_names(db):
    names = set()
    for message in db.messages:
        names.update(n for n in e2e_names(message) if n)
    return names


def raw_limits(signal):
    if signal.is_signed:
        return -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    return 0, (1 << signal.length) - 1


def to_raw(signal, value):
    return round((value - signal.offset) / signal.scale)


def sample_values(signal, which):
    """A physical value on the signal's grid: min, max or one near the middle."""
    if which == "min":
        value = signal.minimum
    elif which == "max":
        value = signal.maximum
    else:
        mid = (signal.minimum + signal.maximum) / 2
        value = to_raw(signal, mid) * signal.scale + signal.offset
    # Snap to the raw grid so that encode/decode is exact up to float noise.
    return to_raw(signal, value) * signal.scale + signal.offset


# --------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------

def test_loads_strict_without_warnings(caplog):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.WARNING):
            db = cantools.database.load_file(str(DBC_PATH), strict=True)
    assert not caught, [str(w.message) for w in caught]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert {m.name for m in db.messages} == PROTECTED | UNPROTECTED


def test_file_is_ascii():
    # Keeps the file readable for every tool (cp1252 / utf-8 / MicroPython).
    DBC_PATH.read_bytes().decode("ascii")


def test_nodes(db):
    assert sorted(node.name for node in db.nodes) == ["BMS", "HITCH", "TMU", "VCU"]
    for message in db.messages:
        assert len(message.senders) == 1
        for signal in message.signals:
            assert "TMU" in signal.receivers, (message.name, signal.name)


# --------------------------------------------------------------------------
# Frames, ids, byte order, cycle times
# --------------------------------------------------------------------------

def test_hitch_message_extended_big_endian_20ms(db):
    hitch = db.get_message_by_name("HitchLoad")
    assert hitch.is_extended_frame
    assert hitch.frame_id == HITCH_FRAME_ID
    assert hitch.senders == ["HITCH"]
    assert hitch.cycle_time == 20
    assert hitch.length == 8
    assert hitch.signals
    for signal in hitch.signals:
        assert signal.byte_order == "big_endian", signal.name
    # Lookup by the 29-bit id works too.
    assert db.get_message_by_frame_id(HITCH_FRAME_ID) is hitch


def test_other_messages_standard_intel(db):
    for message in db.messages:
        if message.name == "HitchLoad":
            continue
        assert not message.is_extended_frame, message.name
        assert message.frame_id <= 0x7FF, message.name
        for signal in message.signals:
            assert signal.byte_order == "little_endian", (message.name, signal.name)


def test_every_message_has_cycle_time_and_8_bytes(db):
    for message in db.messages:
        assert message.cycle_time is not None and message.cycle_time > 0, message.name
        assert message.length == 8, message.name
        assert not message.is_fd, message.name


def test_bms_cycle_times(db):
    for message in db.messages:
        if message.senders == ["BMS"]:
            expected = 1000 if message.name == "BmsCellVoltages" else 100
            assert message.cycle_time == expected, message.name


def test_frame_ids_unique(db):
    ids = [(m.frame_id, m.is_extended_frame) for m in db.messages]
    assert len(ids) == len(set(ids))


# --------------------------------------------------------------------------
# Naming, units, ranges, value tables
# --------------------------------------------------------------------------

def test_message_names_camel_case_with_ecu_prefix(db):
    for message in db.messages:
        assert re.fullmatch(r"(?:[A-Z][a-z0-9]+)+", message.name), message.name
        assert message.name.startswith(SENDER_PREFIX[message.senders[0]]), message.name


def test_signal_names_unique_snake_case(db):
    names = [s.name for m in db.messages for s in m.signals]
    duplicates = {n for n in names if names.count(n) > 1}
    assert not duplicates
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*", name), name


def test_every_signal_has_range(db):
    for message in db.messages:
        for signal in message.signals:
            assert signal.minimum is not None, signal.name
            assert signal.maximum is not None, signal.name
            assert signal.minimum < signal.maximum, signal.name


def test_ranges_fit_raw_field(db):
    for message in db.messages:
        for signal in message.signals:
            lo, hi = raw_limits(signal)
            for value in (signal.minimum, signal.maximum):
                raw = to_raw(signal, value)
                assert lo <= raw <= hi, (signal.name, value, raw)


def test_units(db):
    dimensionless_ok = e2e_signal_names(db)
    for message in db.messages:
        for signal in message.signals:
            unit = signal.unit or ""
            suffix = next((s for s in UNIT_SUFFIXES if signal.name.endswith(s)), None)
            if suffix is not None:
                assert unit == UNIT_SUFFIXES[suffix], (signal.name, unit)
                assert not signal.choices, signal.name
                continue
            assert unit == "", (signal.name, unit)
            # Without a unit a signal is an enum/flag (value table), an E2E
            # counter/CRC, the multiplexer, or a 1-based index.
            assert (
                signal.choices
                or signal.name in dimensionless_ok
                or signal.is_multiplexer
                or signal.name.endswith("_index")
            ), signal.name


def test_value_tables(db):
    for message in db.messages:
        for signal in message.signals:
            if signal.length == 1:
                assert signal.choices, f"flag {signal.name} needs a value table"
            if not signal.choices:
                continue
            assert signal.scale == 1 and signal.offset == 0, signal.name
            assert not signal.is_signed, signal.name
            for raw, name in signal.choices.items():
                assert signal.minimum <= raw <= signal.maximum, (signal.name, raw)
                assert re.fullmatch(r"[A-Z][A-Z0-9_]*", str(name)), (signal.name, name)


def test_required_enums(db):
    def choice_names(signal_name):
        for message in db.messages:
            for signal in message.signals:
                if signal.name == signal_name:
                    return {str(v) for v in signal.choices.values()}
        raise AssertionError(signal_name)

    assert {"P", "R", "N", "D"} <= choice_names("gear")
    assert {"ECO", "NORMAL", "SPORT", "SNOW", "MUD", "SAND", "TOW_HAUL"} <= choice_names("drive_mode")
    assert {"INIT", "STANDBY", "PRECHARGE", "DRIVE", "CHARGE_AC", "CHARGE_DC",
            "BALANCING", "FAULT", "SHUTDOWN"} <= choice_names("bms_state")
    assert {"OK", "INITIALISING", "OVERLOAD", "OPEN_CIRCUIT", "SHORT_CIRCUIT",
            "CALIBRATION_ERROR", "NOT_AVAILABLE"} <= choice_names("hitch_sensor_status")


def test_pack_current_signed_charging_negative(db):
    signal = db.get_message_by_name("BmsPackStatus").get_signal_by_name("pack_current_a")
    assert signal.is_signed
    assert signal.minimum < 0 < signal.maximum
    assert "negative = charging" in signal.comment


# --------------------------------------------------------------------------
# E2E: counter and CRC
# --------------------------------------------------------------------------

def test_crc8_j1850_reference():
    assert crc8_j1850(b"123456789") == 0x4B
    # AUTOSAR CRC library test vectors for CRC8 (SAE J1850).
    assert crc8_j1850(bytes([0x00, 0x00, 0x00, 0x00])) == 0x59
    assert crc8_j1850(bytes([0xF2, 0x01, 0x83])) == 0x37
    assert crc8_j1850(bytes([0x0F, 0xAA, 0x00, 0x55])) == 0x79
    assert crc8_j1850(bytes([0xFF, 0xFF, 0xFF, 0xFF])) == 0x74


def test_e2e_attributes_defined(db):
    definitions = db.dbc.attribute_definitions
    for name in ("E2ECounterSignal", "E2ECrcSignal"):
        assert definitions[name].kind == "BO_"
        assert definitions[name].type_name == "STRING"
        assert definitions[name].default_value == ""


def test_unprotected_messages_have_no_e2e(db):
    for name in UNPROTECTED:
        assert e2e_names(db.get_message_by_name(name)) == ("", "")


@pytest.mark.parametrize("message_name", sorted(PROTECTED))
def test_protected_message_counter_and_crc(db, message_name):
    message = db.get_message_by_name(message_name)
    counter_name, crc_name = e2e_names(message)
    assert counter_name and crc_name
    assert message.length == 8
    counter = message.get_signal_by_name(counter_name)
    crc = message.get_signal_by_name(crc_name)
    for signal, length, bits in ((counter, 4, set(range(48, 52))),
                                 (crc, 8, set(range(56, 64)))):
        assert signal.length == length
        assert not signal.is_signed
        assert signal.scale == 1 and signal.offset == 0
        assert signal.minimum == 0 and signal.maximum == (1 << length) - 1
        assert signal.multiplexer_ids is None  # present in every frame
        assert payload_bits(signal) == bits, signal.name
    # The CRC owns the whole last byte, the counter the low nibble of byte 6.
    for signal in message.signals:
        if signal not in (counter, crc):
            assert not payload_bits(signal) & set(range(48, 52)), signal.name
            assert not payload_bits(signal) & set(range(56, 64)), signal.name
    # Names follow <short>_counter / <short>_crc.
    assert counter_name.endswith("_counter") and crc_name.endswith("_crc")
    assert counter_name[: -len("_counter")] == crc_name[: -len("_crc")]


@pytest.mark.parametrize("message_name", sorted(PROTECTED))
def test_protected_frame_wire_position(db, message_name):
    """Encode through cantools and check the bytes, independently of start bits."""
    message = db.get_message_by_name(message_name)
    counter_name, crc_name = e2e_names(message)
    values = {s.name: sample_values(s, "mid") for s in message.signals}
    if message.is_multiplexed():
        values = {s.name: sample_values(s, "mid") for s in message.signals
                  if s.multiplexer_ids is None or 7 in s.multiplexer_ids}
        values["cell_group"] = 7
    for counter_value in range(16):
        values[counter_name] = counter_value
        values[crc_name] = 0
        data = message.encode(values, strict=True)
        assert data[6] & 0x0F == counter_value
        crc_value = crc8_j1850(data[:7])
        values[crc_name] = crc_value
        data = message.encode(values, strict=True)
        assert data[7] == crc_value
        assert crc8_j1850(data[:7]) == data[7]
        decoded = message.decode(data, decode_choices=False)
        assert decoded[counter_name] == counter_value
        assert decoded[crc_name] == crc_value


# --------------------------------------------------------------------------
# Encode / decode round trips
# --------------------------------------------------------------------------

def assert_round_trip(message, values):
    data = message.encode(values, strict=True)
    assert len(data) == message.length
    decoded = message.decode(data, decode_choices=False)
    assert set(decoded) == set(values)
    for name, value in values.items():
        scale = message.get_signal_by_name(name).scale
        assert decoded[name] == pytest.approx(value, abs=scale / 2), name


@pytest.mark.parametrize("which", ["min", "mid", "max"])
def test_round_trip_plain_messages(db, which):
    for message in db.messages:
        if message.is_multiplexed():
            continue
        values = {s.name: sample_values(s, which) for s in message.signals}
        assert_round_trip(message, values)


@pytest.mark.parametrize("group", [0, 1, 15, 30, 31])
@pytest.mark.parametrize("which", ["min", "mid", "max"])
def test_round_trip_cell_voltage_groups(db, group, which):
    message = db.get_message_by_name("BmsCellVoltages")
    values = {"cell_group": group}
    for signal in message.signals:
        if signal.multiplexer_ids is None and not signal.is_multiplexer:
            values[signal.name] = sample_values(signal, which)
        elif signal.multiplexer_ids and group in signal.multiplexer_ids:
            values[signal.name] = sample_values(signal, which)
    assert len(values) == 1 + CELLS_PER_GROUP + 2
    assert_round_trip(message, values)


def test_round_trip_distinct_cell_values(db):
    """Each cell of a group lands in its own field (no swapped slots)."""
    message = db.get_message_by_name("BmsCellVoltages")
    for group in range(GROUP_COUNT):
        first = group * CELLS_PER_GROUP + 1
        values = {"cell_group": group, "bms_cell_volt_counter": group % 16,
                  "bms_cell_volt_crc": 0}
        for k in range(CELLS_PER_GROUP):
            values[f"cell_{first + k:03d}_mv"] = 3000 + 10 * first + k
        assert_round_trip(message, values)


def test_hitch_known_bytes(db):
    """Pins the Motorola layout documented in docs/dbc.md."""
    hitch = db.get_message_by_name("HitchLoad")
    data = hitch.encode({
        "tongue_load_kg": 500,           # 0x1F4 -> 1F 4x
        "hitch_sensor_status": 0,        # OK    -> x0
        "drawbar_force_n": 20000,        # 10000 = 0x2710 -> 27 10
        "hitch_angle_deg": -12.5,        # -125 -> 11 bit 0x783 -> F0 6x
        "trailer_connected": 1,          # byte 5 bit 4
        "trailer_brake_output_pct": 50,  # 0b0110010 -> byte5 lo 0x6, byte6 hi 0b010
        "hitch_counter": 5,
        "hitch_crc": 0xAB,
    }, strict=True)
    assert data == bytes([0x1F, 0x40, 0x27, 0x10, 0xF0, 0x76, 0x45, 0xAB])
    decoded = hitch.decode(data)
    assert decoded["hitch_angle_deg"] == pytest.approx(-12.5)
    assert str(decoded["trailer_connected"]) == "CONNECTED"
    assert str(decoded["hitch_sensor_status"]) == "OK"


def test_pack_status_known_bytes(db):
    """Pins the Intel layout and the current sign convention."""
    pack = db.get_message_by_name("BmsPackStatus")
    data = pack.encode({
        "pack_voltage_v": 380.0,   # 3800 = 0x0ED8
        "pack_current_a": -120.5,  # charging, -1205 = 0xFB4B
        "soc_pct": 80.0,           # 160
        "soh_pct": 97.5,           # 195
        "bms_pack_counter": 3,
        "bms_state": 3,            # DRIVE
        "bms_pack_crc": 0x12,
    }, strict=True)
    assert data == bytes([0xD8, 0x0E, 0x4B, 0xFB, 0xA0, 0xC3, 0x33, 0x12])
    assert str(pack.decode(data)["bms_state"]) == "DRIVE"


# --------------------------------------------------------------------------
# Cell voltage multiplex scheme
# --------------------------------------------------------------------------

def test_cell_voltage_mux_covers_every_cell_once(db):
    message = db.get_message_by_name("BmsCellVoltages")
    assert message.is_multiplexed()
    mux = message.get_signal_by_name("cell_group")
    assert mux.is_multiplexer
    assert (mux.minimum, mux.maximum) == (0, GROUP_COUNT - 1)

    seen = []
    by_group = {}
    for signal in message.signals:
        if not signal.name.startswith("cell_") or signal.is_multiplexer:
            continue
        assert re.fullmatch(r"cell_\d{3}_mv", signal.name), signal.name
        assert signal.multiplexer_signal == "cell_group"
        assert len(signal.multiplexer_ids) == 1, signal.name
        assert signal.length == 13 and not signal.is_signed
        assert signal.unit == "mV" and signal.scale == 1
        seen.append(int(signal.name[5:8]))
        by_group.setdefault(signal.multiplexer_ids[0], []).append(int(signal.name[5:8]))

    assert sorted(seen) == list(range(1, CELL_COUNT + 1))
    assert sorted(by_group) == list(range(GROUP_COUNT))
    for group, cells in by_group.items():
        first = group * CELLS_PER_GROUP + 1
        assert sorted(cells) == list(range(first, first + CELLS_PER_GROUP)), group


# --------------------------------------------------------------------------
# Documentation stays in step
# --------------------------------------------------------------------------

def test_doc_mentions_every_message_and_signal(db):
    text = DOC_PATH.read_text(encoding="utf-8")
    for message in db.messages:
        assert message.name in text, message.name
        frame_id = f"0x{message.frame_id:08X}" if message.is_extended_frame else f"0x{message.frame_id:03X}"
        assert frame_id in text, (message.name, frame_id)
        for signal in message.signals:
            if re.fullmatch(r"cell_\d{3}_mv", signal.name):
                continue  # documented as a range cell_001_mv .. cell_096_mv
            assert signal.name in text, signal.name
    assert "cell_001_mv" in text and "cell_096_mv" in text
