"""The append-only audit log: who did or saw what, on which record, when, from where.

Rows are only ever inserted; a database trigger refuses updates and deletes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cases.access import Scope
from cases.domain import User
from cases.store import Db


@dataclass(frozen=True, slots=True)
class Actor:
    """The person (or the system, with no user) behind a request."""

    user: User | None
    ip: str | None = None
    request_id: str | None = None


SYSTEM = Actor(user=None)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    username: str | None
    role: str | None
    client_id: int | None
    action: str
    record_type: str | None
    record_id: str | None
    ip: str | None
    request_id: str | None
    details: dict[str, object]


async def record(
    db: Db,
    actor: Actor,
    action: str,
    *,
    record_type: str | None = None,
    record_id: object = None,
    client_id: int | None = None,
    details: dict[str, object] | None = None,
) -> None:
    user = actor.user
    await db.execute(
        "INSERT INTO audit_log (user_id, username, role, client_id, action, record_type,"
        " record_id, ip, request_id, details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
        user.id if user else None, user.username if user else None,
        str(user.role) if user else None, client_id, action, record_type,
        None if record_id is None else str(record_id), actor.ip, actor.request_id,
        json.dumps(details or {}, ensure_ascii=False, default=str),
    )


@dataclass(frozen=True, slots=True)
class AuditFilter:
    after: int = 0
    limit: int = 100
    user_id: int | None = None
    action: str | None = None
    record_type: str | None = None
    record_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


async def query(db: Db, scope: Scope, flt: AuditFilter) -> list[AuditEntry]:
    rows = await db.fetch(
        """SELECT * FROM audit_log
        WHERE id > $1
          AND ($2::bigint IS NULL OR user_id = $2)
          AND ($3::text IS NULL OR action = $3)
          AND ($4::text IS NULL OR record_type = $4)
          AND ($5::text IS NULL OR record_id = $5)
          AND ($6::timestamptz IS NULL OR at >= $6)
          AND ($7::timestamptz IS NULL OR at < $7)
          AND ($8::bigint IS NULL OR client_id = $8)
        ORDER BY id LIMIT $9""",
        flt.after, flt.user_id, flt.action, flt.record_type, flt.record_id, flt.since,
        flt.until, scope.client_id, flt.limit,
    )
    return [
        AuditEntry(
            id=r["id"], at=r["at"], user_id=r["user_id"], username=r["username"],
            role=r["role"], client_id=r["client_id"], action=r["action"],
            record_type=r["record_type"], record_id=r["record_id"], ip=r["ip"],
            request_id=r["request_id"], details=json.loads(r["details"]),
        )
        for r in rows
    ]


GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What `verify_chain` found: rows checked, the head hash (keep a copy outside
    the database: rewriting the whole tail changes it), and the first broken row."""

    rows: int
    head: str
    first_broken: int | None
    why: str | None

    @property
    def intact(self) -> bool:
        return self.first_broken is None


_VERIFY = """
SELECT id, prev_hash, row_hash, audit_row_digest(prev_hash, a) AS expected,
       lag(row_hash) OVER (ORDER BY id) AS before
FROM audit_log a WHERE id > $1 ORDER BY id LIMIT $2
"""


async def verify_chain(db: Db, batch: int = 5000) -> ChainReport:
    """Recompute every row's hash and link, in id order, a batch at a time."""
    rows, head, after = 0, GENESIS, 0
    while True:
        found = await db.fetch(_VERIFY, after, batch)
        if not found:
            return ChainReport(rows, head, None, None)
        for r in found:
            why = _broken(r["prev_hash"], r["row_hash"], r["expected"], r["before"] or head)
            if why is not None:
                return ChainReport(rows, head, r["id"], why)
            rows, head, after = rows + 1, r["row_hash"], r["id"]


def _broken(prev: str, stored: str, expected: str, before: str) -> str | None:
    if prev != before:
        return "its link to the row before does not match that row's hash"
    if stored != expected:
        return "its contents do not match its hash (the row was changed)"
    return None
