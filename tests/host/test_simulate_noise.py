"""The simulator's bulk draws give exactly what the calls they replace gave, so a seed makes
the same traffic as ever: gauss_stream against random.Random.gauss, Profile.sample against at()."""

from __future__ import annotations

import random

import pytest

from host_tools.simulate.noise import gauss_stream
from host_tools.simulate.physics import DT
from host_tools.simulate.profiles import Ramp, Steps


@pytest.mark.parametrize("seed", ["0:road", "1:schedule:HitchLoad", 7])
def test_gauss_stream_is_the_sequence_of_gauss_calls(seed):
    reference, bulk = random.Random(seed), random.Random(seed)
    stream = gauss_stream(bulk, chunk=64)  # several chunks below
    for k in range(1000):
        want, got = reference.gauss(0.0, 1.0), next(stream)
        assert got.hex() == want.hex(), k
        sigma = 0.015 * 20_000
        assert (0.0 + got * sigma).hex() == (0.0 + want * sigma).hex()  # gauss(0.0, sigma), as traffic scales it


def test_gauss_stream_starts_with_the_half_of_a_pair_gauss_kept():
    reference, bulk = random.Random(3), random.Random(3)
    reference.gauss()
    bulk.gauss()  # its pair's second value waits in gauss_next
    stream = gauss_stream(bulk)
    assert [next(stream) for _ in range(5)] == [reference.gauss(0.0, 1.0) for _ in range(5)]


def _profiles(rng):
    points = sorted({round(rng.uniform(0, 50), rng.choice([0, 2])) for _ in range(rng.randrange(1, 8))})
    yield Ramp([(x, rng.uniform(-100, 100)) for x in points])
    yield Steps([(x, rng.choice(["P", "D", "R", "N"])) for x in points])


@pytest.mark.parametrize("seed", range(20))
def test_profile_sample_is_at_for_every_point(seed):
    """Steps of the physics clock, breakpoints among them, before the first point and after the last."""
    rng = random.Random(seed)
    for profile in _profiles(rng):
        first = rng.randrange(0, 4000)
        times = [i * DT for i in range(first, first + rng.randrange(1, 3000))]
        fresh = type(profile)(list(zip(profile.xs, profile.ys)))
        assert [repr(v) for v in profile.sample(times)] == [repr(fresh.at(t)) for t in times]
