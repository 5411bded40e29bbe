"""Where the callee is: time zones and public holidays (pure).

Zones, in order of trust (compliance.md): the IANA zone on the case's debtor record;
else the zones `phonenumbers` gives for the number (a geographic number names one;
a US toll-free or a non-geographic number names many, and then every one of them
must allow the call); else the client's zone. A zone name Python does not know is
passed through: the compliance check refuses it (fail closed) with its reason.

Holidays come from the `holidays` package by the client's region (ISO country) and
optional subdivision, for the local years around the call; a region the package
does not know gives None (calendar unknown: the check refuses when the client
forbids holiday calls).
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import holidays
import phonenumbers
from phonenumbers import timezone as number_zones

UNKNOWN_ZONE = "Etc/Unknown"


def callee_zones(debtor_zone: str | None, number: str, client_zone: str) -> tuple[str, ...]:
    if debtor_zone:
        return (debtor_zone,)
    zones = _number_zones(number)
    return zones or (client_zone,)


@lru_cache(maxsize=65536)
def _number_zones(number: str) -> tuple[str, ...]:
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return ()
    return tuple(z for z in number_zones.time_zones_for_number(parsed) if z != UNKNOWN_ZONE)


@lru_cache(maxsize=256)
def holiday_dates(
    country: str, subdivision: str | None, years: tuple[int, ...]
) -> frozenset[date] | None:
    """Public holidays of `country` (and `subdivision`) in `years`; None when the
    package has no calendar for them."""
    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    except NotImplementedError:
        return None
    return frozenset(calendar.keys())


def years_around(day: date) -> tuple[int, ...]:
    """The years a rule may look into from `day` (a next permitted time can fall
    in the next year)."""
    return (day.year - 1, day.year, day.year + 1)
