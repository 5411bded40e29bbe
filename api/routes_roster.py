"""Setting up the floor: agents (softphone extension, skills, timers), queues and
their members, and supervisors' softphones. For admins; supervisors may read.

A softphone password is taken once, turned into its digest for the realm and never
stored or returned. Every change is audited (``roster.*``) and marks the roster
changed, so routing's live state is rebuilt from PostgreSQL within one reconcile
interval of the call path (30 s by default): a new agent can log in and take calls
from then on.
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from api.context import (
    PG,
    REDIS,
    SETTINGS,
    actor,
    current_user,
    json_body,
    now,
    path_id,
    requires,
)
from cases import audit
from cases.domain import Role
from cases.errors import Forbidden, InvalidInput, NotFound
from routing import store
from routing.agent import AgentTimers
from routing.live import Live
from routing.roster import AgentProfile, Member, QueueProfile

routes = web.RouteTableDef()
READERS = (Role.ADMIN, Role.SUPERVISOR)
TIMERS = ("wrap_up_time", "no_answer_delay", "reject_delay")


def agent_json(a: AgentProfile) -> dict[str, object]:
    t = a.timers
    return {"user_id": a.user_id, "extension": a.extension, "skills": dict(a.skills),
            "status": str(a.status), "status_reason": a.status_reason,
            "timers": {"wrap_up_time": t.wrap_up_time.total_seconds(),
                       "no_answer_delay": t.no_answer_delay.total_seconds(),
                       "reject_delay": t.reject_delay.total_seconds(),
                       "max_no_answer": t.max_no_answer}}


def queue_json(q: QueueProfile) -> dict[str, object]:
    return {"id": q.id, "name": q.name, "strategy": q.strategy, "campaign_id": q.campaign_id,
            "required_skills": dict(q.required_skills)}


def _text(body: dict[str, object], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput("request.bad_field", f"{name} is required (text)", {name: "required"})
    return value


def _skills(body: dict[str, object]) -> dict[str, int] | None:
    raw = body.get("skills")
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
            isinstance(k, str) and type(v) is int and 1 <= v <= 10 for k, v in raw.items()):
        raise InvalidInput("request.bad_field", "skills maps skill names to levels 1-10",
                           {"skills": "invalid"})
    return dict(raw)


def _timers(body: dict[str, object], base: AgentTimers) -> AgentTimers:
    raw = body.get("timers", {})
    if not isinstance(raw, dict) or set(raw) - {*TIMERS, "max_no_answer"}:
        raise InvalidInput("request.bad_field", f"timers may set {', '.join(TIMERS)},"
                           " max_no_answer", {"timers": "invalid"})
    values: dict[str, object] = {}
    for name, value in raw.items():
        if type(value) not in (int, float) or not 0 <= value <= 3600:
            raise InvalidInput("request.bad_field", f"timers.{name} is 0-3600",
                               {f"timers.{name}": "invalid"})
        values[name] = int(value) if name == "max_no_answer" else timedelta(seconds=value)
    return AgentTimers(**{**{n: getattr(base, n) for n in (*TIMERS, "max_no_answer")},
                          **values})


async def _changed(request: web.Request, what: str, record_type: str, record_id: object,
                   details: dict[str, object]) -> None:
    await audit.record(request.app[PG], actor(request), f"roster.{what}",
                       record_type=record_type, record_id=record_id, details=details)
    await Live(request.app[REDIS]).roster_changed()


@routes.post("/agents")
@requires(Role.ADMIN)
async def create_agent(request: web.Request) -> web.Response:
    body = await json_body(request)
    user_id = body.get("user_id")
    if type(user_id) is not int:
        raise InvalidInput("request.bad_field", "user_id is required (a number)")
    new = store.NewAgent(user_id, _text(body, "extension") or "", _text(body, "password") or "",
                         _timers(body, AgentTimers()), _skills(body) or {})
    realm = request.app[SETTINGS].dialer.sip_realm
    agent = await store.create_agent(request.app[PG], new, realm, now(request))
    await _changed(request, "agent_create", "agent", user_id,
                   {"extension": agent.extension, "skills": dict(agent.skills)})
    return web.json_response(agent_json(agent), status=201)


@routes.get("/agents")
@requires(*READERS)
async def list_agents(request: web.Request) -> web.Response:
    roster = await store.load_roster(request.app[PG])
    return web.json_response({"items": [agent_json(a) for a in roster.agents]})


@routes.get("/agents/{id}")
@requires(*READERS)
async def get_agent(request: web.Request) -> web.Response:
    return web.json_response(agent_json(await store.get_agent(request.app[PG], path_id(request))))


@routes.patch("/agents/{id}")
@requires(Role.ADMIN)
async def update_agent(request: web.Request) -> web.Response:
    body = await json_body(request)
    user_id = path_id(request)
    current = await store.get_agent(request.app[PG], user_id)
    changes = store.AgentChanges(
        extension=_text(body, "extension", required=False),
        password=_text(body, "password", required=False),
        timers=_timers(body, current.timers) if "timers" in body else None,
        skills=_skills(body))
    realm = request.app[SETTINGS].dialer.sip_realm
    agent = await store.update_agent(request.app[PG], user_id, changes, realm)
    await _changed(request, "agent_update", "agent", user_id,
                   {"fields": sorted(k for k in body if k != "password"),
                    "password_changed": "password" in body})
    return web.json_response(agent_json(agent))


@routes.post("/queues")
@requires(Role.ADMIN)
async def create_queue(request: web.Request) -> web.Response:
    body = await json_body(request)
    campaign_id = body.get("campaign_id")
    if campaign_id is not None and type(campaign_id) is not int:
        raise InvalidInput("request.bad_field", "campaign_id is a number")
    new = store.NewQueue(_text(body, "name") or "",
                         _text(body, "strategy", required=False) or "longest_idle",
                         campaign_id, _skills({"skills": body.get("required_skills")}) or {})
    queue = await store.create_queue(request.app[PG], new)
    await _changed(request, "queue_create", "queue", queue.id, queue_json(queue))
    return web.json_response(queue_json(queue), status=201)


@routes.get("/queues")
@requires(*READERS)
async def list_queues(request: web.Request) -> web.Response:
    roster = await store.load_roster(request.app[PG])
    return web.json_response({"items": [
        {**queue_json(q), "members": [m.user_id for m in roster.members if m.queue_id == q.id]}
        for q in roster.queues]})


@routes.put("/queues/{id}/members/{agent_id}")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def add_member(request: web.Request) -> web.Response:
    queue_id, agent_id = path_id(request), path_id(request, "agent_id")
    await store.get_agent(request.app[PG], agent_id)
    await store.add_member(request.app[PG], Member(queue_id, agent_id))
    await _changed(request, "member_add", "queue", queue_id, {"agent_id": agent_id})
    return web.json_response({"queue_id": queue_id, "agent_id": agent_id})


@routes.delete("/queues/{id}/members/{agent_id}")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def remove_member(request: web.Request) -> web.Response:
    queue_id, agent_id = path_id(request), path_id(request, "agent_id")
    if not await store.remove_member(request.app[PG], queue_id, agent_id):
        raise NotFound("queue.member_not_found", "that agent is not in that queue")
    await _changed(request, "member_remove", "queue", queue_id, {"agent_id": agent_id})
    return web.json_response({"queue_id": queue_id, "agent_id": agent_id, "removed": True})


@routes.put("/supervisors/{id}/phone")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def set_supervisor_phone(request: web.Request) -> web.Response:
    """An admin gives any supervisor a softphone; a supervisor only themselves."""
    user_id, user = path_id(request), current_user(request)
    if user.role is Role.SUPERVISOR and user.id != user_id:
        raise Forbidden("phone.not_yours", "a supervisor sets only their own softphone")
    body = await json_body(request)
    extension = _text(body, "extension") or ""
    realm = request.app[SETTINGS].dialer.sip_realm
    await store.set_supervisor_phone(request.app[PG], user_id, extension,
                                     _text(body, "password") or "", realm)
    await audit.record(request.app[PG], actor(request), "roster.supervisor_phone",
                       record_type="user", record_id=user_id, details={"extension": extension})
    return web.json_response({"user_id": user_id, "extension": extension})
