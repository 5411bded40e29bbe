"""Thin SQL over asyncpg for clients, staff and case reads; returns domain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from cases.access import Scope
from cases.domain import (
    ActionCode,
    CaseDetail,
    CaseStatus,
    CaseSummary,
    Client,
    Hold,
    NationalId,
    Party,
    Phone,
    PhoneValidity,
    Promise,
    Role,
    User,
)
from cases.errors import Conflict, InvalidInput, NotFound

# A connection, whether opened alone or taken from a pool; or the pool itself.
Conn = asyncpg.Connection | PoolConnectionProxy
Db = asyncpg.Pool | Conn


def check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("client.bad_time_zone", f"unknown time zone {name!r}") from None
    return name


def client_from_row(row: asyncpg.Record) -> Client:
    return Client(
        id=row["id"], code=row["code"], name=row["name"], time_zone=row["time_zone"],
        default_region=row["default_region"], rule_pack=row["rule_pack"],
        retention_years=row["retention_years"],
    )


async def add_client(
    db: Db, *, code: str, name: str, time_zone: str, default_region: str,
    rule_pack: str, retention_years: int,
) -> Client:
    check_zone(time_zone)
    try:
        row = await db.fetchrow(
            "INSERT INTO clients (code, name, time_zone, default_region, rule_pack,"
            " retention_years) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
            code, name, time_zone, default_region, rule_pack, retention_years,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("client.exists", f"client {code!r} already exists") from exc
    except asyncpg.CheckViolationError as exc:
        raise InvalidInput("client.invalid", f"invalid client: {exc.constraint_name}") from exc
    assert row is not None
    return client_from_row(row)


async def get_client(db: Db, *, code: str | None = None, client_id: int | None = None) -> Client:
    row = await db.fetchrow(
        "SELECT * FROM clients WHERE code = $1 OR id = $2", code, client_id
    )
    if row is None:
        raise NotFound("client.not_found", f"no client {code or client_id!r}")
    return client_from_row(row)


async def list_clients(db: Db, scope: Scope) -> list[Client]:
    rows = await db.fetch(
        "SELECT * FROM clients WHERE $1::bigint IS NULL OR id = $1 ORDER BY code",
        scope.client_id,
    )
    return [client_from_row(r) for r in rows]


def user_from_row(row: asyncpg.Record) -> User:
    return User(
        id=row["id"], username=row["username"], display_name=row["display_name"],
        role=Role(row["role"]), client_id=row["client_id"], team=row["team"],
        pii_clearance=row["pii_clearance"], active=row["active"],
    )


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    display_name: str
    role: Role
    password_hash: str
    client_id: int | None = None
    team: str | None = None
    pii_clearance: bool = False


async def add_user(db: Db, new: NewUser) -> User:
    if (new.role is Role.CLIENT_AUDITOR) != (new.client_id is not None):
        raise InvalidInput(
            "user.client_mismatch", "a client auditor, and only a client auditor, has a client"
        )
    try:
        row = await db.fetchrow(
            "INSERT INTO users (username, display_name, role, client_id, team, pii_clearance,"
            " password_hash) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
            new.username, new.display_name, str(new.role), new.client_id, new.team,
            new.pii_clearance, new.password_hash,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("user.exists", f"user {new.username!r} already exists") from exc
    except asyncpg.CheckViolationError as exc:
        raise InvalidInput("user.invalid", f"invalid user: {exc.constraint_name}") from exc
    assert row is not None
    return user_from_row(row)


async def user_with_hash(db: Db, username: str) -> tuple[User, str] | None:
    row = await db.fetchrow("SELECT * FROM users WHERE username = $1", username)
    return None if row is None else (user_from_row(row), row["password_hash"])


async def get_user(db: Db, user_id: int) -> User:
    row = await db.fetchrow("SELECT * FROM users WHERE id = $1", user_id)
    if row is None:
        raise NotFound("user.not_found", "no such user")
    return user_from_row(row)


async def assign_case(db: Db, case_id: int, agent_id: int | None, now: datetime) -> None:
    if agent_id is not None:
        agent = await get_user(db, agent_id)
        if agent.role is not Role.AGENT:
            raise InvalidInput("case.assign_not_agent", "cases are assigned to agents only")
    done = await db.execute(
        "UPDATE cases SET assigned_agent_id = $2, assigned_at = $3, updated_at = $3"
        " WHERE id = $1", case_id, agent_id, now,
    )
    if done == "UPDATE 0":
        raise NotFound("case.not_found", "no such case")


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: CaseStatus | None = None
    bucket: str | None = None
    client_id: int | None = None
    agent_id: int | None = None
    after: int = 0
    limit: int = 50


_SUMMARY_COLUMNS = """
c.id, c.client_id, c.account_no, d.name AS debtor_name, c.product, c.currency,
       c.balance, c.days_past_due, c.bucket, c.status, c.assigned_agent_id,
       c.next_action_at,
       EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id
               AND h.released_at IS NULL) AS on_hold
