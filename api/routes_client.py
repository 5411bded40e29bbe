"""The bank's portal: notifications, disputes, its webhook, and who saw its debtors' data.

Scoping: a client auditor (the bank) works on its own client only; a `client_id`
naming another client, or a dispute of another client, answers 404 (existence is
not told). Staff read disputes of every client; only the bank resolves one.

- ``GET /client/notifications?after=&limit=``: the feed, oldest first after the
  cursor; poll again with ``after=next_after``. The bank's auditor reads its own;
  an admin must name ``client_id``. Payloads carry debtors' statements, so a read
  that returns notifications writes an audit row.
- ``POST /client/notifications/ack``: the bank marks notifications processed
  (``ids`` and/or everything ``up_to`` an id); they are then no longer pushed.
- ``GET /client/disputes``: summaries (no statement); ``GET /client/disputes/{id}``:
  the whole dispute with the debtor's statement (audited);
  ``POST /client/disputes/{id}/resolve``: the bank's resolution (cases.disputes).
- ``GET|PUT /clients/{id}/webhook``: where notifications are pushed; set by an admin
  or the client's auditor; the secret is write-only (answers say whether one is set).
- ``GET /client/access-log``: the audit rows of views of the client's debtors' data
  (case, phones, ID reveals, recordings, transcripts, disputes, notifications), with
  who, when, from where; filters ``since``, ``until`` (ISO times), ``case_id``,
  ``user_id``; ``GET /audit`` stays the whole log.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import asyncpg
from aiohttp import web

from api.context import (
    PG,
    actor,
    current_user,
    int_param,
    json_body,
    now,
    path_id,
    requires,
)
from api.views import audit_json
from cases import audit, disputes, outbox, store
from cases.access import check_client_visible, scope_for
from cases.audit import AuditEntry
from cases.disputes import Dispute, DisputeFilter, DisputeStatus
from cases.domain import Role
from cases.errors import InvalidInput, NotFound
from cases.outbox import Notification, Webhook, WebhookChange
from cases.store import Db
from cases.webhook_rules import check_secret, check_url

routes = web.RouteTableDef()
BANK_AND_ADMIN = (Role.ADMIN, Role.CLIENT_AUDITOR)
DISPUTE_READERS = tuple(sorted(disputes.READ_ROLES))
# Audit actions that are a view of a debtor's data.
ACCESS_ACTIONS = (
    "case.view", "case.phones.view", "pii.reveal", "recording.view", "recording.play",
    "recording.download", "transcript.view", "transcript.search", "dispute.view",
    "notifications.view", "batch.confirmation.view",
)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def notification_json(n: Notification) -> dict[str, object]:
    return {**n.event(), "attempts": n.attempts, "delivered_at": _iso(n.delivered_at),
            "dead_at": _iso(n.dead_at), "acked_at": _iso(n.acked_at)}


def dispute_json(d: Dispute, *, full: bool) -> dict[str, object]:
    body: dict[str, object] = {
        "id": d.id, "case_id": d.case_id, "client_id": d.client_id,
        "account_no": d.account_no, "action_id": d.action_id, "kind": str(d.kind),
        "status": str(d.status), "opened_at": _iso(d.opened_at), "opened_by": d.opened_by,
        "resolution": d.resolution and str(d.resolution), "old_balance": _money(d.old_balance),
        "new_balance": _money(d.new_balance), "resolved_by": d.resolved_by,
        "resolved_at": _iso(d.resolved_at),
    }
    if full:
        body.update({"statement": d.statement, "note": d.note})
    return body


def webhook_json(client_id: int, hook: Webhook | None) -> dict[str, object]:
    if hook is None:
        return {"client_id": client_id, "url": None, "active": False, "secret_set": False,
                "updated_at": None, "updated_by": None}
    return {"client_id": hook.client_id, "url": hook.url, "active": hook.active,
            "secret_set": hook.secret_set, "updated_at": _iso(hook.updated_at),
            "updated_by": hook.updated_by}


async def _client_id(request: web.Request, *, required: bool) -> int | None:
    """The client a request is about: the bank's own (another answers 404); for staff
    `?client_id=`, which must name a client."""
    user = current_user(request)
    asked = int_param(request, "client_id")
    if user.role is Role.CLIENT_AUDITOR:
        if asked is not None and asked != user.client_id:
            raise NotFound("client.not_found", "no such client")
        return user.client_id
    if asked is None:
        if required:
            raise InvalidInput("request.client_id", "name the client: ?client_id=")
        return None
    return (await store.get_client(request.app[PG], client_id=asked)).id


def _page(request: web.Request, default: int = 100) -> tuple[int, int]:
    return (int_param(request, "after", 0) or 0,
            int_param(request, "limit", default, low=1, high=500) or default)


@routes.get("/client/notifications")
@requires(*BANK_AND_ADMIN)
async def notifications(request: web.Request) -> web.Response:
    client_id = await _client_id(request, required=True)
    assert client_id is not None
    after, limit = _page(request)
    items = await outbox.feed(request.app[PG], client_id, after=after, limit=limit)
    if items:
        await audit.record(
            request.app[PG], actor(request), "notifications.view", record_type="client",
            record_id=client_id, client_id=client_id,
            details={"first": items[0].id, "last": items[-1].id, "count": len(items)},
        )
    return web.json_response({"items": [notification_json(n) for n in items],
                              "next_after": items[-1].id if items else after})


def _ack_body(body: dict[str, object]) -> tuple[list[int], int | None]:
    ids, up_to = body.get("ids", []), body.get("up_to")
    unknown = sorted(set(body) - {"ids", "up_to"})
    if unknown:
        raise InvalidInput("ack.invalid", "unknown fields", {n: "unknown field" for n in unknown})
    if not isinstance(ids, list) or not all(_is_id(i) for i in ids) or len(ids) > 1000:
        raise InvalidInput("ack.invalid", "ids must be a list of up to 1000 notification ids")
    if up_to is not None and not _is_id(up_to):
        raise InvalidInput("ack.invalid", "up_to must be a notification id")
    if not ids and up_to is None:
        raise InvalidInput("ack.invalid", "send ids, up_to, or both")
    return [int(i) for i in ids], None if up_to is None else int(str(up_to))


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**62


@routes.post("/client/notifications/ack")
@requires(Role.CLIENT_AUDITOR)
async def ack_notifications(request: web.Request) -> web.Response:
    ids, up_to = _ack_body(await json_body(request))
    client_id = current_user(request).client_id
    assert client_id is not None
    count = await outbox.ack(request.app[PG], actor(request), client_id, ids=ids, up_to=up_to,
                             now=now(request))
    return web.json_response({"acked": count})


@routes.get("/client/disputes")
@requires(*DISPUTE_READERS)
async def list_disputes(request: web.Request) -> web.Response:
    status = request.query.get("status")
    if status is not None and status not in set(DisputeStatus):
        raise InvalidInput("request.bad_param", f"status must be one of "
                           f"{', '.join(DisputeStatus)}")
    after, limit = _page(request, 50)
    flt = DisputeFilter(
        client_id=await _client_id(request, required=False),
        status=DisputeStatus(status) if status else None,
        case_id=int_param(request, "case_id"), after=after, limit=limit,
    )
    items = await disputes.list_disputes(request.app[PG], scope_for(current_user(request)),
                                         flt)
    return web.json_response({"items": [dispute_json(d, full=False) for d in items],
                              "next_after": items[-1].id if len(items) == limit else None})


@routes.get("/client/disputes/{id}")
@requires(*DISPUTE_READERS)
async def get_dispute(request: web.Request) -> web.Response:
    found = await disputes.get_dispute(request.app[PG], current_user(request),
                                       path_id(request))
    await audit.record(request.app[PG], actor(request), "dispute.view", record_type="dispute",
                       record_id=found.id, client_id=found.client_id,
                       details={"case_id": found.case_id})
    return web.json_response(dispute_json(found, full=True))


@routes.post("/client/disputes/{id}/resolve")
@requires(Role.CLIENT_AUDITOR)
async def resolve_dispute(request: web.Request) -> web.Response:
    resolution, note = disputes.parse_resolution(await json_body(request))
    done = await disputes.resolve(request.app[PG], actor(request), path_id(request),
                                  resolution, note, now(request))
    return web.json_response({**dispute_json(done.dispute, full=True),
                              "case_status": str(done.case_status),
                              "holds_released": done.holds_released,
                              "holds_left": done.holds_left})


async def _webhook_client(request: web.Request) -> int:
    client_id = path_id(request)
    check_client_visible(current_user(request), client_id)
    return (await store.get_client(request.app[PG], client_id=client_id)).id


@routes.get("/clients/{id}/webhook")
@requires(*BANK_AND_ADMIN)
async def get_webhook(request: web.Request) -> web.Response:
    client_id = await _webhook_client(request)
    return web.json_response(webhook_json(client_id,
                                          await outbox.get_webhook(request.app[PG], client_id)))


def _webhook_change(body: dict[str, object]) -> WebhookChange:
    unknown = sorted(set(body) - {"url", "secret", "active"})
    if unknown:
        raise InvalidInput("webhook.invalid", "unknown fields",
                           {n: "unknown field" for n in unknown})
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise InvalidInput("webhook.active", "active must be true or false")
    secret = body.get("secret")
    return WebhookChange(url=check_url(body.get("url")),
                         secret=None if secret is None else check_secret(secret), active=active)


@routes.put("/clients/{id}/webhook")
@requires(*BANK_AND_ADMIN)
async def put_webhook(request: web.Request) -> web.Response:
    client_id = await _webhook_client(request)
    change = _webhook_change(await json_body(request))
    hook = await outbox.set_webhook(request.app[PG], actor(request), client_id, change,
                                    now(request))
    return web.json_response(webhook_json(client_id, hook))


def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise InvalidInput("request.bad_param",
                           f"{name} must be a time with its offset, like 2026-11-01T00:00:00Z",
                           {name: raw})
    return when


_ACCESS_LOG = """
SELECT * FROM audit_log
WHERE client_id = $1 AND action = ANY($2::text[]) AND id > $3
  AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)
  AND ($6::text IS NULL OR (record_type = 'case' AND record_id = $6)
       OR details->>'case_id' = $6)
  AND ($7::bigint IS NULL OR user_id = $7)
