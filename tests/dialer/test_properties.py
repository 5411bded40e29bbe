"""Properties over generated candidates and histories (pure): an allowed call rings
wholly inside the window in every candidate zone and exceeds no cap; a refusal's
next permitted time is never in the past and, with live state restored, passes;
the engine's plan and shortcuts answer what every rule run in full answers."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import event, given, settings
from hypothesis import strategies as st

from dialer.compliance import (
    PACKS,
    Attempt,
    CampaignState,
    Candidate,
    Consent,
    ContactHistory,
    DailyWindow,
    DialContext,
    HoldReason,
    Note,
    Outcome,
    Party,
    Reason,
    Resources,
    RulePack,
    check,
    checks,
    counters,
)
from dialer.compliance.context import Check, Context
from dialer.compliance.engine import MAX_STEPS
from dialer.compliance.model import LIVE_ANSWERS, MACHINE_VERDICTS, REGF_COUNTED
from tests.dialer.build import candidate, dial

# Zones of one country or neighbouring ones: their windows always overlap.
REGIONS = [
    ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
     "America/Phoenix", "Pacific/Honolulu"],
    ["Europe/London", "Europe/Paris", "Europe/Helsinki", "Europe/Lisbon"],
    ["Asia/Shanghai", "Asia/Kolkata", "Asia/Tokyo", "Australia/Lord_Howe"],
    ["America/Santiago", "America/Sao_Paulo"],
    ["Pacific/Chatham", "Pacific/Auckland"],
]  # fmt: skip
NUMBERS = ["+8613800000001", "+8613900000002"]
START, END = datetime(2026, 1, 1), datetime(2026, 12, 31)
NOW = st.datetimes(START, END).map(lambda moment: moment.replace(tzinfo=UTC))


def rarely() -> st.SearchStrategy[bool]:
    return st.sampled_from([False] * 9 + [True])


def sometimes(usual: object, *others: object) -> st.SearchStrategy[object]:
    return st.sampled_from([usual] * 8 + list(others))


@st.composite
def windows(draw: st.DrawFn) -> DailyWindow | None:
    if not draw(st.sampled_from([False, False, False, True])):
        return None
    start = draw(st.integers(5, 22))
    return DailyWindow(time(start), time(draw(st.integers(start + 1, 23))))


@st.composite
def zones(draw: st.DrawFn) -> tuple[str, ...]:
    if draw(rarely()):
        return draw(st.sampled_from([(), ("Mars/Olympus",), ("Asia/Shanghai", "America/Denver")]))
    region = draw(st.sampled_from(REGIONS))
    return tuple(draw(st.lists(st.sampled_from(region), min_size=1, max_size=2)))


@st.composite
def candidates(draw: st.DrawFn, now: datetime) -> Candidate:
    holiday = st.integers(-3, 3).map(lambda days: (now + timedelta(days=days)).date())
    return candidate(
        case_id=draw(st.sampled_from([1, 2])),
        number=draw(st.sampled_from(NUMBERS)),
        party=draw(sometimes(Party.DEBTOR, *Party, None)),
        time_zones=draw(zones()),
        holds=draw(sometimes(frozenset(), frozenset({HoldReason.DISPUTE}))),
        do_not_call=draw(rarely()),
        cease_requested=draw(rarely()),
        consent=draw(sometimes(Consent.GIVEN, *Consent)),
        lost_contact=draw(st.booleans()),
        no_holiday_calls=draw(st.booleans()),
        holidays=draw(sometimes(frozenset(), None) | st.frozensets(holiday, max_size=3)),
        agreed_window=draw(windows()),
    )


@st.composite
def histories(draw: st.DrawFn, now: datetime) -> ContactHistory:
    attempt = st.builds(
        Attempt,
        at=(st.integers(0, 30 * 60) | st.integers(0, 10 * 24 * 60)).map(
            lambda minutes: now - timedelta(minutes=minutes)
        ),
        case_id=st.sampled_from([1, 2]),
        debtor_id=st.sampled_from([10, 10, 11]),
        number=st.sampled_from(NUMBERS),
        party=st.sampled_from([Party.DEBTOR] * 3 + list(Party)),
        campaign_id=st.sampled_from([7, None]),
        outcome=st.sampled_from(list(Outcome)),
    )
    least = draw(st.sampled_from([0, 0, 10, 20]))  # long lists reach the caps
    return ContactHistory(tuple(draw(st.lists(attempt, min_size=least, max_size=24))))


@st.composite
def contexts(draw: st.DrawFn) -> DialContext:
    return dial(
        ring_timeout=timedelta(seconds=draw(st.sampled_from([30] * 4 + [20, 15, 45, 60, 10]))),
        agent_guaranteed=draw(st.booleans()),
        campaign=CampaignState(draw(st.integers(0, 4)), draw(st.integers(0, 150))),
        resources=Resources(not draw(rarely()), not draw(rarely())),
    )


def rings_inside(who: Candidate, pack: RulePack, now: datetime, ring: timedelta) -> bool:
    """The wall-clock reading of the ring's start and end, zone by zone."""
    agreed = who.agreed_window
    span = pack.window if agreed is None else agreed.clip(pack.window_limit)
    closed = (who.holidays or frozenset()) if who.no_holiday_calls else frozenset()
    for name in who.time_zones:
        start, end = now.astimezone(ZoneInfo(name)), (now + ring).astimezone(ZoneInfo(name))
        assert span is not None
        if start.date() in closed or end.date() != start.date():
            return False
        if not span.start <= start.time() or not end.time() < span.end:
            return False
    return bool(who.time_zones)