"""
_SUMMARY_SQL = f"SELECT {_SUMMARY_COLUMNS} FROM cases c JOIN debtors d ON d.id = c.debtor_id"
_DETAIL_SQL = f"""
SELECT {_SUMMARY_COLUMNS}, c.debtor_id, c.account_type, c.principal, c.last_payment_date,
       c.last_payment_amount, c.note, c.priority, d.id_no, d.address, d.city, d.time_zone,
       d.employer
FROM cases c JOIN debtors d ON d.id = c.debtor_id WHERE c.id = $1
"""


def summary_from_row(row: asyncpg.Record) -> CaseSummary:
    return CaseSummary(
        id=row["id"], client_id=row["client_id"], account_no=row["account_no"],
        debtor_name=row["debtor_name"], product=row["product"], currency=row["currency"],
        balance=row["balance"], days_past_due=row["days_past_due"], bucket=row["bucket"],
        status=CaseStatus(row["status"]), assigned_agent_id=row["assigned_agent_id"],
        next_action_at=row["next_action_at"], on_hold=row["on_hold"],
    )


async def list_cases(db: Db, scope: Scope, flt: CaseFilter) -> list[CaseSummary]:
    """One page of cases in id order, after the keyset cursor `flt.after`."""
    rows = await db.fetch(
        _SUMMARY_SQL + """
        WHERE c.id > $1
          AND ($2::text IS NULL OR c.status = $2)
          AND ($3::text IS NULL OR c.bucket = $3)
          AND ($4::bigint IS NULL OR c.client_id = $4)
          AND ($5::bigint IS NULL OR c.assigned_agent_id = $5)
          AND ($6::bigint IS NULL OR c.client_id = $6)
          AND ($7::bigint IS NULL OR c.assigned_agent_id = $7)
        ORDER BY c.id LIMIT $8""",
        flt.after, flt.status and str(flt.status), flt.bucket, flt.client_id, flt.agent_id,
        scope.client_id, scope.agent_id, flt.limit,
    )
    return [summary_from_row(r) for r in rows]


async def get_case(db: Db, case_id: int) -> CaseDetail:
    row = await db.fetchrow(_DETAIL_SQL, case_id)
    if row is None:
        raise NotFound("case.not_found", "no such case")
    holds = await db.fetch(
        "SELECT id, reason, placed_at, note FROM case_holds WHERE case_id = $1"
        " AND released_at IS NULL ORDER BY id", case_id,
    )
    promises = await db.fetch(
        "SELECT id, amount, due_date, status, created_at FROM promises WHERE case_id = $1"
        " ORDER BY id", case_id,
    )
    return CaseDetail(
        summary=summary_from_row(row), debtor_id=row["debtor_id"],
        debtor_id_no=NationalId(row["id_no"]), account_type=row["account_type"],
        principal=row["principal"], last_payment_date=row["last_payment_date"],
        last_payment_amount=row["last_payment_amount"], address=row["address"],
        city=row["city"], time_zone=row["time_zone"], employer=row["employer"],
        note=row["note"], priority=row["priority"],
        holds=tuple(Hold(h["id"], h["reason"], h["placed_at"], h["note"]) for h in holds),
        promises=tuple(Promise(p["id"], p["amount"], p["due_date"], p["status"],
                               p["created_at"]) for p in promises),
    )


def phone_from_row(row: asyncpg.Record) -> Phone:
    return Phone(
        id=row["id"], case_id=row["case_id"], e164=row["e164"], party=Party(row["party"]),
        kind=row["kind"], name=row["name"], relation=row["relation"],
        validity=PhoneValidity(row["validity"]),
    )


async def case_phones(db: Db, case_id: int) -> list[Phone]:
    rows = await db.fetch("SELECT * FROM phones WHERE case_id = $1 ORDER BY id", case_id)
    return [phone_from_row(r) for r in rows]


def code_from_row(row: asyncpg.Record) -> ActionCode:
    return ActionCode(
        code=row["code"], category=row["category"], label_en=row["label_en"],
        label_zh=row["label_zh"], connected=row["connected"], right_party=row["right_party"],
        required_fields=tuple(row["required_fields"]),
        status_after=CaseStatus(row["status_after"]) if row["status_after"] else None,
        retry_after_hours=row["retry_after_hours"], hold_reason=row["hold_reason"],
        creates_promise=row["creates_promise"], invalidates_phone=row["invalidates_phone"],
        field_visit=row["field_visit"], notify_client=row["notify_client"],
        needs_approval=row["needs_approval"],
    )


async def action_codes(db: Db) -> list[ActionCode]:
    rows = await db.fetch("SELECT * FROM action_codes WHERE active ORDER BY code")
    return [code_from_row(r) for r in rows]
