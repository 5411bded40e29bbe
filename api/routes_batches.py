"""Bank batch upload (multipart) and the confirmation the bank receives."""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.context import (
    PG,
    SETTINGS,
    actor,
    check_storable,
    current_user,
    now,
    path_id,
    requires,
)
from cases import audit, batches, store
from cases.access import check_client_visible
from cases.domain import Role
from cases.errors import InvalidInput, NotFound

routes = web.RouteTableDef()


async def _read_upload(request: web.Request) -> tuple[str, str, bytes]:
    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("batch.not_multipart",
                           "send the file as multipart/form-data with fields client and file")
    try:
        client_code, file_name, data = await _read_parts(request)
    except (HttpProcessingError, ValueError):  # a malformed body: the sender's fault
        raise InvalidInput("batch.bad_multipart", "the multipart body cannot be read") \
            from None
    if not client_code or data is None or file_name is None:
        raise InvalidInput("batch.missing_part", "both the client and the file are required")
    check_storable([client_code, file_name], "the client or the file name")
    return client_code, file_name, data


async def _read_parts(request: web.Request) -> tuple[str | None, str | None, bytes | None]:
    limit = request.app[SETTINGS].http.max_upload_mb * 1024 * 1024
    client_code, file_name, data = None, None, None
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "client":
            client_code = (await part.text()).strip()
        elif part.name == "file":
            file_name = part.filename or "batch.csv"
            data = await _read_limited(part, limit)
    return client_code, file_name, data


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    buf = bytearray()
    while chunk := await part.read_chunk(1 << 20):
        buf += chunk
        if len(buf) > limit:
            raise InvalidInput(
                "batch.too_large", f"the file is larger than {limit // (1024 * 1024)} MB"
            )
    return bytes(buf)


@routes.post("/batches")
@requires(Role.ADMIN, Role.CAMPAIGN_MANAGER)
async def upload(request: web.Request) -> web.Response:
    received = now(request)
    client_code, file_name, data = await _read_upload(request)
    client = await store.get_client(request.app[PG], code=client_code)
    result = await batches.import_batch(
        request.app[PG], actor(request), client, file_name, data,
        received_at=received, now=now(request),
    )
    return web.json_response(result.as_json(), status=200 if result.replayed else 201)


@routes.get("/batches/{id}/confirmation")
@requires(Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR, Role.CLIENT_AUDITOR)
async def confirmation(request: web.Request) -> web.Response:
    batch_id = path_id(request)
    client_id = await batches.batch_client_id(request.app[PG], batch_id)
    try:
        check_client_visible(current_user(request), client_id)
    except NotFound:  # another client's batch answers as a missing one
        raise NotFound("batch.not_found", "no such batch") from None
    result = await batches.confirmation(request.app[PG], batch_id)
    await audit.record(request.app[PG], actor(request), "batch.confirmation.view",
                       record_type="batch", record_id=batch_id, client_id=client_id)
    if request.query.get("format") == "csv" or "text/csv" in request.headers.get("Accept", ""):
        return web.Response(
            text=result.as_csv(), content_type="text/csv", charset="utf-8",
            headers={"Content-Disposition":
                     f'attachment; filename="batch-{batch_id}-confirmation.csv"'},
        )
    return web.json_response(result.as_json())
