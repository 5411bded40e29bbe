"""The compliance check: may the dialer place this call now? (pure)

`check(candidate, history, pack, now, dial=...)` runs every rule of `pack` in the
order compliance.md fixes: case hold -> do-not-call / cease -> consent -> party
rules -> time window (every candidate zone, holidays) -> rolling counters ->
campaign abandon budget -> work line -> recording. It does not stop at the first
refusal: every failing rule is reported, in that order, so a supervisor sees all
of them; the call is allowed only when none fails. Missing data refuses (fail
closed). The answer depends on the arguments only: no clock, no IO, no state but
memos of pure functions, so the same inputs always give the same decision.

Speed (bench/compliance_bench.py; bench/compliance_golden.py proves the decisions
unchanged): each pack's rules are planned once (`Plan`), so a rule the pack lacks
is not called, nor a counter when there is no history to count; a decision's
local dates are computed once per zone (`Context.days`); window bounds, zones and
texts are memoized in `windows`.

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

from dataclasses import dataclass
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
MAX_STEPS = 64
ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Plan:
    """A pack's rules in the order of compliance.md, without the rules it does not
    have (they would never refuse), and the same without the counters that have
    nothing to count for a candidate with no earlier attempt."""

    rules: tuple[Check, ...]
    rules_without_history: tuple[Check, ...]
    timed: tuple[Check, ...]  # the rules that depend on the time: window, counters
    timed_without_history: tuple[Check, ...]

    @classmethod
    def of(cls, pack: RulePack) -> Plan:
        live = checks.live_checks_of(pack)
        timed = (checks.window, *counters.counters_of(pack))
        bare = (checks.window, *counters.counters_without_history(pack))
        return cls(BEFORE_WINDOW + timed + live, BEFORE_WINDOW + bare + live, timed, bare)

    def every(self, ctx: Context) -> tuple[Reason, ...]:
        """The refusals of every rule, in order."""
        return _run(self.rules if ctx.history.attempts else self.rules_without_history, ctx)

    def timed_only(self, ctx: Context) -> tuple[Reason, ...]:
        """The refusals of the rules that depend on the time, in order."""
        return _run(self.timed if ctx.history.attempts else self.timed_without_history, ctx)


_PLANS: dict[int, tuple[RulePack, Plan]] = {}


def plan_for(pack: RulePack) -> Plan:
    """The plan of `pack`, built once per pack object. Kept by the pack's identity
    (hashing a RulePack's twenty fields costs more than running its rules); each
    entry holds its pack, so an id cannot be reused while it is cached."""
    entry = _PLANS.get(id(pack))
    if entry is not None and entry[0] is pack:
        return entry[1]
    if len(_PLANS) >= 64:  # packs built on the fly (tests): forget them all
        _PLANS.clear()
    plan = Plan.of(pack)
    _PLANS[id(pack)] = (pack, plan)
    return plan


def check(
    candidate: Candidate,
    history: ContactHistory,
    pack: RulePack,
    now: datetime,
    *,
    dial: DialContext,
) -> Decision:
    """The decision for placing a call to `candidate` at `now` (aware UTC)."""
    if now.tzinfo is None or now.utcoffset() != ZERO:
        raise ValueError(f"now must be aware UTC, got {now!r}")
    ctx = Context.build(candidate, history, pack, dial, now)
    plan = plan_for(pack)
    reasons = plan.every(ctx)
    return Decision(
        allowed=not reasons,
        pack=pack.name,
        pack_version=pack.version,
        reasons=reasons,
        notes=checks.notes(ctx),
        next_permitted_at=_next_permitted(plan, ctx, reasons) if reasons else now,
        checked_at=now,
        inputs=summarize(ctx),
    )


def _run(rules: tuple[Check, ...], ctx: Context) -> tuple[Reason, ...]:
    found: tuple[Reason, ...] = ()
    for rule in rules:
        found += rule(ctx)  # mostly empty: adding () is all but free
    return found


def _next_permitted(plan: Plan, ctx: Context, reasons: tuple[Reason, ...]) -> datetime | None:
    moment = _latest(reasons)
    for _ in range(MAX_STEPS):
        if moment is None:
            return None
        pending = plan.timed_only(ctx.at(moment))
        if not pending:
            return moment
        moment = _latest(pending)
    return None


def _latest(reasons: tuple[Reason, ...]) -> datetime | None:
    """The latest retry time of `reasons`; None when any has none."""
    latest: datetime | None = None
    for reason in reasons:
        at = reason.retry_at
        if at is None:
            return None
        if latest is None or at > latest:  # the first of equal instants, as max() gives
            latest = at
    return latest


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
        "holds": sorted(map(str, who.holds)),
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
            {"id": a.attempt_id, "at": a.at.astimezone(UTC).isoformat(), "outcome": str(a.outcome)}
            for a in ctx.history.attempts
        ],
    }


@lru_cache(maxsize=64)
def _dates_json(days: frozenset[date]) -> tuple[str, ...]:
    """A holiday calendar as sorted ISO dates; cached, as a client's calendar is the
    same frozenset for every decision and has a hundred dates."""
    return tuple(sorted(day.isoformat() for day in days))

