"""Scenario inputs as functions of time (or distance): piecewise-linear ramps and steps.
The physics asks 100 times a second, mostly within one segment, so each profile keeps the
segment it answered last and only searches when x leaves it."""

from __future__ import annotations

from bisect import bisect_right

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


class Steps(_Profile):
    """A value that changes at given points: (x, value) holds from x until the next point."""

    __slots__ = ()

    def _set(self, i: int, flat: bool) -> None:
        self._a = self.ys[i]

    def at(self, x: float):
        if not self._lo <= x < self._hi:
            self._segment(x)
        return self._a
