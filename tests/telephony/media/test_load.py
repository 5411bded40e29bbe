"""The media clock's overload gauge (pure): late on average for about a second, or
skipping ticks, is overloaded; one stall is not; it clears only well under the line."""

from __future__ import annotations

import itertools

import pytest

from telephony.media.clock import MediaClock
from telephony.media.load import HIGH, LOW, LoadGauge

SECOND = 50  # ticks


def run(gauge: LoadGauge, late: float, ticks: int) -> LoadGauge:
    for _ in range(ticks):
        gauge.record(late)
    return gauge


def test_a_clock_on_time_is_never_overloaded() -> None:
    gauge = run(LoadGauge(), 0.001, 100 * SECOND)
    assert not gauge.overloaded and gauge.average == pytest.approx(0.001)


def test_one_long_stall_is_not_an_overload() -> None:
    gauge = run(LoadGauge(), 0.001, 10 * SECOND)
    gauge.record(0.2)  # a 200 ms pause: one tick that late
    assert not gauge.overloaded
    assert run(gauge, 0.001, SECOND).average < LOW


def test_a_clock_that_stays_behind_is_overloaded_within_a_second_or_two() -> None:
    gauge = run(LoadGauge(), 0.001, 10 * SECOND)
    ticks = 0
    while not gauge.overloaded:
        gauge.record(0.040)  # each tick's last packet two ticks late
        ticks += 1
    assert SECOND // 4 < ticks < 2 * SECOND


def test_it_clears_only_under_the_low_line() -> None:
    gauge = run(LoadGauge(), 0.030, 3 * SECOND)
    assert gauge.overloaded
    run(gauge, 0.006, 5 * SECOND)  # between the lines: still overloaded
    assert gauge.overloaded and LOW < gauge.average < HIGH
    run(gauge, 0.0, 2 * SECOND)
    assert not gauge.overloaded
    run(gauge, 0.006, 5 * SECOND)  # the same lateness, coming from below: not overloaded
    assert not gauge.overloaded


def test_one_stall_that_skips_ticks_is_not_an_overload_but_stalls_that_keep_coming_are() -> None:
    gauge = run(LoadGauge(), 0.001, 10 * SECOND)
    gauge.skipped(11 * 0.020)  # 220 ms skipped
    assert not gauge.overloaded
    stalls = 0
    while not gauge.overloaded:
        gauge.skipped(0.220)
        run(gauge, 0.001, 5)  # a 220 ms stall every 100 ms of ticks
        stalls += 1
    assert stalls < 10


@pytest.mark.parametrize(
    ("high", "low", "weight"), [(0.01, 0.01, 0.02), (0.01, -0.001, 0.02), (0.01, 0.003, 0.0)]
)
def test_settings_that_make_no_sense_are_refused(high: float, low: float, weight: float) -> None:
    with pytest.raises(ValueError, match=r"need|weight"):
        LoadGauge(high=high, low=low, weight=weight)


def test_the_clock_feeds_its_gauge_with_each_ticks_completion() -> None:
    # Each tick's start, last packet and taps fed: the last packet 40 ms late.
    readings = itertools.cycle([1.030, 1.040, 1.045])
    clock = MediaClock(now=lambda: next(readings))
    for tick in range(200):
        clock._run_tick(tick, 1.0)
    assert clock.load.overloaded
    assert clock.load.average == pytest.approx(0.040, rel=0.02)
