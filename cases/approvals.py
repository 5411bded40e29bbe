"""Approval requests in the database: filing, reading, the bank's decision,
withdrawal, expiry, and using an approval when an action code is filed.

Who may do what (out-of-scope requests answer 404, their existence not told):

- file: an agent on a case assigned to them, a supervisor or an admin on any case
  (not on a paid or closed case); never the bank, QA or a campaign manager. One
  undecided request of a kind per case. The bank is told in the same transaction:
  a ``client_notifications`` row of kind ``approval_request`` (terms, no free text);
- read: the bank its own client's requests, an agent those on cases assigned to
  them, every other role all;
- decide (approve or reject): only a client auditor of the case's client;
- withdraw: the requester, a supervisor or an admin, while the request waits;
- expire: the system, periodically (`expire`);
- use: `consume`, inside the transaction that files the action.

Rules and states: `cases.approval_rules`. Every step, and every view of a
request, writes one audit row (record type ``approval``) in its transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from cases import audit, store
from cases.access import check_case_visible, scope_for
from cases.approval_rules import (
    ApprovalKind,
    ApprovalRequest,
    ApprovalStatus,
    Approve,
    Expire,
    NewRequest,
    Terms,
    Use,
    Withdraw,
    check_use,
    decision_deadline,
    effective_status,
    parse_decision,
    parse_request,
    step,
    valid_until,
)
from cases.domain import ActionCode, Role, User
from cases.effects import ActionFields
from cases.errors import Conflict, Forbidden, NotFound

logger = logging.getLogger(__name__)

FILING_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})
_FINAL_CASE = ("paid", "closed")
_SELECT = ("SELECT r.*, c.assigned_agent_id FROM approval_requests r"
           " JOIN cases c ON c.id = r.case_id")


def request_from_row(row: asyncpg.Record) -> ApprovalRequest:
    terms = Terms(
        kind=ApprovalKind(row["kind"]), waived_amount=row["waived_amount"],
        settle_amount=row["settle_amount"], instalments=row["instalments"],
        instalment_amount=row["instalment_amount"], due_date=row["due_date"],
        description=row["description"], amount=row["amount"],
    )
    return ApprovalRequest(
        id=row["id"], case_id=row["case_id"], client_id=row["client_id"], terms=terms,
        balance=row["balance"], reason=row["reason"], status=ApprovalStatus(row["status"]),
        requested_by=row["requested_by"], requested_at=row["requested_at"],
        decided_by=row["decided_by"], decided_at=row["decided_at"],
        decision_note=row["decision_note"], withdrawn_by=row["withdrawn_by"],
        withdrawn_at=row["withdrawn_at"], expires_at=row["expires_at"],
        used_by_action_id=row["used_by_action_id"], used_at=row["used_at"],
    )


def _user(actor: audit.Actor, roles: frozenset[Role], message: str) -> User:
    if actor.user is None or actor.user.role not in roles:
        raise Forbidden("approval.role", message)
    return actor.user


def _check_visible(user: User, row: asyncpg.Record) -> None:
    try:
        check_case_visible(user, row["client_id"], row["assigned_agent_id"])
    except NotFound:
        raise NotFound("approval.not_found", "no such approval request") from None


async def _audit(conn: store.Db, actor: audit.Actor, what: str, request: ApprovalRequest,
                 **details: object) -> None:
    await audit.record(conn, actor, what, record_type="approval", record_id=request.id,
                       client_id=request.client_id,
                       details={"case_id": request.case_id, **details})


# Filing.


async def file_request(pool: asyncpg.Pool, actor: audit.Actor, case_id: int,
                       raw: Mapping[str, object], now: datetime) -> ApprovalRequest:
    """File the request `raw` describes on case `case_id` and tell the bank."""
    user = _user(actor, FILING_ROLES, "your role may not ask the bank for approvals")
    async with pool.acquire() as conn, conn.transaction():
        case = await conn.fetchrow(
            "SELECT c.id, c.client_id, c.balance, c.status, c.assigned_agent_id,"
            " coalesce(d.time_zone, cl.time_zone) AS zone FROM cases c"
            " JOIN debtors d ON d.id = c.debtor_id JOIN clients cl ON cl.id = c.client_id"
            " WHERE c.id = $1", case_id,
        )
        if case is None:
            raise NotFound("case.not_found", "no such case")
        check_case_visible(user, case["client_id"], case["assigned_agent_id"])
        if case["status"] in _FINAL_CASE:
            raise Conflict("approval.case_closed", f"the case is {case['status']}")
        today = now.astimezone(ZoneInfo(case["zone"])).date()
        new = parse_request(raw, balance=case["balance"], today=today)
        request = await _insert(conn, case, new, user.id, now)
        await _notify(conn, request, now)
        await _audit(conn, actor, "approval.request", request, **new.terms.as_json())
    logger.info("approval request %s (%s) filed on case %s", request.id, request.terms.kind,
                case_id)
    return request


async def _insert(conn: store.Conn, case: asyncpg.Record, new: NewRequest, user_id: int,
                  now: datetime) -> ApprovalRequest:
    t = new.terms
    waiting = await conn.fetchval(
        "SELECT id FROM approval_requests WHERE case_id = $1 AND kind = $2"
        " AND status = 'requested'", case["id"], str(t.kind))
    if waiting is not None:
        raise Conflict("approval.pending", f"a {t.kind} request on this case is already"
                       " waiting for the bank", {"approval_id": waiting})
    try:
        row = await conn.fetchrow(
            "INSERT INTO approval_requests (case_id, client_id, kind, balance, waived_amount,"
            " settle_amount, instalments, instalment_amount, due_date, description, amount,"
            " reason, requested_by, requested_at, expires_at)"
            " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15) RETURNING *",
            case["id"], case["client_id"], str(t.kind), case["balance"], t.waived_amount,
            t.settle_amount, t.instalments, t.instalment_amount, t.due_date, t.description,
            t.amount, new.reason, user_id, now, decision_deadline(now),
        )
    except asyncpg.UniqueViolationError as exc:  # filed concurrently
        raise Conflict("approval.pending", f"a {t.kind} request on this case is already"
                       " waiting for the bank") from exc
    assert row is not None
    return request_from_row(row)


async def _notify(conn: store.Conn, request: ApprovalRequest, now: datetime) -> None:
    payload = {"approval_id": request.id, "case_id": request.case_id,
               "balance": str(request.balance), "decide_by": request.expires_at.isoformat(),
               **request.terms.as_json()}
    await conn.execute(
        "INSERT INTO client_notifications (client_id, case_id, kind, payload, created_at)"
        " VALUES ($1, $2, 'approval_request', $3, $4)",
        request.client_id, request.case_id, json.dumps(payload, ensure_ascii=False), now,
    )


# Reading.


@dataclass(frozen=True, slots=True)
class ApprovalFilter:
    """`status` is the effective status: a lapsed open request counts as expired."""

    status: ApprovalStatus | None = None
    client_id: int | None = None
    case_id: int | None = None
    after: int = 0
    limit: int = 50


async def list_requests(pool: asyncpg.Pool, actor: audit.Actor, flt: ApprovalFilter,
                        now: datetime) -> list[ApprovalRequest]:
    """One page of the requests the actor may see, in id order after `flt.after`."""
    user = _user(actor, frozenset(Role), "log in first")
    scope = scope_for(user)
    rows = await pool.fetch(
        _SELECT + """
        WHERE r.id > $1
          AND ($2::text IS NULL OR CASE WHEN r.status IN ('requested', 'approved')
               AND r.expires_at <= $3 THEN 'expired' ELSE r.status END = $2)
          AND ($4::bigint IS NULL OR r.client_id = $4)
          AND ($5::bigint IS NULL OR r.case_id = $5)
          AND ($6::bigint IS NULL OR r.client_id = $6)
          AND ($7::bigint IS NULL OR c.assigned_agent_id = $7)
        ORDER BY r.id LIMIT $8""",
        flt.after, flt.status and str(flt.status), now, flt.client_id, flt.case_id,
        scope.client_id, scope.agent_id, flt.limit,
    )
    await audit.record(pool, actor, "approval.list", record_type="approval",
                       client_id=scope.client_id,
                       details={"status": flt.status, "client_id": flt.client_id,
                                "case_id": flt.case_id, "count": len(rows)})
    return [request_from_row(r) for r in rows]


async def view_request(pool: asyncpg.Pool, actor: audit.Actor,
                       approval_id: int) -> ApprovalRequest:
    """One request, if the actor may see it."""
    user = _user(actor, frozenset(Role), "log in first")
    row = await pool.fetchrow(_SELECT + " WHERE r.id = $1", approval_id)
    if row is None:
        raise NotFound("approval.not_found", "no such approval request")
    _check_visible(user, row)
    request = request_from_row(row)
    await _audit(pool, actor, "approval.view", request)
    return request


async def _locked(conn: store.Conn, user: User, approval_id: int) -> ApprovalRequest:
    row = await conn.fetchrow(_SELECT + " WHERE r.id = $1 FOR UPDATE OF r", approval_id)
    if row is None:
        raise NotFound("approval.not_found", "no such approval request")
    _check_visible(user, row)
    return request_from_row(row)


# The bank's decision, withdrawal, expiry.


async def decide(pool: asyncpg.Pool, actor: audit.Actor, approval_id: int,
                 raw: Mapping[str, object], now: datetime) -> ApprovalRequest:
    """The bank approves (valid `VALID_DAYS` from now) or rejects a waiting request."""
    user = _user(actor, frozenset({Role.CLIENT_AUDITOR}),
                 "only the bank decides approval requests")
    event = parse_decision(raw)
    async with pool.acquire() as conn, conn.transaction():
        request = await _locked(conn, user, approval_id)
        status = step(effective_status(request, now), event)
        expires = valid_until(now) if isinstance(event, Approve) else request.expires_at
        row = await conn.fetchrow(
            "UPDATE approval_requests SET status = $2, decided_by = $3, decided_at = $4,"
            " decision_note = $5, expires_at = $6 WHERE id = $1 RETURNING *",
            request.id, str(status), user.id, now, event.note, expires,
        )
        assert row is not None
        decided = request_from_row(row)
        what = "approval.approve" if isinstance(event, Approve) else "approval.reject"
        await _audit(conn, actor, what, decided, note=event.note,
                     expires_at=expires.isoformat())
    logger.info("approval request %s %s by the bank", approval_id, status)
    return decided


async def withdraw(pool: asyncpg.Pool, actor: audit.Actor, approval_id: int,
                   now: datetime) -> ApprovalRequest:
    """The requester, a supervisor or an admin takes back a waiting request."""
    user = _user(actor, FILING_ROLES, "your role may not withdraw approval requests")
    async with pool.acquire() as conn, conn.transaction():
        request = await _locked(conn, user, approval_id)
        if user.role is Role.AGENT and request.requested_by != user.id:
            raise Forbidden("approval.not_requester",
                            "only the requester or a supervisor may withdraw a request")
        status = step(effective_status(request, now), Withdraw())
        row = await conn.fetchrow(
            "UPDATE approval_requests SET status = $2, withdrawn_by = $3, withdrawn_at = $4"
            " WHERE id = $1 RETURNING *", request.id, str(status), user.id, now,
        )
        assert row is not None
        await _audit(conn, actor, "approval.withdraw", request)
    return request_from_row(row)


async def expire(pool: asyncpg.Pool, now: datetime) -> list[int]:
    """Write down every open request past its `expires_at` as expired; their ids.

    Run periodically; requests locked by a filing in progress are left for the next run.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT * FROM approval_requests WHERE status IN ('requested', 'approved')"
            " AND expires_at <= $1 ORDER BY id FOR UPDATE SKIP LOCKED", now,
        )
        for row in rows:
            request = request_from_row(row)
            status = step(request.status, Expire())
            await conn.execute("UPDATE approval_requests SET status = $2 WHERE id = $1",
                               request.id, str(status))
            await _audit(conn, audit.SYSTEM, "approval.expire", request,
                         was=str(request.status), expires_at=request.expires_at.isoformat())
    if rows:
        logger.info("%d approval request(s) expired", len(rows))
    return [r["id"] for r in rows]