def days_in(attempts: list[Attempt], name: str) -> Counter[date]:
    return Counter(a.at.astimezone(ZoneInfo(name)).date() for a in attempts)


def within_caps(who: Candidate, history: ContactHistory, pack: RulePack, now: datetime,
                context: DialContext) -> bool:  # fmt: skip
    for name in who.time_zones:
        today = now.astimezone(ZoneInfo(name)).date()
        if not within_daily_caps(who, history, pack, name, today):
            return False
        if not within_regf_week(who, history, pack, name, today):
            return False
        if pack.no_redial_same_day_after_machine and not context.agent_guaranteed:
            number = [a for a in history.attempts if a.number == who.number]
            if days_in([a for a in number if a.outcome in MACHINE_VERDICTS], name)[today]:
                return False
    return within_ofcom_72h(who, history, pack, now, context) and within_abandon(pack, context)


def within_daily_caps(who: Candidate, history: ContactHistory, pack: RulePack, name: str,
                      today: date) -> bool:  # fmt: skip
    debtor = [a for a in history.attempts if a.debtor_id == who.debtor_id]
    number = [a for a in history.attempts if a.number == who.number]
    live = days_in([a for a in debtor if a.outcome in LIVE_ANSWERS], name)[today]
    missed = days_in([a for a in number if a.outcome not in LIVE_ANSWERS], name)[today]
    connected_cap = pack.connected_per_debtor_per_day
    unanswered_cap = pack.unanswered_per_number_per_day
    return (connected_cap is None or live < connected_cap) and (
        unanswered_cap is None or missed < unanswered_cap
    )


def within_regf_week(who: Candidate, history: ContactHistory, pack: RulePack, name: str,
                     today: date) -> bool:  # fmt: skip
    if pack.calls_per_debt_per_7_days is None:
        return True
    person = [a for a in history.attempts if (a.case_id, a.party) == (who.case_id, who.party)]
    calls = days_in([a for a in person if a.outcome in REGF_COUNTED], name)
    talks = days_in([a for a in person if a.outcome is Outcome.CONVERSATION], name)
    week = [today - timedelta(days=back) for back in range(7)]
    return sum(calls[day] for day in week) < pack.calls_per_debt_per_7_days and not any(
        talks[day] for day in week
    )


