"""Scenario inputs as functions of time (or distance): piecewise-linear ramps and steps.
The physics asks 100 times a second, mostly within one segment, so each profile keeps the
segment it answered last and only searches when x leaves it."""

from __future__ import annotations

from bisect import bisect_left, bisect_right

_INF = float("inf")


class _Profile:
    __slots__ = ("xs", "ys", "_lo", "_hi", "_a", "_b")

    def __init__(self, points):
        points = sorted(points, key=lambda p: p[0])
        if not points:
            raise ValueError("a profile needs at least one point")
        self.xs = [float(x) for x, _ in points]
        self.ys = [y for _, y in points]
        self._lo = self._hi = 0.0  # empty: the first call searches

    def _segment(self, x: float) -> None:
        xs = self.xs
        i = bisect_right(xs, x) - 1
        self._lo = -_INF if i < 0 else xs[i]
        self._hi = xs[i + 1] if i + 1 < len(xs) else _INF
        self._set(max(i, 0), i < 0 or i + 1 == len(xs))

    def sample(self, xs: list[float]) -> list:
        """[at(x) for x in xs], xs ascending, worked out a segment at a time: the same values
        for a fraction of the cost of a call per point."""
        out: list = []
        i, n = 0, len(xs)
        while i < n:
            if not self._lo <= xs[i] < self._hi:
                self._segment(xs[i])
            j = bisect_left(xs, self._hi, i)  # the first point past this segment
            out += self._values(xs, i, j)
            i = j
        return out


class Ramp(_Profile):
    """Linear between (x, value) points, constant before the first and after the last."""

    __slots__ = ()

    def __init__(self, points):
        super().__init__(points)
        self.ys = [float(y) for y in self.ys]

    def _set(self, i: int, flat: bool) -> None:
        xs, ys = self.xs, self.ys
        if flat:
            self._a, self._b = ys[i], 0.0
        else:
            self._b = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
            self._a = ys[i] - self._b * xs[i]

    def at(self, x: float) -> float:
        if not self._lo <= x < self._hi:
            self._segment(x)
        return self._a + self._b * x

    def _values(self, xs: list[float], i: int, j: int) -> list[float]:
        a, b = self._a, self._b
        return [a + b * x for x in xs[i:j]]


class Steps(_Profile):
    """A value that changes at given points: (x, value) holds from x until the next point."""

    __slots__ = ()

    def _set(self, i: int, flat: bool) -> None:
        self._a = self.ys[i]

    def at(self, x: float):
        if not self._lo <= x < self._hi:
            self._segment(x)
        return self._a

    def _values(self, xs: list[float], i: int, j: int) -> list:
        return [self._a] * (j - i)
