"""Resolving promises to pay against the payments recorded: the store side of
`cases.promise_rules`.

`resolve` examines, for one client or all: every case with a pending promise due
by now (in the earliest zone), every case whose priority a broken promise raised
and that has a fresh pending promise, and the cases it is given (those a payment
import paid). Each case is resolved in its own transaction, its row locked
`FOR UPDATE` first, so a resolution and an action filed on the case run one after
the other; a resolution that changes anything writes one audit row (by the
system, naming what triggered it). Resolving again with the same facts changes
nothing. It runs after every payment import, from `callcase promises resolve` and
from `run_promise_resolver`, a background task of the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from cases import audit, promise_rules, store
from cases.domain import CaseStatus
from cases.errors import NotFound
from cases.promise_rules import (
    BROKEN_PROMISE_PRIORITY,
    CaseFacts,
    PaymentFacts,
    PromiseFacts,
    PromiseStatus,
    Resolution,
    shares,
)

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]

_CANDIDATES = """
SELECT DISTINCT p.case_id FROM promises p JOIN cases c ON c.id = p.case_id
WHERE p.status = 'pending' AND ($1::bigint IS NULL OR c.client_id = $1)
  AND (p.due_date < $2::date OR c.priority = $3)
"""
_CASE = """
SELECT c.id, c.client_id, c.status, c.priority, c.next_action_at, c.balance,
       b.received_at AS balance_at, coalesce(d.time_zone, cl.time_zone) AS zone
