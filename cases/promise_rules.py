"""Promises to pay against the payments the bank reports: which promises are kept,
broken or still pending, the case's priority and status, and when it is called next.
A pure function of the case, its promises, its payments, the debtor's zone and now.

Payments and promises:
- a promise's window runs from the moment it was made to the end of its due date,
  the debtor's local day (the debtor's zone, else the client's); a payment counts
  towards it when made inside the window (and not after `now`);
- the promises of a case take payments oldest promise first (creation time, then
  id); each takes the earliest payments of its window that older promises left, up
  to its amount, and a payment may be split between promises. Every promise but a
  cancelled one takes its share whatever its status, so the same payments always
  give the same shares, and a new payment never lowers a promise's share;
- kept: its share covers its amount; it was kept when the payment that completed
  it was made (`resolved_at`). A kept promise stays kept;
- broken: its due date has ended and its share falls short; it broke at the end of
  its due date (`resolved_at`). A payment made inside its window but reported late
  still keeps it (broken -> kept);
- pending otherwise; a cancelled promise stays cancelled and takes nothing.

The case:
- paid: payments made after the bank reported the balance (the last batch) that add
  up to the balance make an open, in-progress, promised or lost-contact case `paid`,
  with no next action and its pending promises cancelled (when it was paid off, or
  when the promise was made if that was later); a case on hold, in legal
  review or closed keeps its status (only the bank lifts those);
- a `promised` case with no pending promise left goes back to `in_progress`;
- priority: raised to `BROKEN_PROMISE_PRIORITY` while its latest broken promise
  stands, i.e. no promise was made and none kept after it broke; back to
  `NORMAL_PRIORITY` once a fresh promise is made or one is kept. A priority set
  higher by anything else is left alone;
- calls: a promise due 2 or more days after the day it is made gets a reminder call
  at 10:00 debtor-local on the day before its due date, otherwise the follow-up at
  10:00 on the day after it (`first_call_after_promise`, used when a PTP is filed).
  When a promise breaks (and no promise was made or kept since it broke), the
  case is called at its follow-up time or sooner (a sooner next action stays).
  When the last pending promise is kept, the case is not called before that
  promise's follow-up time (no reminder for a debtor who paid).
  Every call still goes through the rule pack's compliance check in the dialer.
  Next action times change only when a promise changes status, so running the
  resolution again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from cases.domain import CaseStatus

NORMAL_PRIORITY = 0
BROKEN_PROMISE_PRIORITY = 20
CALL_TIME = time(10, 0)
REMINDER_MIN_DAYS = 2
_PAYABLE = frozenset({CaseStatus.OPEN, CaseStatus.IN_PROGRESS, CaseStatus.PROMISED,
                      CaseStatus.LOST_CONTACT})
_ZERO = Decimal(0)


class PromiseStatus(StrEnum):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class PromiseFacts:
    id: int
    amount: Decimal
    due_date: date
    created_at: datetime
    status: PromiseStatus = PromiseStatus.PENDING
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PaymentFacts:
    id: int
    amount: Decimal
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class CaseFacts:
    status: CaseStatus
    priority: int
    next_action_at: datetime | None
    balance: Decimal
    balance_reported_at: datetime  # when the bank reported `balance`


@dataclass(frozen=True, slots=True)
class PromiseOutcome:
    promise: PromiseFacts
    status: PromiseStatus
    paid: Decimal  # the payments counted towards it
    resolved_at: datetime | None

    @property
    def changed(self) -> bool:
        return self.status is not self.promise.status


@dataclass(frozen=True, slots=True)
class Resolution:
    promises: tuple[PromiseOutcome, ...]  # oldest first
    status: CaseStatus
    priority: int
    next_action_at: datetime | None

    def changed_promises(self) -> tuple[PromiseOutcome, ...]:
        return tuple(o for o in self.promises if o.changed)

    def case_changed(self, case: CaseFacts) -> bool:
        return (self.status, self.priority, self.next_action_at) != (
            case.status, case.priority, case.next_action_at)


def window_end(due: date, zone: ZoneInfo) -> datetime:
    """The end of the due date in the debtor's zone: the next local midnight."""
    return datetime.combine(due + timedelta(days=1), time(0), tzinfo=zone)


