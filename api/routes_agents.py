"""The agent's desk: log in and out, choose a status, see the call held (its
screen-pop), file its action code, and a websocket of the agent's own events.

Agents act for themselves only: no route takes an agent id; each works on the
caller's routing agent (routing names agents by their user id). Status changes go
through `AgentService` (durable, in `agent_status_log`) and are audited as
``agent.status``; one asked for during a call is pending until the call's work is
done.

Filing the action code of the call (`POST /agent/call/action`) is the case action
filing of ``POST /cases/{id}/actions`` (same fields, same Idempotency-Key) with the
attempt and the phone called filled in, on the case of the call even when it is not
assigned to the agent; then the agent's wrap-up ends (`WrapUpDone`). A retried
request finds the action by its key after the call has left the agent. The dialer
closes the attempt itself; its result is not touched here.

`GET /agent/callbacks` lists the agent's callbacks: the cases assigned to them whose
latest action is a callback code (one requiring ``callback_at``, ``CB``), neither
paid, closed, in legal review nor on hold; earliest callback first, each ``due``
once its time has come. Filing any later action on the case (the callback call's
own code) takes it off the list. Debtor names are shown as `GET /cases` shows the
agent's cases; the number to call back is masked as in the screen-pop.

`GET /agent/events` (a websocket; the token may come as ``?token=``) sends
``{"kind": "snapshot", "agent"}`` first, then the agent's routing events as routing
publishes them and ``{"kind": "screen_pop", ...}`` when the agent starts talking on a
call.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from api.context import PG, actor, current_user, int_param, json_body, now, requires
from api.desk import (
    AGENT_STATUSES,
    AGENTS,
    LIVE,
    agent_json,
    change_status,
    feed_ready,
    routing_unavailable,
    status_request,
)
from api.event_feed import Event, run_socket
from api.routes_cases import action_key, action_request
from api.screen_pop import HeldCall, attempt_filed_with, attempt_of_call, screen_pop
from api.views import action_json
from cases import actions, audit
from cases.domain import Role, mask
from cases.errors import Conflict, InvalidInput, NotFound
from routing.fields import LiveAgent
from routing.roster import ChangedBy, Changer
from routing.state import AgentState, AgentStateError, WrapUpDone
from routing.status import LogIn, LogOut

logger = logging.getLogger(__name__)
routes = web.RouteTableDef()
FILING_STATES = frozenset({AgentState.TALKING, AgentState.WRAP_UP})


def _me(request: web.Request) -> tuple[str, Changer]:
    user = current_user(request)
    return str(user.id), Changer(ChangedBy.SELF, user.id)


@routes.post("/agent/login")
@requires(Role.AGENT)
@routing_unavailable
async def log_in(request: web.Request) -> web.Response:
    agent_id, me = _me(request)
    return await change_status(request, agent_id, LogIn(), me, "agent.status")


@routes.post("/agent/logout")
@requires(Role.AGENT)
@routing_unavailable
async def log_out(request: web.Request) -> web.Response:
    agent_id, me = _me(request)
    return await change_status(request, agent_id, LogOut(), me, "agent.status")


@routes.post("/agent/status")
@requires(Role.AGENT)
@routing_unavailable
async def set_status(request: web.Request) -> web.Response:
    agent_id, me = _me(request)
    event = status_request(await json_body(request), AGENT_STATUSES)
    return await change_status(request, agent_id, event, me, "agent.status")


@routes.get("/agent/me")
@requires(Role.AGENT)
@routing_unavailable
async def whoami(request: web.Request) -> web.Response:
    agent_id, _ = _me(request)
    return web.json_response(agent_json(await request.app[LIVE].agent(agent_id)))


# The agent's cases whose latest action is a callback code, and the callback's time.
_CALLBACKS = """
SELECT c.id AS case_id, c.client_id, c.account_no, c.status, c.currency, c.balance,
       c.bucket, d.name AS debtor_name, coalesce(d.time_zone, cl.time_zone) AS time_zone,
       x.id AS action_id, x.code, x.note, x.created_at, x.user_id,
       u.display_name AS filed_by, (x.fields->>'callback_at')::timestamptz AS callback_at,
       p.id AS phone_id, p.e164, p.party
  FROM cases c
  JOIN debtors d ON d.id = c.debtor_id
  JOIN clients cl ON cl.id = c.client_id
  CROSS JOIN LATERAL (SELECT * FROM actions a WHERE a.case_id = c.id
                       ORDER BY a.id DESC LIMIT 1) x
  JOIN action_codes k ON k.code = x.code AND 'callback_at' = ANY(k.required_fields)
  LEFT JOIN users u ON u.id = x.user_id
  LEFT JOIN phones p ON p.id = x.phone_id
 WHERE c.assigned_agent_id = $1
   AND c.status NOT IN ('paid', 'closed', 'legal', 'on_hold')
   AND x.fields ? 'callback_at'
   AND NOT EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id
                    AND h.released_at IS NULL)
 ORDER BY callback_at, c.id
 LIMIT $2
