"""Field visits over HTTP: planning, results, evidence files, closing, the QA sample.

* ``GET /field-visits?status=&client_id=``, ``GET /field-visits/{id}``: admins,
  supervisors and QA see every visit, an agent the visits they collect, a client's
  auditor its client's (others: 404). Views are audited (the address is personal).
* ``POST /field-visits/{id}/plan`` and ``/cancel``: supervisors and admins.
* ``POST /field-visits/{id}/result`` and ``/evidence``: the visit's two collectors.
  Evidence is the raw body, its ``Content-Type`` one of the allowed types,
  ``?kind=photo|recording|report&name=<file name>``.
* ``GET /field-visits/{id}/evidence/{eid}``: the file, audited before it is sent.
* ``POST /field-visits/{id}/close``: a collector, a supervisor or an admin; only
  with the result and the evidence (:mod:`cases.field_visit_rules`).
* ``GET /field-visits/qa-sample?month=YYYY-MM``: the month's sample and coverage per
  client (QA, supervisors, admins, a client's auditor for its client);
  ``POST`` the same with ``{"seed"}`` draws it (QA, supervisors, admins).

The evidence root is ``app[EVIDENCE]``; :func:`setup_field_visit_routes` sets it.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from pathlib import Path
from urllib.parse import quote

from aiohttp import hdrs, web

from api.context import PG, SETTINGS, actor, current_user, int_param, json_body, path_id, requires
from api.context import now as request_now
from api.settings import Settings
from cases import audit, field_visits
from cases import field_visit_rules as rules
from cases.access import check_client_visible, scope_for
from cases.domain import Role
from cases.errors import InvalidInput
from cases.field_visits import Evidence, EvidenceStore, FieldVisit, VisitFilter

routes = web.RouteTableDef()
EVIDENCE = web.AppKey("field_visit_evidence", EvidenceStore)
READERS = (Role.ADMIN, Role.SUPERVISOR, Role.QA, Role.AGENT, Role.CLIENT_AUDITOR)
PLANNERS = (Role.ADMIN, Role.SUPERVISOR)
COLLECTORS = (Role.AGENT, Role.SUPERVISOR)
CLOSERS = (Role.ADMIN, Role.SUPERVISOR, Role.AGENT)
SAMPLERS = (Role.QA, Role.SUPERVISOR, Role.ADMIN)
CHUNK = 64 << 10


def evidence_store(settings: Settings) -> EvidenceStore:
    """``CALLCASE_EVIDENCE_DIR``, files up to ``CALLCASE_EVIDENCE_MAX_MB``."""
    return EvidenceStore(settings.evidence.root, settings.evidence.max_mb * 1024 * 1024)


def setup_field_visit_routes(app: web.Application, store: EvidenceStore | None = None) -> None:
    app[EVIDENCE] = store or evidence_store(app[SETTINGS])
    app.router.add_routes(routes)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def evidence_json(e: Evidence) -> dict[str, object]:
    return {"id": e.id, "visit_id": e.visit_id, "kind": str(e.kind), "file_name": e.file_name,
            "content_type": e.content_type, "byte_size": e.byte_size, "sha256": e.sha256,
            "uploaded_by": e.uploaded_by, "uploaded_at": _iso(e.uploaded_at),
            "download_url": f"/field-visits/{e.visit_id}/evidence/{e.id}"}


def visit_json(v: FieldVisit) -> dict[str, object]:
    return {
        "id": v.id, "case_id": v.case_id, "client_id": v.client_id,
        "account_no": v.account_no, "debtor_name": v.debtor_name, "action_id": v.action_id,
        "reason": v.reason, "status": str(v.status), "created_at": _iso(v.created_at),
        "planned_for": _iso(v.planned_for), "address": v.address,
        "collectors": None if v.collectors is None else list(v.collectors),
        "planned_by": v.planned_by, "planned_at": _iso(v.planned_at),
        "result": v.result and str(v.result), "result_notes": v.result_notes,
        "visited_at": _iso(v.visited_at), "closed_at": _iso(v.closed_at),
        "closed_by": v.closed_by, "cancelled_at": _iso(v.cancelled_at),
        "cancelled_by": v.cancelled_by, "cancel_reason": v.cancel_reason,
        "evidence": [evidence_json(e) for e in v.evidence],
        "missing_evidence": list(rules.missing_evidence(e.kind for e in v.evidence)),
    }  # fmt: skip


def _month(request: web.Request, body: dict[str, object] | None = None) -> str:
    month = (body or {}).get("month", request.query.get("month"))
    if not isinstance(month, str):
        raise InvalidInput("field_visit.bad_month", "month must be YYYY-MM")
    rules.month_bounds(month)
    return month


def _client_id(request: web.Request) -> int | None:
    """The client asked for, within the user's scope (an auditor: its own)."""
    asked = int_param(request, "client_id")
    if asked is not None:
        check_client_visible(current_user(request), asked)
    return asked if asked is not None else scope_for(current_user(request)).client_id


# The sample's routes come first: /field-visits/{id} would match them.
@routes.get("/field-visits/qa-sample")
@requires(*SAMPLERS, Role.CLIENT_AUDITOR)
async def get_sample(request: web.Request) -> web.Response:
    month, client_id = _month(request), _client_id(request)
    items = await field_visits.sample_of(request.app[PG], month, client_id)
    report = await field_visits.coverage(request.app[PG], month, client_id)
    return web.json_response({"month": month, "items": [
        {"visit_id": s.visit_id, "case_id": s.case_id, "client_id": s.client_id,
         "closed_at": _iso(s.closed_at), "seed": s.seed, "sampled_at": _iso(s.sampled_at),
         "visit_url": f"/field-visits/{s.visit_id}"} for s in items],
        "coverage": [c.as_json() for c in report]})


