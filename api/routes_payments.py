"""Payments the bank reports and the promises they keep.

- `POST /clients/{id}/payments`: a payment file, as multipart/form-data (field
  `file`) or as the raw body (its name in `X-File-Name`, percent-encoded UTF-8
  allowed); admins and campaign managers, and the bank's client auditor for its
  own client. 201 with the import report.
- `GET /clients/{id}/payment-imports` and `.../payment-imports/{import_id}`: the
  import history and one import with its rejections.
- `GET /cases/{id}/promises` and `GET /cases/{id}/payments`: who may see the case
  may see them. Every view writes an audit row; records outside the user's scope
  answer 404.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.context import (
    PG,
    SETTINGS,
    actor,
    check_storable,
    current_user,
    int_param,
    now,
    path_id,
    requires,
)
from cases import audit, payments, promises, store
from cases.access import check_case_visible, check_client_visible
from cases.domain import CaseSummary, Client, Role
from cases.errors import InvalidInput, NotFound

routes = web.RouteTableDef()
ALL_ROLES = tuple(Role)
UPLOAD_ROLES = (Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.CLIENT_AUDITOR)
HISTORY_ROLES = (Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR, Role.CLIENT_AUDITOR)
DEFAULT_NAME = "payments.csv"


async def _visible_client(request: web.Request) -> Client:
    client_id = path_id(request)
    check_client_visible(current_user(request), client_id)
    return await store.get_client(request.app[PG], client_id=client_id)


async def _visible_case(request: web.Request) -> CaseSummary:
    summary = (await store.get_case(request.app[PG], path_id(request))).summary
    check_case_visible(current_user(request), summary.client_id, summary.assigned_agent_id)
    return summary


def _limit_bytes(request: web.Request) -> int:
    return request.app[SETTINGS].http.max_upload_mb * 1024 * 1024


async def _read_upload(request: web.Request) -> tuple[str, bytes]:
    """(file name, bytes) of a multipart `file` field or of the raw body."""
    if request.content_type.startswith("multipart/"):
        try:
            return await _read_multipart(request)
        except (HttpProcessingError, ValueError):  # a malformed body: the sender's fault
            raise InvalidInput("payments.bad_multipart", "the multipart body cannot be"
                               " read") from None
    data = await request.read()
    if not data:
        raise InvalidInput("payments.missing_file", "send the payment file as the body"
                           " (text/csv) or as multipart/form-data with a field file")
    name = request.headers.get("X-File-Name") or request.query.get("file_name")
    return _file_name(name), data


def _file_name(raw: str | None) -> str:
    """The name as sent; percent-encoded UTF-8 (as in a header) is decoded."""
    name = unquote(raw)[:255] if raw else DEFAULT_NAME
    check_storable(name, "the file name")
    return name


async def _read_multipart(request: web.Request) -> tuple[str, bytes]:
    limit = _limit_bytes(request)
    async for part in await request.multipart():
        if isinstance(part, BodyPartReader) and part.name == "file":
            buf = bytearray()
            while chunk := await part.read_chunk(1 << 20):
                buf += chunk
                if len(buf) > limit:
                    raise InvalidInput("payments.too_large", "the file is larger than"
                                       f" {limit // (1024 * 1024)} MB")
            return _file_name(part.filename), bytes(buf)
    raise InvalidInput("payments.missing_file", "the multipart body has no field file")


@routes.post("/clients/{id}/payments")
@requires(*UPLOAD_ROLES)
async def upload(request: web.Request) -> web.Response:
    client = await _visible_client(request)
    file_name, data = await _read_upload(request)
    report = await payments.import_payments(request.app[PG], actor(request), client,
                                            file_name, data, now=now(request))
    return web.json_response(report.as_json(), status=201)


@routes.get("/clients/{id}/payment-imports")
@requires(*HISTORY_ROLES)
async def list_imports(request: web.Request) -> web.Response:
    client = await _visible_client(request)
    limit = int_param(request, "limit", 50, low=1, high=500) or 50
    items = await payments.list_imports(request.app[PG], client.id,
                                        after=int_param(request, "after", 0) or 0, limit=limit)
    await audit.record(request.app[PG], actor(request), "payment_imports.view",
                       record_type="client", record_id=client.id, client_id=client.id)
    nxt = items[-1].import_id if len(items) == limit else None
    return web.json_response({"items": [i.as_json(rejections=False) for i in items],
                              "next_after": nxt})


@routes.get("/clients/{id}/payment-imports/{import_id}")
@requires(*HISTORY_ROLES)
async def get_import(request: web.Request) -> web.Response:
    client = await _visible_client(request)
    report = await payments.import_report(request.app[PG], path_id(request, "import_id"))
    if report.client_id != client.id:
        raise NotFound("payment_import.not_found", "no such payment import")
    await audit.record(request.app[PG], actor(request), "payment_import.view",
                       record_type="payment_import", record_id=report.import_id,
                       client_id=client.id)
    return web.json_response(report.as_json())


@routes.get("/cases/{id}/promises")
@requires(*ALL_ROLES)
async def case_promises(request: web.Request) -> web.Response:
    case = await _visible_case(request)
    items = await promises.case_promises(request.app[PG], case.id, now(request))
    await audit.record(request.app[PG], actor(request), "case.promises.view",
                       record_type="case", record_id=case.id, client_id=case.client_id)
    return web.json_response({"items": [p.as_json() for p in items]})


@routes.get("/cases/{id}/payments")
@requires(*ALL_ROLES)
async def case_payments(request: web.Request) -> web.Response:
    case = await _visible_case(request)
    items = await payments.case_payments(request.app[PG], case.id)
    await audit.record(request.app[PG], actor(request), "case.payments.view",
                       record_type="case", record_id=case.id, client_id=case.client_id)
    return web.json_response({"items": [p.as_json() for p in items]})
