"""Disputes and fraud claims: opened when an agent files DSP or FRD, resolved by the bank.

Rules:
- filing DSP (the debtor denies the card or disputes the amount) or FRD (suspected
  fraud or identity theft) puts the case on hold and opens one dispute with the
  debtor's statement, in the filing's transaction (`open_dispute`, called from
  cases/actions.py); the filing also notifies the bank (kind ``dispute``/``fraud``,
  payload with the ``dispute_id``). Opening twice for one action opens one dispute;
- only the bank lifts the hold: a client auditor of the case's client resolves the
  dispute. Agency staff (admin included) may read disputes but never resolve one:
  the hold protects the debtor until the bank, which owns the debt, has decided;
- a resolution releases the holds placed by the dispute's action, in one
  transaction with the case row locked (the same lock filing takes), and is final:
  resolving again is a conflict;
- ``debt_confirmed``: collection resumes (case ``in_progress``, due now);
  ``debt_adjusted``: the same, with the new balance the bank gives (more than 0);
  ``debt_cancelled`` / ``fraud_confirmed``: the case is closed and its pending
  promises cancelled;
- collection resumes only when no hold is left on the case: a case with two open
  disputes (or another hold, e.g. legal review) stays on hold until every one is
  resolved; a closed or paid case keeps its status;
- every resolution notifies the bank (kind ``dispute_resolved``) and writes an
  audit row; reading a dispute with its statement writes an audit row (the routes).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import asyncpg

from cases import audit
from cases.access import Scope, scope_for
from cases.domain import CaseStatus, Role, User
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.store import Conn, Db

READ_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CAMPAIGN_MANAGER,
                        Role.CLIENT_AUDITOR})
RESOLVE_ROLES = frozenset({Role.CLIENT_AUDITOR})
FINAL = frozenset({CaseStatus.PAID, CaseStatus.CLOSED})
MAX_NOTE = 4000
_AMOUNT = re.compile(r"^\d{1,16}(\.\d{1,2})?$")


class DisputeKind(StrEnum):
    DISPUTE = "dispute"
    FRAUD = "fraud"


class DisputeStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ResolutionKind(StrEnum):
    DEBT_CONFIRMED = "debt_confirmed"
    DEBT_ADJUSTED = "debt_adjusted"
    DEBT_CANCELLED = "debt_cancelled"
    FRAUD_CONFIRMED = "fraud_confirmed"


CLOSING = frozenset({ResolutionKind.DEBT_CANCELLED, ResolutionKind.FRAUD_CONFIRMED})
HOLD_REASONS = frozenset(str(k) for k in DisputeKind)  # case_holds.reason of a dispute


@dataclass(frozen=True, slots=True)
class Resolution:
    kind: ResolutionKind
    new_balance: Decimal | None = None  # debt_adjusted only


@dataclass(frozen=True, slots=True)
class Dispute:
    id: int
    case_id: int
    client_id: int
    account_no: str
    action_id: int
    kind: DisputeKind
    statement: str | None
    status: DisputeStatus
    opened_at: datetime
    opened_by: int | None
    resolution: ResolutionKind | None
    old_balance: Decimal | None
    new_balance: Decimal | None
    resolved_by: int | None
    resolved_at: datetime | None
    note: str | None


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """What a resolution does to the case (`resume`: due for collection now)."""

    status: CaseStatus
    resume: bool
    close: bool


@dataclass(frozen=True, slots=True)
class Resolved:
    dispute: Dispute
    case_status: CaseStatus
    holds_released: int
    holds_left: int


def parse_resolution(body: dict[str, object]) -> tuple[Resolution, str | None]:
    """The resolution a request body states, and the bank's note; every problem is
    reported at once."""
    problems: dict[str, str] = {n: "unknown field" for n in sorted(
        set(body) - {"resolution", "new_balance", "note"})}
    raw = body.get("resolution")
    kind = ResolutionKind(raw) if isinstance(raw, str) and raw in set(ResolutionKind) else None
    if kind is None:
        problems["resolution"] = f"must be one of {', '.join(ResolutionKind)}"
    balance = _balance(body.get("new_balance"), kind, problems)
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or not 1 <= len(note.strip())
                             <= MAX_NOTE):
        problems["note"] = f"must be text of 1-{MAX_NOTE} characters"
    if problems or kind is None:
        raise InvalidInput("dispute.invalid_resolution", "the resolution is invalid", problems)
    return Resolution(kind, balance), note.strip() if isinstance(note, str) else None


def _balance(raw: object, kind: ResolutionKind | None, problems: dict[str, str]
             ) -> Decimal | None:
    if kind is not ResolutionKind.DEBT_ADJUSTED:
        if raw is not None:
            problems["new_balance"] = "only debt_adjusted takes a new balance"
        return None
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not _AMOUNT.match(text) or Decimal(text) <= 0:
        problems["new_balance"] = ("debt_adjusted needs the new balance, more than 0 with "
                                   "at most 2 decimals (a debt cancelled is debt_cancelled)")
        return None
    return Decimal(text)


def plan_resolution(kind: ResolutionKind, status: CaseStatus, *, holds_left: int
                    ) -> CaseOutcome:
    """The case's status after `kind` resolves a dispute on a case now in `status`
    with `holds_left` unreleased holds once the dispute's own are released."""
    if status in FINAL:
        return CaseOutcome(status, resume=False, close=False)
    if kind in CLOSING:
        return CaseOutcome(CaseStatus.CLOSED, resume=False, close=True)
    if holds_left > 0:
        return CaseOutcome(status, resume=False, close=False)
    return CaseOutcome(CaseStatus.IN_PROGRESS, resume=True, close=False)


