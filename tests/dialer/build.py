"""Builders for the compliance tests: a candidate every rule lets through, earlier
attempts, the dialer's context, and instants written in a zone's wall time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dialer.compliance import (
    CN_BANK,
    Attempt,
    CampaignState,
    Candidate,
    Consent,
    ContactHistory,
    Decision,
    DialContext,
    Outcome,
    Party,
    Resources,
    RulePack,
    check,
)

SHANGHAI = "Asia/Shanghai"
NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"
LONDON = "Europe/London"
CN_NUMBER = "+8613800000001"
US_NUMBER = "+12125550100"
UK_NUMBER = "+447700900100"


def at(wall: str, zone: str) -> datetime:
    """The aware UTC instant of wall time `wall` ("2026-03-05 20:59:30") in `zone`."""
    return datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def candidate(**changes: Any) -> Candidate:
    """A Shanghai debtor with nothing against calling them."""
    callable_debtor = Candidate(
        case_id=1,
        debtor_id=10,
        phone_id=100,
        number=CN_NUMBER,
        party=Party.DEBTOR,
        time_zones=(SHANGHAI,),
        holds=frozenset(),
        do_not_call=False,
        cease_requested=False,
        attorney_represented=False,
        consent=Consent.GIVEN,
        lost_contact=False,
        no_holiday_calls=False,
        holidays=frozenset(),
    )
    return replace(callable_debtor, **changes)


def us_candidate(**changes: Any) -> Candidate:
    return replace(candidate(number=US_NUMBER, time_zones=(NEW_YORK,)), **changes)


def uk_candidate(**changes: Any) -> Candidate:
    return replace(candidate(number=UK_NUMBER, time_zones=(LONDON,)), **changes)


def dial(**changes: Any) -> DialContext:
    ready = DialContext(
        campaign_id=7,
        ring_timeout=timedelta(seconds=30),
        agent_guaranteed=False,
        campaign=CampaignState(abandoned=0, live=0),
        resources=Resources(work_line=True, recording=True),
    )
    return replace(ready, **changes)


def attempt(when: datetime, outcome: Outcome, like: Candidate, **changes: Any) -> Attempt:
    """An earlier attempt to `like`'s number about `like`'s case."""
    made = Attempt(
        at=when,
        case_id=like.case_id,
        debtor_id=like.debtor_id,
        number=like.number,
        party=like.party or Party.DEBTOR,
        campaign_id=7,
        outcome=outcome,
    )
    return replace(made, **changes)


def decide(
    who: Candidate,
    now: datetime,
    *,
    pack: RulePack = CN_BANK,
    attempts: tuple[Attempt, ...] = (),
    context: DialContext | None = None,
) -> Decision:
    return check(who, ContactHistory(attempts), pack, now, dial=context or dial())
