"""Recordings: the catalogue, playback and download with HTTP Range, legal hold.

Only QA, supervisors, admins and a client's auditors (for that client's recordings)
see recordings. Every request that sends audio writes an audit row first (who, which
recording, which bytes), so a player seeking through a call leaves one row per range
it fetched. The ETag is the recording's SHA-256, so ``If-Range`` works and a cached
range can never belong to other bytes. A recording archived as FLAC plays as the WAV
it rebuilds, byte for byte the catalogued one (same size, same ETag).
"""

from __future__ import annotations

import logging
from datetime import datetime

from aiohttp import hdrs, web

from api.context import PG, SETTINGS, actor, current_user, int_param, json_body, path_id, requires
from api.context import now as request_now
from api.errors import error_response
from cases import audit
from cases.access import scope_for
from cases.domain import Role
from cases.errors import Conflict, InvalidInput, NotFound
from recording import archive, catalog
from recording.byterange import ByteRange, RangeNotSatisfiable, select
from recording.catalog import RecordingRow
from recording.flac import ArchiveError
from recording.lifecycle import CatalogState
from recording.spans import as_json
from recording.storage import FileStorage, LocalStorage, Reader

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()
STORAGE: web.AppKey[FileStorage] = web.AppKey("recording_storage")
LISTENERS = (Role.ADMIN, Role.SUPERVISOR, Role.QA, Role.CLIENT_AUDITOR)
HOLDERS = (Role.ADMIN, Role.CLIENT_AUDITOR)
CHUNK = 64 << 10


def setup_recording_routes(app: web.Application) -> None:
    """The recording storage (a local root from the settings) and the routes."""
    app[STORAGE] = LocalStorage(app[SETTINGS].recording.root)
    app.router.add_routes(routes)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def recording_json(row: RecordingRow) -> dict[str, object]:
    e, hold = row.entry, row.legal_hold
    return {
        "id": e.id, "call_id": e.call_id, "attempt_id": e.attempt_id, "case_id": e.case_id,
        "client_id": e.client_id, "agent_id": e.agent_id, "campaign_id": e.campaign_id,
        "started_at": _iso(e.started_at), "duration_ms": e.duration_ms,
        "size_bytes": e.size_bytes, "channels": e.channels, "sample_rate": e.sample_rate,
        "sha256": e.sha256, "state": str(row.state), "retention_until": _iso(e.retention_until),
        "legal_hold": None if hold is None else
        {"by": hold.by, "at": _iso(hold.at), "reason": hold.reason},
        "pci_pauses": as_json(e.pci_pauses), "marks": as_json(e.marks),
        "row_hash": row.row_hash, "created_at": _iso(e.created_at),
        "audio_url": f"/recordings/{e.id}/audio",
    }  # fmt: skip


def _instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.utcoffset() is None:
        raise InvalidInput("request.bad_param",
                           f"{name} must be an ISO 8601 time with an offset", {name: raw})
    return value


def _filter(request: web.Request) -> catalog.RecordingFilter:
    return catalog.RecordingFilter(
        case_id=int_param(request, "case_id"), agent_id=int_param(request, "agent_id"),
        client_id=int_param(request, "client_id"), since=_instant(request, "from"),
        until=_instant(request, "to"), after=int_param(request, "after", 0) or 0,
        limit=int_param(request, "limit", 50, low=1, high=500) or 50,
    )


@routes.get("/recordings")
@requires(*LISTENERS)
async def list_recordings(request: web.Request) -> web.Response:
    flt = _filter(request)
    rows = await catalog.list_recordings(request.app[PG], scope_for(current_user(request)), flt)
    nxt = rows[-1].id if len(rows) == flt.limit else None
    return web.json_response({"items": [recording_json(r) for r in rows], "next_after": nxt})


async def _visible(request: web.Request) -> RecordingRow:
    """The recording of the path; ``NotFound`` outside the user's scope (not told apart)."""
    row = await catalog.get(request.app[PG], path_id(request))
    scope = scope_for(current_user(request))
    if scope.client_id not in (None, row.entry.client_id) or scope.agent_id is not None:
        raise NotFound("recording.not_found", "no such recording")
    return row


@routes.get("/recordings/{id}")
@requires(*LISTENERS)
async def get_recording(request: web.Request) -> web.Response:
    row = await _visible(request)
    await audit.record(request.app[PG], actor(request), "recording.view",
                       record_type="recording", record_id=row.id, client_id=row.entry.client_id)
    return web.json_response(recording_json(row))


@routes.get("/recordings/{id}/audio")
@requires(*LISTENERS)
async def audio(request: web.Request) -> web.StreamResponse:
    """The WAV, whole (200) or one range (206); HEAD for the headers alone."""
    row = await _visible(request)
    if row.state is CatalogState.DELETED:
        raise NotFound("recording.deleted", "the audio of this recording was deleted")
    reader = await _open(request, row)
    try:
        chosen = select(request.headers.get(hdrs.RANGE), reader.size,
                        if_range=request.headers.get(hdrs.IF_RANGE),
                        etag=f'"{row.entry.sha256}"')
        return await _send(request, row, reader, chosen)
    except RangeNotSatisfiable as exc:
        return _unsatisfiable(exc)
    finally:
        await reader.close()


