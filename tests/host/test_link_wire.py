"""host_tools.link against the shared vectors (tests/vectors/) and properties of the
protocol in docs/protocol.md: resynchronisation, counting, batching, overhead."""

from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools.link import messages as m
from host_tools.link import wire

VECTORS = Path(__file__).resolve().parent.parent / "vectors"


def vectors(name: str) -> dict:
    return json.loads((VECTORS / name).read_text())


STREAMS = vectors("streams.json")["streams"]
MESSAGES = vectors("messages.json")["messages"]


def frames_as_dicts(frames: list[wire.Frame]) -> list[dict]:
    return [{"type": f.type, "seq": f.seq, "body": f.body.hex()} for f in frames]


def receiver(kind: str) -> wire.StreamDecoder:
    return m.board_receiver() if kind == "board" else m.host_receiver()


def feed_in_chunks(decoder: wire.StreamDecoder, data: bytes, sizes) -> list[wire.Frame]:
    out, at, sizes = [], 0, iter(sizes)
    while at < len(data):
        n = next(sizes)
        out += decoder.feed(data[at:at + n])
        at += n
    return out


# ---------------------------------------------------------------- vectors

def test_constants_match_the_vectors():
    c = vectors("constants.json")
    names = {v: k for k, v in wire.TYPE_NAMES.items()}
    assert {name: names[name] for name in c["types"]} == c["types"]
    assert set(wire.TYPE_NAMES.values()) == set(c["types"])
    assert (wire.MAX_PAYLOAD, wire.MAX_BODY, wire.MAX_ENCODED, wire.MAX_WIRE) == (
        c["MAX_PAYLOAD"], c["MAX_BODY"], c["MAX_ENCODED"], c["MAX_WIRE"])
    assert (wire.HEADER, wire.CRC_SIZE, wire.PROTO_VERSION) == (
        c["HEADER"], c["CRC_SIZE"], c["PROTO_VERSION"])
    assert (wire.FRAME_NO_MASK, wire.NO_ACK, wire.PING_WIRE) == (c["FRAME_NO_MASK"], c["NO_ACK"], c["PING_WIRE"])
    assert len(wire.encode_frame(wire.PING, 0)) == len(wire.encode_frame(wire.PING, 0x0101)) == wire.PING_WIRE
    assert (m.CAN_BATCH_HEADER, m.CAN_RECORD_HEADER, m.CAN_MAX_DATA, m.STATS_SIZE, m.CAN_EXT_FLAG) == (
        c["CAN_BATCH_HEADER"], c["CAN_RECORD_HEADER"], c["CAN_MAX_DATA"], c["STATS_SIZE"], c["CAN_EXT_FLAG"])
    assert list(m.STATS_FIELDS) == vectors("messages.json")["stats_fields"]


def test_crc_vectors():
    v = vectors("crc.json")
    assert wire.crc32(b"123456789") == v["check"]["crc"] == 0xCBF43926
    for case in v["cases"]:
        assert wire.crc32(bytes.fromhex(case["data"])) == case["crc"]


@pytest.mark.parametrize("case", vectors("cobs.json")["cases"], ids=lambda c: c["name"])
def test_cobs_vectors(case):
    data, encoded = bytes.fromhex(case["decoded"]), bytes.fromhex(case["encoded"])
    assert wire.cobs_encode(data) == encoded
    assert wire.cobs_decode(encoded) == data


def test_cobs_invalid_and_noncanonical_vectors():
    v = vectors("cobs.json")
    for case in v["invalid"]:
        with pytest.raises(wire.CobsError):
            wire.cobs_decode(bytes.fromhex(case["encoded"]))
    for case in v["noncanonical"]:
        assert wire.cobs_decode(bytes.fromhex(case["encoded"])).hex() == case["decoded"]