@routes.post("/field-visits/qa-sample")
@requires(*SAMPLERS)
async def draw_sample(request: web.Request) -> web.Response:
    body = await json_body(request) if request.can_read_body else {}
    month, seed = _month(request, body), body.get("seed", request.query.get("seed"))
    if not isinstance(seed, str) or not 1 <= len(seed) <= 100:
        raise InvalidInput("field_visit.bad_seed", "seed must be 1-100 characters (keep it:"
                           " it makes the draw repeatable)")
    added = await field_visits.draw_sample(request.app[PG], actor(request), month, seed,
                                           request_now(request))
    report = await field_visits.coverage(request.app[PG], month, None)
    return web.json_response({"month": month, "seed": seed,
                              "added": {str(k): v for k, v in added.items()},
                              "coverage": [c.as_json() for c in report]}, status=201)


def _filter(request: web.Request) -> VisitFilter:
    status = request.query.get("status")
    if status is not None and status not in set(rules.VisitStatus):
        raise InvalidInput("request.bad_param", f"unknown status {status!r}")
    return VisitFilter(
        status=rules.VisitStatus(status) if status else None, client_id=_client_id(request),
        after=int_param(request, "after", 0) or 0,
        limit=int_param(request, "limit", 50, low=1, high=500) or 50)


@routes.get("/field-visits")
@requires(*READERS)
async def list_visits(request: web.Request) -> web.Response:
    flt = _filter(request)
    items = await field_visits.list_visits(request.app[PG], current_user(request), flt)
    await audit.record(request.app[PG], actor(request), "field_visit.list",
                       record_type="field_visit", client_id=scope_for(
                           current_user(request)).client_id,
                       details={"visits": [v.id for v in items]})
    nxt = items[-1].id if len(items) == flt.limit else None
    return web.json_response({"items": [visit_json(v) for v in items], "next_after": nxt})


@routes.get("/field-visits/{id}")
@requires(*READERS)
async def get_visit(request: web.Request) -> web.Response:
    visit = await field_visits.get_visit(request.app[PG], current_user(request),
                                         path_id(request))
    await audit.record(request.app[PG], actor(request), "field_visit.view",
                       record_type="field_visit", record_id=visit.id,
                       client_id=visit.client_id, details={"case_id": visit.case_id})
    return web.json_response(visit_json(visit))


@routes.post("/field-visits/{id}/plan")
@requires(*PLANNERS)
async def plan(request: web.Request) -> web.Response:
    visit = await field_visits.plan(request.app[PG], actor(request), path_id(request),
                                    await json_body(request), request_now(request))
    return web.json_response(visit_json(visit))


@routes.post("/field-visits/{id}/result")
@requires(*COLLECTORS)
async def record_result(request: web.Request) -> web.Response:
    event = rules.parse_result(await json_body(request), now=request_now(request))
    visit = await field_visits.record_result(request.app[PG], actor(request),
                                             path_id(request), event)
    return web.json_response(visit_json(visit))


@routes.post("/field-visits/{id}/evidence")
@requires(*COLLECTORS)
async def attach_evidence(request: web.Request) -> web.Response:
    store = request.app[EVIDENCE]
    upload = rules.check_upload(request.query.get("kind"), request.query.get("name"),
                                request.content_type, request.content_length,
                                store.max_bytes)
    evidence = await field_visits.attach_evidence(
        request.app[PG], actor(request), store, path_id(request), upload,
        request.content.iter_chunked(CHUNK), request_now(request))
    return web.json_response(evidence_json(evidence), status=201)


def _disposition(name: str) -> str:
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"


@routes.get("/field-visits/{id}/evidence/{eid}")
@requires(*READERS)
async def download_evidence(request: web.Request) -> web.StreamResponse:
    evidence, path = await field_visits.open_evidence(
        request.app[PG], actor(request), request.app[EVIDENCE], path_id(request),
        path_id(request, "eid"))
    return _file_response(evidence, path)


def _file_response(evidence: Evidence, path: Path) -> web.FileResponse:
    """The file (ranges served by aiohttp); its SHA-256 as an RFC 9530 ``Repr-Digest``."""
    digest = base64.b64encode(bytes.fromhex(evidence.sha256)).decode()
    return web.FileResponse(path, headers={
        hdrs.CONTENT_TYPE: evidence.content_type, "Repr-Digest": f"sha-256=:{digest}:",
        hdrs.CACHE_CONTROL: "private, no-store",
        hdrs.CONTENT_DISPOSITION: _disposition(evidence.file_name)})


@routes.post("/field-visits/{id}/close")
@requires(*CLOSERS)
async def close(request: web.Request) -> web.Response:
    visit = await field_visits.close(request.app[PG], actor(request), path_id(request),
                                     request_now(request))
    return web.json_response(visit_json(visit))


@routes.post("/field-visits/{id}/cancel")
@requires(*PLANNERS)
async def cancel(request: web.Request) -> web.Response:
    event = rules.parse_cancel(await json_body(request))
    visit = await field_visits.cancel(request.app[PG], actor(request), path_id(request),
                                      event, request_now(request))
    return web.json_response(visit_json(visit))
