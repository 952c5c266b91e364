"""Gaussian draws in bulk: the very values `rng.gauss(0.0, 1.0)` returns call after call.

The physics draws three a step and every frame one for its jitter; a Python-level call to
`random.Random.gauss` per draw was a tenth of a run. Drawing a few hundred at a time with
the same arithmetic (random.py's Box-Muller pair: cos, then sin) keeps the sequence, so a
seed gives the same traffic as before (tests/host/test_simulate_noise.py holds them together).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from itertools import chain
from math import cos, log, pi, sin, sqrt

_TWOPI = 2.0 * pi  # as random.py has it


def gauss_stream(rng: random.Random, chunk: int = 256) -> Iterator[float]:
    """Yields what `rng.gauss(0.0, 1.0)` would return, in the same order. The stream draws
    ahead, so `rng` must serve nothing else once it is made; scale a draw `z` as gauss does
    (`mu + z * sigma`)."""
    return chain.from_iterable(_chunks(rng, chunk // 2))


def _chunks(rng: random.Random, pairs: int) -> Iterator[list[float]]:
    draw = rng.random
    pending = rng.gauss_next  # a half-used pair from earlier gauss() calls comes first
    rng.gauss_next = None
    if pending is not None:
        yield [0.0 + pending]
    while True:
        out = []
        append = out.append
        for _ in range(pairs):
            x2pi = draw() * _TWOPI
            g2rad = sqrt(-2.0 * log(1.0 - draw()))
            append(0.0 + cos(x2pi) * g2rad)  # 0.0 + z * 1.0, as gauss(0.0, 1.0) returns it
            append(0.0 + sin(x2pi) * g2rad)
        yield out