async def _open(request: web.Request, row: RecordingRow) -> Reader:
    try:
        reader = await archive.open_audio(request.app[PG], request.app[STORAGE], row)
    except ArchiveError as exc:
        logger.error("call_id=%s recording %s: %s", row.entry.call_id, row.id, exc)
        raise Conflict("recording.audio_changed", "the audio is not the one catalogued; "
                       "run `callcase recordings verify`", {"recording_id": row.id}) from None
    except FileNotFoundError:
        logger.error("call_id=%s recording %s: audio missing at %s", row.entry.call_id,
                     row.id, row.entry.storage_uri)
        raise NotFound("recording.audio_missing", "the audio of this recording is missing",
                       {"recording_id": row.id}) from None
    if reader.size != row.entry.size_bytes:
        await reader.close()
        logger.error("call_id=%s recording %s: %d bytes on disk, catalogued %d",
                     row.entry.call_id, row.id, reader.size, row.entry.size_bytes)
        raise Conflict("recording.audio_changed", "the audio is not the one catalogued; "
                       "run `callcase recordings verify`", {"recording_id": row.id})
    return reader


def _unsatisfiable(exc: RangeNotSatisfiable) -> web.Response:
    response = error_response(416, "recording.range_not_satisfiable", str(exc),
                              {"size": exc.size})
    response.headers[hdrs.CONTENT_RANGE] = exc.content_range
    response.headers[hdrs.ACCEPT_RANGES] = "bytes"
    return response


def _response(row: RecordingRow, chosen: ByteRange | None, part: ByteRange,
              download: bool) -> web.StreamResponse:
    response = web.StreamResponse(status=200 if chosen is None else 206, headers={
        hdrs.CONTENT_TYPE: "audio/wav", hdrs.ACCEPT_RANGES: "bytes",
        hdrs.ETAG: f'"{row.entry.sha256}"', hdrs.CACHE_CONTROL: "private, no-store",
        hdrs.CONTENT_DISPOSITION: f'{"attachment" if download else "inline"};'
                                  f' filename="recording-{row.id}.wav"',
    })
    if chosen is not None:
        response.headers[hdrs.CONTENT_RANGE] = chosen.content_range
    response.content_length = part.length
    return response


async def _send(request: web.Request, row: RecordingRow, reader: Reader,
                chosen: ByteRange | None) -> web.StreamResponse:
    part = chosen or ByteRange(0, reader.size - 1, reader.size)
    download = request.query.get("download") in ("1", "true")
    response = _response(row, chosen, part, download)
    if request.method == hdrs.METH_HEAD:
        await response.prepare(request)
        return response
    await audit.record(
        request.app[PG], actor(request), "recording.download" if download else "recording.play",
        record_type="recording", record_id=row.id, client_id=row.entry.client_id,
        details={"range": f"{part.start}-{part.end}", "bytes": part.length,
                 "size": reader.size, "partial": chosen is not None},
    )
    await response.prepare(request)
    await _stream(request, row, reader, part, response)
    return response


async def _stream(request: web.Request, row: RecordingRow, reader: Reader, part: ByteRange,
                  response: web.StreamResponse) -> None:
    offset, end = part.start, part.end + 1
    try:
        while offset < end:
            data = await reader.read(offset, min(CHUNK, end - offset))
            if not data:
                logger.error("call_id=%s recording %s ended at byte %d while sent",
                             row.entry.call_id, row.id, offset)
                return
            await response.write(data)
            offset += len(data)
        await response.write_eof()
    except ConnectionResetError:  # the player went away (it often does, seeking)
        logger.info("recording %s: client left after %d of %d bytes", row.id,
                    offset - part.start, part.length)


async def _reason(request: web.Request, *, required: bool) -> str | None:
    body = await json_body(request) if required or request.body_exists else {}
    reason = body.get("reason")
    if reason is None and not required:
        return None
    if not isinstance(reason, str) or not 1 <= len(reason.strip()) <= 500:
        raise InvalidInput("recording.hold_reason", "reason must be 1-500 characters")
    return reason.strip()


@routes.post("/recordings/{id}/legal-hold")
@requires(*HOLDERS)
async def set_legal_hold(request: web.Request) -> web.Response:
    row = await _visible(request)
    reason = await _reason(request, required=True)
    assert reason is not None
    held = await catalog.set_legal_hold(request.app[PG], actor(request), row.id, reason,
                                        request_now(request))
    return web.json_response(recording_json(held))


@routes.delete("/recordings/{id}/legal-hold")
@requires(*HOLDERS)
async def release_legal_hold(request: web.Request) -> web.Response:
    row = await _visible(request)
    reason = await _reason(request, required=False)
    released = await catalog.release_legal_hold(request.app[PG], actor(request), row.id, reason)
    return web.json_response(recording_json(released))
