"""Filing an action on a case: one transaction applies the code's whole effect.

The case row is locked first (after the call's attempt, when the action is filed on
a call: the order in which the dialer ends a call), so concurrent filings on one case
run one after the other; an idempotency key already used on the case returns the
earlier action unchanged, so a retried or repeated request has exactly one effect. A
code filed on a call also marks the call's attempt (right-party contact, promise to
pay), in the same transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg

from cases import approvals, audit, disputes, promises, store
from cases.access import check_case_visible
from cases.domain import Action, ActionCode, CaseStatus, Role
from cases.effects import ActionFields, CaseEffect, parse_fields, plan_effect
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound

logger = logging.getLogger(__name__)

FILING_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT})


@dataclass(frozen=True, slots=True)
class ActionRequest:
    case_id: int
    code: str
    idempotency_key: str
    fields: dict[str, object]
    phone_id: int | None = None
    attempt_id: int | None = None


@dataclass(frozen=True, slots=True)
class FiledAction:
    action: Action
    replayed: bool


def action_from_row(row: asyncpg.Record) -> Action:
    return Action(
        id=row["id"], case_id=row["case_id"], code=row["code"], user_id=row["user_id"],
        phone_id=row["phone_id"], note=row["note"], fields=json.loads(row["fields"]),
        effect=json.loads(row["effect"]), created_at=row["created_at"],
    )


async def file_action(
    pool: asyncpg.Pool, actor: audit.Actor, req: ActionRequest, now: datetime, *,
    on_call: bool = False, system: bool = False,
) -> FiledAction:
    """File `req` once (a key used before on the case returns that action).

    `on_call`: the caller has checked that the actor holds the call of attempt
    `req.attempt_id`, which is about this case; an agent may then file on the case
    though it is not assigned to them (the dialer offers a campaign's calls to any
    agent of its queue). `system`: the service files it itself (the default code of
    a call whose wrap-up ran out), with no user."""
    user = actor.user
    trusted = system and user is None and on_call and req.attempt_id is not None
    if not trusted and (user is None or user.role not in FILING_ROLES):
        raise Forbidden("action.role", "your role may not file actions")
    async with pool.acquire() as conn, conn.transaction():
        if req.attempt_id is not None:  # the call before its case, as the dialer ends calls
            await conn.execute(_LOCK_ATTEMPT, req.attempt_id)
        case = await conn.fetchrow(
            "SELECT c.id, c.client_id, c.status, c.assigned_agent_id,"
            " coalesce(d.time_zone, cl.time_zone) AS zone"
            " FROM cases c JOIN debtors d ON d.id = c.debtor_id"
            " JOIN clients cl ON cl.id = c.client_id WHERE c.id = $1 FOR UPDATE OF c",
            req.case_id,
        )
        if case is None:
            raise NotFound("case.not_found", "no such case")
        if not (on_call and req.attempt_id is not None):
            assert user is not None  # only a filing on a call may come from the service
            check_case_visible(user, case["client_id"], case["assigned_agent_id"])
        earlier = await conn.fetchrow(
            "SELECT * FROM actions WHERE case_id = $1 AND idempotency_key = $2",
            req.case_id, req.idempotency_key,
        )
        if earlier is not None:
            if earlier["code"] != req.code:
                raise Conflict(
                    "action.key_reused",
                    "this idempotency key was already used for a different action code",
                    {"action_id": earlier["id"], "code": earlier["code"]},
                )
            return FiledAction(action_from_row(earlier), replayed=True)
        code = await _code(conn, req.code)
        zone = ZoneInfo(case["zone"])
        fields = parse_fields(req.fields, now=now, zone=zone)
        others = await _other_reachable_phones(conn, req)
        effect = plan_effect(
            code, fields, status=CaseStatus(case["status"]), now=now, zone=zone,
            other_reachable_phones=others,
        )
        action = await _insert_action(conn, actor, req, fields, effect, now)
        if req.attempt_id is not None:
            await mark_attempt(conn, req.attempt_id, code.code)
        await approvals.consume(conn, case_id=req.case_id, code=code, fields=fields,
                                action_id=action.id, now=now)
        await _apply(conn, action, case["client_id"], effect, actor, now)
        if effect.promise is not None:  # a fresh promise: the case's priority comes back
            await promises.resolve_case(conn, req.case_id, now, trigger=f"action {action.id}")
        await audit.record(
            conn, actor, "action.file", record_type="case", record_id=req.case_id,
            client_id=case["client_id"], details={"action_id": action.id, "code": code.code},
        )
    logger.info("action %s filed on case %s: %s", action.id, req.case_id, code.code)
    return FiledAction(action, replayed=False)


_LOCK_ATTEMPT = "SELECT 1 FROM attempts WHERE id = $1 FOR NO KEY UPDATE"
# NULL until a code is filed on the call; then whether any code filed on it says so.
_MARK_ATTEMPT = """
UPDATE attempts a SET right_party = coalesce(a.right_party, false) OR k.right_party,
       promise_to_pay = coalesce(a.promise_to_pay, false) OR k.creates_promise
  FROM action_codes k WHERE a.id = $1 AND k.code = $2