# Using an approval.


async def consume(conn: store.Conn, *, case_id: int, code: ActionCode, fields: ActionFields,
                  action_id: int, now: datetime) -> None:
    """Inside the filing transaction of action `action_id` (inserted, not yet applied):
    refuse the filing unless the approval it needs allows it, then mark it used.

    Raises `Forbidden` (``approval.required``, ``approval.not_on_case``,
    ``approval.kind``, ``approval.not_approved``), `Conflict` (``approval.expired``,
    ``approval.used``, ``approval.terms``) or `InvalidInput` (``approval.not_needed``).
    """
    if code.needs_approval is None and fields.approval_id is None:
        return
    request = None
    if code.needs_approval is not None and fields.approval_id is not None:
        row = await conn.fetchrow(
            "SELECT * FROM approval_requests WHERE id = $1 FOR UPDATE", fields.approval_id)
        request = None if row is None else request_from_row(row)
    check_use(request, case_id=case_id, code=code, fields=fields, now=now)
    assert request is not None
    status = step(request.status, Use(action_id))
    await conn.execute(
        "UPDATE approval_requests SET status = $2, used_by_action_id = $3, used_at = $4"
        " WHERE id = $1", request.id, str(status), action_id, now,
    )
    await _audit(conn, await _filer(conn, action_id), "approval.use", request,
                 action_id=action_id, code=code.code)


async def _filer(conn: store.Conn, action_id: int) -> audit.Actor:
    user_id = await conn.fetchval("SELECT user_id FROM actions WHERE id = $1", action_id)
    return audit.SYSTEM if user_id is None else audit.Actor(await store.get_user(conn, user_id))