"""


def _callback_json(r: asyncpg.Record, at: datetime) -> dict[str, object]:
    phone = None if r["phone_id"] is None else {
        "id": r["phone_id"], "number": mask(r["e164"]), "party": r["party"]}
    return {
        "case_id": r["case_id"], "client_id": r["client_id"], "account_no": r["account_no"],
        "debtor_name": r["debtor_name"], "status": r["status"], "bucket": r["bucket"],
        "currency": r["currency"], "balance": str(r["balance"]),
        "callback_at": r["callback_at"].astimezone(ZoneInfo(r["time_zone"])).isoformat(),
        "time_zone": r["time_zone"], "due": r["callback_at"] <= at,
        "action_id": r["action_id"], "code": r["code"], "note": r["note"],
        "filed_at": r["created_at"].isoformat(), "filed_by": r["filed_by"], "phone": phone,
    }  # fmt: skip


@routes.get("/agent/callbacks")
@requires(Role.AGENT)
async def callbacks(request: web.Request) -> web.Response:
    agent_id, _ = _me(request)
    limit = int_param(request, "limit", 100, low=1, high=500) or 100
    rows = await request.app[PG].fetch(_CALLBACKS, int(agent_id), limit)
    at = now(request)
    return web.json_response({"at": at.isoformat(),
                              "items": [_callback_json(r, at) for r in rows]})


async def _held_call(request: web.Request, live: LiveAgent) -> HeldCall:
    call_id = live.agent.call_id
    if call_id is None:
        raise NotFound("agent.no_call", "you hold no call")
    found = await attempt_of_call(request.app[PG], call_id)
    if found is None:
        raise NotFound("call.no_attempt", f"call {call_id} was not placed by the dialer")
    return found


async def _popped(request: web.Request, call: HeldCall) -> dict[str, object]:
    """The screen-pop of `call`, written to the audit log as a view of its case."""
    pop = await screen_pop(request.app[PG], call)
    case = pop["case"]
    assert isinstance(case, dict)
    await audit.record(request.app[PG], actor(request), "case.view", record_type="case",
                       record_id=call.case_id, client_id=case["client_id"],
                       details={"via": "screen_pop", "call_id": call.call_id})
    return pop


@routes.get("/agent/call")
@requires(Role.AGENT)
@routing_unavailable
async def current_call(request: web.Request) -> web.Response:
    agent_id, _ = _me(request)
    live = await request.app[LIVE].agent(agent_id)
    return web.json_response(await _popped(request, await _held_call(request, live)))


async def _call_to_file(request: web.Request, agent_id: str, key: str) -> HeldCall:
    """The call a filing is for: the one an earlier request with this key filed on
    (a retry), else the call the agent is talking on or wrapping up."""
    earlier = await attempt_filed_with(request.app[PG], int(agent_id), key)
    if earlier is not None:
        return earlier
    live = await request.app[LIVE].agent(agent_id)
    call = await _held_call(request, live)
    if live.agent.state not in FILING_STATES:
        raise Conflict("agent.call_not_answered", "the call is not answered yet",
                       {"state": str(live.agent.state)})
    return call


@routes.post("/agent/call/action")
@requires(Role.AGENT)
@routing_unavailable
async def file_call_action(request: web.Request) -> web.Response:
    agent_id, _ = _me(request)
    body = await json_body(request)
    key = action_key(request, body)
    call = await _call_to_file(request, agent_id, key)
    req = action_request(body, call.case_id, key)
    if req.phone_id not in (None, call.phone_id):
        raise InvalidInput("action.phone", "the code is filed for the phone called")
    req = replace(req, phone_id=call.phone_id, attempt_id=call.attempt_id)
    filed = await actions.file_action(request.app[PG], actor(request), req, now(request),
                                      on_call=True)
    await _wrap_up_done(request, agent_id, call.call_id)
    live = await request.app[LIVE].agent(agent_id)
    return web.json_response(
        {**action_json(filed.action), "replayed": filed.replayed,
         "attempt_id": call.attempt_id, "call_id": call.call_id, "agent": agent_json(live)},
        status=200 if filed.replayed else 201,
    )  # fmt: skip


async def _wrap_up_done(request: web.Request, agent_id: str, call_id: str) -> None:
    try:
        await request.app[AGENTS].call_event(agent_id, WrapUpDone(call_id))
    except AgentStateError as error:  # the wrap-up timer fired first, or a retry
        logger.info("agent %s: call %s: wrap-up already over: %s", agent_id, call_id, error)


class _AgentScreen:
    """What one agent's websocket is sent."""

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, agent_id: str) -> None:
        self.request, self.ws, self.agent_id = request, ws, agent_id
        self.popped: str | None = None  # the call whose screen-pop was sent

    async def snapshot(self, live: LiveAgent | None = None) -> None:
        live = live or await self.request.app[LIVE].agent(self.agent_id)
        await self.ws.send_json({"kind": "snapshot", "agent": agent_json(live)})
        await self._pop(str(live.agent.state), live.agent.call_id)

    async def forward(self, event: Event) -> None:
        kind = event.get("kind")
        if kind in ("rebuilt", "resync"):
            await self.snapshot()
        elif kind == "agent" and event.get("agent_id") == self.agent_id:
            await self.ws.send_json(event)
            call_id = event.get("call_id")
            await self._pop(str(event.get("state")), call_id if isinstance(call_id, str) else None)

    async def _pop(self, state: str, call_id: str | None) -> None:
        if state != AgentState.TALKING or call_id is None or call_id == self.popped:
            return
        self.popped = call_id
        call = await attempt_of_call(self.request.app[PG], call_id)
        if call is None:
            logger.info("agent %s: call %s has no attempt: no screen-pop", self.agent_id, call_id)
            return
        await self.ws.send_json({"kind": "screen_pop", **await _popped(self.request, call)})


@routes.get("/agent/events")
@requires(Role.AGENT)
@routing_unavailable
async def agent_events(request: web.Request) -> web.WebSocketResponse:
    agent_id, _ = _me(request)
    feed = await feed_ready(request.app)
    with feed.subscribe() as subscription:
        live = await request.app[LIVE].agent(agent_id)  # not live: 404 before the upgrade
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        screen = _AgentScreen(request, ws, agent_id)
        await run_socket(ws, subscription, lambda: screen.snapshot(live), screen.forward)
    return ws
