"""The raw decode path allocates nothing per frame, on a normal and a Pyboard-sized heap."""

from __future__ import annotations

import random

import pytest

from host_tools.dbc import load_dbc
from host_tools.mp_bench import measure_decoder
from mule_testing import FEATURE_DBCS, PROJECT_DBC, random_frame


@pytest.mark.parametrize("path", [PROJECT_DBC, *FEATURE_DBCS], ids=lambda p: p.stem)
def test_raw_decode_allocates_nothing(path):
    dbc = load_dbc(path)
    rnd = random.Random(path.name)
    frames = [random_frame(dbc, rnd) for _ in range(500)]
    result = measure_decoder(dbc, frames, rounds=1)
    assert result["raw"]["alloc_bytes"] == 0
    assert result["hot"]["alloc_bytes"] == 0
    # the physical path creates floats: the measurement must see that, or it sees nothing
    if any(not isinstance(s.scale, int) for m in dbc.messages for s in m.signals):
        assert result["phys"]["alloc_bytes"] > 0


@pytest.mark.parametrize("mode", ["viper", "plain"])
def test_project_decoder_fits_a_pyboard_heap(mode):
    dbc = load_dbc(PROJECT_DBC)
    rnd = random.Random("pyboard")
    frames = [random_frame(dbc, rnd, faults=False) for _ in range(100)]
    result = measure_decoder(dbc, frames, rounds=1, heap="100K", mode=mode)
    assert result["raw"]["alloc_bytes"] == 0
    assert result["hot"]["alloc_bytes"] == 0
    assert result["raw"]["decoded"] == len(frames)
