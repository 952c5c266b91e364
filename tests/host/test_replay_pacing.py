"""Pacing: --speed parsing, deadlines at the log's pace (or N× faster), a timeline that
resumes after a gap, and the timing error the summary reports."""

from __future__ import annotations

import math

import pytest

from host_tools.replay.pacing import Pacer, parse_speed, percentiles, speed_label


def test_speed_accepts_one_a_factor_and_max():
    assert parse_speed("1") == 1.0
    assert parse_speed("20") == 20.0
    assert parse_speed("0.5") == 0.5
    assert parse_speed("max") is None and parse_speed("MAX") is None
    assert speed_label(None) == "max" and speed_label(10.0) == "10"


@pytest.mark.parametrize("text", ["0", "-2", "fast", "inf", "nan"])
def test_speed_refuses_what_is_not_a_positive_factor(text):
    with pytest.raises(ValueError, match="--speed"):
        parse_speed(text)


def test_deadlines_keep_the_logs_spacing_scaled_by_the_speed():
    pacer = Pacer(4.0)
    pacer.start(100.0, 1_700_000_000.0)
    assert pacer.due(1_700_000_000.0) == 100.0
    assert pacer.due(1_700_000_002.0) == pytest.approx(100.5)
    assert pacer.due(1_700_000_010.0) == pytest.approx(102.5)


def test_a_timestamp_that_steps_back_is_due_at_once_not_in_the_past():
    pacer = Pacer(1.0)
    pacer.start(0.0, 10.0)
    assert pacer.due(11.0) == pytest.approx(1.0)
    assert pacer.due(10.5) == pytest.approx(1.0)  # out of order in the log: sent right after
    assert pacer.due(11.2) == pytest.approx(1.2)


def test_max_speed_has_no_deadlines():
    pacer = Pacer(None)
    pacer.start(5.0, 0.0)
    assert pacer.due(1e9) == -math.inf
    assert not pacer.paced
    assert pacer.resume(10.0, 0.0) == 0.0


def test_after_a_gap_the_next_frame_is_due_at_once_and_the_rest_keep_their_spacing():
    pacer = Pacer(1.0)
    pacer.start(0.0, 0.0)
    next_due = pacer.due(3.0)  # due at 3.0, but the board was away until 7.0
    shift = pacer.resume(7.0, next_due)
    assert shift == pytest.approx(4.0)
    assert pacer.due(4.0) == pytest.approx(8.0)
    assert pacer.shift_s == pytest.approx(4.0)
    assert pacer.resume(7.5, 8.0) == 0.0  # not behind: nothing moves


def test_timing_summary_reports_errors_and_the_expected_duration():
    pacer = Pacer(2.0)
    pacer.start(0.0, 0.0)
    for k in range(1000):
        due = pacer.due(k / 1000)
        pacer.sent(due, due + (0.003 if k % 100 == 0 else 0.0002))
    summary = pacer.timing.summary(log_span_s=0.999, speed=2.0, shift_s=0.0)
    assert summary["frames"] == 1000
    assert summary["within_2ms_pct"] == pytest.approx(99.0)
    assert summary["p50_ms"] == pytest.approx(0.2)
    assert summary["max_ms"] == pytest.approx(3.0)
    assert summary["expected_s"] == pytest.approx(0.4995)
    assert Pacer(None).timing.summary(1.0, None, 0.0) is None


def test_percentiles_by_nearest_rank():
    values = [k / 1000 for k in range(1, 101)]  # 1 … 100 ms
    p = percentiles(values, (50, 99))
    assert p == {"p50_ms": 50.0, "p99_ms": 99.0, "max_ms": 100.0}
    assert percentiles([]) == {}
