"""The outbox of notifications to the bank: the feed it pulls and the pushes due.

Notifications are written by the transactions that cause them (an action filed on
a case, a dispute resolved), so one exists exactly when its cause was committed.
They leave in two ways, both scoped to the client:

- the feed: `feed(db, client_id, after, limit)` in id order; the bank keeps the
  last id it has seen as its cursor; `ack` marks notifications it has processed,
  which are then no longer pushed;
- the webhook: `claim_due` takes the due notifications of clients with an active
  webhook with ``FOR UPDATE SKIP LOCKED`` and leases them (``attempts + 1``,
  ``next_attempt_at = now + LEASE``), so two workers never push one at the same
  time and the claim of a worker that died becomes due again when the lease ends;
  `mark_delivered` and `mark_failed` record the outcome of that try (a failure
  schedules the next one by cases.webhook_rules.retry_delay, or marks it dead).

Delivery is at least once; the receiver deduplicates by the delivery id. A webhook
set up later also receives what was not yet delivered, acknowledged or dead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from cases import audit
from cases.errors import InvalidInput
from cases.store import Conn, Db
from cases.webhook_rules import retry_delay

LEASE = timedelta(minutes=2)  # longer than any HTTP try
MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    delivery_id: str
    client_id: int
    case_id: int | None
    kind: str
    payload: dict[str, object]
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    dead_at: datetime | None
    acked_at: datetime | None

    def event(self) -> dict[str, object]:
        """The notification as the bank receives it, pulled or pushed."""
        return {"id": self.id, "delivery_id": self.delivery_id, "client_id": self.client_id,
                "case_id": self.case_id, "kind": self.kind, "payload": self.payload,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True, slots=True)
class Due:
    """A claimed notification, the try it is (from 1) and where it goes."""

    notification: Notification
    attempt: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Webhook:
    client_id: int
    url: str
    active: bool
    secret_set: bool
    updated_at: datetime
    updated_by: int | None


def _notification(row: asyncpg.Record) -> Notification:
    return Notification(
        id=row["id"], delivery_id=str(row["delivery_id"]), client_id=row["client_id"],
        case_id=row["case_id"], kind=row["kind"], payload=json.loads(row["payload"]),
        created_at=row["created_at"], attempts=row["attempts"],
        delivered_at=row["delivered_at"], dead_at=row["dead_at"], acked_at=row["acked_at"],
    )


async def feed(db: Db, client_id: int, *, after: int, limit: int) -> list[Notification]:
    rows = await db.fetch(
        "SELECT * FROM client_notifications WHERE client_id = $1 AND id > $2"
        " ORDER BY id LIMIT $3", client_id, after, limit,
    )
    return [_notification(r) for r in rows]


async def ack(
    pool: asyncpg.Pool, actor: audit.Actor, client_id: int, *, ids: list[int],
    up_to: int | None, now: datetime,
) -> int:
    """Mark the client's notifications `ids` and those up to `up_to` acknowledged;
    how many were not acknowledged before."""
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute(
            "UPDATE client_notifications SET acked_at = $4 WHERE client_id = $1"
            " AND acked_at IS NULL AND (id = ANY($2::bigint[]) OR id <= $3)",
            client_id, ids, up_to if up_to is not None else 0, now,
        )
        count = int(done.split()[-1])
        await audit.record(conn, actor, "notifications.ack", record_type="client",
                           record_id=client_id, client_id=client_id,
                           details={"ids": ids, "up_to": up_to, "acked": count})
    return count


_CLAIM = """
WITH due AS (
    SELECT n.id FROM client_notifications n
    JOIN client_webhooks w ON w.client_id = n.client_id AND w.active
    WHERE n.delivered_at IS NULL AND n.dead_at IS NULL AND n.acked_at IS NULL
      AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= $1)
    ORDER BY n.next_attempt_at NULLS FIRST, n.id
    LIMIT $3
    FOR UPDATE OF n SKIP LOCKED
)
UPDATE client_notifications n SET attempts = n.attempts + 1, next_attempt_at = $2
FROM due, client_webhooks w
WHERE n.id = due.id AND w.client_id = n.client_id
RETURNING n.*, w.url, w.secret
"""


async def claim_due(db: Db, now: datetime, limit: int) -> list[Due]:
    """Lease up to `limit` due notifications for a try now, oldest due first."""
    rows = await db.fetch(_CLAIM, now, now + LEASE, limit)
    claimed = [Due(_notification(r), r["attempts"], r["url"], r["secret"]) for r in rows]
    return sorted(claimed, key=lambda d: d.notification.id)


async def mark_delivered(db: Db, notification_id: int, status: int, now: datetime) -> None:
    await db.execute(
        "UPDATE client_notifications SET delivered_at = $2, last_status = $3,"
        " last_error = NULL, next_attempt_at = NULL WHERE id = $1 AND delivered_at IS NULL",
        notification_id, now, status,
    )


async def mark_failed(
    db: Db, due: Due, status: int | None, error: str, now: datetime
) -> datetime | None:
    """Record a failed try; the time of the next one, None when it was the last."""
    delay = retry_delay(due.attempt)
    nxt = None if delay is None else now + delay
    await db.execute(
        "UPDATE client_notifications SET next_attempt_at = $3, last_status = $4,"
        " last_error = $5, dead_at = CASE WHEN $3::timestamptz IS NULL THEN $6::timestamptz END"
        " WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL",
        due.notification.id, due.attempt, nxt, status, error[:MAX_ERROR], now,
    )
    return nxt


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook(client_id=row["client_id"], url=row["url"], active=row["active"],
                   secret_set=bool(row["secret"]), updated_at=row["updated_at"],
                   updated_by=row["updated_by"])


async def get_webhook(db: Db, client_id: int) -> Webhook | None:
    row = await db.fetchrow("SELECT * FROM client_webhooks WHERE client_id = $1", client_id)
    return None if row is None else _webhook(row)


@dataclass(frozen=True, slots=True)
class WebhookChange:
    url: str
    secret: str | None  # None keeps the secret set before
    active: bool


async def set_webhook(
    pool: asyncpg.Pool, actor: audit.Actor, client_id: int, change: WebhookChange,
    now: datetime,
) -> Webhook:
    """Set the client's webhook (the first time, `change` must carry a secret)."""
    user_id = actor.user.id if actor.user else None
    async with pool.acquire() as conn, conn.transaction():
        row = await _upsert(conn, client_id, change, user_id, now)
        if row is None:
            raise InvalidInput("webhook.secret",
                               "the client has no webhook yet: send a secret with the url")
        await audit.record(
            conn, actor, "client.webhook.set", record_type="client", record_id=client_id,
            client_id=client_id, details={"url": change.url, "active": change.active,
                                          "secret_changed": change.secret is not None},
        )
    return _webhook(row)


async def _upsert(conn: Conn, client_id: int, change: WebhookChange, user_id: int | None,
                  now: datetime) -> asyncpg.Record | None:
    if change.secret is None:
        return await conn.fetchrow(
            "UPDATE client_webhooks SET url = $2, active = $3, updated_at = $4,"
            " updated_by = $5 WHERE client_id = $1 RETURNING *",
            client_id, change.url, change.active, now, user_id,
        )
    return await conn.fetchrow(
        "INSERT INTO client_webhooks (client_id, url, secret, active, updated_at, updated_by)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (client_id) DO UPDATE SET"
        " url = EXCLUDED.url, secret = EXCLUDED.secret, active = EXCLUDED.active,"
        " updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by RETURNING *",
        client_id, change.url, change.secret, change.active, now, user_id,
    )
