"""The rule packs: the numbers of `compliance.md` as data, named and versioned.

A pack is selected per client or campaign; every decision stores its name and
version. Changing a number means a new version, so a stored decision always says
which rules it applied. A rule a pack does not have is None (or False); the checks
in `dialer.compliance.checks` and `dialer.compliance.counters` read these fields
and nothing else.

Rules every pack has, whatever the jurisdiction (not fields): holds, do-not-call,
cease and attorney flags refuse; a call needs a free work line and a working
recorder.

Choices where compliance.md is silent (each is a field, so a later version can
change it): uk-ofcom keeps the same 08:00-21:00 window and party rules as cn-bank;
every pack requires a ring of at least 15 s (design.md, "The life of a call");
us-regf requires recorded consent for every number (TCPA practice for a
predictive dialer); a debtor-agreed window may only narrow the window in us-regf
and uk-ofcom, while in cn-bank it may reach 21:00-22:00 but never into 22:00-08:00.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from fractions import Fraction

from cases.domain import Party
from dialer.compliance.windows import DailyWindow

VERSION = "2026.1"
DIRECT = frozenset({Party.DEBTOR, Party.GUARANTOR})
RELATED = frozenset({Party.RELATIVE, Party.EMPLOYER})


class AbandonPeriod(StrEnum):
    """The period `CampaignState` counts must cover for the pack's abandon cap."""

    ROLLING_30_DAYS = "rolling_30_days"
    CALENDAR_DAY = "calendar_day"  # midnight to midnight, the campaign's local day


@dataclass(frozen=True, slots=True)
class Cadence:
    """A contact floor: `first_attempts` within `first_period` of assignment, then
    `more_attempts` more within the following `more_period`."""

    first_attempts: int
    first_period: timedelta
    more_attempts: int
    more_period: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class RulePack:
    name: str
    version: str
    window: DailyWindow  # callee local wall time, when no agreed window
    window_limit: DailyWindow  # an agreed window is clipped to this
    min_ring: timedelta  # the dialer's ring timeout may not be shorter
    direct_parties: frozenset[Party]  # may be called about the debt
    locate_parties: frozenset[Party]  # only after lost contact, only to locate
    consent_required: bool  # refuse numbers without recorded consent
    third_party_contacts: int | None  # communications per third party, ever
    connected_per_debtor_per_day: int | None  # live answers, local day, all campaigns
    unanswered_per_number_per_day: int | None  # attempts without a live answer
    calls_per_debt_per_7_days: int | None  # per person per debt, 7 local days
    quiet_days_after_conversation: int | None  # conversation day is day 1
    no_redial_after_abandon: timedelta | None  # unless an agent is guaranteed
    no_redial_same_day_after_machine: bool  # unless an agent is guaranteed
    abandon_cap: Fraction | None  # abandoned / (abandoned + live)
    abandon_period: AbandonPeriod
    limited_content_voicemail: bool
    cadence: Cadence | None
    history_lookback: timedelta  # attempts the caller must supply (see engine)


CN_BANK = RulePack(
    name="cn-bank",
    version=VERSION,
    window=DailyWindow(time(8), time(21)),  # bank plan; CBA 2026; GB/T 45251-2025
    window_limit=DailyWindow(time(8), time(22)),  # never 22:00-08:00, even agreed
    min_ring=timedelta(seconds=15),
    direct_parties=DIRECT,
    locate_parties=RELATED,  # CBRC Art. 68: unrelated third parties never
    consent_required=False,
    third_party_contacts=None,
    connected_per_debtor_per_day=3,  # NIFA 2024; GB/T 45251-2025
    unanswered_per_number_per_day=6,  # CBA 2026
    calls_per_debt_per_7_days=None,
    quiet_days_after_conversation=None,
    no_redial_after_abandon=None,
    no_redial_same_day_after_machine=False,
    abandon_cap=None,
    abandon_period=AbandonPeriod.CALENDAR_DAY,
    limited_content_voicemail=False,
    cadence=Cadence(3, timedelta(days=7), 2, timedelta(days=15)),  # bank service plan
    history_lookback=timedelta(days=2),
)

US_REGF = RulePack(
    name="us-regf",
    version=VERSION,
    window=DailyWindow(time(8), time(21)),  # 12 CFR 1006.6(b)(1)
    window_limit=DailyWindow(time(8), time(21)),
    min_ring=timedelta(seconds=15),  # 47 CFR 64.1200(a)(6)
    direct_parties=DIRECT,
    locate_parties=RELATED | {Party.OTHER},  # 1006.6(d), FDCPA 1692b: location only
    consent_required=True,
    third_party_contacts=1,  # 1692b(3)
    connected_per_debtor_per_day=None,
    unanswered_per_number_per_day=None,
    calls_per_debt_per_7_days=7,  # 1006.14(b)(2)(i)
    quiet_days_after_conversation=7,  # 1006.14(b)(2)(ii)
    no_redial_after_abandon=None,
    no_redial_same_day_after_machine=False,
    abandon_cap=Fraction(3, 100),  # 47 CFR 64.1200(a)(7); 16 CFR 310.4(b)(4)
    abandon_period=AbandonPeriod.ROLLING_30_DAYS,
    limited_content_voicemail=True,  # 1006.2(j)
    cadence=None,
    history_lookback=timedelta(days=8),
)

UK_OFCOM = RulePack(
    name="uk-ofcom",
    version=VERSION,
    window=DailyWindow(time(8), time(21)),  # house rule; compliance.md sets none
    window_limit=DailyWindow(time(8), time(21)),
    min_ring=timedelta(seconds=15),  # Ofcom persistent-misuse statement
    direct_parties=DIRECT,
    locate_parties=RELATED,
    consent_required=False,
    third_party_contacts=None,
    connected_per_debtor_per_day=None,
    unanswered_per_number_per_day=None,
    calls_per_debt_per_7_days=None,
    quiet_days_after_conversation=None,
    no_redial_after_abandon=timedelta(hours=72),  # Ofcom 2008/2010/2016
    no_redial_same_day_after_machine=True,  # Ofcom 2011
    abandon_cap=Fraction(3, 100),
    abandon_period=AbandonPeriod.CALENDAR_DAY,
    limited_content_voicemail=False,
    cadence=None,
    history_lookback=timedelta(days=4),
)

PACKS: dict[str, RulePack] = {pack.name: pack for pack in (CN_BANK, US_REGF, UK_OFCOM)}
DEFAULT_PACK = CN_BANK


def pack_named(name: str) -> RulePack:
    """The pack called `name`; ValueError for an unknown name (never a fallback)."""
    try:
        return PACKS[name]
    except KeyError:
        raise ValueError(f"unknown rule pack {name!r}; known: {sorted(PACKS)}") from None