def message_from_fields(v: dict):
    f = v["fields"]
    name = v["type_name"]
    if name == "HELLO":
        return m.Hello(f["boot_id"], f["mode"], f["caps"], f["rx_window"], bytes.fromhex(f["dbc_sha256"]),
                       f["fw_version"], f["board"], f["heap_free"], f["proto"])
    if name == "CAN":
        return m.CanBatch(f["first_no"], tuple(
            m.CanRecord(r["t_us"], r["id"], r["ext"], bytes.fromhex(r["data"])) for r in f["records"]))
    if name == "TELEMETRY":
        records = []
        for r in f["records"]:
            if "run" in r:  # telemetry "changed": a record per frame of the run
                records += [m.TelemetryRecord((r["frame_no"] + i) & m.FRAME_NO_MASK,
                                              m.UNKNOWN_ID if c == "u" else m.SUPPRESSED) for i, c in enumerate(r["run"])]
            else:
                records.append(m.TelemetryRecord(r["frame_no"], r["result"], tuple(m.Signal(*s) for s in r["signals"])))
        return m.Telemetry(tuple(records), any("run" in r for r in f["records"]))
    if name == "STATS":
        return m.Stats(**f)
    cls = {"SYNC": m.Sync, "STOP": m.Stop, "PING": m.Ping, "ALERT": m.Alert, "LOG": m.Log, "CREDIT": m.Credit,
           "TOW_RANGE": m.TowRange}[name]
    return cls(**f)


@pytest.mark.parametrize("v", MESSAGES, ids=lambda v: v["name"])
def test_message_vectors(v):
    message = message_from_fields(v)
    assert message.TYPE == v["type"]
    body = message.encode()
    assert body.hex() == v["body"]
    assert wire.encode_frame(v["type"], v["seq"], body).hex() == v["wire"]
    wide = {tuple(x) for x in v.get("wide", [])}
    decoded = m.decode_body(v["type"], body, lambda mi, si: (mi, si) in wide)
    if "decoded" in v:  # a string cut to 255 bytes
        assert decoded == type(message)(**v["decoded"])
    else:
        assert decoded == message
    frames = receiver("board" if v["type"] in wire.HOST_TO_BOARD else "host").feed(bytes.fromhex(v["wire"]))
    assert frames == [wire.Frame(v["type"], v["seq"], body)]


@pytest.mark.parametrize("v", STREAMS, ids=lambda v: v["name"])
def test_stream_vectors(v):
    data = bytes.fromhex(v["stream"])
    rnd = random.Random(v["name"])
    chunkings = [[len(data)], [1] * len(data), [7] * len(data),
                 [rnd.randint(1, 40) for _ in range(len(data))]]
    for sizes in chunkings:
        decoder = receiver(v["receiver"])
        frames = feed_in_chunks(decoder, data, sizes)
        assert frames_as_dicts(frames) == v["frames"]
        assert decoder.counters() == v["counters"]
        assert decoder.last_seq == v["last_seq"]  # what a CREDIT acknowledges


# ---------------------------------------------------------------- properties

@given(st.binary(max_size=1200))
def test_cobs_round_trip_has_no_zeros_and_bounded_overhead(data):
    encoded = wire.cobs_encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + max(1, -(-len(data) // 254))
    assert wire.cobs_decode(encoded) == data


@given(st.binary(min_size=1, max_size=600))
def test_cobs_decode_never_crashes(run):
    try:
        wire.cobs_decode(run.replace(b"\x00", b"\x01"))
    except wire.CobsError:
        pass


records_strategy = st.lists(st.builds(
    lambda t, ext, ident, data: m.CanRecord(t, ident & (0x1FFFFFFF if ext else 0x7FF), ext, data),
    st.integers(0, 2**32 - 1), st.booleans(), st.integers(0, 2**29 - 1),
    st.one_of(st.binary(max_size=8), st.binary(min_size=12, max_size=64))), max_size=120)


@given(records_strategy, st.integers(0, 2**30 - 1), st.integers(78, wire.MAX_BODY))
def test_split_batches_keeps_order_numbers_and_size(records, first_no, max_body):
    batches = m.split_batches(records, first_no, max_body)
    assert [r for b in batches for r in b.records] == records
    number = first_no
    for batch in batches:
        assert batch.first_no == number & wire.FRAME_NO_MASK  # frame numbers count mod 2**30
        number += len(batch.records)
        body = batch.encode()
        assert len(body) <= max_body and 0 < len(batch.records) <= m.MAX_COUNT
        assert len(wire.encode_frame(wire.CAN, 0, body)) <= m.batch_wire_size(batch.records) <= wire.MAX_WIRE
        assert m.CanBatch.decode(body) == batch


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(-3, 40),
                          st.lists(st.tuples(st.integers(0, 20), st.integers(-2**31, 2**31 - 1),
                                             st.integers(-2**31, 2**31 - 1)), max_size=6)), max_size=20))
