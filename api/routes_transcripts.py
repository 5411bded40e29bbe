"""Transcripts and QA over HTTP.

* ``GET /recordings/{id}/transcript``: the text, words, speakers, talk metrics and QA
  flags of a call, for those who may listen to it (QA, supervisors, admins, a
  client's auditors for that client's calls); every view is audited like a playback
  (``transcript.view``) before the body is sent.
* ``GET /transcripts/search?q=``: full-text search, a client's auditor within the
  client's calls; audited (``transcript.search``) with the query and the hits.
* ``POST /qa/samples``: draw a month's QA sample (QA, admins).
* ``GET /qa/queue``: the sampled calls nobody has reviewed yet (QA, supervisors, admins).
* ``GET /clients/{id}/scorecard``: the client's scorecard in force, the one a review
  answers (the standard form is stored as the client's first on first use), for
  those who read transcripts.
* ``POST /qa/reviews``: a review on the client's scorecard (QA, supervisors).
* ``GET /qa/coverage?month=YYYY-MM``: per agent the calls, sampled and reviewed share;
  409 ``qa.coverage_short`` (with the report) when an agent is under 15%.

The sample queue's items and the coverage rows carry the agent's ``agent_name``
(their display name) beside ``agent_id``.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from aiohttp import web

from api.context import PG, actor, current_user, int_param, json_body, path_id, requires
from api.context import now as request_now
from cases import audit
from cases.access import check_client_visible, scope_for
from cases.domain import Role
from cases.errors import InvalidInput, NotFound
from cases.store import Db
from transcription import qa_store, review_store, sampling, transcript_store
from transcription.review_store import ReviewInput
from transcription.sampling import CoverageShort

routes = web.RouteTableDef()
READERS = (Role.ADMIN, Role.SUPERVISOR, Role.QA, Role.CLIENT_AUDITOR)
REVIEWERS = (Role.QA, Role.SUPERVISOR)


def _client_scope(request: web.Request) -> int | None:
    return scope_for(current_user(request)).client_id


async def _agent_names(db: Db, ids: Iterable[object]) -> dict[object, str]:
    wanted = sorted({i for i in ids if isinstance(i, int)})
    rows = await db.fetch("SELECT id, display_name FROM users WHERE id = ANY($1::bigint[])",
                          wanted)
    return {r["id"]: r["display_name"] for r in rows}


async def _named(db: Db, rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """`rows` with each one's ``agent_name`` (null for an agent no longer known)."""
    names = await _agent_names(db, (r.get("agent_id") for r in rows))
    return [{**r, "agent_name": names.get(r.get("agent_id"))} for r in rows]


@routes.get("/recordings/{id}/transcript")
@requires(*READERS)
async def get_transcript(request: web.Request) -> web.Response:
    found = await transcript_store.get_transcript(request.app[PG], path_id(request))
    if _client_scope(request) not in (None, found.client_id):
        raise NotFound("transcript.not_found", "no transcript of this recording")
    await audit.record(request.app[PG], actor(request), "transcript.view",
                       record_type="recording", record_id=found.recording_id,
                       client_id=found.client_id, details={"flags": len(found.flags)})
    return web.json_response(found.as_json())


@routes.get("/transcripts/search")
@requires(*READERS)
async def search(request: web.Request) -> web.Response:
    client_id = _client_scope(request)
    hits = await transcript_store.search(
        request.app[PG], request.query.get("q", ""), client_id=client_id,
        limit=int_param(request, "limit", 20, low=1, high=100) or 20)
    await audit.record(request.app[PG], actor(request), "transcript.search",
                       record_type="transcript", client_id=client_id,
                       details={"q": request.query.get("q", ""),
                                "recordings": [h.recording_id for h in hits]})
    return web.json_response({"items": [h.as_json() for h in hits]})


def _month(request: web.Request, body: dict[str, object] | None = None) -> str:
    month = (body or {}).get("month", request.query.get("month"))
    if not isinstance(month, str):
        raise InvalidInput("qa.bad_month", "month must be YYYY-MM")
    sampling.parse_month(month)
    return month


@routes.post("/qa/samples")
@requires(Role.QA, Role.ADMIN)
async def draw_sample(request: web.Request) -> web.Response:
    body = await json_body(request)
    month, seed = _month(request, body), body.get("seed", "")
    if not isinstance(seed, str) or not 1 <= len(seed) <= 100:
        raise InvalidInput("qa.bad_seed", "seed must be 1-100 characters (keep it: it "
                           "makes the draw repeatable)")
    picks = await qa_store.sample_month(request.app[PG], month, seed, request_now(request))
    await audit.record(request.app[PG], actor(request), "qa.sample",
                       details={"month": month, "seed": seed, "calls": len(picks)})
    return web.json_response({"month": month, "sampled": len(picks)}, status=201)


@routes.get("/qa/queue")
@requires(Role.QA, Role.SUPERVISOR, Role.ADMIN)
async def review_queue(request: web.Request) -> web.Response:
    month = _month(request) if "month" in request.query else None
    limit = int_param(request, "limit", 50, low=1, high=500) or 50
    rows = await qa_store.review_queue(request.app[PG], month=month,
                                       after=int_param(request, "after", 0) or 0, limit=limit)
    nxt = rows[-1].sample_id if len(rows) == limit else None
    items = await _named(request.app[PG], [r.as_json() for r in rows])
    return web.json_response({"items": items, "next_after": nxt})


@routes.get("/clients/{id}/scorecard")
@requires(*READERS)
async def client_scorecard(request: web.Request) -> web.Response:
    client_id, pool = path_id(request), request.app[PG]
    check_client_visible(current_user(request), client_id)
    if await pool.fetchval("SELECT id FROM clients WHERE id = $1", client_id) is None:
        raise NotFound("client.not_found", "no such client")
    try:
        card = await review_store.current_scorecard(pool, client_id, request_now(request))
    except asyncpg.UniqueViolationError:  # another request stored the standard form first
        card = await review_store.current_scorecard(pool, client_id, request_now(request))
    return web.json_response(card.as_json())


def _review_input(body: dict[str, object]) -> ReviewInput:
    rid, card = body.get("recording_id"), body.get("scorecard_id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 1:
        raise InvalidInput("qa.bad_review", "recording_id must be a recording's id")
    if card is not None and (not isinstance(card, int) or isinstance(card, bool)):
        raise InvalidInput("qa.bad_review", "scorecard_id must be a scorecard's id")
    return ReviewInput(rid, card, body.get("answers"), body.get("comments", []))


@routes.post("/qa/reviews")
@requires(*REVIEWERS)
async def submit_review(request: web.Request) -> web.Response:
    given = _review_input(await json_body(request))
    review = await review_store.submit_review(request.app[PG], current_user(request).id, given,
                                              request_now(request))
    await audit.record(request.app[PG], actor(request), "qa.review", record_type="recording",
                       record_id=review.recording_id, client_id=review.client_id,
                       details={"review_id": review.id, "score": review.score,
                                "auto_failed": list(review.auto_failed)})
    return web.json_response(review.as_json(), status=201)


@routes.get("/qa/coverage")
@requires(*READERS)
async def coverage(request: web.Request) -> web.Response:
    month, db = _month(request), request.app[PG]
    report = await qa_store.coverage(db, month, _client_scope(request))
    try:
        sampling.require_coverage(month, report)
    except CoverageShort as short:
        for part in ("agents", "report"):
            rows = short.details[part]
            assert isinstance(rows, list)
            short.details[part] = await _named(db, rows)
        raise
    rows = await _named(db, [c.as_json() for c in report])
    return web.json_response({"month": month, "agents": rows})