def within_ofcom_72h(who: Candidate, history: ContactHistory, pack: RulePack, now: datetime,
                     context: DialContext) -> bool:  # fmt: skip
    if pack.no_redial_after_abandon is None or context.agent_guaranteed:
        return True
    return all(
        a.at + pack.no_redial_after_abandon <= now for a in history.attempts
        if a.number == who.number and a.outcome is Outcome.ABANDONED
    )  # fmt: skip


def within_abandon(pack: RulePack, context: DialContext) -> bool:
    state = context.campaign
    if pack.abandon_cap is None or context.agent_guaranteed or state.abandoned == 0:
        return True
    return state.abandoned / (state.abandoned + state.live) < pack.abandon_cap


@settings(max_examples=400, deadline=None)
@given(data=st.data(), now=NOW, pack=st.sampled_from(list(PACKS.values())))
def test_an_allowed_call_is_inside_every_window_and_every_cap(
    data: st.DataObject, now: datetime, pack: RulePack
) -> None:
    who, history = data.draw(candidates(now)), data.draw(histories(now))
    context = data.draw(contexts())
    decision = check(who, history, pack, now, dial=context)
    event("allowed" if decision.allowed else f"retry {decision.next_permitted_at is not None}")
    assert decision.allowed is (not decision.reasons)
    assert decision.next_permitted_at is None or decision.next_permitted_at >= now
    if decision.allowed:
        assert not who.holds and not who.do_not_call and who.party is not None
        assert rings_inside(who, pack, now, context.ring_timeout)
        assert within_caps(who, history, pack, now, context)
    elif decision.next_permitted_at is not None:
        # Only time and live state stood in the way: with live state restored the
        # call passes at the time the decision named.
        restored = replace(context, campaign=CampaignState(0, 0), resources=Resources(True, True))
        later = check(who, history, pack, decision.next_permitted_at, dial=restored)
        assert later.allowed, later.reasons


@settings(max_examples=200, deadline=None)
@given(now=NOW, region=st.sampled_from(REGIONS), data=st.data())
def test_a_debtor_with_no_flags_is_always_callable_at_the_next_permitted_time(
    now: datetime, region: list[str], data: st.DataObject
) -> None:
    zones = data.draw(st.lists(st.sampled_from(region), min_size=1, max_size=3))
    who = candidate(time_zones=tuple(zones))
    for pack in PACKS.values():
        decision = check(who, ContactHistory(), pack, now, dial=dial())
        if not decision.allowed:
            assert decision.next_permitted_at is not None
            assert decision.next_permitted_at > now
            later = check(who, ContactHistory(), pack, decision.next_permitted_at, dial=dial())
            assert later.allowed


# Every rule in the order of compliance.md, each run whatever the pack and the
# history (a rule a pack lacks refuses nothing): the plain definition of a decision.
TIMED: tuple[Check, ...] = (
    checks.window, counters.connected_daily, counters.unanswered_daily, counters.seven_in_seven,
    counters.after_conversation, counters.after_abandon, counters.after_machine,
)  # fmt: skip
EVERY_RULE: tuple[Check, ...] = (
    checks.holds, checks.contact_bans, checks.consent, checks.party, *TIMED,
    checks.abandon_budget, checks.work_line, checks.recording,
)  # fmt: skip


def refusals(rules: tuple[Check, ...], ctx: Context) -> tuple[Reason, ...]:
    return tuple(reason for rule in rules for reason in rule(ctx))


def latest(reasons: tuple[Reason, ...]) -> datetime | None:
    times = [reason.retry_at for reason in reasons]
    return None if None in times else max(at for at in times if at is not None)


def first_passing(ctx: Context, reasons: tuple[Reason, ...]) -> datetime | None:
    """From the latest retry time, every time-dependent rule again until none refuses."""
    moment = latest(reasons)
    for _ in range(MAX_STEPS):
        if moment is None:
            return None
        pending = refusals(TIMED, ctx.at(moment))
        if not pending:
            return moment
        moment = latest(pending)
    return None


