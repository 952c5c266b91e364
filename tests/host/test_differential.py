"""The promise: the generated MicroPython decoder and cantools decode every frame alike.

Random frames (mostly valid, some with wrong lengths, unknown ids or undefined
multiplexer values) for the project DBC and one DBC per generator feature, decoded by
both engines: raw values identical, physical values equal to float32 precision.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from host_tools.dbc import load_dbc
from host_tools.engines.cantools_engine import CantoolsEngine
from host_tools.engines.firmware_engine import FirmwareEngine
from mule_testing import FEATURE_DBCS, PROJECT_DBC, SampleFrame, choose_mux, disagreements, random_frame

ALL_DBCS = [PROJECT_DBC, *FEATURE_DBCS]
FRAMES_PER_DBC = 3000


def compare(dbc, frames, engine) -> list[str]:
    reference = list(CantoolsEngine(dbc).decode(frames))
    candidate = list(engine.decode(frames))
    assert len(candidate) == len(frames)
    return disagreements(lambda f: dbc.lookup(f.can_id, f.ext), reference, candidate)


@pytest.mark.parametrize("path", ALL_DBCS, ids=lambda p: p.stem)
def test_engines_agree_on_random_frames(path):
    dbc = load_dbc(path)
    rnd = random.Random(f"{path.name}-1")
    frames = [random_frame(dbc, rnd) for _ in range(FRAMES_PER_DBC)]
    with FirmwareEngine(dbc) as engine:
        problems = compare(dbc, frames, engine)
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("path", [PROJECT_DBC, *[p for p in FEATURE_DBCS if "mux" in p.stem or "wide" in p.stem]],
                         ids=lambda p: p.stem)
def test_plain_bytecode_fallback_agrees(path):
    dbc = load_dbc(path)
    rnd = random.Random(f"{path.name}-plain")
    frames = [random_frame(dbc, rnd) for _ in range(1000)]
    with FirmwareEngine(dbc, mode="plain") as engine:
        problems = compare(dbc, frames, engine)
    assert not problems, "\n".join(problems[:20])


def test_project_dbc_on_a_pyboard_sized_heap():
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random("heap")
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(5000)]
    with FirmwareEngine(dbc, heap="100K") as engine:
        problems = compare(dbc, frames, engine)
    assert not problems, "\n".join(problems[:20])


def _mux_value_lists(tree) -> list[list[int]]:
    lists = []
    for item in tree:
        if isinstance(item, dict):
            for children in item.values():
                lists.append(sorted(children))
                for subtree in children.values():
                    lists.extend(_mux_value_lists(subtree))
    return lists


def pattern_frames(dbc) -> list:
    """Not left to chance: every message, every multiplexer value, three fill patterns."""
    frames = []
    for message in dbc.messages:
        rounds = max((len(values) for values in _mux_value_lists(message.signal_tree)), default=1)
        for fill in (0x00, 0xFF, 0x5A):
            for i in range(rounds):
                data = bytearray([fill] * message.length)
                choose_mux(message, message.signal_tree, data, lambda values, i=i: values[i % len(values)])
                frames.append(SampleFrame(message.frame_id, message.is_extended_frame, bytes(data)))
    return frames


@pytest.mark.parametrize("path", ALL_DBCS, ids=lambda p: p.stem)
def test_every_message_and_mux_value_decodes(path):
    dbc = load_dbc(path)
    frames = pattern_frames(dbc)
    with FirmwareEngine(dbc) as engine:
        outcomes = [o.status for _, o in engine.decode(frames)]
        problems = compare(dbc, frames, engine)
    assert not problems, "\n".join(problems[:20])
    if not dbc.warnings:
        assert outcomes == ["decoded"] * len(frames)
    else:  # non-strict: only where cantools cannot unpack a level (signals overlapping in one order)
        reference = [o.status for _, o in CantoolsEngine(dbc).decode(frames)]
        assert outcomes == reference and outcomes.count("decoded") > 0.9 * len(frames)


@pytest.fixture(scope="module")
def engines():
    """One firmware engine per DBC, shared by the hypothesis examples."""
    started = {}
    try:
        def get(path):
            if path not in started:
                dbc = load_dbc(path)
                started[path] = (dbc, FirmwareEngine(dbc).__enter__())
            return started[path]
        yield get
    finally:
        for _, engine in started.values():
            engine.__exit__(None, None, None)


@st.composite
def frames_of(draw, dbc):
    message = draw(st.sampled_from(dbc.messages))
    data = bytearray(draw(st.binary(min_size=message.length, max_size=message.length)))
    choose_mux(message, message.signal_tree, data, lambda values: draw(st.sampled_from(values)))
    return SampleFrame(message.frame_id, message.is_extended_frame, bytes(data))


@pytest.mark.parametrize("path", ALL_DBCS, ids=lambda p: p.stem)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_engines_agree_hypothesis(engines, path, data):
    dbc, engine = engines(path)
    frames = data.draw(st.lists(frames_of(dbc), min_size=1, max_size=30))
    problems = compare(dbc, frames, engine)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", ALL_DBCS, ids=lambda p: p.stem)
def test_the_table_walker_agrees_on_every_message(path):
    """tables="all": every message through the table-walking routines, multiplexed ones (their
    signal tree program) too: what a vehicle-scale DBC uses for most messages on the board;
    every multiplexer value's pattern frames as well."""
    dbc = load_dbc(path, warn=None)
    rnd = random.Random(f"{path.name}-walk")
    frames = [random_frame(dbc, rnd) for _ in range(1000)] + pattern_frames(dbc)
    mode = "plain" if "wide" in path.stem or "signed" in path.stem else "viper"
    with FirmwareEngine(dbc, mode=mode, tables="all") as engine:
        problems = compare(dbc, frames, engine)
    assert not problems, "\n".join(problems[:20])
