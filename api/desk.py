"""The routing side of the API process, and what the agent and supervisor routes share.

`setup_routing(app)` adds a cleanup context that, once PostgreSQL and Redis are open,
builds routing's live state (`Live`), the `AgentService` that applies status requests
and call events (the rules and writes the call path's dispatcher uses) and the
process's `EventFeed`; at shutdown the open websockets are ended first.

A status request (`status_request` reads ``{"status", "reason"}``) is applied by
`change_status` in the name of whoever asks (`Changer`): `AgentService` writes the
durable status and its `agent_status_log` line, and the request is also written to
the audit log. The answer says whether it applied now, waits for the end of the
agent's call (``pending``) or withdrew a request pending before (``withdrawn``).

A live state that is missing (routing is rebuilding it) or keeps changing under the
writer answers 503 with Retry-After: the request did nothing and may be sent again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from functools import wraps

from aiohttp import web
from redis.exceptions import RedisError

from api.context import CLOCK, PG, REDIS, Handler, actor
from api.errors import error_response
from api.event_feed import EventFeed
from cases import audit
from cases.errors import InvalidInput
from routing import status as su
from routing.agent import PendingRequest, RequestDeferred
from routing.fields import LiveAgent
from routing.live import Live, LiveContentionError, LiveStateLost
from routing.roster import Changer
from routing.service import AgentService

logger = logging.getLogger(__name__)

LIVE = web.AppKey("routing_live", Live)
AGENTS = web.AppKey("agent_service", AgentService)
FEED = web.AppKey("event_feed", EventFeed)
FEED_READY_S = 2.0  # how long a new socket waits for the feed's subscription

# The statuses a person may ask for, by name.
AGENT_STATUSES = frozenset({"available", "on_break", "after_call_work"})
SUPERVISOR_STATUSES = AGENT_STATUSES | {"logged_out"}
_PENDING_NAMES: dict[type[PendingRequest], str] = {
    su.LogOut: "logged_out", su.GoOnBreak: "on_break", su.StartAfterCallWork: "after_call_work",
}


def setup_routing(app: web.Application) -> None:
    app.cleanup_ctx.append(_routing)
    app.on_shutdown.append(_end_sockets)


async def _routing(app: web.Application) -> AsyncIterator[None]:
    live = Live(app[REDIS])
    app[LIVE] = live
    app[AGENTS] = AgentService(app[PG], live, app[CLOCK])
    app[FEED] = feed = EventFeed(app[REDIS], app[CLOCK])
    feed.start()
    yield
    await feed.close()


async def _end_sockets(app: web.Application) -> None:
    app[FEED].end_sockets()


def routing_unavailable(handler: Handler) -> Handler:
    """Answer 503 while routing's live state is missing, contended or out of reach."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (LiveStateLost, LiveContentionError, RedisError) as error:
            logger.warning("%s %s: routing unavailable: %s", request.method, request.path, error)
            response = error_response(503, "routing.unavailable", str(error))
            response.headers["Retry-After"] = "2"
            return response

    return guarded


def status_request(body: dict[str, object], allowed: frozenset[str]) -> su.StatusEvent:
    status, reason = body.get("status"), body.get("reason")
    if not isinstance(status, str) or status not in allowed:
        names = ", ".join(sorted(allowed))
        raise InvalidInput("agent.bad_status", f"status must be one of {names}",
                           {"status": status})
    if status == "on_break":
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("agent.break_reason", "a break needs a reason",
                               {"reason": "required"})
        return su.GoOnBreak(reason.strip()[:100])
    if status == "logged_out":
        return su.LogOut()
    return su.BecomeAvailable() if status == "available" else su.StartAfterCallWork()


async def change_status(request: web.Request, agent_id: str, event: su.StatusEvent,
                        by: Changer, audit_action: str) -> web.Response:
    """Apply `event` to the agent for `by`, audit it, answer with the agent after it."""
    step = await request.app[AGENTS].request_status(agent_id, event, by)
    deferred = [e.request for e in step.effects if isinstance(e, RequestDeferred)]
    result = "applied" if not deferred else "withdrawn" if deferred[-1] is None else "pending"
    details: dict[str, object] = {
        "request": type(event).__name__, "reason": getattr(event, "reason", None),
        "result": result, "status": str(step.agent.status),
    }
    await audit.record(request.app[PG], actor(request), audit_action, record_type="agent",
                       record_id=agent_id, details=details)
    live = await request.app[LIVE].agent(agent_id)
    return web.json_response({"result": result, "agent": agent_json(live)})


def pending_json(request: PendingRequest | None) -> dict[str, object] | None:
    if request is None:
        return None
    return {"status": _PENDING_NAMES[type(request)], "reason": getattr(request, "reason", None)}


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def agent_json(live: LiveAgent) -> dict[str, object]:
    agent = live.agent
    return {
        "agent_id": agent.agent_id, "extension": live.extension, "status": str(agent.status),
        "reason": agent.break_reason, "state": str(agent.state), "call_id": agent.call_id,
        "registered": live.registered, "queues": sorted(live.queues),
        "pending": pending_json(agent.pending), "wrap_up_until": _iso(live.wrap_up_until),
        "ready_at": _iso(agent.ready_at),
    }  # fmt: skip


async def feed_ready(app: web.Application) -> EventFeed:
    """The process's feed once it is subscribed; `LiveStateLost` (503) if it is not soon."""
    feed = app[FEED]
    try:
        async with asyncio.timeout(FEED_READY_S):
            await feed.ready.wait()
    except TimeoutError:
        raise LiveStateLost("the routing event feed is not subscribed") from None
    return feed
