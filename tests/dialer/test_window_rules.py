"""The time window through the engine: the ring at 20:59:30, a callback at 21:05,
agreed windows, two zones, daylight saving, holidays, unknown zones (fail closed)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from dialer.compliance import (
    CN_BANK,
    UK_OFCOM,
    US_REGF,
    Candidate,
    DailyWindow,
    ReasonCode,
    RulePack,
)
from tests.dialer.build import (
    LONDON,
    LOS_ANGELES,
    NEW_YORK,
    SHANGHAI,
    at,
    candidate,
    decide,
    dial,
    uk_candidate,
    us_candidate,
    utc,
)

OUTSIDE = (ReasonCode.WINDOW_OUTSIDE,)
PACKS_AND_DEBTORS = [
    (CN_BANK, candidate(), SHANGHAI),
    (US_REGF, us_candidate(), NEW_YORK),
    (UK_OFCOM, uk_candidate(), LONDON),
]
PACK_IDS = ["cn-bank", "us-regf", "uk-ofcom"]


@pytest.mark.parametrize(
    ("wall", "ring_s", "allowed"),
    [
        ("2026-03-05 20:59:30", 30, False),  # the ring would still run at 21:00:00
        ("2026-03-05 20:59:29", 30, True),
        ("2026-03-05 20:59:00", 60, False),
        ("2026-03-05 20:58:59", 60, True),
        ("2026-03-05 07:59:59", 30, False),
        ("2026-03-05 08:00:00", 30, True),
    ],
)
def test_a_call_is_placed_only_when_its_whole_ring_fits_before_2100(
    wall: str, ring_s: int, allowed: bool
) -> None:
    context = dial(ring_timeout=timedelta(seconds=ring_s))
    decision = decide(candidate(), at(wall, SHANGHAI), context=context)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else OUTSIDE)


def test_the_ring_at_2059_30_is_refused_until_0800_next_day() -> None:
    decision = decide(candidate(), at("2026-03-05 20:59:30", SHANGHAI))
    assert decision.next_permitted_at == at("2026-03-06 08:00", SHANGHAI)


@pytest.mark.parametrize(("pack", "who", "zone"), PACKS_AND_DEBTORS, ids=PACK_IDS)
def test_a_callback_agreed_for_2105_is_refused_until_0800_next_day(
    pack: RulePack, who: Candidate, zone: str
) -> None:
    decision = decide(who, at("2026-03-05 21:05", zone), pack=pack)
    assert not decision.allowed
    assert decision.codes == OUTSIDE
    assert decision.next_permitted_at == at("2026-03-06 08:00", zone)


@pytest.mark.parametrize(
    ("pack", "agreed", "wall", "allowed", "next_wall"),
    [
        # cn-bank: an agreed window may reach past 21:00, never past 22:00.
        (CN_BANK, (20, 0, 21, 30), "2026-03-05 21:05", True, "2026-03-05 21:05"),
        (CN_BANK, (21, 0, 23, 0), "2026-03-05 21:59", True, "2026-03-05 21:59"),
        (CN_BANK, (21, 0, 23, 0), "2026-03-05 22:00", False, "2026-03-06 21:00"),
        (CN_BANK, (12, 0, 13, 0), "2026-03-05 10:00", False, "2026-03-05 12:00"),
        (CN_BANK, (6, 0, 9, 0), "2026-03-05 07:30", False, "2026-03-05 08:00"),
        # us-regf: consent to later calls is not taken; the window only narrows.
        (US_REGF, (20, 0, 21, 30), "2026-03-05 21:05", False, "2026-03-06 20:00"),
        (US_REGF, (12, 0, 13, 0), "2026-03-05 12:30", True, "2026-03-05 12:30"),
    ],
)
def test_a_debtor_agreed_window_replaces_the_default_inside_the_limit(
    pack: RulePack, agreed: tuple[int, int, int, int], wall: str, allowed: bool, next_wall: str
) -> None:
    window = DailyWindow(time(agreed[0], agreed[1]), time(agreed[2], agreed[3]))
    zone = SHANGHAI if pack is CN_BANK else NEW_YORK
    who = (candidate if pack is CN_BANK else us_candidate)(agreed_window=window)
    decision = decide(who, at(wall, zone), pack=pack)
    assert decision.allowed is allowed
    assert decision.next_permitted_at == at(next_wall, zone)


def test_an_agreed_window_wholly_in_the_night_never_permits_a_call() -> None:
    who = candidate(agreed_window=DailyWindow(time(22, 30), time(23, 30)))
    decision = decide(who, at("2026-03-05 22:45", SHANGHAI))
    assert decision.codes == (ReasonCode.WINDOW_AGREED_FORBIDDEN,)
    assert decision.next_permitted_at is None


@pytest.mark.parametrize(
    ("now", "allowed", "next_permitted"),
    [
        # 08:30 in New York is 05:30 in Los Angeles: wait for LA to open.
        (at("2026-06-10 08:30", NEW_YORK), False, at("2026-06-10 08:00", LOS_ANGELES)),
        (at("2026-06-10 08:00", LOS_ANGELES), True, at("2026-06-10 08:00", LOS_ANGELES)),
        (at("2026-06-10 20:59", NEW_YORK), True, at("2026-06-10 20:59", NEW_YORK)),
        # 21:30 in New York is 18:30 in Los Angeles: New York is closed.
        (at("2026-06-10 21:30", NEW_YORK), False, at("2026-06-11 08:00", LOS_ANGELES)),
    ],
)
def test_a_debtor_in_two_zones_is_called_only_when_both_windows_are_open(
    now: datetime, allowed: bool, next_permitted: datetime
) -> None:
    who = us_candidate(time_zones=(NEW_YORK, LOS_ANGELES))
    decision = decide(who, now, pack=US_REGF)
    assert decision.allowed is allowed
    assert decision.next_permitted_at == next_permitted
    if not allowed:
        assert decision.codes == OUTSIDE


@pytest.mark.parametrize(
    ("now", "allowed", "next_permitted"),
    [
        # March: EST (UTC-5) until Sunday 8 March 02:00, EDT (UTC-4) after.
        (utc("2026-03-07 12:30"), False, utc("2026-03-07 13:00")),  # Sat 07:30 EST
        (utc("2026-03-08 02:30"), False, utc("2026-03-08 12:00")),  # Sat 21:30 EST -> Sun 08:00 EDT
        (utc("2026-03-08 12:30"), True, utc("2026-03-08 12:30")),  # Sun 08:30 EDT (07:30 EST)
        (utc("2026-03-09 01:30"), False, utc("2026-03-09 12:00")),  # Sun 21:30 EDT (20:30 EST)
        # November: EDT until Sunday 1 November 02:00, EST after.
        (utc("2026-11-01 01:30"), False, utc("2026-11-01 13:00")),  # Sat 21:30 EDT -> Sun 08:00 EST
        (utc("2026-11-01 12:30"), False, utc("2026-11-01 13:00")),  # Sun 07:30 EST (08:30 EDT)
        (utc("2026-11-02 01:30"), True, utc("2026-11-02 01:30")),  # Sun 20:30 EST (21:30 EDT)
    ],
)
def test_the_window_follows_new_york_wall_time_across_daylight_saving_switches(
    now: datetime, allowed: bool, next_permitted: datetime
) -> None:
    decision = decide(us_candidate(), now, pack=US_REGF)
    assert decision.allowed is allowed
    assert decision.next_permitted_at == next_permitted


GOLDEN_WEEK = frozenset(date(2026, 10, day) for day in range(1, 8))


@pytest.mark.parametrize(
    ("forbid", "holidays", "codes", "next_wall"),
    [
        (True, GOLDEN_WEEK, (ReasonCode.WINDOW_HOLIDAY,), "2026-10-08 08:00"),
        (False, GOLDEN_WEEK, (), "2026-10-02 10:00"),
        (True, frozenset({date(2026, 5, 1)}), (), "2026-10-02 10:00"),
        (True, None, (ReasonCode.DATA_UNKNOWN_HOLIDAYS,), None),
        (False, None, (), "2026-10-02 10:00"),
    ],
)
def test_public_holidays_refuse_only_when_the_client_forbids_them(
    forbid: bool,
    holidays: frozenset[date] | None,
    codes: tuple[ReasonCode, ...],
    next_wall: str | None,
) -> None:
    who = candidate(no_holiday_calls=forbid, holidays=holidays)
    decision = decide(who, at("2026-10-02 10:00", SHANGHAI))
    assert decision.codes == codes
    expected = None if next_wall is None else at(next_wall, SHANGHAI)
    assert decision.next_permitted_at == expected


def test_a_holiday_is_the_debtors_date_not_the_servers() -> None:
    who = us_candidate(no_holiday_calls=True, holidays=frozenset({date(2026, 7, 3)}))
    evening = utc("2026-07-04 00:30")  # 3 July 20:30 in New York
    decision = decide(who, evening, pack=US_REGF)
    assert decision.codes == (ReasonCode.WINDOW_HOLIDAY,)
    assert decision.next_permitted_at == at("2026-07-04 08:00", NEW_YORK)


@pytest.mark.parametrize(
    ("zones", "code"),
    [
        ((), ReasonCode.DATA_UNKNOWN_TIME_ZONE),
        (("Mars/Olympus",), ReasonCode.DATA_INVALID_TIME_ZONE),
        ((SHANGHAI, "localtime"), ReasonCode.DATA_INVALID_TIME_ZONE),
        (("",), ReasonCode.DATA_INVALID_TIME_ZONE),
    ],
)
def test_an_unknown_time_zone_refuses_the_call(zones: tuple[str, ...], code: ReasonCode) -> None:
    decision = decide(candidate(time_zones=zones), at("2026-03-05 12:00", SHANGHAI))
    assert not decision.allowed
    assert decision.codes == (code,)
    assert decision.next_permitted_at is None


@pytest.mark.parametrize(("pack", "who", "zone"), PACKS_AND_DEBTORS, ids=PACK_IDS)
def test_a_ring_shorter_than_15_s_is_refused(pack: RulePack, who: Candidate, zone: str) -> None:
    context = dial(ring_timeout=timedelta(seconds=10))
    decision = decide(who, at("2026-03-05 12:00", zone), pack=pack, context=context)
    assert decision.codes == (ReasonCode.RING_TOO_SHORT,)
    assert decision.next_permitted_at is None


@pytest.mark.parametrize(
    ("now", "agreed", "next_permitted"),
    [
        # 08:00 in Shanghai is 19:00 (EST) in New York: two hours in common.
        (utc("2026-01-15 12:00"), None, at("2026-01-16 08:00", SHANGHAI)),
        # In summer 08:00 EDT in New York is 20:00 in Shanghai: the evening hour is next.
        (utc("2026-07-15 02:00"), None, at("2026-07-15 08:00", NEW_YORK)),
        # Noon in both places is never the same instant: no time to propose.
        (utc("2026-07-15 02:00"), DailyWindow(time(12), time(13)), None),
    ],
)
def test_zones_half_a_day_apart_are_called_only_in_their_common_hours(
    now: datetime, agreed: DailyWindow | None, next_permitted: datetime | None
) -> None:
    who = candidate(time_zones=(SHANGHAI, NEW_YORK), agreed_window=agreed)
    decision = decide(who, now)
    assert decision.codes == OUTSIDE
    assert decision.next_permitted_at == next_permitted