FROM cases c JOIN debtors d ON d.id = c.debtor_id JOIN clients cl ON cl.id = c.client_id
JOIN batches b ON b.id = c.last_batch_id
WHERE c.id = $1
"""


@dataclass
class Resolved:
    """What one resolution run did."""

    cases: int = 0
    cases_changed: int = 0
    kept: int = 0
    broken: int = 0
    cancelled: int = 0
    raised: int = 0
    lowered: int = 0
    paid: int = 0
    case_ids: list[int] = field(default_factory=list)  # the cases changed

    def add(self, case_id: int, case: CaseFacts, done: Resolution) -> None:
        self.cases += 1
        changed = done.changed_promises()
        if not changed and not done.case_changed(case):
            return
        self.cases_changed += 1
        self.case_ids.append(case_id)
        for outcome in changed:
            self.kept += outcome.status is PromiseStatus.KEPT
            self.broken += outcome.status is PromiseStatus.BROKEN
            self.cancelled += outcome.status is PromiseStatus.CANCELLED
        self.raised += done.priority > case.priority
        self.lowered += done.priority < case.priority
        self.paid += done.status is CaseStatus.PAID and case.status is not CaseStatus.PAID

    def as_json(self) -> dict[str, object]:
        return {"cases": self.cases, "cases_changed": self.cases_changed, "kept": self.kept,
                "broken": self.broken, "cancelled": self.cancelled, "raised": self.raised,
                "lowered": self.lowered, "paid": self.paid}


async def resolve(pool: asyncpg.Pool, now: datetime, *, client_id: int | None = None,
                  case_ids: Iterable[int] = (), trigger: str = "periodic") -> Resolved:
    """Resolve the promises of one client's cases (or every client's) at `now`."""
    due = now.astimezone(UTC).date() + timedelta(days=1)  # today somewhere on earth
    rows = await pool.fetch(_CANDIDATES, client_id, due, BROKEN_PROMISE_PRIORITY)
    done = Resolved()
    for case_id in sorted({r["case_id"] for r in rows} | set(case_ids)):
        async with pool.acquire() as conn, conn.transaction():
            await resolve_case(conn, case_id, now, trigger=trigger, into=done)
    return done


async def resolve_case(conn: store.Conn, case_id: int, now: datetime, *,
                       trigger: str, into: Resolved | None = None) -> Resolution:
    """Resolve one case; call inside a transaction (it locks the case row)."""
    row = await conn.fetchrow(_CASE + " FOR UPDATE OF c", case_id)
    if row is None:
        raise NotFound("case.not_found", "no such case")
    case, zone = _case_facts(row), ZoneInfo(row["zone"])
    promised = [_promise_facts(r) for r in await _promise_rows(conn, case_id)]
    done = promise_rules.resolve(case, promised, await _payments(conn, case_id), zone=zone, now=now)
    await _apply(conn, case_id, row["client_id"], case, done, now, trigger)
    if into is not None:
        into.add(case_id, case, done)
    return done


def _case_facts(row: asyncpg.Record) -> CaseFacts:
    return CaseFacts(status=CaseStatus(row["status"]), priority=row["priority"],
                     next_action_at=row["next_action_at"], balance=row["balance"],
                     balance_reported_at=row["balance_at"])


async def _promise_rows(db: store.Db, case_id: int) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT id, action_id, amount, due_date, created_at, status, resolved_at"
        " FROM promises WHERE case_id = $1 ORDER BY created_at, id", case_id)


def _promise_facts(r: asyncpg.Record) -> PromiseFacts:
    return PromiseFacts(r["id"], r["amount"], r["due_date"], r["created_at"],
                        PromiseStatus(r["status"]), r["resolved_at"])


async def _payments(db: store.Db, case_id: int) -> list[PaymentFacts]:
    rows = await db.fetch("SELECT id, amount, paid_at FROM payments WHERE case_id = $1"
                          " ORDER BY paid_at, id", case_id)
    return [PaymentFacts(r["id"], r["amount"], r["paid_at"]) for r in rows]


async def _apply(conn: store.Conn, case_id: int, client_id: int, case: CaseFacts,
                 done: Resolution, now: datetime, trigger: str) -> None:
    changed = done.changed_promises()
    for outcome in changed:
        await conn.execute("UPDATE promises SET status = $2, resolved_at = $3 WHERE id = $1",
                           outcome.promise.id, str(outcome.status), outcome.resolved_at)
    if done.case_changed(case):
        await conn.execute(
            "UPDATE cases SET status = $2, priority = $3, next_action_at = $4,"
            " updated_at = $5 WHERE id = $1",
            case_id, str(done.status), done.priority, done.next_action_at, now)
    if not changed and not done.case_changed(case):
        return
    details: dict[str, object] = {str(s): [o.promise.id for o in changed if o.status is s]
                                  for s in PromiseStatus if any(o.status is s for o in changed)}
    details.update(trigger=trigger, status=str(done.status), priority=done.priority,
                   next_action_at=done.next_action_at)
    await audit.record(conn, audit.SYSTEM, "promises.resolve", record_type="case",
                       record_id=case_id, client_id=client_id, details=details)
    logger.info("case %s promises resolved (%s): %s", case_id, trigger, details)


@dataclass(frozen=True, slots=True)
class PromiseView:
    """A promise as shown with its case: `paid` is what the payments so far give it."""

    id: int
    case_id: int
    action_id: int
    amount: Decimal
    due_date: str
    status: str
    created_at: datetime
    resolved_at: datetime | None
    paid: Decimal

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "case_id": self.case_id, "action_id": self.action_id,
                "amount": str(self.amount), "due_date": self.due_date,
                "status": self.status, "created_at": self.created_at.isoformat(),
                "resolved_at": self.resolved_at and self.resolved_at.isoformat(),
                "paid": str(self.paid)}


async def case_promises(db: store.Db, case_id: int, now: datetime) -> list[PromiseView]:
    """A case's promises, newest first, each with the payments counted towards it."""
    case = await db.fetchrow(_CASE, case_id)
    if case is None:
        raise NotFound("case.not_found", "no such case")
    rows = await _promise_rows(db, case_id)
    promised = [_promise_facts(r) for r in rows]
    found = shares(promised, await _payments(db, case_id), ZoneInfo(case["zone"]), now)
    return [
        PromiseView(p.id, case_id, r["action_id"], p.amount, p.due_date.isoformat(),
                    str(p.status), p.created_at, p.resolved_at,
                    found[p.id].paid if p.id in found else Decimal(0))
        for p, r in reversed(list(zip(promised, rows, strict=True)))
    ]


async def run_promise_resolver(
    pool: asyncpg.Pool, clock: Clock, interval_s: float, *,
    wait: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Resolve every client's promises every `interval_s` seconds until cancelled:
    a task for the server's lifetime. `wait` is `asyncio.sleep` but for tests."""
    if interval_s <= 0:
        raise ValueError(f"the resolver's interval must be positive: {interval_s}")
    while True:
        try:
            done = await resolve(pool, clock())
            if done.cases_changed:
                logger.info("promises resolved: %s", done.as_json())
        except Exception:  # the task's boundary: log it and try again next time
            logger.exception("promise resolution failed; trying again in %s s", interval_s)
        await wait(interval_s)