"""


async def mark_attempt(db: store.Db, attempt_id: int, code: str) -> None:
    """Record on the call's attempt that `code` was filed on it: a right-party contact,
    a promise to pay (what the month-end reports count, without reading the actions)."""
    await db.execute(_MARK_ATTEMPT, attempt_id, code)


async def _code(conn: store.Conn, code: str) -> ActionCode:
    row = await conn.fetchrow("SELECT * FROM action_codes WHERE code = $1 AND active", code)
    if row is None:
        raise InvalidInput("action.unknown_code", f"unknown action code {code!r}")
    return store.code_from_row(row)


async def _other_reachable_phones(conn: store.Conn, req: ActionRequest) -> int:
    if req.phone_id is not None:
        owner = await conn.fetchval("SELECT case_id FROM phones WHERE id = $1", req.phone_id)
        if owner != req.case_id:
            raise InvalidInput("action.phone", "that phone does not belong to the case")
    count: int = await conn.fetchval(
        "SELECT count(*) FROM phones WHERE case_id = $1 AND party IN ('debtor', 'guarantor')"
        " AND validity <> 'invalid' AND id IS DISTINCT FROM $2",
        req.case_id, req.phone_id,
    )
    return count


async def _insert_action(
    conn: store.Conn, actor: audit.Actor, req: ActionRequest,
    fields: ActionFields, effect: CaseEffect, now: datetime,
) -> Action:
    if effect.invalidate_phone and req.phone_id is None:
        raise InvalidInput("action.phone_required", f"{req.code} needs the phone it is about")
    row = await conn.fetchrow(
        "INSERT INTO actions (case_id, code, user_id, phone_id, attempt_id, idempotency_key,"
        " note, fields, effect, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"
        " RETURNING *",
        req.case_id, req.code, actor.user.id if actor.user else None, req.phone_id,
        req.attempt_id, req.idempotency_key, fields.note,
        json.dumps(fields.as_json(), ensure_ascii=False), json.dumps(effect.as_json()), now,
    )
    assert row is not None
    return action_from_row(row)


async def _apply(
    conn: store.Conn, action: Action, client_id: int, effect: CaseEffect,
    actor: audit.Actor, now: datetime,
) -> None:
    await conn.execute(
        "UPDATE cases SET status = $2, next_action_at = $3, updated_at = $4 WHERE id = $1",
        action.case_id, str(effect.status), effect.next_action_at, now,
    )
    if effect.invalidate_phone:
        await conn.execute("UPDATE phones SET validity = 'invalid' WHERE id = $1",
                           action.phone_id)
    if effect.hold_reason is not None:
        await conn.execute(
            "INSERT INTO case_holds (case_id, reason, placed_at, placed_by, action_id, note)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            action.case_id, effect.hold_reason, now, action.user_id, action.id,
            action.fields.get("statement") or action.note,
        )
    if effect.promise is not None:
        await conn.execute(
            "INSERT INTO promises (case_id, action_id, amount, due_date, created_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            action.case_id, action.id, effect.promise[0], effect.promise[1], now,
        )
    if effect.field_visit_reason is not None:
        await conn.execute(
            "INSERT INTO field_visit_requests (case_id, action_id, reason, created_at)"
            " VALUES ($1, $2, $3, $4)", action.case_id, action.id, effect.field_visit_reason,
            now,
        )
    dispute_id = None
    if effect.hold_reason in disputes.HOLD_REASONS:
        dispute_id = await disputes.open_dispute(
            conn, case_id=action.case_id, client_id=client_id, action_id=action.id,
            kind=effect.hold_reason, statement=action.fields.get("statement") or "", now=now,
        )
    if effect.notify_client is not None:
        await _notify(conn, action, client_id, effect.notify_client, now, dispute_id)


async def _notify(
    conn: store.Conn, action: Action, client_id: int, kind: str, now: datetime,
    dispute_id: int | None = None,
) -> None:
    payload: dict[str, object] = {
        "case_id": action.case_id, "action_id": action.id, "code": action.code,
        "statement": action.fields.get("statement"), "note": action.note,
    }
    if dispute_id is not None:
        payload["dispute_id"] = dispute_id
    await conn.execute(
        "INSERT INTO client_notifications (client_id, case_id, kind, payload, created_at)"
        " VALUES ($1, $2, $3, $4, $5)",
        client_id, action.case_id, kind, json.dumps(payload, ensure_ascii=False), now,
    )


async def case_actions(db: store.Db, case_id: int, limit: int = 200) -> list[Action]:
    rows = await db.fetch(
        "SELECT * FROM actions WHERE case_id = $1 ORDER BY id DESC LIMIT $2", case_id, limit
    )
    return [action_from_row(r) for r in rows]
