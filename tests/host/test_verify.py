"""The agreement rule: raw identical, physical equal to float32 precision."""

from __future__ import annotations

import struct

from host_tools.verify import same_phys, same_raw


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def test_raw_values_must_be_identical_in_value_and_type():
    assert same_raw(5, 5)
    assert not same_raw(5, 6)
    assert not same_raw(5, 5.0)
    assert same_raw(float("nan"), float("nan"))
    assert not same_raw(1.5, float("nan"))


def test_a_pyboard_float32_result_agrees_but_a_real_difference_does_not():
    exact = 1234 * 0.1 + 0.0
    assert same_phys(exact, f32(exact), abs(1234 * 0.1))
    assert not same_phys(exact, exact + 0.1, abs(1234 * 0.1))
    # cancellation: raw*scale and offset nearly cancel; float32 error is relative to them
    assert same_phys(1000000 * 0.1 - 100000.0 + 0.05, 0.0546875, 100000.0 * 2)
    assert not same_phys(0.05, 0.06, 0.05)


def test_integers_stay_integers():
    assert same_phys(-40, -40)
    assert not same_phys(-40, -40.0)
    assert same_phys(float("inf"), float("inf"))
    assert not same_phys(float("inf"), 1e308)