ORDER BY id LIMIT $8
"""


def _entry(r: asyncpg.Record) -> AuditEntry:
    return AuditEntry(
        id=r["id"], at=r["at"], user_id=r["user_id"], username=r["username"], role=r["role"],
        client_id=r["client_id"], action=r["action"], record_type=r["record_type"],
        record_id=r["record_id"], ip=r["ip"], request_id=r["request_id"],
        details=json.loads(r["details"]),
    )


async def _access_log(db: Db, request: web.Request, client_id: int) -> list[AuditEntry]:
    after, limit = _page(request)
    case_id = int_param(request, "case_id")
    rows = await db.fetch(
        _ACCESS_LOG, client_id, list(ACCESS_ACTIONS), after, _time_param(request, "since"),
        _time_param(request, "until"), None if case_id is None else str(case_id),
        int_param(request, "user_id"), limit,
    )
    return [_entry(r) for r in rows]


@routes.get("/client/access-log")
@requires(*BANK_AND_ADMIN)
async def access_log(request: web.Request) -> web.Response:
    client_id = await _client_id(request, required=True)
    assert client_id is not None
    entries = await _access_log(request.app[PG], request, client_id)
    limit = int_param(request, "limit", 100, low=1, high=500)
    return web.json_response({"items": [audit_json(e) for e in entries],
                              "next_after": entries[-1].id if len(entries) == limit else None})
