"""Campaigns (create, list, run commands, figures) and a case's dialability."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp import web

from api.context import PG, actor, current_user, json_body, now, path_id, requires
from cases import audit
from cases import store as case_store
from cases.access import check_case_visible, scope_for
from cases.domain import Role
from cases.errors import InvalidInput, NotFound
from dialer import explain, floors
from dialer import store as dialer_store
from dialer.campaign import Campaign, Command, parse_settings
from telephony import store as line_store

routes = web.RouteTableDef()
MANAGERS = (Role.ADMIN, Role.CAMPAIGN_MANAGER)
WATCHERS = (Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR, Role.CLIENT_AUDITOR)
RUNNERS = (Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR)


def campaign_json(campaign: Campaign) -> dict[str, object]:
    s = campaign.settings
    return {
        "id": campaign.id, "client_id": campaign.client_id, "name": s.name,
        "state": str(campaign.state), "mode": str(s.mode), "rule_pack": s.rule_pack,
        "work_lines": list(s.work_lines), "queue_id": s.queue_id,
        "schedule": s.schedule.as_json(), "case_filter": s.case_filter.as_json(),
        "parties": sorted(str(p) for p in s.parties),
        "ring_timeout_s": int(s.ring_timeout.total_seconds()),
        "retry_policy": {str(k): v for k, v in s.retry_minutes.items()},
        "amd_policy": str(s.amd_policy), "max_abandon_rate": float(s.max_abandon_rate),
        "created_at": campaign.created_at.isoformat(),
        "updated_at": campaign.updated_at.isoformat(),
    }


async def _visible(request: web.Request) -> Campaign:
    campaign = await dialer_store.get_campaign(request.app[PG], path_id(request))
    scope = scope_for(current_user(request))
    if scope.client_id is not None and scope.client_id != campaign.client_id:
        raise NotFound("campaign.not_found", f"no campaign {campaign.id}")
    return campaign


@routes.post("/campaigns")
@requires(*MANAGERS)
async def create_campaign(request: web.Request) -> web.Response:
    body = await json_body(request)
    client_id = body.get("client_id")
    if not isinstance(client_id, int) or isinstance(client_id, bool):
        raise InvalidInput("campaign.invalid", "client_id is required",
                           {"fields": {"client_id": "required"}})
    client = await case_store.get_client(request.app[PG], client_id=client_id)
    settings = parse_settings(body, client_pack=client.rule_pack)
    known = set((await line_store.load_lines(request.app[PG])).names)
    unknown = [name for name in settings.work_lines if name not in known]
    if unknown:
        raise InvalidInput("campaign.invalid", "not registered work lines",
                           {"fields": {"work_lines": f"unknown or disabled: {unknown}"}})
    campaign = await dialer_store.add_campaign(
        request.app[PG], client.id, settings, by=current_user(request).id, now=now(request))
    await audit.record(request.app[PG], actor(request), "campaign.create",
                       record_type="campaign", record_id=campaign.id, client_id=client.id)
    return web.json_response(campaign_json(campaign), status=201)


@routes.get("/campaigns")
@requires(*WATCHERS)
async def list_campaigns(request: web.Request) -> web.Response:
    scope = scope_for(current_user(request))
    clients = None if scope.client_id is None else [scope.client_id]
    found = await dialer_store.list_campaigns(request.app[PG], clients)
    return web.json_response({"items": [campaign_json(c) for c in found]})


@routes.get("/campaigns/{id}")
@requires(*WATCHERS)
async def get_campaign(request: web.Request) -> web.Response:
    campaign = await _visible(request)
    since = now(request) - timedelta(days=1)
    stats = await dialer_store.campaign_stats(request.app[PG], campaign.id, since)
    return web.json_response({**campaign_json(campaign), "last_24h": stats})


@routes.post("/campaigns/{id}/start")
@routes.post("/campaigns/{id}/pause")
@routes.post("/campaigns/{id}/resume")
@routes.post("/campaigns/{id}/stop")
@requires(*RUNNERS)
async def command_campaign(request: web.Request) -> web.Response:
    campaign = await _visible(request)
    command = Command(request.path.rsplit("/", 1)[1])
    before, after = await dialer_store.command_campaign(
        request.app[PG], campaign.id, command, now=now(request))
    await audit.record(
        request.app[PG], actor(request), f"campaign.{command}", record_type="campaign",
        record_id=campaign.id, client_id=campaign.client_id,
        details={"from": str(before), "to": str(after.state)},
    )
    return web.json_response(campaign_json(after))


@routes.get("/cases/{id}/dialability")
@requires(*tuple(Role))
async def case_dialability(request: web.Request) -> web.Response:
    detail = await case_store.get_case(request.app[PG], path_id(request))
    summary = detail.summary
    check_case_visible(current_user(request), summary.client_id, summary.assigned_agent_id)
    at = _at(request) or now(request)
    campaign = None
    if "campaign_id" in request.query:
        campaign = await dialer_store.get_campaign(request.app[PG], _campaign_id(request))
        if campaign.client_id != summary.client_id:  # another client's: not told apart
            raise NotFound("campaign.not_found", f"no campaign {campaign.id}")
    answer = await explain.dialability(request.app[PG], summary.id, at, campaign)
    return web.json_response(answer.as_json())


def _at(request: web.Request) -> datetime | None:
    raw = request.query.get("at")
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput("request.bad_param", "at must be an ISO 8601 time", {"at": raw}) \
            from None
    if at.tzinfo is None:
        raise InvalidInput("request.bad_param", "at must carry a UTC offset", {"at": raw})
    return at.astimezone(UTC)


def _campaign_id(request: web.Request) -> int:
    raw = request.query["campaign_id"]
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise InvalidInput("request.bad_param", "campaign_id must be a whole number")
    return int(raw)


@routes.get("/clients/{id}/contact-floor")
@requires(*WATCHERS)
async def contact_floor(request: web.Request) -> web.Response:
    """Every assigned, open case of the client against the contact floor; `behind`
    and `conflict` narrow the list."""
    client_id = path_id(request)
    scope = scope_for(current_user(request))
    if scope.client_id is not None and scope.client_id != client_id:
        raise NotFound("client.not_found", f"no client {client_id}")
    await case_store.get_client(request.app[PG], client_id=client_id)  # none: 404
    standings = await floors.floors(request.app[PG], client_id, now(request))
    shown = [s for s in standings
             if (request.query.get("behind") != "true" or s.status.behind)
             and (request.query.get("conflict") != "true" or s.status.ceiling_conflict)]
    return web.json_response({"summary": floors.summary(standings),
                              "cases": [s.as_json() for s in shown]})