def test_telemetry_round_trip(rows):
    wide = lambda mi, si: (mi + si) % 3 == 0  # noqa: E731
    records = tuple(m.TelemetryRecord(no, res, tuple(m.Signal(si, v0, v1 if wide(res, si) else None)
                                                     for si, v0, v1 in sigs) if res >= 0 else ())
                    for no, res, sigs in rows)
    telemetry = m.Telemetry(records)
    assert m.Telemetry.decode(telemetry.encode(), wide) == telemetry


def test_signal_raw_values():
    assert m.Signal(0, -1).raw(32, signed=False) == 0xFFFFFFFF
    assert m.Signal(0, -1).raw(32, signed=True) == -1
    assert m.Signal(0, -5).raw(12, signed=True) == -5
    assert m.Signal(0, -1, -1).raw(64, signed=True) == -1
    assert m.Signal(0, -1, 0x7F).raw(40, signed=False) == 0x7FFFFFFFFF


def test_bodies_that_do_not_parse():
    hello = m.Hello(1, 1, 0, 1024, bytes(32), "fw", "board")
    for type_, body in [(wire.HELLO, hello.encode()[:-1]), (wire.HELLO, hello.encode() + b"\x00"),
                        (wire.STATS, bytes(64)), (wire.CREDIT, bytes(5)), (wire.SYNC, b"\x00"),
                        (wire.LOG, b"\x01\x03ab"), (0x7F, b"")]:
        assert not m.body_ok(type_, body)
        with pytest.raises(m.BodyError):
            m.decode_body(type_, body)
    with pytest.raises(m.BodyError, match="wide"):
        m.decode_body(wire.TELEMETRY, b"\x00")
    with pytest.raises(m.BodyError, match="result -1 with 1 signals"):
        m.Telemetry.decode(struct.pack("<BIhHHi", 1, 0, -1, 1, 0, 0), lambda mi, si: False)


def test_encoders_refuse_what_does_not_fit():
    with pytest.raises(ValueError, match="at most 505"):
        wire.encode_frame(wire.LOG, 0, bytes(506))
    with pytest.raises(ValueError, match="standard"):
        m.CanBatch(0, (m.CanRecord(0, 0x800, False, b""),)).encode()
    with pytest.raises(ValueError, match="64"):
        m.CanBatch(0, (m.CanRecord(0, 1, False, bytes(65)),)).encode()
    with pytest.raises(ValueError, match="2\\*\\*30"):
        m.CanBatch(1 << 30, ()).encode()


def test_frame_encoder_numbers_frames_and_wraps():
    enc = wire.FrameEncoder(seq=65534)
    frames = m.board_receiver().feed(b"".join(enc.encode(wire.SYNC) for _ in range(3)))
    assert [f.seq for f in frames] == [65534, 65535, 0]


def test_overhead_per_replayed_can_frame_is_at_most_6_bytes():
    rnd = random.Random(6)
    for count in (16, 29):
        records = [m.CanRecord(rnd.getrandbits(32), rnd.getrandbits(11), False, rnd.randbytes(8))
                   for _ in range(count)]
        (batch,) = m.split_batches(records)
        wire_bytes = len(wire.encode_frame(wire.CAN, 1, batch.encode()))
        worst = m.batch_wire_size(records)
        assert wire_bytes <= worst
        overhead = worst / count - (4 + 1 + 8)
        assert overhead <= 6
        if count == 16:
            assert worst == 288 and overhead == 5  # the figures docs/protocol.md gives
    # 29 classic frames fill a batch; a 30th starts the next one
    assert len(m.split_batches([m.CanRecord(0, 1, False, bytes(8))] * 30)) == 2