def _dispute(row: asyncpg.Record) -> Dispute:
    return Dispute(
        id=row["id"], case_id=row["case_id"], client_id=row["client_id"],
        account_no=row["account_no"], action_id=row["action_id"],
        kind=DisputeKind(row["kind"]), statement=row["statement"],
        status=DisputeStatus(row["status"]), opened_at=row["opened_at"],
        opened_by=row["opened_by"],
        resolution=ResolutionKind(row["resolution"]) if row["resolution"] else None,
        old_balance=row["old_balance"], new_balance=row["new_balance"],
        resolved_by=row["resolved_by"], resolved_at=row["resolved_at"], note=row["note"],
    )


_SELECT = "SELECT d.*, c.account_no FROM disputes d JOIN cases c ON c.id = d.case_id"


async def open_dispute(
    conn: Conn, *, case_id: int, client_id: int, action_id: int, kind: str,
    statement: str, now: datetime,
) -> int:
    """Open the dispute of the DSP/FRD action `action_id` (call inside the filing's
    transaction, after the hold is placed); the id of the dispute, the one opened
    before if this action already has one."""
    if kind not in HOLD_REASONS:
        raise InvalidInput("dispute.kind", f"a dispute is one of {sorted(HOLD_REASONS)}")
    if not statement.strip():
        raise InvalidInput("dispute.statement", "a dispute needs the debtor's statement")
    dispute_id: int | None = await conn.fetchval(
        "INSERT INTO disputes (case_id, client_id, action_id, kind, statement, opened_at,"
        " opened_by) SELECT $1, $2, $3, $4, $5, $6, a.user_id FROM actions a"
        " WHERE a.id = $3 ON CONFLICT (action_id) DO NOTHING RETURNING id",
        case_id, client_id, action_id, kind, statement.strip(), now,
    )
    if dispute_id is None:
        dispute_id = await conn.fetchval(
            "SELECT id FROM disputes WHERE action_id = $1", action_id)
    if dispute_id is None:
        raise NotFound("action.not_found", "no such action")
    return dispute_id


def _check_visible(user: User, client_id: int) -> None:
    if user.role not in READ_ROLES:
        raise Forbidden("dispute.role", "your role may not see disputes")
    scope = scope_for(user)
    if scope.client_id is not None and scope.client_id != client_id:
        raise NotFound("dispute.not_found", "no such dispute")


async def get_dispute(db: Db, user: User, dispute_id: int) -> Dispute:
    row = await db.fetchrow(_SELECT + " WHERE d.id = $1", dispute_id)
    if row is None:
        raise NotFound("dispute.not_found", "no such dispute")
    _check_visible(user, row["client_id"])
    return _dispute(row)


@dataclass(frozen=True, slots=True)
class DisputeFilter:
    client_id: int | None = None
    status: DisputeStatus | None = None
    case_id: int | None = None
    after: int = 0
    limit: int = 50


async def list_disputes(db: Db, scope: Scope, flt: DisputeFilter) -> list[Dispute]:
    """Disputes in id order after `flt.after`, within `scope` (a bank: its own)."""
    rows = await db.fetch(
        _SELECT + " WHERE d.id > $1 AND ($2::bigint IS NULL OR d.client_id = $2)"
        " AND ($3::bigint IS NULL OR d.client_id = $3) AND ($4::text IS NULL OR d.status = $4)"
        " AND ($5::bigint IS NULL OR d.case_id = $5) ORDER BY d.id LIMIT $6",
        flt.after, scope.client_id, flt.client_id, flt.status and str(flt.status),
        flt.case_id, flt.limit,
    )
    return [_dispute(r) for r in rows]


