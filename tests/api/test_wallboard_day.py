"""The wallboard's day chart, pure: a campaign's calls counted per interval of the
client's day, the interval rates, and the abandon rate of the day to each interval's
end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from api.wallboard import CallCounts, day_points, day_start

SH = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
HALF_HOUR = timedelta(minutes=30)


def counts(attempts: int = 0, finished: int = 0, answers: int = 0, connected: int = 0,
           abandoned: int = 0, rpc: int = 0) -> CallCounts:
    return CallCounts(attempts, finished, answers, connected, abandoned, rpc)


@pytest.mark.parametrize(("c", "answer_rate", "abandon_rate"), [
    (counts(), None, None),
    (counts(attempts=3), None, None),  # nothing finished, nobody answered yet
    (counts(4, 4, 2, 2, 0, 1), 0.5, 0.0),
    (counts(10, 8, 4, 3, 1, 2), 0.5, 0.25),
    (counts(5, 5, 1, 0, 1), 0.2, 1.0),  # the one person who answered was abandoned
    (counts(6, 6, 3, 2, 0), 0.5, 0.0),  # a hang-up before an agent came is an answer only
])
def test_the_rates_of_some_calls(c: CallCounts, answer_rate: float | None,
                                 abandon_rate: float | None) -> None:
    assert (c.answer_rate, c.abandon_rate) == (answer_rate, abandon_rate)
    assert c.as_json()["answer_rate"] == answer_rate


@pytest.mark.parametrize(("now", "zone", "start"), [
    (datetime(2026, 11, 29, 3, 0, tzinfo=UTC), SH, datetime(2026, 11, 28, 16, 0, tzinfo=UTC)),
    (datetime(2026, 11, 29, 16, 30, tzinfo=UTC), SH, datetime(2026, 11, 29, 16, 0, tzinfo=UTC)),
    (datetime(2026, 3, 29, 12, 0, tzinfo=UTC), LONDON, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)),
    (datetime(2026, 10, 25, 12, 0, tzinfo=UTC), LONDON,
     datetime(2026, 10, 24, 23, 0, tzinfo=UTC)),  # midnight was still summer time
])
def test_the_day_starts_at_local_midnight(now: datetime, zone: ZoneInfo,
                                          start: datetime) -> None:
    assert day_start(now, zone) == start


def test_no_call_today_is_no_point() -> None:
    start = day_start(datetime(2026, 11, 29, 3, 0, tzinfo=UTC), SH)
    assert day_points({}, start, HALF_HOUR, start + timedelta(hours=11), SH) == []


def test_points_run_from_the_first_call_to_now_with_the_rate_to_date() -> None:
    start = day_start(datetime(2026, 11, 29, 3, 0, tzinfo=UTC), SH)
    now = start + timedelta(hours=10, minutes=5)  # 10:05 in Shanghai: slot 20
    slots = {16: counts(4, 4, 2, 2, 0, 1), 18: counts(10, 8, 4, 3, 1, 2),
             20: counts(2, 0, 0, 0, 0)}
    points = day_points(slots, start, HALF_HOUR, now, SH)
    assert [(p["from"], p["to"]) for p in points] == [
        ("2026-11-29T08:00:00+08:00", "2026-11-29T08:30:00+08:00"),
        ("2026-11-29T08:30:00+08:00", "2026-11-29T09:00:00+08:00"),
        ("2026-11-29T09:00:00+08:00", "2026-11-29T09:30:00+08:00"),
        ("2026-11-29T09:30:00+08:00", "2026-11-29T10:00:00+08:00"),
        ("2026-11-29T10:00:00+08:00", "2026-11-29T10:30:00+08:00"),
    ]
    assert [p["attempts"] for p in points] == [4, 0, 10, 0, 2]
    assert [p["answer_rate"] for p in points] == [0.5, None, 0.5, None, None]
    assert [p["abandon_rate"] for p in points] == [0.0, None, 0.25, None, None]
    # the day so far: 0/2, 0/2, 1/6, 1/6, 1/6
    assert [p["abandon_rate_to_date"] for p in points] == [0.0, 0.0, 1 / 6, 1 / 6, 1 / 6]
    assert points[2]["right_party_contacts"] == 2


def test_an_idle_afternoon_runs_on_to_now_and_a_later_slot_is_kept() -> None:
    start = day_start(datetime(2026, 11, 29, 3, 0, tzinfo=UTC), SH)
    slots = {18: counts(1, 1, 1, 1)}
    hourly = day_points(slots, start, timedelta(hours=1), start + timedelta(hours=21), SH)
    assert [str(p["from"])[11:16] for p in hourly] == [f"{h:02d}:00" for h in range(18, 22)]
    assert [p["abandon_rate_to_date"] for p in hourly] == [0.0] * 4
    early = day_points(slots, start, HALF_HOUR, start + timedelta(hours=8), SH)
    assert [str(p["from"])[11:16] for p in early] == ["09:00"]  # a call placed after now


def test_intervals_keep_local_times_across_a_clock_change() -> None:
    start = day_start(datetime(2026, 3, 29, 12, 0, tzinfo=UTC), LONDON)  # clocks go forward
    points = day_points({0: counts(1), 2: counts(1)}, start, timedelta(hours=1),
                        start + timedelta(hours=2, minutes=10), LONDON)
    assert [p["from"] for p in points] == [
        "2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-29T03:00:00+01:00"]