def test_credit_window_follows_the_documented_example():
    # docs/protocol.md, CREDIT: rx_window 1024, CAN batches of 288 wire bytes, SYNC was seq 0
    window = wire.CreditWindow()
    window.on_hello(1024)
    assert not window.on_credit(1024, 0)  # acknowledges the SYNC: not a frame of this session
    seq = 1
    while window.may_send(288):
        window.sent(seq, 288)
        seq += 1
    assert (seq, window.sent_total, window.room()) == (4, 864, 100)
    assert window.on_credit(1024, 1)
    assert (window.limit, window.room()) == (1312, 388)
    window.sent(4, 288)  # CAN 3 is lost on the way, CAN 4 arrives; CREDIT ack 4 is lost
    assert window.room() == 100 and [s for s, _, _ in window.unacked] == [2, 3, 4]
    assert window.ping_due(10.0) == 0.0  # held up for longer than ping_after
    window.pinged(5, 10.0)
    assert window.ping_due(10.0) > 0  # not again at once: the wait doubles
    assert window.on_credit(1024, 5, 10.002)
    assert (window.limit, window.sent_total, window.room(), len(window.unacked)) == (2186, 1162, 964, 0)
    assert window.ping_due(20.0) == float("inf")  # nothing unacknowledged: no PING
    assert not window.on_credit(1024, 5)  # a repeated CREDIT changes nothing
    assert window.limit == 2186 and window.stale == 2


def test_a_frame_lost_on_the_way_in_is_released_by_any_later_acknowledgement():
    window = wire.CreditWindow()
    window.on_hello(1024)
    for seq in range(1, 4):
        window.sent(seq, 300)  # 900 bytes in flight: no room for another batch
    assert window.room() == 64
    assert window.on_credit(1024, 3)  # 1 and 2 never arrived: 3's acknowledgement releases them
    assert window.room() == 964 and not window.unacked


def test_pings_back_off_and_stop_when_the_reserve_is_spent():
    window = wire.CreditWindow()
    window.on_hello(600)
    window.sent(1, 600 - wire.PING_RESERVE, now=0.0)  # all the room CAN frames have
    waits, now, seq = [], 0.0, 2
    while window.ping_due(now) != float("inf"):
        now += window.ping_due(now)
        window.pinged(seq, now)
        waits.append(now)
        seq += 1
    assert len(waits) == 6  # PING_RESERVE holds six: none of them answered, the host stops asking
    gaps = [b - a for a, b in zip(waits, waits[1:])]
    assert all(b == pytest.approx(2 * a) for a, b in zip(gaps, gaps[1:]))  # doubling
    assert window.on_credit(600, seq - 1, now + 0.01)  # the last PING's CREDIT releases everything
    assert window.room() == 600 - wire.PING_RESERVE


# ---------------------------------------------------------------- garbage in a stream of frames

@dataclass
class Spliced:
    """A stream of valid host → board frames with a fault every `every` frames."""
    stream: bytes
    sent: list[wire.Frame]
    hit: set[int] = field(default_factory=set)  # indices of frames that were corrupted
    remains: set[int] = field(default_factory=set)  # ... of which a non-zero byte is left
    junk_runs: int = 0  # garbage insertions holding a non-zero byte: each must be counted


def _random_batch(rnd: random.Random, first_no: int) -> bytes:
    records = []
    for _ in range(rnd.choice([0, 1, 3, 16, 29])):
        ext = rnd.random() < 0.3
        n = rnd.choice([0, 8, 8, 8, 64]) if rnd.random() < 0.9 else rnd.randint(0, 64)
        records.append(m.CanRecord(rnd.getrandbits(32), rnd.getrandbits(29 if ext else 11), ext,
                                   rnd.randbytes(n)))
    return m.split_batches(records, first_no)[0].encode() if records else m.CanBatch(first_no, ()).encode()


