"""Calling windows in local wall time (pure): the ring must fit, DST, closed days,
several zones at once."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.compliance.windows import (
    DailyWindow,
    dates_never_go_back,
    day_start,
    fits,
    next_fit,
    next_fit_everywhere,
    next_midnight,
    setbacks,
    zone_named,
)
from tests.dialer.build import LOS_ANGELES, NEW_YORK, SHANGHAI, at, utc

DAY = DailyWindow(time(8), time(21))
RING = timedelta(seconds=30)
NONE: frozenset[date] = frozenset()


def zone(name: str) -> ZoneInfo:
    found = zone_named(name)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("wall", "ring_s", "fit"),
    [
        ("2026-03-05 07:59:59", 30, False),
        ("2026-03-05 08:00:00", 30, True),
        ("2026-03-05 20:59:29", 30, True),
        ("2026-03-05 20:59:30", 30, False),  # the ring would reach 21:00:00
        ("2026-03-05 20:59:44", 15, True),
        ("2026-03-05 20:59:45", 15, False),
        ("2026-03-05 21:00:00", 0, False),
    ],
)
def test_the_whole_ring_must_end_before_the_window_closes(
    wall: str, ring_s: int, fit: bool
) -> None:
    start = at(wall, SHANGHAI)
    assert fits(start, timedelta(seconds=ring_s), zone(SHANGHAI), DAY, NONE) is fit


@pytest.mark.parametrize(
    ("name", "after", "expected"),
    [
        # Before opening: today's opening; after closing: tomorrow's.
        (SHANGHAI, at("2026-03-05 06:00", SHANGHAI), at("2026-03-05 08:00", SHANGHAI)),
        (SHANGHAI, at("2026-03-05 20:59:30", SHANGHAI), at("2026-03-06 08:00", SHANGHAI)),
        (SHANGHAI, at("2026-03-05 23:59", SHANGHAI), at("2026-03-06 08:00", SHANGHAI)),
        (SHANGHAI, at("2026-03-05 12:00", SHANGHAI), at("2026-03-05 12:00", SHANGHAI)),
        # Across the US switches the opening stays 08:00 on the wall clock.
        (NEW_YORK, utc("2026-03-08 02:30"), utc("2026-03-08 12:00")),  # Sat 21:30 EST
        (NEW_YORK, utc("2026-11-01 01:30"), utc("2026-11-01 13:00")),  # Sat 21:30 EDT
    ],
)
def test_next_fit_is_the_next_opening_in_local_time(
    name: str, after: datetime, expected: datetime
) -> None:
    assert next_fit(after, RING, zone(name), DAY, NONE) == expected


def test_closed_days_are_skipped_in_the_zones_calendar() -> None:
    closed = frozenset({date(2026, 10, day) for day in range(1, 8)})
    after = at("2026-09-30 21:30", SHANGHAI)
    assert next_fit(after, RING, zone(SHANGHAI), DAY, closed) == at("2026-10-08 08:00", SHANGHAI)
    assert not fits(at("2026-10-03 10:00", SHANGHAI), RING, zone(SHANGHAI), DAY, closed)


def test_two_zones_share_only_the_overlap_of_their_windows() -> None:
    both = (zone(NEW_YORK), zone(LOS_ANGELES))
    morning = at("2026-06-10 08:30", NEW_YORK)
    la_opens = at("2026-06-10 08:00", LOS_ANGELES)
    assert next_fit_everywhere(morning, RING, both, DAY, NONE) == la_opens
    night = at("2026-06-10 21:30", NEW_YORK)  # LA is open, New York is not
    assert next_fit_everywhere(night, RING, both, DAY, NONE) == at("2026-06-11 08:00", LOS_ANGELES)


def test_zones_that_never_share_a_window_give_no_time() -> None:
    narrow = DailyWindow(time(8), time(9))
    apart = (zone(SHANGHAI), zone(NEW_YORK))
    assert next_fit_everywhere(utc("2026-06-10 00:00"), RING, apart, narrow, NONE) is None
    assert next_fit_everywhere(utc("2026-06-10 00:00"), RING, (), DAY, NONE) is None


def test_midnights_are_the_zones_not_utcs() -> None:
    now = at("2026-03-05 00:10", SHANGHAI)  # still 4 March in UTC
    assert next_midnight(now, zone(SHANGHAI)) == utc("2026-03-05 16:00")
    assert day_start(date(2026, 3, 8), zone(NEW_YORK)) == utc("2026-03-08 05:00")
    assert day_start(date(2026, 3, 9), zone(NEW_YORK)) == utc("2026-03-09 04:00")


def test_a_clock_set_back_across_midnight_is_found_to_the_second() -> None:
    # St. John's ended summer time at 00:01 until 2010: 00:01 NDT became 23:01 NST
    # the day before, so the local date went back.
    st_johns = zone("America/St_Johns")
    assert setbacks(st_johns, 2009) == ((utc("2009-11-01 02:31"), timedelta(hours=1)),)
    switch = utc("2009-11-01 02:31")
    before = (switch - timedelta(seconds=1)).astimezone(st_johns)
    after = switch.astimezone(st_johns)
    assert (before.date(), after.date()) == (date(2009, 11, 1), date(2009, 10, 31))
    # Set back from 24:00 (Chile, Lebanon) or within the day (New York): the date
    # never goes back.
    for name in ("America/Santiago", "Asia/Beirut", NEW_YORK, SHANGHAI, "Europe/London"):
        assert setbacks(zone(name), 2026) == (), name


def test_the_date_runs_forward_unless_a_set_back_lies_in_reach() -> None:
    st_johns, switch = zone("America/St_Johns"), utc("2009-11-01 02:31")
    assert dates_never_go_back([st_johns], switch - timedelta(days=3), switch - timedelta(hours=1))
    assert not dates_never_go_back([st_johns], switch - timedelta(days=3), switch)
    # An attempt just before the switch can be on a later local date than now.
    hour, day = timedelta(hours=1), timedelta(days=1)
    assert not dates_never_go_back([st_johns], switch + hour, switch + day)
    assert dates_never_go_back([st_johns], switch + 3 * day, switch + 300 * day)
    # Across New Year: the next year's set-backs count too.
    assert not dates_never_go_back(
        [zone(SHANGHAI), st_johns], utc("2008-12-30 12:00"), utc("2009-11-02 12:00")
    )
    assert dates_never_go_back(
        [zone(SHANGHAI), zone(NEW_YORK)], utc("2025-01-01"), utc("2027-06-01")
    )
    # Casey moved its clock back three hours in March 2010 (two days or more are
    # not trusted at all; three hours are, within reach).
    casey = zone("Antarctica/Casey")
    assert not dates_never_go_back([casey], utc("2010-03-04 12:00"), utc("2010-03-05 12:00"))


@pytest.mark.parametrize(
    "name", ["", "Mars/Olympus", "America", "../etc/passwd", "/etc/localtime", "localtime",
             "America/New_York "],
)  # fmt: skip
def test_anything_but_a_place_in_the_tz_database_is_not_a_zone(name: str) -> None:
    assert zone_named(name) is None


def test_a_window_starts_before_it_ends_and_clips_to_a_limit() -> None:
    with pytest.raises(ValueError, match="start before it ends"):
        DailyWindow(time(21), time(8))
    limit = DailyWindow(time(8), time(22))
    assert DailyWindow(time(20), time(23)).clip(limit) == DailyWindow(time(20), time(22))
    assert DailyWindow(time(22), time(23)).clip(limit) is None
    assert DailyWindow(time(5), time(7)).clip(limit) is None
    assert str(DAY) == "08:00-21:00"
