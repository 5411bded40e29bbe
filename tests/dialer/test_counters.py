"""Rolling counters through the engine: cn-bank daily caps counted on the debtor's
days (not the server's), Reg F 7-in-7 and the quiet week after a conversation,
Ofcom's 72 h after an abandoned call and same day after a machine."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from dialer.compliance import CN_BANK, UK_OFCOM, US_REGF, Attempt, Outcome, Party, ReasonCode
from tests.dialer.build import (
    LONDON,
    NEW_YORK,
    SHANGHAI,
    at,
    attempt,
    candidate,
    decide,
    dial,
    uk_candidate,
    us_candidate,
    utc,
)

CONNECTED = ReasonCode.CAP_CONNECTED_DAILY


def connected_at(*walls: str, zone: str = SHANGHAI, **changes: Any) -> tuple[Attempt, ...]:
    who = candidate(time_zones=(zone,))
    return tuple(attempt(at(wall, zone), Outcome.CONNECTED, who, **changes) for wall in walls)


# cn-bank: 3 connected calls per debtor per local day.


def test_three_late_calls_block_a_fourth_the_same_shanghai_night_not_the_next_morning() -> None:
    late = connected_at("2026-03-05 23:00", "2026-03-05 23:20", "2026-03-05 23:50")
    night = decide(candidate(), at("2026-03-05 23:55", SHANGHAI), attempts=late)
    assert night.codes == (ReasonCode.WINDOW_OUTSIDE, CONNECTED)
    assert night.next_permitted_at == at("2026-03-06 08:00", SHANGHAI)
    morning = decide(candidate(), at("2026-03-06 08:00", SHANGHAI), attempts=late)
    assert morning.allowed


def test_calls_after_shanghai_midnight_count_for_that_shanghai_day() -> None:
    # 00:10-00:30 in Shanghai is still 4 March in UTC: a UTC counter would say 0 today.
    small_hours = connected_at("2026-03-05 00:10", "2026-03-05 00:20", "2026-03-05 00:30")
    assert small_hours[0].at == utc("2026-03-04 16:10")
    decision = decide(candidate(), at("2026-03-05 09:00", SHANGHAI), attempts=small_hours)
    assert decision.codes == (CONNECTED,)
    assert decision.next_permitted_at == at("2026-03-06 08:00", SHANGHAI)


def test_evening_calls_in_new_york_do_not_count_for_the_next_new_york_day() -> None:
    # 20:00-20:40 in New York is already 11 June in UTC: a UTC counter would refuse.
    evening = connected_at(
        "2026-06-10 20:00", "2026-06-10 20:20", "2026-06-10 20:40", zone=NEW_YORK
    )
    who = candidate(time_zones=(NEW_YORK,))
    assert decide(who, at("2026-06-10 20:50", NEW_YORK), attempts=evening).codes == (CONNECTED,)
    assert decide(who, at("2026-06-11 08:30", NEW_YORK), attempts=evening).allowed


@pytest.mark.parametrize(
    ("changes", "allowed"),
    [
        ({}, False),
        ({"campaign_id": 99, "case_id": 2}, False),  # all campaigns, all cases
        ({"campaign_id": None}, False),  # another agency
        ({"party": Party.RELATIVE, "number": "+8613900000009"}, False),  # about the debtor
        ({"debtor_id": 11, "case_id": 3, "number": "+8613900000009"}, True),  # someone else
    ],
)
def test_connected_calls_count_per_debtor_across_campaigns_and_agencies(
    changes: dict[str, Any], allowed: bool
) -> None:
    three = connected_at("2026-03-05 09:00", "2026-03-05 10:00", "2026-03-05 11:00", **changes)
    assert decide(candidate(), at("2026-03-05 12:00", SHANGHAI), attempts=three).allowed is allowed


@pytest.mark.parametrize("outcome", [Outcome.CONVERSATION, Outcome.CONNECTED, Outcome.ABANDONED])
def test_any_live_answer_is_a_connected_call(outcome: Outcome) -> None:
    who = candidate()
    three = tuple(attempt(at(f"2026-03-05 1{h}:00", SHANGHAI), outcome, who) for h in range(3))
    assert decide(who, at("2026-03-05 14:00", SHANGHAI), attempts=three).codes == (CONNECTED,)


# cn-bank: 6 unanswered attempts per number per local day.

MISSES = (Outcome.UNANSWERED, Outcome.BUSY, Outcome.FAILED, Outcome.MACHINE, Outcome.VOICEMAIL,
          Outcome.UNANSWERED, Outcome.UNANSWERED)  # fmt: skip


@pytest.mark.parametrize(("count", "allowed"), [(0, True), (5, True), (6, False), (7, False)])
def test_at_most_six_unanswered_attempts_per_number_per_day(count: int, allowed: bool) -> None:
    who = candidate()
    misses = tuple(
        attempt(at("2026-03-05 09:00", SHANGHAI) + timedelta(minutes=20 * i), MISSES[i], who)
        for i in range(count)
    )  # fmt: skip
    decision = decide(who, at("2026-03-05 12:00", SHANGHAI), attempts=misses)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == (ReasonCode.CAP_UNANSWERED_DAILY,)
        assert decision.next_permitted_at == at("2026-03-06 08:00", SHANGHAI)


def test_the_unanswered_cap_is_per_number_whoever_the_case() -> None:
    who = candidate()
    other_debtor = tuple(
        attempt(at(f"2026-03-05 {9 + i:02d}:00", SHANGHAI), Outcome.UNANSWERED, who,
                debtor_id=11, case_id=2)
        for i in range(6)
    )  # fmt: skip
    other_number = tuple(replace(a, number="+8613900000009") for a in other_debtor)
    now = at("2026-03-05 16:00", SHANGHAI)
    assert decide(who, now, attempts=other_debtor).codes == (ReasonCode.CAP_UNANSWERED_DAILY,)
    assert decide(who, now, attempts=other_number).allowed


# us-regf: 7 calls in 7 days per person per debt; 7 quiet days after a conversation.


def us_calls(outcomes: list[Outcome], first_day: int = 1, **changes: Any) -> tuple[Attempt, ...]:
    who = us_candidate()
    return tuple(
        attempt(at(f"2026-06-{first_day + i:02d} 10:00", NEW_YORK), outcome, who, **changes)
        for i, outcome in enumerate(outcomes)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("outcomes", "allowed"),
    [
        ([Outcome.UNANSWERED] * 7, False),
        ([Outcome.UNANSWERED] * 6, True),
        ([Outcome.VOICEMAIL] * 7, False),  # voicemails count
        ([Outcome.UNANSWERED] * 5 + [Outcome.BUSY, Outcome.FAILED], True),  # never connected
        ([Outcome.MACHINE, Outcome.ABANDONED, Outcome.CONNECTED] + [Outcome.UNANSWERED] * 4, False),
    ],
)
def test_regf_at_most_seven_calls_in_seven_days(outcomes: list[Outcome], allowed: bool) -> None:
    decision = decide(us_candidate(), at("2026-06-07 15:00", NEW_YORK), pack=US_REGF,
                      attempts=us_calls(outcomes))  # fmt: skip
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == (ReasonCode.REGF_7IN7,)
        # On 8 June the seven days are 2-8 June: six calls.
        assert decision.next_permitted_at == at("2026-06-08 08:00", NEW_YORK)


def test_regf_seven_calls_on_one_day_hold_for_the_whole_week() -> None:
    who = us_candidate()
    burst = tuple(
        attempt(at("2026-06-01 09:00", NEW_YORK) + timedelta(minutes=30 * i), Outcome.UNANSWERED,
                who)
        for i in range(7)
    )  # fmt: skip
    decision = decide(who, at("2026-06-07 20:00", NEW_YORK), pack=US_REGF, attempts=burst)
    assert decision.next_permitted_at == at("2026-06-08 08:00", NEW_YORK)
    assert decide(who, at("2026-06-08 08:00", NEW_YORK), pack=US_REGF, attempts=burst).allowed


def test_regf_counts_per_debt_and_per_person() -> None:
    now = at("2026-06-07 15:00", NEW_YORK)
    other_debt = us_calls([Outcome.UNANSWERED] * 7, case_id=2)
    guarantor = us_calls([Outcome.UNANSWERED] * 7, party=Party.GUARANTOR)
    assert decide(us_candidate(), now, pack=US_REGF, attempts=other_debt).allowed
    assert decide(us_candidate(), now, pack=US_REGF, attempts=guarantor).allowed


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (at("2026-06-01 15:00", NEW_YORK), False),  # day 1
        (at("2026-06-07 20:00", NEW_YORK), False),  # day 7
        (at("2026-06-08 08:00", NEW_YORK), True),  # day 8
    ],
)
def test_regf_no_call_within_seven_days_after_a_conversation(now: datetime, allowed: bool) -> None:
    talk = us_calls([Outcome.CONVERSATION])
    decision = decide(us_candidate(), now, pack=US_REGF, attempts=talk)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == (ReasonCode.REGF_AFTER_CONVERSATION,)
        assert decision.next_permitted_at == at("2026-06-08 08:00", NEW_YORK)


def test_regf_the_conversation_day_is_the_consumers_day() -> None:
    # 23:30 on 1 June in New York is 2 June in UTC; day 8 is still 8 June.
    who = us_candidate()
    late_talk = (attempt(at("2026-06-01 23:30", NEW_YORK), Outcome.CONVERSATION, who),)
    assert decide(who, at("2026-06-08 08:00", NEW_YORK), pack=US_REGF, attempts=late_talk).allowed


# uk-ofcom: 72 h after an abandoned call, the same day after a machine.

ABANDON_AT = at("2026-06-10 10:00", LONDON)


@pytest.mark.parametrize(
    ("now", "guaranteed", "allowed"),
    [
        (at("2026-06-13 09:59", LONDON), False, False),
        (at("2026-06-13 10:00", LONDON), False, True),
        (at("2026-06-11 10:00", LONDON), True, True),
    ],
)
def test_ofcom_no_redial_for_72_h_after_an_abandoned_call_unless_an_agent_waits(
    now: datetime, guaranteed: bool, allowed: bool
) -> None:
    who = uk_candidate()
    abandoned = (attempt(ABANDON_AT, Outcome.ABANDONED, who),)
    context = dial(agent_guaranteed=guaranteed)
    decision = decide(who, now, pack=UK_OFCOM, attempts=abandoned, context=context)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == (ReasonCode.OFCOM_AFTER_ABANDON_72H,)
        assert decision.next_permitted_at == ABANDON_AT + timedelta(hours=72)


@pytest.mark.parametrize(
    ("outcome", "now", "guaranteed", "allowed"),
    [
        (Outcome.MACHINE, at("2026-06-10 20:00", LONDON), False, False),
        (Outcome.VOICEMAIL, at("2026-06-10 20:00", LONDON), False, False),
        (Outcome.MACHINE, at("2026-06-10 20:00", LONDON), True, True),
        (Outcome.MACHINE, at("2026-06-11 08:00", LONDON), False, True),
        (Outcome.UNANSWERED, at("2026-06-10 20:00", LONDON), False, True),
    ],
)
def test_ofcom_no_redial_the_same_day_after_a_machine_unless_an_agent_waits(
    outcome: Outcome, now: datetime, guaranteed: bool, allowed: bool
) -> None:
    who = uk_candidate()
    machine = (attempt(ABANDON_AT, outcome, who),)
    context = dial(agent_guaranteed=guaranteed)
    decision = decide(who, now, pack=UK_OFCOM, attempts=machine, context=context)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.codes == (ReasonCode.OFCOM_AFTER_AMD_SAME_DAY,)
        assert decision.next_permitted_at == at("2026-06-11 08:00", LONDON)


def test_caps_of_other_packs_do_not_apply() -> None:
    who = candidate()
    three = connected_at("2026-03-05 09:00", "2026-03-05 10:00", "2026-03-05 11:00")
    now = at("2026-03-05 12:00", SHANGHAI)
    assert decide(who, now, pack=CN_BANK, attempts=three).codes == (CONNECTED,)
    assert decide(who, now, pack=UK_OFCOM, attempts=three).allowed


# Refused by the window alone: the retry is the next opening, unless the counts
# that pass now would not pass then.


def test_a_machine_just_before_a_set_back_midnight_still_counts_for_that_day() -> None:
    # St. John's, 1 November 2009: at 00:01 summer time the clock went back to 23:01
    # on 31 October. A machine took a call at 00:00:30 on 1 November; at 23:30 on
    # 31 October (after the switch) the window is closed and the machine is not
    # "today", but at 08:00 on 1 November it is: the call waits for 2 November.
    zone = "America/St_Johns"
    who = uk_candidate(time_zones=(zone,))
    machine = (attempt(utc("2009-11-01 02:30:30"), Outcome.MACHINE, who),)
    now = utc("2009-11-01 03:00")  # 23:30 NST on 31 October
    decision = decide(who, now, pack=UK_OFCOM, attempts=machine)
    assert decision.codes == (ReasonCode.WINDOW_OUTSIDE,)
    assert decision.next_permitted_at == at("2009-11-02 08:00", zone)


def test_an_attempt_stamped_after_now_counts_on_its_own_day() -> None:
    # Another dialer's clock runs ahead: three connected calls stamped tomorrow
    # morning already fill tomorrow's cap, so the call waits for the day after.
    three = connected_at("2026-03-06 07:00", "2026-03-06 07:10", "2026-03-06 07:20")
    decision = decide(candidate(), at("2026-03-05 21:30", SHANGHAI), attempts=three)
    assert decision.codes == (ReasonCode.WINDOW_OUTSIDE,)
    assert decision.next_permitted_at == at("2026-03-07 08:00", SHANGHAI)
