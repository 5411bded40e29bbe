"""Supervisors watching the floor: every live agent, forcing an agent's status, and a
websocket of the whole floor as it changes.

For supervisors and admins only. A forced status goes through the same rules as the
agent's own request (during a call it waits for the call's work to be done), is
written to `agent_status_log` in the supervisor's name and to the audit log as
``supervisor.force_status``.

`GET /supervisor/events` (a websocket; the token may come as ``?token=``) sends a
snapshot first: ``{"kind": "snapshot", "at", "agents": [...], "queues": {id:
figures}, "campaigns": {id: figures of the day}}`` (`api.wallboard`), then routing's
``agent`` and ``queue`` events as routing publishes them, and a new snapshot after a
rebuild of the live state or when the socket had to resynchronise
(`api.event_feed`). Listening in, whispering and barging in: `api.routes_monitor`.
"""

from __future__ import annotations

from aiohttp import web

from api import wallboard
from api.context import PG, current_user, json_body, now, path_id, requires
from api.desk import (
    FEED,
    LIVE,
    SUPERVISOR_STATUSES,
    change_status,
    feed_ready,
    routing_unavailable,
    status_request,
)
from api.event_feed import Event, run_socket
from cases.domain import Role
from routing.roster import ChangedBy, Changer

routes = web.RouteTableDef()
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)


@routes.get("/supervisor/agents")
@requires(*SUPERVISORS)
@routing_unavailable
async def list_agents(request: web.Request) -> web.Response:
    at = now(request)
    found = await wallboard.agents(request.app[PG], request.app[LIVE], request.app[FEED], at)
    return web.json_response({"at": at.isoformat(), "items": found})


@routes.post("/supervisor/agents/{id}/status")
@requires(*SUPERVISORS)
@routing_unavailable
async def force_status(request: web.Request) -> web.Response:
    agent_id = str(path_id(request))
    event = status_request(await json_body(request), SUPERVISOR_STATUSES)
    by = Changer(ChangedBy.SUPERVISOR, current_user(request).id)
    return await change_status(request, agent_id, event, by, "supervisor.force_status")


class _Floor:
    """What one supervisor's websocket is sent."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request, self.ws = request, ws

    async def snapshot(self) -> None:
        app = self.request.app
        found = await wallboard.snapshot(app[PG], app[LIVE], app[FEED], now(self.request))
        await self.ws.send_json(found)

    async def forward(self, event: Event) -> None:
        kind = event.get("kind")
        if kind in ("agent", "queue"):
            await self.ws.send_json(event)
        elif kind in ("rebuilt", "resync"):
            await self.snapshot()


@routes.get("/supervisor/events")
@requires(*SUPERVISORS)
@routing_unavailable
async def floor_events(request: web.Request) -> web.WebSocketResponse:
    feed = await feed_ready(request.app)
    with feed.subscribe() as subscription:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        floor = _Floor(request, ws)
        await run_socket(ws, subscription, floor.snapshot, floor.forward)
    return ws
