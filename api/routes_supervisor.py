"""Supervisors watching the floor: every live agent, forcing an agent's status, and a
websocket of the whole floor as it changes.

For supervisors and admins only. A forced status goes through the same rules as the
agent's own request (during a call it waits for the call's work to be done), is
written to `agent_status_log` in the supervisor's name and to the audit log as
``supervisor.force_status``.

`GET /supervisor/events` (a websocket; the token may come as ``?token=``) sends a
snapshot first: ``{"kind": "snapshot", "at", "agents": [...], "queues": {id:
figures}, "campaigns": {id: figures of the day}}`` (`api.wallboard`), then routing's
``agent`` and ``queue`` events as routing publishes them (a queue event with the
queue's ``oldest_waiting_since`` added, read when it is forwarded), ``{"kind":
"campaigns", "at", "campaigns": {id: figures of the day}}`` when the campaigns'
figures changed (looked at every `FIGURES_EVERY_S`; the dialer publishes no event per
call), and a new snapshot after a rebuild of the live state or when the socket had
to resynchronise (`api.event_feed`). Listening in, whispering and barging in:
`api.routes_monitor`.

`GET /campaigns/{id}/today?step=15|30|60` is a campaign's day so far, interval by
interval (minutes; 30 by default): the wallboard's chart of the answer and abandon
rates (`api.wallboard.campaign_day`), for supervisors, admins and campaign managers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from api import wallboard
from api.context import PG, current_user, int_param, json_body, now, path_id, requires
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
from cases.errors import InvalidInput, NotFound
from dialer import store as dialer_store
from routing.roster import ChangedBy, Changer

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)
FIGURES_EVERY_S = 5.0  # how often a floor socket looks for new figures of the day


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


class _SharedFigures:
    """The campaigns' figures of the day, read at most once per half `FIGURES_EVERY_S`
    for all the floor sockets of an app (one query per socket would grow with the
    supervisors watching; at 200,000 calls a day the query reads 40,000 per campaign)."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.read_at = -math.inf  # monotonic
        self.found: dict[str, dict[str, object]] = {}

    async def read(self, pool: asyncpg.Pool, at: datetime) -> dict[str, dict[str, object]]:
        async with self.lock:
            if time.monotonic() - self.read_at >= FIGURES_EVERY_S / 2:
                self.found = await wallboard.campaigns(pool, at)
                self.read_at = time.monotonic()
            return self.found


_FIGURES: weakref.WeakKeyDictionary[web.Application, _SharedFigures] = weakref.WeakKeyDictionary()


def _figures_of(app: web.Application) -> _SharedFigures:
    return _FIGURES.setdefault(app, _SharedFigures())


class _Floor:
    """What one supervisor's websocket is sent."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.request, self.ws = request, ws
        self.lock = asyncio.Lock()  # the forwarder and the figures both send
        self.campaigns: dict[str, dict[str, object]] | None = None  # as last sent

    async def send(self, message: dict[str, object]) -> None:
        async with self.lock:
            await self.ws.send_json(message)

    async def snapshot(self) -> None:
        app = self.request.app
        found = await wallboard.snapshot(app[PG], app[LIVE], app[FEED], now(self.request))
        self.campaigns = found["campaigns"]  # type: ignore[assignment]
        await self.send(found)

    async def forward(self, event: Event) -> None:
        kind = event.get("kind")
        if kind == "agent":
            await self.send(event)
        elif kind == "queue":
            oldest = await self.request.app[LIVE].oldest_waiting(str(event.get("queue_id")))
            await self.send({**event, "oldest_waiting_since": oldest and oldest.isoformat()})
        elif kind in ("rebuilt", "resync"):
            await self.snapshot()

    async def push_figures(self) -> None:
        """Send the campaigns' figures of the day whenever they changed."""
        try:
            while True:
                await asyncio.sleep(FIGURES_EVERY_S)
                if self.campaigns is not None:
                    await self._figures()
        except ConnectionResetError:
            return  # the supervisor went away
        except Exception:  # a task boundary: the socket's events still flow
            logger.exception("supervisor socket: campaign figures stopped")

    async def _figures(self) -> None:
        at = now(self.request)
        found = await _figures_of(self.request.app).read(self.request.app[PG], at)
        if found != self.campaigns:
            self.campaigns = found
            await self.send({"kind": "campaigns", "at": at.isoformat(), "campaigns": found})


@routes.get("/supervisor/events")
@requires(*SUPERVISORS)
@routing_unavailable
async def floor_events(request: web.Request) -> web.WebSocketResponse:
    feed = await feed_ready(request.app)
    with feed.subscribe() as subscription:
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        floor = _Floor(request, ws)
        figures = asyncio.create_task(floor.push_figures(), name="campaign figures")
        try:
            await run_socket(ws, subscription, floor.snapshot, floor.forward)
        finally:
            figures.cancel()
            await asyncio.gather(figures, return_exceptions=True)
    return ws


def _step(request: web.Request) -> timedelta:
    minutes = int_param(request, "step", 30)
    step = timedelta(minutes=minutes or 0)
    if step not in wallboard.STEPS:
        raise InvalidInput(
            "request.bad_param",
            "step must be 15, 30 or 60 (minutes)",
            {"step": request.query.get("step")},
        )
    return step


@routes.get("/campaigns/{id}/today")
@requires(*SUPERVISORS, Role.CAMPAIGN_MANAGER)
async def campaign_today(request: web.Request) -> web.Response:
    campaign = await dialer_store.get_campaign(request.app[PG], path_id(request))
    step = _step(request)
    zone = await request.app[PG].fetchval(
        "SELECT time_zone FROM clients WHERE id = $1", campaign.client_id
    )
    if zone is None:  # pragma: no cover - campaigns.client_id references clients
        raise NotFound("campaign.not_found", f"no campaign {campaign.id}")
    at = now(request)
    day = await wallboard.campaign_day(request.app[PG], campaign.id, ZoneInfo(zone), step, at)
    return web.json_response({
        "campaign_id": campaign.id, "name": campaign.settings.name,
        "state": str(campaign.state), "at": at.isoformat(),
        "max_abandon_rate": float(campaign.settings.max_abandon_rate), **day,
    })  # fmt: skip
