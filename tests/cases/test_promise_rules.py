"""Promises against payments, as a pure function: kept, broken or pending, shares
oldest promise first, the debtor's local day, priority, status and next call."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.domain import CaseStatus
from cases.promise_rules import (
    BROKEN_PROMISE_PRIORITY,
    NORMAL_PRIORITY,
    CaseFacts,
    PaymentFacts,
    PromiseFacts,
    PromiseStatus,
    Resolution,
    first_call_after_promise,
    resolve,
    shares,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
PENDING, KEPT, BROKEN, CANCELLED = (PromiseStatus.PENDING, PromiseStatus.KEPT,
                                    PromiseStatus.BROKEN, PromiseStatus.CANCELLED)


def sh(wall: str, zone: ZoneInfo = SHANGHAI) -> datetime:
    """An instant written as wall time in `zone` (Shanghai unless told)."""
    return datetime.fromisoformat(wall).replace(tzinfo=zone)


MADE = sh("2026-11-29 11:00")
DUE = date(2026, 12, 5)
CASE = CaseFacts(status=CaseStatus.PROMISED, priority=NORMAL_PRIORITY,
                 next_action_at=sh("2026-12-04 10:00"), balance=Decimal("12000.50"),
                 balance_reported_at=sh("2026-11-29 09:00"))


def promise(pid: int = 1, amount: str = "1000", due: date = DUE, made: datetime = MADE,
            status: PromiseStatus = PENDING, resolved_at: datetime | None = None
            ) -> PromiseFacts:
    return PromiseFacts(pid, Decimal(amount), due, made, status, resolved_at)


def paid(*items: tuple[str, str]) -> list[PaymentFacts]:
    """Payments (amount, Shanghai wall time), numbered from 1."""
    return [PaymentFacts(n, Decimal(amount), sh(at)) for n, (amount, at) in
            enumerate(items, start=1)]


def run(promises: list[PromiseFacts], payments: list[PaymentFacts], now: str,
        case: CaseFacts = CASE, zone: ZoneInfo = SHANGHAI) -> Resolution:
    return resolve(case, promises, payments, zone=zone, now=sh(now))


# payments, now (Shanghai), status, paid toward it, resolved at (Shanghai) or None
ONE_PROMISE = [
    ((), "2026-12-05 23:59", PENDING, "0", None),
    ((), "2026-12-06 00:00", BROKEN, "0", "2026-12-06 00:00"),
    ((("1000", "2026-12-05 23:30"),), "2026-12-06 09:00", KEPT, "1000", "2026-12-05 23:30"),
    # 00:30 on the 6th in Shanghai is still the 5th in UTC: too late all the same
    ((("1000", "2026-12-06 00:30"),), "2026-12-06 09:00", BROKEN, "0", "2026-12-06 00:00"),
    ((("400", "2026-12-01 09:00"), ("600", "2026-12-03 20:00")), "2026-12-04 08:00", KEPT,
     "1000", "2026-12-03 20:00"),
    ((("999.99", "2026-12-05 12:00"),), "2026-12-07 10:00", BROKEN, "999.99",
     "2026-12-06 00:00"),
    ((("1000", "2026-11-29 10:59"),), "2026-12-06 09:00", BROKEN, "0", "2026-12-06 00:00"),
    ((("1000", "2026-11-29 11:00"),), "2026-11-29 12:00", KEPT, "1000", "2026-11-29 11:00"),
    ((("1000", "2026-12-04 09:00"),), "2026-12-03 09:00", PENDING, "0", None),  # not yet
    ((("1500", "2026-12-02 09:00"),), "2026-12-02 10:00", KEPT, "1000", "2026-12-02 09:00"),
]


@pytest.mark.parametrize(("payments", "now", "status", "share", "resolved"), ONE_PROMISE)
def test_one_promise(payments: tuple[tuple[str, str], ...], now: str, status: PromiseStatus,
                     share: str, resolved: str | None) -> None:
    [outcome] = run([promise()], paid(*payments), now).promises
    assert (outcome.status, outcome.paid) == (status, Decimal(share))
    assert outcome.resolved_at == (sh(resolved) if resolved else None)


def test_the_debtors_own_zone_decides_the_day() -> None:
    """A Los Angeles debtor: due the 5th there, which ends at 16:00 on the 6th in
    Shanghai."""
    made = sh("2026-11-29 11:00", LOS_ANGELES)
    late = paid(("1000", "2026-12-06 10:00"))  # 18:00 on the 5th in Los Angeles
    [kept] = run([promise(made=made)], late, "2026-12-06 12:00", zone=LOS_ANGELES).promises
    assert kept.status is KEPT
    [waiting] = run([promise(made=made)], [], "2026-12-06 15:59", zone=LOS_ANGELES).promises
    assert waiting.status is PENDING
    [broken] = run([promise(made=made)], [], "2026-12-06 16:00", zone=LOS_ANGELES).promises
    assert (broken.status, broken.resolved_at) == (BROKEN, sh("2026-12-06", LOS_ANGELES))


# promises (id, amount, due day of December, made day of Nov/Dec), payments, now,
# expected (status, paid) per promise in id order
FIRST = (1, "500", 5, "2026-11-29 11:00")
LATER = (2, "500", 20, "2026-12-01 11:00")
EARLY_DUE = (2, "500", 5, "2026-12-01 11:00")
LONG = (1, "500", 10, "2026-11-29 11:00")
SEVERAL = [
    ("one payment pays both", [FIRST, LATER], [("1000", "2026-12-04 09:00")],
     "2026-12-04 10:00", [(KEPT, "500"), (KEPT, "500")]),
    ("one payment each", [FIRST, LATER], [("500", "2026-12-04 09:00"),
                                          ("500", "2026-12-18 09:00")],
     "2026-12-21 10:00", [(KEPT, "500"), (KEPT, "500")]),
    ("the older promise takes it first", [LONG, EARLY_DUE], [("500", "2026-12-04 09:00")],
     "2026-12-06 10:00", [(KEPT, "500"), (BROKEN, "0")]),
    ("split, the rest pending", [FIRST, LATER], [("700", "2026-12-04 09:00")],
     "2026-12-06 10:00", [(KEPT, "500"), (PENDING, "200")]),
    ("a payment before the later promise was made", [FIRST, LATER],
     [("1000", "2026-11-30 09:00")], "2026-12-21 10:00", [(KEPT, "500"), (BROKEN, "0")]),
]


def _promises(specs: list[tuple[int, str, int, str]]) -> list[PromiseFacts]:
    return [promise(pid, amount, date(2026, 12, day), sh(made))
            for pid, amount, day, made in specs]


@pytest.mark.parametrize(("specs", "payments", "now", "expected"),
                         [s[1:] for s in SEVERAL], ids=[s[0] for s in SEVERAL])
def test_several_promises_take_payments_oldest_first(
    specs: list[tuple[int, str, int, str]], payments: list[tuple[str, str]], now: str,
    expected: list[tuple[PromiseStatus, str]],
) -> None:
    outcomes = run(_promises(specs), paid(*payments), now).promises
    assert [(o.status, o.paid) for o in outcomes] == [(s, Decimal(p)) for s, p in expected]


def test_a_cancelled_promise_takes_nothing() -> None:
    outcomes = run([promise(1, status=CANCELLED), promise(2, made=sh("2026-11-30 09:00"))],
                   paid(("1000", "2026-12-01 09:00")), "2026-12-01 10:00").promises
    assert [(o.status, o.paid) for o in outcomes] == [(CANCELLED, Decimal(0)),
                                                      (KEPT, Decimal(1000))]


def test_a_late_reported_payment_keeps_a_broken_promise() -> None:
    broken = promise(status=BROKEN, resolved_at=sh("2026-12-06 00:00"))
    [outcome] = run([broken], paid(("1000", "2026-12-05 21:00")), "2026-12-07 09:00").promises
    assert (outcome.status, outcome.changed, outcome.resolved_at) == (
        KEPT, True, sh("2026-12-05 21:00"))


def test_kept_stays_kept_and_broken_stays_broken() -> None:
    kept = promise(status=KEPT, resolved_at=sh("2026-12-01 09:00"))
    [outcome] = run([kept], [], "2026-12-09 09:00").promises
    assert (outcome.status, outcome.changed) == (KEPT, False)
    broken = promise(status=BROKEN, resolved_at=sh("2026-12-06 00:00"))
    [outcome] = run([broken], [], "2026-12-04 09:00").promises  # asked about the past
    assert (outcome.status, outcome.changed) == (BROKEN, False)


BROKE = sh("2026-12-06 00:00")
# promises, payments, now, current priority, expected priority
PRIORITY = [
    ("broken raises", [promise()], [], "2026-12-06 09:00", 0, BROKEN_PROMISE_PRIORITY),
    ("a fresh promise lowers", [promise(status=BROKEN, resolved_at=BROKE),
                                promise(2, due=date(2026, 12, 20), made=sh("2026-12-06 11:00"))],
     [], "2026-12-06 12:00", BROKEN_PROMISE_PRIORITY, NORMAL_PRIORITY),
    ("one kept after the break lowers",
     [promise(), promise(2, due=date(2026, 12, 20), made=sh("2026-12-01 09:00"))],
     [("1000", "2026-12-10 09:00")], "2026-12-10 10:00", 0, NORMAL_PRIORITY),
    ("one pending since before the break does not",
     [promise(), promise(2, due=date(2026, 12, 20), made=sh("2026-12-01 09:00"))],
     [], "2026-12-10 10:00", 0, BROKEN_PROMISE_PRIORITY),
    ("kept leaves a normal priority", [promise()], [("1000", "2026-12-01 09:00")],
     "2026-12-01 10:00", 0, NORMAL_PRIORITY),
    ("a higher priority stays when raised", [promise()], [], "2026-12-06 09:00", 50, 50),
    ("a higher priority stays when kept", [promise()], [("1000", "2026-12-01 09:00")],
     "2026-12-01 10:00", 50, 50),
]


@pytest.mark.parametrize(("promises", "payments", "now", "current", "expected"),
                         [p[1:] for p in PRIORITY], ids=[p[0] for p in PRIORITY])
def test_priority(promises: list[PromiseFacts], payments: list[tuple[str, str]], now: str,
                  current: int, expected: int) -> None:
    case = replace(CASE, priority=current)
    assert run(promises, paid(*payments), now, case).priority == expected


# case status, payments, now, status after
STATUS = [
    (CaseStatus.PROMISED, [("1000", "2026-12-01 09:00")], "2026-12-01 10:00",
     CaseStatus.IN_PROGRESS),
    (CaseStatus.PROMISED, [], "2026-12-06 09:00", CaseStatus.IN_PROGRESS),
    (CaseStatus.PROMISED, [], "2026-12-05 09:00", CaseStatus.PROMISED),
    (CaseStatus.IN_PROGRESS, [], "2026-12-06 09:00", CaseStatus.IN_PROGRESS),
    (CaseStatus.ON_HOLD, [], "2026-12-06 09:00", CaseStatus.ON_HOLD),
    (CaseStatus.LEGAL, [("1000", "2026-12-01 09:00")], "2026-12-01 10:00", CaseStatus.LEGAL),
]


@pytest.mark.parametrize(("status", "payments", "now", "expected"), STATUS)
def test_case_status(status: CaseStatus, payments: list[tuple[str, str]], now: str,
                     expected: CaseStatus) -> None:
    case = replace(CASE, status=status)
    assert run([promise()], paid(*payments), now, case).status is expected


REMINDER, FOLLOW_UP = sh("2026-12-04 10:00"), sh("2026-12-06 10:00")
# promise status, payments, now, case's next action, expected next action
NEXT = [
    ("broken: the follow-up when later", PENDING, [], "2026-12-06 00:05",
     sh("2026-12-08 10:00"), FOLLOW_UP),
    ("broken: a sooner next action stays", PENDING, [], "2026-12-06 00:05",
     sh("2026-12-05 14:00"), sh("2026-12-05 14:00")),
    ("broken: no next action is sooner still", PENDING, [], "2026-12-06 00:05", None, None),
    ("kept: no reminder for a debtor who paid", PENDING, [("1000", "2026-12-02 09:00")],
     "2026-12-02 10:00", REMINDER, FOLLOW_UP),
    ("kept: a later next action stays", PENDING, [("1000", "2026-12-02 09:00")],
     "2026-12-02 10:00", sh("2026-12-09 10:00"), sh("2026-12-09 10:00")),
    ("already broken: not pulled in again", BROKEN, [], "2026-12-07 10:00",
     sh("2026-12-07 14:00"), sh("2026-12-07 14:00")),
    ("still pending: unchanged", PENDING, [("10", "2026-12-02 09:00")], "2026-12-02 10:00",
     REMINDER, REMINDER),
]


@pytest.mark.parametrize(("status", "payments", "now", "current", "expected"),
                         [n[1:] for n in NEXT], ids=[n[0] for n in NEXT])
def test_next_action(status: PromiseStatus, payments: list[tuple[str, str]], now: str,
                     current: datetime | None, expected: datetime | None) -> None:
    resolved_at = BROKE if status is BROKEN else None
    case = replace(CASE, status=CaseStatus.IN_PROGRESS, next_action_at=current)
    done = run([promise(status=status, resolved_at=resolved_at)], paid(*payments), now, case)
    assert done.next_action_at == expected


def test_a_break_found_late_does_not_call_a_debtor_who_just_promised_again() -> None:
    fresh = promise(2, due=date(2026, 12, 20), made=sh("2026-12-07 11:00"))
    case = replace(CASE, next_action_at=sh("2026-12-19 10:00"))  # the fresh one's reminder
    done = run([promise(), fresh], [], "2026-12-07 11:00", case)
    assert [o.status for o in done.promises] == [BROKEN, PENDING]
    assert (done.next_action_at, done.priority, done.status) == (
        sh("2026-12-19 10:00"), NORMAL_PRIORITY, CaseStatus.PROMISED)


def test_payments_since_the_balance_make_the_case_paid() -> None:
    case = replace(CASE, balance=Decimal("1200.00"), priority=BROKEN_PROMISE_PRIORITY)
    later = promise(2, due=date(2026, 12, 20), made=sh("2026-12-03 09:00"))
    payments = paid(("50", "2026-11-29 08:00"),  # before the balance was reported
                    ("700", "2026-12-01 09:00"), ("500", "2026-12-03 08:00"))
    done = run([promise(), later], payments, "2026-12-03 10:00", case)
    assert (done.status, done.next_action_at, done.priority) == (
        CaseStatus.PAID, None, NORMAL_PRIORITY)
    assert [(o.status, o.resolved_at) for o in done.promises] == [
        (KEPT, sh("2026-12-03 08:00")), (CANCELLED, sh("2026-12-03 09:00"))]
    short = run([promise()], payments[:2], "2026-12-03 10:00", case)
    assert short.status is CaseStatus.PROMISED  # 700 of 1200: not paid off


@pytest.mark.parametrize("status", [CaseStatus.ON_HOLD, CaseStatus.LEGAL, CaseStatus.CLOSED])
def test_held_legal_and_closed_cases_are_not_marked_paid(status: CaseStatus) -> None:
    case = replace(CASE, status=status, balance=Decimal("100"))
    done = run([], paid(("100", "2026-12-01 09:00")), "2026-12-01 10:00", case)
    assert done.status is status


def test_resolving_again_changes_nothing() -> None:
    first = run([promise()], [], "2026-12-06 00:05")
    [broken] = first.promises
    again = run([replace(broken.promise, status=broken.status,
                         resolved_at=broken.resolved_at)], [], "2026-12-06 09:00",
                replace(CASE, status=first.status, priority=first.priority,
                        next_action_at=first.next_action_at))
    assert not again.changed_promises()
    assert (again.status, again.priority, again.next_action_at) == (
        first.status, first.priority, first.next_action_at)


# now (Shanghai), due, the first call after the promise
FIRST_CALL = [
    ("2026-11-29 11:00", date(2026, 11, 29), "2026-11-30 10:00"),  # due today
    ("2026-11-29 11:00", date(2026, 11, 30), "2026-12-01 10:00"),  # tomorrow
    ("2026-11-29 11:00", date(2026, 12, 1), "2026-11-30 10:00"),  # 2 days: a reminder
    ("2026-11-29 11:00", date(2026, 12, 5), "2026-12-04 10:00"),
    ("2026-11-30 01:00", date(2026, 12, 1), "2026-12-02 10:00"),  # already the 30th there
]


@pytest.mark.parametrize(("now", "due", "expected"), FIRST_CALL)
def test_first_call_after_a_promise(now: str, due: date, expected: str) -> None:
    assert first_call_after_promise(due, sh(now), SHANGHAI) == sh(expected)


amounts = st.integers(min_value=1, max_value=2000).map(Decimal)
days = st.integers(min_value=0, max_value=20)


@given(promised=st.lists(st.tuples(amounts, days, days), max_size=4),
       payments=st.lists(st.tuples(amounts, days), max_size=6), extra=st.tuples(amounts, days))
def test_a_new_payment_never_lowers_a_share(
    promised: list[tuple[Decimal, int, int]], payments: list[tuple[Decimal, int]],
    extra: tuple[Decimal, int],
) -> None:
    start = sh("2026-12-01 12:00")
    facts = [PromiseFacts(n, amount, (start + timedelta(days=made + due)).date(),
                          start + timedelta(days=made)) for n, (amount, made, due)
             in enumerate(promised)]
    paid_list = [PaymentFacts(n, amount, start + timedelta(days=day, hours=1))
                 for n, (amount, day) in enumerate(payments)]
    more = [*paid_list, PaymentFacts(99, extra[0], start + timedelta(days=extra[1], hours=3))]
    now = start + timedelta(days=60)
    before, after = shares(facts, paid_list, SHANGHAI, now), shares(facts, more, SHANGHAI, now)
    assert all(after[pid].paid >= share.paid for pid, share in before.items())
