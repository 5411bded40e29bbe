"""The compliance check: may the dialer place this call now? (pure)

`check(candidate, history, pack, now, dial=...)` runs every rule of `pack` in the
order compliance.md fixes: case hold -> do-not-call / cease -> consent -> party
rules -> time window (every candidate zone, holidays) -> rolling counters ->
campaign abandon budget -> work line -> recording. It does not stop at the first
refusal: every failing rule is reported, in that order, so a supervisor sees all
of them; the call is allowed only when none fails. Missing data refuses (fail
closed). The answer depends on the arguments only: no clock, no IO, no state but
memos of pure functions, so the same inputs always give the same decision.

Speed (bench/compliance_bench.py; bench/compliance_golden.py and a property test
against every rule run in full prove the decisions unchanged): the inputs summary
a decision stores is built only when it is stored or read (`Decision.inputs`);
each pack's time-dependent rules are planned once per number of earlier attempts
(`Plan`), so neither a counter the pack lacks nor one with too few attempts to
count is called; rules 1-4 and 7-9 are told at once when none refuses
(`checks.before_window`, `checks.live_state`); the next-permitted search is
skipped when no time-dependent rule refused (the others retry at `now` or never)
or the window alone did (its retry instant is a fit, and counters that pass now
pass then: unless an earlier attempt is stamped after `now` or a clock is set back
across midnight in the callee's zone on the way, `_counts_hold`); a decision's local dates are
computed once per zone (`Context.days`); window bounds, zones and texts are
memoized in `windows`.

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
from datetime import UTC, datetime, timedelta

from dialer.compliance import checks, counters
from dialer.compliance.context import Check, Context
from dialer.compliance.model import (
    Candidate,
    ContactHistory,
    Decision,
    DialContext,
    Note,
    Reason,
)
from dialer.compliance.packs import RulePack
from dialer.compliance.windows import dates_never_go_back

MAX_STEPS = 64
ZERO = timedelta(0)


@dataclass(frozen=True, slots=True)
class Plan:
    """A pack's time-dependent rules (the window, then its counters in the order of
    compliance.md) per number of earlier attempts: a counter the pack lacks is never
    called, nor one that cannot refuse with so few attempts to count (a daily cap
    of 3 needs 3); the last entry serves that many attempts or more. `counters` is
    the same without the window. And the pack's notes, for a callee it may only
    locate and for the others."""

    timed: tuple[tuple[Check, ...], ...]
    counters: tuple[tuple[Check, ...], ...]
    locate_notes: tuple[Note, ...]
    notes: tuple[Note, ...]

    @classmethod
    def of(cls, pack: RulePack) -> Plan:
        needs = counters.counters_needing(pack)
        most = max((need for _, need in needs), default=0)
        counted = tuple(
            tuple(rule for rule, need in needs if need <= attempts)
            for attempts in range(most + 1)
        )  # fmt: skip
        return cls(
            tuple((checks.window, *rules) for rules in counted),
            counted,
            checks.notes_of(pack, locating=True),
            checks.notes_of(pack, locating=False),
        )

    def timed_for(self, attempts: int) -> tuple[Check, ...]:
        table = self.timed
        return table[attempts] if attempts < len(table) else table[-1]


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
    if now.tzinfo is not UTC and (now.tzinfo is None or now.utcoffset() != ZERO):
        raise ValueError(f"now must be aware UTC, got {now!r}")
    ctx = Context(candidate, history, pack, dial, now)
    plan = plan_for(pack)
    attempts = len(history.attempts)
    table = plan.counters
    counted = _run(table[attempts] if attempts < len(table) else table[-1], ctx)
    timed_reasons = checks.window(ctx) + counted
    reasons = checks.before_window(ctx) + timed_reasons + checks.live_state(ctx)
    if not reasons:
        permitted: datetime | None = now
    else:
        # Without timed reasons: None, or `now` for live state (the timed rules pass
        # at `now`). The window alone: its retry instant is a fit, and counts that
        # pass now pass then, unless `_counts_hold` says they may not.
        permitted = _latest(reasons)
        if counted or (timed_reasons and not _counts_hold(ctx, permitted)):
            permitted = _next_permitted(plan.timed_for(attempts), ctx, reasons)
    notes = plan.locate_notes if candidate.party in pack.locate_parties else plan.notes
    # The inputs summary is built from `ctx` when the decision is stored.
    return Decision(not reasons, pack.name, pack.version, reasons, notes, permitted, now, ctx)


def _counts_hold(ctx: Context, until: datetime | None) -> bool:
    """Whether counters that pass at `ctx.now` pass at every later instant up to
    `until` (None: nothing to search). They do when no earlier attempt lies after
    `now` and no local date goes back on the way: a count over a later local day
    or week can then only hold fewer of the earlier attempts, and the look-back
    rules only free up as time passes."""
    if until is None:
        return True
    now = ctx.now
    for attempt in ctx.history.attempts:
        if attempt.at > now:
            return False
    return dates_never_go_back(ctx.zones, now, until)


def _run(rules: tuple[Check, ...], ctx: Context) -> tuple[Reason, ...]:
    found: tuple[Reason, ...] = ()
    for rule in rules:
        found += rule(ctx)  # mostly empty: adding () is all but free
    return found


def _next_permitted(
    timed: tuple[Check, ...], ctx: Context, reasons: tuple[Reason, ...]
) -> datetime | None:
    moment = _latest(reasons)
    for _ in range(MAX_STEPS):
        if moment is None:
            return None
        pending = _run(timed, ctx.at(moment))
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
