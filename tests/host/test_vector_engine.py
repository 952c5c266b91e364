"""--engine vector equals cantools bit for bit, on random frames, for the project DBC and
every database under tests/files/dbc/."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from host_tools import DEFAULT_DBC
from host_tools.dbc import load_dbc, payload_lengths
from host_tools.engines.cantools_engine import decode_one
from host_tools.engines.vector_engine import VectorEngine
from host_tools.logfile import Frame

DBCS = Path(__file__).resolve().parents[1] / "files" / "dbc"
ALL = [DEFAULT_DBC, *sorted(DBCS.glob("*.dbc")), *sorted(DBCS.glob("*.arxml")),
       *sorted(DBCS.glob("*.kcd")), *sorted(DBCS.glob("*.sym"))]


def exact(value):
    """A value in a form where equal means bit for bit equal (float bits, int vs float)."""
    if isinstance(value, float):
        return ("f", struct.pack("<d", value))  # NaN payloads too
    return (type(value).__name__, value)


def mux_values(message):
    out = {}

    def walk(node):
        for name, children in node["multiplexers"].items():
            out.setdefault(name, set()).update(children)
            for child in children.values():
                walk(child)
    walk(message._codecs)
    return out


def random_frames(dbc, rng, per_message=40):
    frames = []
    for message in dbc.messages:
        muxes = {message.get_signal_by_name(n): sorted(v) for n, v in mux_values(message).items()}
        lengths = payload_lengths(message)
        for k in range(per_message):
            length = lengths[k % 2] if k % 5 else rng.choice((lengths[0], 3, 0))
            data = bytearray(rng.getrandbits(8) for _ in range(length))
            if muxes and k % 4 and length >= message.length:
                values = {s.name: rng.choice(v) for s, v in muxes.items()}
                # put defined multiplexer values in (most frames), keep the other bits random
                encoded = message.encode({**{s.name: 0 for s in message.signals}, **values},
                                         scaling=False, strict=False)
                for s in muxes:
                    from host_tools.codegen.layout import payload_bits
                    for byte, bit in payload_bits(s.start, s.length, s.byte_order):
                        data[byte] = (data[byte] & ~(1 << bit)) | (encoded[byte] & (1 << bit))
            t = 1_700_000_000 + len(frames) * 0.001
            frames.append(Frame(t, message.frame_id, message.is_extended_frame, bytes(data), "data",
                                length > 8, 0, f"rnd:{len(frames) + 1}"))
    rng.shuffle(frames)
    # a few ids no message has
    frames.append(Frame(0.0, 0x7FE, False, bytes(8), "data", False, 0, "rnd:x"))
    return frames


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_vector_equals_cantools(path):
    dbc = load_dbc(path, warn=None)
    frames = random_frames(dbc, random.Random(path.name))
    with VectorEngine(dbc) as engine:
        got = [o for _, o in engine.decode(frames)]
    assert len(got) == len(frames)
    statuses = set()
    for frame, outcome in zip(frames, got):
        want = decode_one(dbc, frame.can_id, frame.ext, frame.data)
        statuses.add(want.status)
        assert (outcome.status, outcome.msg) == (want.status, want.msg), frame
        assert list(outcome.raw) == list(want.raw), frame
        assert [exact(v) for v in outcome.raw.values()] == [exact(v) for v in want.raw.values()], frame
        assert [exact(v) for v in outcome.phys.values()] == [exact(v) for v in want.phys.values()], frame
    assert "decoded" in statuses


def test_batches_split_anywhere_give_the_same_outcomes():
    dbc = load_dbc(DBCS / "mux_extended.dbc", warn=None)
    frames = random_frames(dbc, random.Random(3), per_message=30)
    engine = VectorEngine(dbc)
    whole = [o for b in engine.batches(frames) for o in __import__("host_tools.engines.vector_engine",
                                                                     fromlist=["x"]).outcomes(b)]
    split = [o for b in engine.batches(frames, chunk=7) for o in __import__("host_tools.engines.vector_engine",
                                                                           fromlist=["x"]).outcomes(b)]
    assert whole == split
