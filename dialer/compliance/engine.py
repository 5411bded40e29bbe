"""The compliance check: may the dialer place this call now? (pure)

`check(candidate, history, pack, now, dial=...)` runs every rule of `pack` in the
order compliance.md fixes: case hold -> do-not-call / cease -> consent -> party
rules -> time window (every candidate zone, holidays) -> rolling counters ->
campaign abandon budget -> work line -> recording. It does not stop at the first
refusal: every failing rule is reported, in that order, so a supervisor sees all
of them; the call is allowed only when none fails. Missing data refuses (fail
closed). The answer depends on the arguments only: no clock, no IO, no state, so
the same inputs always give the same decision.

`next_permitted_at` on a refusal is the earliest instant the call could pass with
the same history: None when any reason has no such time (a hold, a flag, missing
data); otherwise, starting from the latest reason's retry time, the
time-dependent rules (window and counters) are evaluated again at that instant
and the time moved on until they all pass, e.g. a counter that frees at local
midnight is moved to the window's opening at 08:00. Reasons that depend on live
state (abandon budget, work line, recorder) retry at `now`; they are not
predicted. Where no such instant is found in `MAX_STEPS` moves the answer is None.

What the caller supplies as history (the store's query): every attempt within
`pack.history_lookback` before `now` about the debtor (any case, campaign or
agency) or to the candidate's number (any debtor); for us-regf third-party calls,
every earlier attempt to that number about the debtor, however old. The store, not
this module, keeps two dialers from both passing the same cap at once: it checks
and writes the attempt row under a lock on the debtor (and the number), so each
check sees the other's attempt.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from cases.domain import mask
from dialer.compliance import checks, counters
from dialer.compliance.checks import Check, Context
from dialer.compliance.model import (
    Candidate,
    ContactHistory,
    Decision,
    DialContext,
    Reason,
)
from dialer.compliance.packs import RulePack

BEFORE_WINDOW: tuple[Check, ...] = (
    checks.holds, checks.contact_bans, checks.consent, checks.party,
)  # fmt: skip
TIMED: tuple[Check, ...] = (
    checks.window,
    counters.connected_daily, counters.unanswered_daily,
    counters.seven_in_seven, counters.after_conversation,
    counters.after_abandon, counters.after_machine,
)  # fmt: skip
LIVE: tuple[Check, ...] = (checks.abandon_budget, checks.work_line, checks.recording)
ORDER = BEFORE_WINDOW + TIMED + LIVE
MAX_STEPS = 64


def check(
    candidate: Candidate,
    history: ContactHistory,
    pack: RulePack,
    now: datetime,
    *,
    dial: DialContext,
) -> Decision:
    """The decision for placing a call to `candidate` at `now` (aware UTC)."""
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise ValueError(f"now must be aware UTC, got {now!r}")
    ctx = Context.build(candidate, history, pack, dial, now)
    reasons = _run(ORDER, ctx)
    return Decision(
        allowed=not reasons,
        pack=pack.name,
        pack_version=pack.version,
        reasons=reasons,
        notes=checks.notes(ctx),
        next_permitted_at=_next_permitted(ctx, reasons) if reasons else now,
        checked_at=now,
        inputs=summarize(ctx),
    )


def _run(rules: tuple[Check, ...], ctx: Context) -> tuple[Reason, ...]:
    found: tuple[Reason, ...] = ()
    for rule in rules:
        found += rule(ctx)  # mostly empty: adding () is all but free
    return found


def _next_permitted(ctx: Context, reasons: tuple[Reason, ...]) -> datetime | None:
    moment = _latest(reasons)
    for _ in range(MAX_STEPS):
        if moment is None:
            return None
        pending = _run(TIMED, ctx.at(moment))
        if not pending:
            return moment
        moment = _latest(pending)
    return None


def _latest(reasons: tuple[Reason, ...]) -> datetime | None:
    times = [reason.retry_at for reason in reasons]
    if any(at is None for at in times):
        return None
    return max(at for at in times if at is not None)


def summarize(ctx: Context) -> dict[str, object]:
    """The decision's inputs as JSON-ready values (the number masked: the phone id
    names it)."""
    who, dial = ctx.candidate, ctx.dial
    return {
        "now": ctx.now.isoformat(),
        "case_id": who.case_id,
        "debtor_id": who.debtor_id,
        "phone_id": who.phone_id,
        "number": mask(who.number),
        "party": None if who.party is None else str(who.party),
        "time_zones": list(who.time_zones),
        "window": None if ctx.window is None else str(ctx.window),
        "agreed_window": None if who.agreed_window is None else str(who.agreed_window),
        "holds": sorted(str(hold) for hold in who.holds),
        "do_not_call": who.do_not_call,
        "cease_requested": who.cease_requested,
        "attorney_represented": who.attorney_represented,
        "consent": str(who.consent),
        "lost_contact": who.lost_contact,
        "no_holiday_calls": who.no_holiday_calls,
        "holidays": None if who.holidays is None else list(_dates_json(who.holidays)),
        "campaign_id": dial.campaign_id,
        "ring_timeout_s": dial.ring_timeout.total_seconds(),
        "agent_guaranteed": dial.agent_guaranteed,
        "campaign": {"abandoned": dial.campaign.abandoned, "live": dial.campaign.live},
        "resources": {"work_line": dial.resources.work_line, "recording": dial.resources.recording},
        "history": [
            _attempt_json(a.attempt_id, a.at, str(a.outcome)) for a in ctx.history.attempts
        ],
    }


@lru_cache(maxsize=64)
def _dates_json(days: frozenset[date]) -> tuple[str, ...]:
    """A holiday calendar as sorted ISO dates; cached, as a client's calendar is the
    same frozenset for every decision and has a hundred dates."""
    return tuple(sorted(day.isoformat() for day in days))


def _attempt_json(attempt_id: int | None, at: datetime, outcome: str) -> dict[str, object]:
    return {"id": attempt_id, "at": at.astimezone(UTC).isoformat(), "outcome": outcome}
