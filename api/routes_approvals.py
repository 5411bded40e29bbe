"""Approval requests: the bank's reserved decisions (waivers, settlements,
restructuring, collateral, litigation steps).

An agent (on a case assigned to them), a supervisor or an admin files a request with
its terms (`POST /cases/{id}/approvals`); the bank sees it in its notifications and
its list (`GET /approvals`), and its client auditor approves or rejects it
(`POST /approvals/{id}/decision`); the requester or a supervisor may withdraw it while
it waits (`POST /approvals/{id}/withdraw`). An approved request is then given as
``approval_id`` when filing the action code that needs it. Rules: `cases.approvals`.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from api.context import PG, actor, int_param, json_body, now, path_id, requires
from cases import approvals
from cases.approval_rules import ApprovalRequest, ApprovalStatus, effective_status
from cases.domain import Role
from cases.errors import InvalidInput

routes = web.RouteTableDef()
ALL_ROLES = tuple(Role)
FILERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def approval_json(r: ApprovalRequest, at: datetime) -> dict[str, object]:
    """A request as the API shows it; `status` is the effective one at `at`."""
    return {
        "id": r.id, "case_id": r.case_id, "client_id": r.client_id,
        "kind": str(r.terms.kind), "terms": r.terms.as_json(), "balance": str(r.balance),
        "reason": r.reason, "status": str(effective_status(r, at)),
        "requested_by": r.requested_by, "requested_at": _iso(r.requested_at),
        "decided_by": r.decided_by, "decided_at": _iso(r.decided_at),
        "decision_note": r.decision_note, "withdrawn_by": r.withdrawn_by,
        "withdrawn_at": _iso(r.withdrawn_at), "expires_at": _iso(r.expires_at),
        "used_by_action_id": r.used_by_action_id, "used_at": _iso(r.used_at),
    }


def _filter(request: web.Request) -> approvals.ApprovalFilter:
    status = request.query.get("status")
    if status is not None and status not in set(ApprovalStatus):
        raise InvalidInput("request.bad_param", f"unknown status {status!r}")
    return approvals.ApprovalFilter(
        status=ApprovalStatus(status) if status else None,
        client_id=int_param(request, "client_id"), case_id=int_param(request, "case_id"),
        after=int_param(request, "after", 0) or 0,
        limit=int_param(request, "limit", 50, low=1, high=500) or 50,
    )


@routes.post("/cases/{id}/approvals")
@requires(*FILERS)
async def file_request(request: web.Request) -> web.Response:
    body = await json_body(request)
    filed = await approvals.file_request(request.app[PG], actor(request), path_id(request),
                                         body, now(request))
    return web.json_response(approval_json(filed, now(request)), status=201)


@routes.get("/approvals")
@requires(*ALL_ROLES)
async def list_requests(request: web.Request) -> web.Response:
    flt = _filter(request)
    items = await approvals.list_requests(request.app[PG], actor(request), flt, now(request))
    nxt = items[-1].id if len(items) == flt.limit else None
    return web.json_response(
        {"items": [approval_json(r, now(request)) for r in items], "next_after": nxt}
    )


@routes.get("/approvals/{id}")
@requires(*ALL_ROLES)
async def get_request(request: web.Request) -> web.Response:
    found = await approvals.view_request(request.app[PG], actor(request), path_id(request))
    return web.json_response(approval_json(found, now(request)))


@routes.post("/approvals/{id}/decision")
@requires(Role.CLIENT_AUDITOR)
async def decide(request: web.Request) -> web.Response:
    body = await json_body(request)
    decided = await approvals.decide(request.app[PG], actor(request), path_id(request), body,
                                     now(request))
    return web.json_response(approval_json(decided, now(request)))


@routes.post("/approvals/{id}/withdraw")
@requires(*FILERS)
async def withdraw(request: web.Request) -> web.Response:
    done = await approvals.withdraw(request.app[PG], actor(request), path_id(request),
                                    now(request))
    return web.json_response(approval_json(done, now(request)))