def reminder_at(due: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(due - timedelta(days=1), CALL_TIME, tzinfo=zone)


def follow_up_at(due: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(due + timedelta(days=1), CALL_TIME, tzinfo=zone)


def first_call_after_promise(due: date, now: datetime, zone: ZoneInfo) -> datetime:
    """The reminder when the promise is due 2 or more local days after `now`, else
    the follow-up on the day after it falls due."""
    if (due - now.astimezone(zone).date()).days >= REMINDER_MIN_DAYS:
        return reminder_at(due, zone)
    return follow_up_at(due, zone)


@dataclass(frozen=True, slots=True)
class Share:
    paid: Decimal
    completed_at: datetime | None  # when the payment that covered it was made


def shares(promises: Sequence[PromiseFacts], payments: Sequence[PaymentFacts],
           zone: ZoneInfo, now: datetime) -> dict[int, Share]:
    """Each promise's share of the payments, oldest promise first (see the module)."""
    ordered = sorted((p for p in payments if p.paid_at <= now),
                     key=lambda p: (p.paid_at, p.id))
    left = {p.id: p.amount for p in ordered}
    found: dict[int, Share] = {}
    for promise in sorted(promises, key=lambda p: (p.created_at, p.id)):
        if promise.status is not PromiseStatus.CANCELLED:
            found[promise.id] = _take(promise, ordered, left, window_end(promise.due_date, zone))
    return found


def _take(promise: PromiseFacts, payments: Sequence[PaymentFacts], left: dict[int, Decimal],
          end: datetime) -> Share:
    got = _ZERO
    for payment in payments:
        if not promise.created_at <= payment.paid_at < end or left[payment.id] <= 0:
            continue
        take = min(left[payment.id], promise.amount - got)
        left[payment.id] -= take
        got += take
        if got >= promise.amount:
            return Share(got, payment.paid_at)
    return Share(got, None)


def decide(promise: PromiseFacts, share: Share | None, zone: ZoneInfo,
           now: datetime) -> PromiseOutcome:
    """Kept once covered (and for good), broken once its due date has ended short."""
    if share is None or promise.status is PromiseStatus.CANCELLED:
        return PromiseOutcome(promise, promise.status, _ZERO, promise.resolved_at)
    if promise.status is PromiseStatus.KEPT:
        return PromiseOutcome(promise, promise.status, share.paid, promise.resolved_at)
    if share.completed_at is not None:
        return PromiseOutcome(promise, PromiseStatus.KEPT, share.paid, share.completed_at)
    end = window_end(promise.due_date, zone)
    if promise.status is PromiseStatus.BROKEN or now >= end:
        return PromiseOutcome(promise, PromiseStatus.BROKEN, share.paid, end)
    return PromiseOutcome(promise, PromiseStatus.PENDING, share.paid, None)


def paid_off_at(case: CaseFacts, payments: Sequence[PaymentFacts],
                now: datetime) -> datetime | None:
    """When the payments made after the balance was reported reached it, if they did."""
    total = _ZERO
    for payment in sorted(payments, key=lambda p: (p.paid_at, p.id)):
        if case.balance_reported_at < payment.paid_at <= now:
            total += payment.amount
            if total >= case.balance:
                return payment.paid_at
    return None


def resolve(case: CaseFacts, promises: Sequence[PromiseFacts],
            payments: Sequence[PaymentFacts], *, zone: ZoneInfo, now: datetime) -> Resolution:
    """Every promise's outcome and the case's status, priority and next action."""
    found = shares(promises, payments, zone, now)
    outcomes = [decide(p, found.get(p.id), zone, now)
                for p in sorted(promises, key=lambda p: (p.created_at, p.id))]
    paid_at = paid_off_at(case, payments, now) if case.status in _PAYABLE else None
    if paid_at is not None or case.status is CaseStatus.PAID:
        outcomes = [_cancel(o, paid_at or now) for o in outcomes]
        return Resolution(tuple(outcomes), CaseStatus.PAID,
                          lowered_priority(case.priority), None)
    return Resolution(
        tuple(outcomes), _status(case.status, outcomes),
        promise_priority(case.priority, outcomes),
        next_action(case, outcomes, zone),
    )


def _cancel(outcome: PromiseOutcome, at: datetime) -> PromiseOutcome:
    if outcome.status is not PromiseStatus.PENDING:
        return outcome
    when = max(at, outcome.promise.created_at)
    return PromiseOutcome(outcome.promise, PromiseStatus.CANCELLED, outcome.paid, when)


def _status(status: CaseStatus, outcomes: Sequence[PromiseOutcome]) -> CaseStatus:
    pending = any(o.status is PromiseStatus.PENDING for o in outcomes)
    return CaseStatus.IN_PROGRESS if status is CaseStatus.PROMISED and not pending else status


def broken_stands(outcomes: Sequence[PromiseOutcome]) -> bool:
    """Whether the latest broken promise still stands: no promise was made, and none
    kept, after it broke."""
    broke = [o.resolved_at for o in outcomes
             if o.status is PromiseStatus.BROKEN and o.resolved_at is not None]
    if not broke:
        return False
    latest = max(broke)
    return not any(
        o.promise.created_at > latest
        or (o.status is PromiseStatus.KEPT and o.resolved_at is not None
            and o.resolved_at > latest)
        for o in outcomes if o.status is not PromiseStatus.CANCELLED
    )


def promise_priority(current: int, outcomes: Sequence[PromiseOutcome]) -> int:
    if broken_stands(outcomes):
        return max(current, BROKEN_PROMISE_PRIORITY)
    return lowered_priority(current)


def lowered_priority(current: int) -> int:
    return NORMAL_PRIORITY if current == BROKEN_PROMISE_PRIORITY else current


_NOT_CALLED = frozenset({CaseStatus.ON_HOLD, CaseStatus.LEGAL, CaseStatus.PAID,
                         CaseStatus.CLOSED})


def next_action(case: CaseFacts, outcomes: Sequence[PromiseOutcome],
                zone: ZoneInfo) -> datetime | None:
    """The case's next action after promises changed status (None: call any time)."""
    nxt = case.next_action_at
    if case.status in _NOT_CALLED:
        return nxt
    if not any(o.status is PromiseStatus.PENDING for o in outcomes):
        for o in outcomes:
            if o.changed and o.status is PromiseStatus.KEPT:
                follow = follow_up_at(o.promise.due_date, zone)
                nxt = follow if nxt is None or nxt < follow else nxt
    if not broken_stands(outcomes):  # superseded by a promise made or kept since
        return nxt
    for o in outcomes:
        if o.changed and o.status is PromiseStatus.BROKEN:
            follow = follow_up_at(o.promise.due_date, zone)
            nxt = None if nxt is None else min(nxt, follow)
    return nxt
