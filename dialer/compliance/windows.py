"""Calling windows in the callee's local wall time (pure).

A `DailyWindow` is a half-open interval of local wall time, the same every day:
08:00-21:00 means a call may be ringing from 08:00:00 up to, but not at, 21:00:00.
A call *fits* a window when its whole ring lies inside it: it starts at or after the
opening and its ring timeout runs out before the closing. So a call that would
start at 20:59:30 with a 30 s ring timeout does not fit a window closing at 21:00
(its ring would reach 21:00:00), one starting at 20:59:29 does. The talk after an
answer may run past the closing; only placing the call is regulated.

Windows are turned into instants per local date with `ZoneInfo`, never with a
fixed offset: 08:00 New York is 13:00 UTC in winter and 12:00 UTC in summer, and
on the day of a daylight-saving switch the window still opens at 08:00 on the
wall clock. Days listed as closed (public holidays the client does not call on)
are local dates in the zone being checked.

When the callee's location is ambiguous (several candidate zones), a call fits
only when it fits in every zone; `next_fit_everywhere` finds the earliest instant
at which it does.

Whatever depends only on a local date, a zone and wall times is memoized (a
window's opening and closing instants per local date, the names of zones): a
check converts its instant into each zone once and then compares instants.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Keys the tz database accepts that do not name a place: "localtime" is the
# server's own zone, exactly what a callee's window must never be computed in.
NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
# How far ahead a window opening is searched for before giving up.
MAX_DAYS_AHEAD = 370
MAX_ROUNDS = 32
MIDNIGHT = time(0)
ONE_DAY = timedelta(days=1)
DAYS_AHEAD = tuple(timedelta(days=offset) for offset in range(MAX_DAYS_AHEAD))


@dataclass(frozen=True, slots=True)
class DailyWindow:
    """[start, end) of local wall time on one day; start before end."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError(f"a daily window is local wall time, not aware: {self!r}")
        if not self.start < self.end:
            raise ValueError(f"a daily window must start before it ends: {self}")

    def clip(self, limit: DailyWindow) -> DailyWindow | None:
        """The part of this window inside `limit`; None when nothing is."""
        start, end = max(self.start, limit.start), min(self.end, limit.end)
        return DailyWindow(start, end) if start < end else None

    def __str__(self) -> str:
        return _clock_span(self.start, self.end)


@lru_cache(maxsize=256)
def _clock_span(start: time, end: time) -> str:
    """A window as text, e.g. 08:00-21:00; cached, as every decision's summary and
    many refusals name their window."""
    return f"{start.isoformat('minutes')}-{end.isoformat('minutes')}"