def _junk(rnd: random.Random, sample: bytes) -> bytes:
    kind = rnd.randrange(5)
    if kind == 0:
        return b"AT\r\n"  # ModemManager probing the port
    if kind == 1:
        return bytes(rnd.randint(1, 255) for _ in range(rnd.randint(516, 1200)))  # oversize run
    if kind == 2:
        return sample[:rnd.randint(1, len(sample) - 2)]  # a stale frame, short of its last byte
    return rnd.randbytes(rnd.randint(1, 40))  # line noise, zeros included


def splice_stream(rnd: random.Random, n_frames: int = 60, every: int = 3) -> Spliced:
    """Frame 0 is a SYNC, the last a STOP; neither is ever hit, so every lost frame shows
    as a seq gap. Faults: junk between frames, or one frame truncated, bit-flipped,
    short of some bytes (delimiters included), or with junk inside."""
    encoder = wire.FrameEncoder()
    parts: list[bytes] = []
    result = Spliced(b"", [])
    for k in range(n_frames):
        if k == 0:
            type_, body = wire.SYNC, b""
        elif k == n_frames - 1:
            type_, body = wire.STOP, b""
        else:
            type_, body = wire.CAN, _random_batch(rnd, k * 100)
        result.sent.append(wire.Frame(type_, encoder.seq, body))
        w = encoder.encode(type_, body)
        if 0 < k < n_frames - 1 and k % every == 0:
            fault = rnd.randrange(5)
            if fault == 0:
                junk = _junk(rnd, w)
                parts.append(junk)
                result.junk_runs += any(junk)
            else:
                result.hit.add(k)
                inner = len(w) - 2
                if fault == 1:  # truncated: the end of the frame is lost
                    w = w[:1 + rnd.randint(0, inner - 1)] + b"\x00"
                elif fault == 2:  # a bit flip
                    at = rnd.randint(1, inner)
                    w = w[:at] + bytes([w[at] ^ (1 << rnd.randrange(8))]) + w[at + 1:]
                elif fault == 3:  # bytes lost, maybe a delimiter too
                    at = rnd.randint(0, len(w) - 1)
                    w = w[:at] + w[at + rnd.randint(1, 30):]
                else:  # junk inside the frame
                    at = rnd.randint(1, inner)
                    w = w[:at] + rnd.randbytes(rnd.randint(1, 20)) + w[at:]
                if any(w):
                    result.remains.add(k)
        parts.append(w)
    result.stream = b"".join(parts)
    return result


def check_spliced(case: Spliced, frames: list[wire.Frame], counters: dict) -> None:
    """Zero mis-decoded frames and every corruption counted."""
    by_seq = {f.seq: (k, f) for k, f in enumerate(case.sent)}
    accepted_indices = []
    for frame in frames:  # every accepted frame was sent, byte for byte, in order
        k, sent = by_seq[frame.seq]
        assert frame == sent
        accepted_indices.append(k)
    assert accepted_indices == sorted(set(accepted_indices))
    lost = set(range(len(case.sent))) - set(accepted_indices)
    assert lost <= case.hit  # only a corrupted frame may be lost; junk between frames costs none
    assert counters["frames"] == len(frames)
    assert counters["seq_gaps"] == len(lost)
    # a frame lost without a trace (all its bytes dropped) shows only as a seq gap
    assert counters["crc_errors"] + counters["bad_frames"] >= case.junk_runs + len(lost & case.remains)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**64), st.integers(2, 8), st.integers(1, 600))
def test_garbage_spliced_into_frames_is_counted_and_never_accepted(seed, every, chunk):
    case = splice_stream(random.Random(seed), n_frames=40, every=every)
    decoder = m.board_receiver()
    frames = feed_in_chunks(decoder, case.stream, [chunk] * len(case.stream))
    check_spliced(case, frames, decoder.counters())