async def resolve(
    pool: asyncpg.Pool, actor: audit.Actor, dispute_id: int, resolution: Resolution,
    note: str | None, now: datetime,
) -> Resolved:
    """Resolve the dispute as the bank (see the module's rules), in one transaction."""
    user = actor.user
    if user is None or user.role not in RESOLVE_ROLES:
        raise Forbidden("dispute.bank_only", "only the bank (its client auditor) may resolve"
                        " a dispute and lift the hold")
    async with pool.acquire() as conn, conn.transaction():
        case = await _lock_case(conn, user, dispute_id)
        row = await conn.fetchrow(_SELECT + " WHERE d.id = $1 FOR UPDATE OF d", dispute_id)
        assert row is not None
        if row["status"] != DisputeStatus.OPEN:
            raise Conflict("dispute.resolved", "the dispute is already resolved",
                           {"resolution": row["resolution"],
                            "resolved_at": row["resolved_at"].isoformat()})
        released = await _release_holds(conn, row, user.id, now)
        left: int = await conn.fetchval(
            "SELECT count(*) FROM case_holds WHERE case_id = $1 AND released_at IS NULL",
            row["case_id"])
        outcome = plan_resolution(resolution.kind, CaseStatus(case["status"]), holds_left=left)
        await _update_case(conn, row["case_id"], outcome, resolution, now)
        dispute = await _mark_resolved(conn, dispute_id, resolution, note, case["balance"],
                                       user, now)
        await _notify_resolved(conn, dispute, outcome, left, now)
        await audit.record(
            conn, actor, "dispute.resolve", record_type="dispute", record_id=dispute_id,
            client_id=dispute.client_id,
            details={"case_id": dispute.case_id, "resolution": str(resolution.kind),
                     "case_status": str(outcome.status), "holds_released": released,
                     "holds_left": left},
        )
    return Resolved(dispute, outcome.status, released, left)


async def _lock_case(conn: Conn, user: User, dispute_id: int) -> asyncpg.Record:
    """The dispute's case row, locked; NotFound outside the user's client."""
    case_id = await conn.fetchval(
        "SELECT case_id FROM disputes WHERE id = $1 AND client_id = $2",
        dispute_id, user.client_id)
    if case_id is None:
        raise NotFound("dispute.not_found", "no such dispute")
    case = await conn.fetchrow(
        "SELECT id, status, balance FROM cases WHERE id = $1 FOR UPDATE", case_id)
    assert case is not None
    return case


async def _release_holds(conn: Conn, dispute: asyncpg.Record, user_id: int, now: datetime
                         ) -> int:
    done = await conn.execute(
        "UPDATE case_holds SET released_at = $3, released_by = $4 WHERE case_id = $1"
        " AND action_id = $2 AND reason = ANY($5::text[]) AND released_at IS NULL",
        dispute["case_id"], dispute["action_id"], now, user_id, sorted(HOLD_REASONS),
    )
    return int(done.split()[-1])


async def _update_case(conn: Conn, case_id: int, outcome: CaseOutcome,
                       resolution: Resolution, now: datetime) -> None:
    await conn.execute(
        "UPDATE cases SET status = $2, balance = coalesce($3, balance), updated_at = $4,"
        " next_action_at = CASE WHEN $5 THEN $4 WHEN $6 THEN NULL ELSE next_action_at END"
        " WHERE id = $1",
        case_id, str(outcome.status), resolution.new_balance, now, outcome.resume,
        outcome.close,
    )
    if outcome.close:
        await conn.execute(
            "UPDATE promises SET status = 'cancelled', resolved_at = $2"
            " WHERE case_id = $1 AND status = 'pending'", case_id, now)


async def _mark_resolved(conn: Conn, dispute_id: int, resolution: Resolution,
                         note: str | None, balance: Decimal, user: User, now: datetime
                         ) -> Dispute:
    await conn.execute(
        "UPDATE disputes SET status = 'resolved', resolution = $2, old_balance = $3,"
        " new_balance = $4, resolved_by = $5, resolved_at = $6, note = $7 WHERE id = $1",
        dispute_id, str(resolution.kind), balance, resolution.new_balance, user.id, now, note,
    )
    row = await conn.fetchrow(_SELECT + " WHERE d.id = $1", dispute_id)
    assert row is not None
    return _dispute(row)


async def _notify_resolved(conn: Conn, dispute: Dispute, outcome: CaseOutcome, left: int,
                           now: datetime) -> None:
    payload = {
        "dispute_id": dispute.id, "case_id": dispute.case_id, "kind": str(dispute.kind),
        "resolution": str(dispute.resolution),
        "new_balance": None if dispute.new_balance is None else str(dispute.new_balance),
        "case_status": str(outcome.status), "on_hold": left > 0, "note": dispute.note,
    }
    await conn.execute(
        "INSERT INTO client_notifications (client_id, case_id, kind, payload, created_at)"
        " VALUES ($1, $2, 'dispute_resolved', $3, $4)",
        dispute.client_id, dispute.case_id, json.dumps(payload, ensure_ascii=False), now,
    )
