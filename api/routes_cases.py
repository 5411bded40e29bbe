"""Cases, their phones and actions, the action-code catalogue, the audit log."""

from __future__ import annotations

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
from api.views import (
    action_code_json,
    action_json,
    audit_json,
    case_detail_json,
    case_summary_json,
    phone_json,
)
from cases import actions, audit, store
from cases.access import check_case_visible, check_may_reveal, scope_for
from cases.domain import CaseDetail, CaseStatus, Role
from cases.errors import InvalidInput

routes = web.RouteTableDef()
ALL_ROLES = tuple(Role)
BUCKETS = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M6+")


def _case_filter(request: web.Request) -> store.CaseFilter:
    status = request.query.get("status")
    if status is not None and status not in set(CaseStatus):
        raise InvalidInput("request.bad_param", f"unknown status {status!r}")
    bucket = request.query.get("bucket")
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidInput("request.bad_param", f"unknown bucket {bucket!r}")
    return store.CaseFilter(
        status=CaseStatus(status) if status else None, bucket=bucket,
        client_id=int_param(request, "client_id"), agent_id=int_param(request, "agent_id"),
        after=int_param(request, "after", 0) or 0,
        limit=int_param(request, "limit", 50, low=1, high=500) or 50,
    )


@routes.get("/cases")
@requires(*ALL_ROLES)
async def list_cases(request: web.Request) -> web.Response:
    flt = _case_filter(request)
    items = await store.list_cases(request.app[PG], scope_for(current_user(request)), flt)
    nxt = items[-1].id if len(items) == flt.limit else None
    return web.json_response(
        {"items": [case_summary_json(c) for c in items], "next_after": nxt}
    )


async def _visible_case(request: web.Request) -> CaseDetail:
    detail = await store.get_case(request.app[PG], path_id(request))
    s = detail.summary
    check_case_visible(current_user(request), s.client_id, s.assigned_agent_id)
    return detail


@routes.get("/cases/{id}")
@requires(*ALL_ROLES)
async def get_case(request: web.Request) -> web.Response:
    detail = await _visible_case(request)
    reveal = request.query.get("reveal") == "id_no"
    if reveal:
        check_may_reveal(current_user(request))
    await audit.record(
        request.app[PG], actor(request), "pii.reveal" if reveal else "case.view",
        record_type="case", record_id=detail.summary.id, client_id=detail.summary.client_id,
        details={"fields": ["id_no"]} if reveal else None,
    )
    return web.json_response(case_detail_json(detail, reveal_id=reveal))


@routes.get("/cases/{id}/phones")
@requires(*ALL_ROLES)
async def case_phones(request: web.Request) -> web.Response:
    detail = await _visible_case(request)
    phones = await store.case_phones(request.app[PG], detail.summary.id)
    await audit.record(request.app[PG], actor(request), "case.phones.view", record_type="case",
                       record_id=detail.summary.id, client_id=detail.summary.client_id)
    return web.json_response({"items": [phone_json(p) for p in phones]})


@routes.get("/cases/{id}/actions")
@requires(*ALL_ROLES)
async def case_actions(request: web.Request) -> web.Response:
    detail = await _visible_case(request)
    items = await actions.case_actions(request.app[PG], detail.summary.id)
    return web.json_response({"items": [action_json(a) for a in items]})


def action_key(request: web.Request, body: dict[str, object]) -> str:
    """The request's Idempotency-Key header (or `idempotency_key`, taken from the body)."""
    key = request.headers.get("Idempotency-Key") or body.pop("idempotency_key", None)
    if not isinstance(key, str) or not 1 <= len(key) <= 200:
        raise InvalidInput("action.idempotency_key",
                           "send an Idempotency-Key header (1-200 characters)")
    return key


def action_request(body: dict[str, object], case_id: int, key: str) -> actions.ActionRequest:
    """The action a body files: its code and phone taken out, the rest its fields."""
    code, phone_id = body.pop("code", None), body.pop("phone_id", None)
    if not isinstance(code, str):
        raise InvalidInput("action.code", "code is required")
    if phone_id is not None and (not isinstance(phone_id, int) or isinstance(phone_id, bool)):
        raise InvalidInput("action.phone", "phone_id must be a number")
    return actions.ActionRequest(case_id=case_id, code=code, idempotency_key=key, fields=body,
                                 phone_id=phone_id)


@routes.post("/cases/{id}/actions")
@requires(Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
async def file_action(request: web.Request) -> web.Response:
    body = await json_body(request)
    key = action_key(request, body)
    filed = await actions.file_action(
        request.app[PG], actor(request), action_request(body, path_id(request), key),
        now(request),
    )
    return web.json_response(
        {**action_json(filed.action), "replayed": filed.replayed},
        status=200 if filed.replayed else 201,
    )


@routes.put("/cases/{id}/assignment")
@requires(Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR)
async def assign(request: web.Request) -> web.Response:
    body = await json_body(request)
    agent_id = body.get("agent_id")
    if agent_id is not None and (not isinstance(agent_id, int) or isinstance(agent_id, bool)):
        raise InvalidInput("case.assign", "agent_id must be a number or null")
    detail = await _visible_case(request)
    await store.assign_case(request.app[PG], detail.summary.id, agent_id, now(request))
    await audit.record(request.app[PG], actor(request), "case.assign", record_type="case",
                       record_id=detail.summary.id, client_id=detail.summary.client_id,
                       details={"agent_id": agent_id})
    return web.json_response({"case_id": detail.summary.id, "agent_id": agent_id})


@routes.get("/action-codes")
@requires(*ALL_ROLES)
async def action_codes(request: web.Request) -> web.Response:
    codes = await store.action_codes(request.app[PG])
    return web.json_response({"items": [action_code_json(c) for c in codes]})


@routes.get("/audit")
@requires(Role.ADMIN, Role.CLIENT_AUDITOR)
async def audit_log(request: web.Request) -> web.Response:
    q = request.query
    flt = audit.AuditFilter(
        after=int_param(request, "after", 0) or 0,
        limit=int_param(request, "limit", 100, low=1, high=1000) or 100,
        user_id=int_param(request, "user_id"), action=q.get("action"),
        record_type=q.get("record_type"), record_id=q.get("record_id"),
    )
    entries = await audit.query(request.app[PG], scope_for(current_user(request)), flt)
    nxt = entries[-1].id if len(entries) == flt.limit else None
    return web.json_response({"items": [audit_json(e) for e in entries], "next_after": nxt})


@routes.get("/audit/verify")
@requires(Role.ADMIN, Role.CLIENT_AUDITOR)
async def audit_verify(request: web.Request) -> web.Response:
    """Recompute the audit log's hash chain (every client's rows: the chain is one);
    the head hash is for keeping outside the database."""
    report = await audit.verify_chain(request.app[PG])
    await audit.record(request.app[PG], actor(request), "audit.verify",
                       details={"rows": report.rows, "intact": report.intact})
    return web.json_response({"intact": report.intact, "rows": report.rows,
                              "head": report.head, "first_broken": report.first_broken,
                              "why": report.why})