def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone `name`; None when it is not one (fail closed, never guess)."""
    if name in NOT_PLACES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=1024)
def zones_named(names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    """The zones `names` name, in order; empty when any name is not a zone (a
    callee's zones are all known or none is). Cached per tuple of names."""
    found = tuple(zone_named(name) for name in names)
    zones = tuple(zone for zone in found if zone is not None)
    return zones if len(zones) == len(found) else ()


def local_day(at: datetime, zone: ZoneInfo) -> date:
    """The date on the wall calendar in `zone` at the instant `at`."""
    return at.astimezone(zone).date()


def local_days(at: datetime, zones: tuple[ZoneInfo, ...]) -> tuple[date, ...]:
    """`local_day(at, zone)` for each of `zones`."""
    if len(zones) == 1:  # the usual case, without a comprehension's call
        return (at.astimezone(zones[0]).date(),)
    return tuple([at.astimezone(zone).date() for zone in zones])


@lru_cache(maxsize=4096)
def instant(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of wall time `wall` on `day` in `zone`: its first occurrence
    when the clocks go back (whatever `wall.fold` says); when they go forward over
    it, the reading with the offset before the switch, which lands just after the
    gap. Memoized: decisions ask for the same few openings and closings again and
    again."""
    return datetime.combine(day, wall.replace(fold=0), tzinfo=zone).astimezone(UTC)


def next_midnight(at: datetime, zone: ZoneInfo) -> datetime:
    """The instant the local day after the one containing `at` begins in `zone`."""
    return midnight_after(local_day(at, zone), zone)


def midnight_after(day: date, zone: ZoneInfo) -> datetime:
    """The instant the local day after `day` begins in `zone`."""
    return instant(day + ONE_DAY, MIDNIGHT, zone)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return instant(day, MIDNIGHT, zone)


def fits(
    start: datetime,
    ring: timedelta,
    zone: ZoneInfo,
    window: DailyWindow,
    closed: frozenset[date],
) -> bool:
    """Whether a call starting at `start` rings wholly inside `window` in `zone`,
    on a day that is not closed."""
    day = local_day(start, zone)
    return day not in closed and fits_on(day, start, ring, zone, window)


def fits_on(day: date, start: datetime, ring: timedelta, zone: ZoneInfo,
            window: DailyWindow) -> bool:
    """`fits` for a call starting at `start`, whose local day in `zone` is `day`
    (known to the caller, and not closed)."""
    opens, closes = _bounds(day, zone, window.start, window.end)
    return opens <= start < closes - ring


@lru_cache(maxsize=16384)
def fit_bounds(
    day: date, zone: ZoneInfo, start: time, end: time, ring: timedelta
) -> tuple[datetime, datetime]:
    """The first and the last-but-not-included instants at which a call with ring
    timeout `ring` may start on `day`: a call starting at `at` fits when
    `opens <= at < last` (`fits_on`, for callers that inline it)."""
    opens, closes = _bounds(day, zone, start, end)
    return opens, closes - ring


@lru_cache(maxsize=16384)
def _bounds(day: date, zone: ZoneInfo, start: time, end: time) -> tuple[datetime, datetime]:
    """The instants a window from `start` to `end` opens and closes on `day`."""
    return instant(day, start, zone), instant(day, end, zone)


def next_fit(
    after: datetime,
    ring: timedelta,
    zone: ZoneInfo,
    window: DailyWindow,
    closed: frozenset[date],
) -> datetime | None:
    """The earliest instant at or after `after` at which a call fits in `zone`;
    None when none does within `MAX_DAYS_AHEAD` days."""
    return _next_fit(local_day(after, zone), after, ring, zone, window, closed)


def _next_fit(
    first: date,
    after: datetime,
    ring: timedelta,
    zone: ZoneInfo,
    window: DailyWindow,
    closed: frozenset[date],
) -> datetime | None:
    """`next_fit`, with `first` the local date at `after`: now, or the first
    opening after `after` that is on an open day and leaves room for the ring."""
    if first not in closed and fits_on(first, after, ring, zone, window):
        return after
    return next_opening(first, after, ring, zone, window, closed)


def next_opening(
    first: date,
    after: datetime,
    ring: timedelta,
    zone: ZoneInfo,
    window: DailyWindow,
    closed: frozenset[date],
) -> datetime | None:
    """The first opening of `window` after `after` (whose local date is `first`)
    that is on an open day and leaves room for the ring; None when none does within
    `MAX_DAYS_AHEAD` days. What `next_fit` answers when a call at `after` does not
    fit."""
    for ahead in DAYS_AHEAD:
        opens, day = _opening(first + ahead, zone, window.start)
        if opens > after and day not in closed and fits_on(day, opens, ring, zone, window):
            return opens
    return None


@lru_cache(maxsize=16384)
def _opening(day: date, zone: ZoneInfo, start: time) -> tuple[datetime, date]:
    """The instant of `start` on `day` in `zone`, and the local date it falls on:
    `day`, unless a gap in the clock carries it over midnight."""
    opens = instant(day, start, zone)
    return opens, local_day(opens, zone)


ONE_HOUR = timedelta(hours=1)
ONE_SECOND = timedelta(seconds=1)
# A clock set back by up to this much can give an instant an earlier local date
# than an instant before it (`dates_never_go_back`); larger set-backs are not
# trusted to the shortcut at all.
SETBACK_REACH = timedelta(days=2)


@lru_cache(maxsize=1024)
def setbacks(zone: ZoneInfo, year: int) -> tuple[tuple[datetime, timedelta], ...]:
    """The instants of UTC year `year` at which the local date in `zone` goes back,
    with how far the clock went back: a clock set back across midnight, as Chile's
    and Lebanon's are at the end of summer time (Sunday 00:00 becomes Saturday
    23:00). Found from the UTC offset sampled every hour, each change to the second
    by bisection (the tz database's changes fall on whole seconds); memoized per
    zone and year (about 9,000 conversions, once)."""
    found: list[tuple[datetime, timedelta]] = []
    moment = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    offset = _offset(moment, zone)
    while moment < end:
        later = moment + ONE_HOUR
        offset_later = _offset(later, zone)
        if offset_later < offset:  # set back somewhere in (moment, later]
            low, high = 0, 3600  # seconds after `moment`: the offset before, after
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(moment + timedelta(seconds=middle), zone) == offset:
                    low = middle
                else:
                    high = middle
            switch = moment + timedelta(seconds=high)
            if local_day(switch, zone) < local_day(switch - ONE_SECOND, zone):
                found.append((switch, offset - offset_later))
        moment, offset = later, offset_later
    return tuple(found)


def _offset(at: datetime, zone: ZoneInfo) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def dates_never_go_back(zones: Sequence[ZoneInfo], since: datetime, until: datetime) -> bool:
    """Whether, in each of `zones`, every instant from `since` to `until` has a local
    date no earlier than any instant before it back to `since` minus `SETBACK_REACH`:
    no clock is set back across midnight from then to `until` (by less than
    `SETBACK_REACH`; a larger set-back, a date-line move, answers False)."""
    start = since - SETBACK_REACH
    first, last = start.year, until.year
    for zone in zones:
        years = _SETBACK_YEARS.get(zone)
        if years is None:
            years = _SETBACK_YEARS[zone] = {}
        for year in range(first, last + 1):
            found = years.get(year)
            if found is None:
                found = years[year] = setbacks(zone, year)
            for at, back in found:
                if back >= SETBACK_REACH or start < at <= until:
                    return False
    return True


# `setbacks` per zone and year, for `dates_never_go_back` (a plain dict lookup costs
# less than the memoized call, and this is asked for every refusal by the window).
_SETBACK_YEARS: dict[ZoneInfo, dict[int, tuple[tuple[datetime, timedelta], ...]]] = {}


def next_fit_everywhere(
    after: datetime,
    ring: timedelta,
    zones: Iterable[ZoneInfo],
    window: DailyWindow,
    closed: frozenset[date],
    days: Sequence[date] | None = None,
) -> datetime | None:
    """The earliest instant at or after `after` at which a call fits in every zone;
    None when the zones share no calling time. `days`: the local dates at `after`
    in `zones`, when the caller has them."""
    candidates = tuple(zones)
    if len(candidates) == 1:  # a fit in the only zone fits everywhere
        zone = candidates[0]
        first = local_day(after, zone) if days is None else days[0]
        return _next_fit(first, after, ring, zone, window, closed)
    moment = after
    for _ in range(MAX_ROUNDS):
        found = [next_fit(moment, ring, zone, window, closed) for zone in candidates]
        if not found or any(fit is None for fit in found):
            return None
        latest = max(fit for fit in found if fit is not None)
        if latest == moment:
            return moment
        moment = latest
    return None
