"""can_source's pure planners, run inside MicroPython: bit timing from the CAN clock
(checked with the bxCAN register arithmetic and against every other valid timing) and
the bus-off restart backoff."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from host_tools.tools import tool

HERE = Path(__file__).resolve().parent
FIRMWARE = HERE.parents[1] / "firmware"
SCRIPT = HERE / "can_source_mp.py"
PYBOARD_APB1 = 42_000_000


def run_planners(request: dict) -> dict:
    result = subprocess.run([tool("micropython"), str(SCRIPT), str(FIRMWARE), json.dumps(request)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def sample_error(bs1: int, bs2: int) -> float:
    return abs((1 + bs1) / (1 + bs1 + bs2) - 0.875)


def best_possible_error(pclk: int, bitrate: int) -> float:
    """The nearest sample point to 87.5 % any exact bxCAN timing reaches (brute force)."""
    errors = [sample_error(bs1, bs2)
              for prescaler in range(1, 1025) for bs1 in range(1, 17) for bs2 in range(1, 9)
              if 8 <= 1 + bs1 + bs2 <= 25 and prescaler * (1 + bs1 + bs2) * bitrate == pclk]
    return min(errors)


@pytest.mark.parametrize("pclk", [PYBOARD_APB1, 48_000_000, 54_000_000])
def test_timing_is_exact_in_range_and_the_nearest_to_87_5_percent(pclk):
    bitrates = [125_000, 250_000, 500_000, 1_000_000]
    got = run_planners({"timing": [[pclk, b] for b in bitrates]})["timing"]
    for bitrate, (prescaler, sjw, bs1, bs2) in zip(bitrates, got):
        assert 1 <= prescaler <= 1024 and 1 <= bs1 <= 16 and 1 <= bs2 <= 8 and 8 <= 1 + bs1 + bs2 <= 25
        assert 1 <= sjw <= min(4, bs2)
        assert pclk % (prescaler * (1 + bs1 + bs2)) == 0
        assert pclk // (prescaler * (1 + bs1 + bs2)) == bitrate  # the bxCAN bit time, exactly
        assert sample_error(bs1, bs2) == pytest.approx(best_possible_error(pclk, bitrate))
        assert sample_error(bs1, bs2) < 0.05


def test_pyboard_timings():
    # 42 MHz APB1: 250k and 125k reach 87.5 % exactly; 500k and 1M stop at 12/14 = 85.7 %
    got = run_planners({"timing": [[PYBOARD_APB1, b] for b in (125_000, 250_000, 500_000, 1_000_000)]})
    assert got["timing"] == [[21, 2, 13, 2], [21, 1, 6, 1], [6, 2, 11, 2], [3, 2, 11, 2]]


def test_a_bitrate_the_clock_cannot_make_is_refused_by_name():
    got = run_planners({"timing": [[PYBOARD_APB1, 800_000], [PYBOARD_APB1, 0], [8_000_000, 1_000_000]]})["timing"]
    assert got[0].startswith("ValueError") and "800000" in got[0] and "42000000" in got[0]
    assert got[1].startswith("ValueError")
    assert got[2] == [1, 1, 6, 1]  # 8 MHz / 8 quanta: the smallest bit time bxCAN allows


def test_bus_off_restart_backoff_doubles_to_5_s_and_resets_after_10_s_active():
    # bus-off again 2 ms after every restart, 8 times; then 20 s quiet; then once more
    recurring = []
    t = 0
    waits = [100, 200, 400, 800, 1600, 3200, 5000, 5000]
    for wait in waits:
        recurring.append(t)
        t += wait + 2  # restart at t + wait, seen active, bus-off again 2 ms after the restart
    last = t + 20_000
    scenario = {"off_at": recurring + [last], "until": last + 500}
    restarts = run_planners({"guard": [scenario]})["guard"][0]
    assert [w for _, w in restarts] == waits + [100]
    assert [at for at, _ in restarts] == [off + w for off, w in zip(recurring + [last], waits + [100])]


def test_a_restart_that_does_not_take_is_retried_after_the_doubled_backoff():
    restarts = run_planners({"guard": [{"off_at": [50], "sticky": 2, "until": 2000}]})["guard"][0]
    # bus-off at 50: restart at 150 (fails), 350 (fails), 750 (takes)
    assert restarts == [[150, 100], [350, 200], [750, 400]]


def test_backoff_does_not_reset_before_10_s_active():
    # off at 0 -> restart 100; off at 9_000 (8.9 s active) -> 200; off at 19_300 (10.1 s) -> 100
    restarts = run_planners({"guard": [{"off_at": [0, 9_000, 19_300], "until": 20_000}]})["guard"][0]
    assert restarts == [[100, 100], [9_200, 200], [19_400, 100]]
