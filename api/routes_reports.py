"""Month-end reports and complaints over HTTP.

* ``GET /reports/monthly?month=YYYY-MM&by=client|batch|campaign|agent&client_id=&format=
  json|csv``: the month's figures per group (:mod:`api.reports`; definitions in the JSON
  body). Admins, campaign managers and supervisors see any client, or all; the bank's
  auditor only its own client (forced; another client's id answers 404). Agents and QA
  may not (403). Every read writes an audit row (``report.view``) in the report's
  transaction. CSV is UTF-8 with a BOM, formula-safe, as an attachment.
* ``POST /cases/{id}/complaints``: record a complaint received about a case (admins,
  supervisors, the bank's auditor for its own cases); audited (``complaint.record``).
* ``GET /complaints?client_id=&month=YYYY-MM&after=&limit=``: complaints, the bank's
  auditor only its own; audited (``complaint.list``): they are personal data.
"""

from __future__ import annotations

from datetime import date, datetime

from aiohttp import web

from api import reports
from api.context import PG, actor, current_user, int_param, json_body, now, path_id, requires
from cases import audit
from cases.access import check_case_visible, check_client_visible, scope_for
from cases.domain import Role
from cases.errors import InvalidInput, NotFound
from cases.report_math import ComplaintChannel, NewComplaint, parse_month

routes = web.RouteTableDef()
REPORT_READERS = (Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR, Role.CLIENT_AUDITOR)
COMPLAINT_RECORDERS = (Role.ADMIN, Role.SUPERVISOR, Role.CLIENT_AUDITOR)
COMPLAINT_READERS = (Role.ADMIN, Role.SUPERVISOR, Role.QA, Role.CLIENT_AUDITOR)
FORMATS = ("json", "csv")
SUMMARY_MAX = 2000


def _client(request: web.Request) -> int | None:
    """The client asked for, or the auditor's own (another client's is not told)."""
    asked = int_param(request, "client_id", low=1)
    own = scope_for(current_user(request)).client_id
    if own is None:
        return asked
    if asked is not None:
        check_client_visible(current_user(request), asked)
    return own


def _month(request: web.Request, *, required: bool = True) -> date | None:
    raw = request.query.get("month")
    if raw is None and not required:
        return None
    return parse_month(raw or "")


def _format(request: web.Request) -> str:
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput("report.bad_format", "format must be json or csv", {"format": fmt})
    return fmt


@routes.get("/reports/monthly")
@requires(*REPORT_READERS)
async def monthly(request: web.Request) -> web.Response:
    month, fmt, client_id = _month(request), _format(request), _client(request)
    assert month is not None
    by = request.query.get("by", "client")
    async with reports.snapshot(request.app[PG]) as reader:
        report = await reports.monthly_report(reader, month=month, by=by, client_id=client_id)
        await audit.record(reader.conn, actor(request), "report.view", record_type="report",
                           record_id="monthly", client_id=client_id,
                           details={"month": month.strftime("%Y-%m"), "by": by,
                                    "format": fmt, "rows": len(report.rows)})
    if fmt == "json":
        return web.json_response(report.as_json())
    name = f"callcase-{month:%Y-%m}-{report.by}{'' if client_id is None else f'-{client_id}'}"
    return web.Response(body=report.as_csv(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def _received_at(value: object, at: datetime, problems: dict[str, str]) -> datetime | None:
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        problems["received_at"] = "an ISO 8601 time with its UTC offset"
    elif when > at:
        problems["received_at"] = "not in the future"
    else:
        return when
    return None


def complaint_input(body: dict[str, object], at: datetime) -> NewComplaint:
    """A complaint from a request body; every problem reported at once."""
    problems: dict[str, str] = {}
    received = _received_at(body.get("received_at"), at, problems)
    channel = body.get("channel")
    if not isinstance(channel, str) or channel not in set(ComplaintChannel):
        problems["channel"] = "one of " + ", ".join(ComplaintChannel)
    summary = body.get("summary")
    if not isinstance(summary, str) or not 1 <= len(summary.strip()) <= SUMMARY_MAX:
        problems["summary"] = f"1-{SUMMARY_MAX} characters"
    if problems or received is None or not isinstance(summary, str):
        raise InvalidInput("complaint.invalid", "the complaint is not valid", problems)
    return NewComplaint(received, ComplaintChannel(str(channel)),
                                summary.strip())


@routes.post("/cases/{id}/complaints")
@requires(*COMPLAINT_RECORDERS)
async def record_complaint(request: web.Request) -> web.Response:
    case_id, at, user = path_id(request), now(request), current_user(request)
    new = complaint_input(await json_body(request), at)
    async with request.app[PG].acquire() as conn, conn.transaction():
        case = await conn.fetchrow("SELECT client_id, assigned_agent_id FROM cases"
                                   " WHERE id = $1 FOR SHARE", case_id)
        if case is None:
            raise NotFound("case.not_found", "no such case")
        check_case_visible(user, case["client_id"], case["assigned_agent_id"])
        found = await reports.record_complaint(conn, case_id=case_id,
                                               client_id=case["client_id"], new=new,
                                               recorded_by=user.id, now=at)
        await audit.record(conn, actor(request), "complaint.record", record_type="case",
                           record_id=case_id, client_id=case["client_id"],
                           details={"complaint_id": found.id, "channel": str(new.channel)})
    return web.json_response(found.as_json(), status=201)


@routes.get("/complaints")
@requires(*COMPLAINT_READERS)
async def list_complaints(request: web.Request) -> web.Response:
    client_id, month = _client(request), _month(request, required=False)
    limit = int_param(request, "limit", 100, low=1, high=1000) or 100
    async with request.app[PG].acquire() as conn, conn.transaction():
        items = await reports.list_complaints(conn, client_id=client_id, month=month,
                                              after=int_param(request, "after", 0) or 0,
                                              limit=limit)
        await audit.record(conn, actor(request), "complaint.list", record_type="complaint",
                           client_id=client_id,
                           details={"month": month and month.strftime("%Y-%m"),
                                    "complaints": [c.id for c in items]})
    nxt = items[-1].id if len(items) == limit else None
    return web.json_response({"items": [c.as_json() for c in items], "next_after": nxt})