@st.composite
def packs(draw: st.DrawFn) -> RulePack:
    """The packs, and now and then one with other caps (a cap of 0 refuses every call)."""
    pack = draw(st.sampled_from(list(PACKS.values())))
    if draw(rarely()):
        return pack
    return replace(
        pack,
        connected_per_debtor_per_day=draw(st.sampled_from([None, 0, 1, 3])),
        unanswered_per_number_per_day=draw(st.sampled_from([None, 0, 2, 6])),
        calls_per_debt_per_7_days=draw(st.sampled_from([None, 1, 3, 7])),
        quiet_days_after_conversation=draw(st.sampled_from([None, 1, 7])),
        no_redial_after_abandon=draw(st.sampled_from([None, timedelta(hours=72)])),
        no_redial_same_day_after_machine=draw(st.booleans()),
    )


@settings(max_examples=600, deadline=None)
@given(data=st.data(), now=NOW, pack=packs())
def test_the_engine_answers_what_every_rule_run_in_full_answers(
    data: st.DataObject, now: datetime, pack: RulePack
) -> None:
    who, history = data.draw(candidates(now)), data.draw(histories(now))
    context = data.draw(contexts())
    decision = check(who, history, pack, now, dial=context)
    ctx = Context(who, history, pack, context, now)
    reasons = refusals(EVERY_RULE, ctx)
    timed = refusals(TIMED, ctx)
    event("allowed" if not reasons else "refused by time" if timed else "refused, not by time")
    assert decision.reasons == reasons
    assert decision.next_permitted_at == (first_passing(ctx, reasons) if reasons else now)
    locate = (Note.THIRD_PARTY_LOCATE_ONLY,) if who.party in pack.locate_parties else ()
    voicemail = (Note.VOICEMAIL_LIMITED_CONTENT,) if pack.limited_content_voicemail else ()
    assert decision.notes == locate + voicemail


# Where the shortcut for a refusal by the window alone must not be taken: attempts
# stamped after `now` (another dialer's clock ahead of ours), and St. John's, whose
# clock went back across midnight at the end of summer time until 2010 (00:01 became
# 23:01 the day before), so that a later instant can have an earlier local date.
AROUND_A_SETBACK = st.datetimes(datetime(2009, 10, 29), datetime(2009, 11, 3)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)


@st.composite
def histories_reaching_ahead(draw: st.DrawFn, now: datetime) -> ContactHistory:
    minutes = st.integers(-3 * 60, 30 * 60) | st.integers(-2, 3 * 24 * 60)
    attempt = st.builds(
        Attempt,
        at=minutes.map(lambda ago: now - timedelta(minutes=ago)),
        case_id=st.sampled_from([1, 2]),
        debtor_id=st.sampled_from([10, 10, 11]),
        number=st.sampled_from(NUMBERS),
        party=st.sampled_from([Party.DEBTOR] * 3 + list(Party)),
        campaign_id=st.just(7),
        outcome=st.sampled_from(list(Outcome)),
    )
    return ContactHistory(tuple(draw(st.lists(attempt, min_size=1, max_size=12))))


@settings(max_examples=600, deadline=None)
@given(data=st.data(), now=NOW | AROUND_A_SETBACK, pack=packs())
def test_the_engine_answers_in_full_when_dates_go_back_or_attempts_lie_ahead(
    data: st.DataObject, now: datetime, pack: RulePack
) -> None:
    zones = ("America/St_Johns",) if now.year == 2009 else data.draw(zones_of_now())
    who = replace(data.draw(candidates(now)), time_zones=zones, holds=frozenset())
    history = data.draw(histories_reaching_ahead(now))
    context = data.draw(contexts())
    decision = check(who, history, pack, now, dial=context)
    ctx = Context(who, history, pack, context, now)
    reasons = refusals(EVERY_RULE, ctx)
    event("window alone" if reasons and not refusals(TIMED[1:], ctx) else "other")
    assert decision.reasons == reasons
    assert decision.next_permitted_at == (first_passing(ctx, reasons) if reasons else now)


def zones_of_now() -> st.SearchStrategy[tuple[str, ...]]:
    return st.sampled_from([("Asia/Shanghai",), ("America/New_York", "America/Chicago")])
