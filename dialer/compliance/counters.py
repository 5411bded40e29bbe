"""Rolling counters (pure): the rules that count earlier attempts.

Days are the callee's local calendar days, never the server's: a call at 00:10 in
Shanghai belongs to that Shanghai day although it is the previous day in UTC. When
the callee's zone is ambiguous every candidate zone's day is counted and the
strictest answer wins. Each refusal's `retry_at` is when that counter frees up
(the next local midnight, the day the 7-day sum drops, 72 h after the abandon);
the engine then moves it into the calling window.

Whose attempts count:

* cn-bank connected calls: every attempt about the debtor (any case, campaign,
  agency, and any of the numbers on file for them) that a live person answered,
  abandoned ones included. Counting calls to a relative about the debtor errs on
  the side of fewer calls.
* cn-bank unanswered attempts: every attempt to the number (whoever's case) that
  no live person answered: rang out, busy, failed, machine, voicemail.
* Reg F, per person per debt: attempts on the same case to the same party role
  (all of the debtor's numbers together). Busy and network failures do not count;
  voicemails and unanswered rings do. A conversation with that person starts 7
  quiet days, its own day being day 1.
* Ofcom: attempts to the same number; both rules are waived when an agent is
  guaranteed for the call.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.compliance.context import Check, Context
from dialer.compliance.model import (
    LIVE_ANSWERS,
    MACHINE_VERDICTS,
    REGF_COUNTED,
    Outcome,
    Reason,
    ReasonCode,
)
from dialer.compliance.packs import RulePack
from dialer.compliance.windows import day_start, local_day, midnight_after

REGF_DAYS = 7  # "within 7 consecutive days"
# Outcomes as plain names: an enum member looked up on its class costs more than
# the comparison in the loops below.
CONVERSATION = Outcome.CONVERSATION
ABANDONED = Outcome.ABANDONED


def counters_needing(pack: RulePack) -> tuple[tuple[Check, int], ...]:
    """The counters `pack` has, in the order of compliance.md (the others would
    never refuse), each with the fewest earlier attempts it needs to refuse at all:
    a cap of n needs n attempts to count (a cap of 0 or less refuses every call),
    the rules that look back for an attempt need one. The engine skips a counter
    when the history is shorter."""
    caps = (
        (connected_daily, pack.connected_per_debtor_per_day),
        (unanswered_daily, pack.unanswered_per_number_per_day),
        (seven_in_seven, pack.calls_per_debt_per_7_days),
    )  # fmt: skip
    lookbacks = (
        (after_conversation, pack.quiet_days_after_conversation is not None),
        (after_abandon, pack.no_redial_after_abandon is not None),
        (after_machine, pack.no_redial_same_day_after_machine),
    )  # fmt: skip
    return (
        *((rule, max(cap, 0)) for rule, cap in caps if cap is not None),
        *((rule, 1) for rule, present in lookbacks if present),
    )


# Whose attempts count (see above) is spelled out in each counter's one list
# comprehension over the history: a helper generator per selection costs as much
# again as the counting.


# cn-bank: per local day.


def connected_daily(ctx: Context) -> tuple[Reason, ...]:
    cap = ctx.pack.connected_per_debtor_per_day
    if cap is None:
        return ()
    debtor = ctx.candidate.debtor_id
    times = [
        a.at for a in ctx.history.attempts if a.debtor_id == debtor and a.outcome in LIVE_ANSWERS
    ]  # fmt: skip
    return _daily_cap(ctx, times, cap, ReasonCode.CAP_CONNECTED_DAILY, "connected calls")


def unanswered_daily(ctx: Context) -> tuple[Reason, ...]:
    cap = ctx.pack.unanswered_per_number_per_day
    if cap is None:
        return ()
    number = ctx.candidate.number
    times = [
        a.at for a in ctx.history.attempts if a.number == number and a.outcome not in LIVE_ANSWERS
    ]  # fmt: skip
    return _daily_cap(ctx, times, cap, ReasonCode.CAP_UNANSWERED_DAILY, "unanswered attempts")


def _daily_cap(
    ctx: Context, times: list[datetime], cap: int, code: ReasonCode, what: str
) -> tuple[Reason, ...]:
    if len(times) < cap:  # fewer in all than a day may have
        return ()
    counted, retries = [], []
    for zone, today in zip(ctx.zones, ctx.days, strict=True):
        count = sum(1 for at in times if local_day(at, zone) == today)
        if count >= cap:
            counted.append(f"{count} on {today} in {zone.key}")
            retries.append(midnight_after(today, zone))
    if not retries:
        return ()
    detail = f"{what}: {', '.join(counted)} (at most {cap} a day)"
    return (Reason(code, detail, max(retries)),)


# us-regf: 7 in 7 days, and quiet days after a conversation.


def seven_in_seven(ctx: Context) -> tuple[Reason, ...]:
    limit = ctx.pack.calls_per_debt_per_7_days
    if limit is None:
        return ()
    case, party = ctx.candidate.case_id, ctx.candidate.party
    times = [
        a.at for a in ctx.history.attempts
        if a.case_id == case and a.party == party and a.outcome in REGF_COUNTED
    ]  # fmt: skip
    if len(times) < limit:  # fewer in all than a week may have
        return ()
    retries = [
        _week_frees_at(times, zone, today, limit)
        for zone, today in zip(ctx.zones, ctx.days, strict=True)
    ]  # fmt: skip
    found = [retry for retry in retries if retry is not None]
    if not found:
        return ()
    detail = f"{limit} calls to this person about this debt within {REGF_DAYS} days"
    return (Reason(ReasonCode.REGF_7IN7, detail, max(found)),)


def _week_frees_at(
    times: list[datetime], zone: ZoneInfo, today: date, limit: int
) -> datetime | None:
    """When a call would no longer be the (limit+1)th in 7 local days; None: now
    (`today` is the local date now)."""
    per_day = Counter(local_day(at, zone) for at in times)

    def week_until(day: date) -> int:
        return sum(per_day[day - timedelta(days=back)] for back in range(REGF_DAYS))

    if week_until(today) < limit:
        return None
    horizon = (max(per_day) - today).days + REGF_DAYS
    free = next(
        day for day in (today + timedelta(days=ahead) for ahead in range(1, horizon + 1))
        if week_until(day) < limit
    )  # fmt: skip
    return day_start(free, zone)


def after_conversation(ctx: Context) -> tuple[Reason, ...]:
    days = ctx.pack.quiet_days_after_conversation
    if days is None:
        return ()
    case, party = ctx.candidate.case_id, ctx.candidate.party
    talks = [
        a.at for a in ctx.history.attempts
        if a.outcome is CONVERSATION and a.case_id == case and a.party == party
    ]  # fmt: skip
    if not talks:
        return ()
    retries = [
        _quiet_until(talks, zone, today, days)
        for zone, today in zip(ctx.zones, ctx.days, strict=True)
    ]  # fmt: skip
    found = [retry for retry in retries if retry is not None]
    if not found:
        return ()
    detail = f"a conversation about this debt within the last {days} days (its day is day 1)"
    return (Reason(ReasonCode.REGF_AFTER_CONVERSATION, detail, max(found)),)


def _quiet_until(
    talks: list[datetime], zone: ZoneInfo, today: date, days: int
) -> datetime | None:
    talk_days = (local_day(at, zone) for at in talks)
    ends = [day + timedelta(days=days) for day in talk_days if day <= today]
    last = max((end for end in ends if end > today), default=None)
    return None if last is None else day_start(last, zone)


# uk-ofcom: after an abandoned call, after a machine.


def after_abandon(ctx: Context) -> tuple[Reason, ...]:
    wait = ctx.pack.no_redial_after_abandon
    if wait is None or ctx.dial.agent_guaranteed:
        return ()
    number = ctx.candidate.number
    abandons = [
        a.at for a in ctx.history.attempts if a.outcome is ABANDONED and a.number == number
    ]  # fmt: skip
    last = max(abandons, default=None)
    if last is None or ctx.now >= last + wait:
        return ()
    detail = f"an abandoned call to this number at {last.isoformat()}: no redial for {wait}"
    return (Reason(ReasonCode.OFCOM_AFTER_ABANDON_72H, detail, last + wait),)


def after_machine(ctx: Context) -> tuple[Reason, ...]:
    if not ctx.pack.no_redial_same_day_after_machine or ctx.dial.agent_guaranteed:
        return ()
    number = ctx.candidate.number
    machines = [
        a.at for a in ctx.history.attempts if a.outcome in MACHINE_VERDICTS and a.number == number
    ]  # fmt: skip
    if not machines:
        return ()
    retries = [
        midnight_after(today, zone) for zone, today in zip(ctx.zones, ctx.days, strict=True)
        if any(local_day(at, zone) == today for at in machines)
    ]  # fmt: skip
    if not retries:
        return ()
    detail = "an answering machine took a call to this number today"
    return (Reason(ReasonCode.OFCOM_AFTER_AMD_SAME_DAY, detail, max(retries)),)
