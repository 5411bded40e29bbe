"""Monthly agent evaluations, a client's evaluation parameters, allocating a batch's
cases by the evaluation's weights, and agents' caseload caps.

Rules: `cases.evaluation` (scoring, tiers, elimination), `cases.evaluations` (drafts,
publishing, who sees what), `cases.allocation` and `cases.allocations`. A month in
a path is ``YYYY-MM``. Computing takes the month's figures in the body for now:
``{"results": [{agent_id, amount_assigned, amount_recovered, accounts,
compliant_accounts}]}``.
"""

from __future__ import annotations

from aiohttp import web

from api.context import PG, actor, current_user, json_body, now, path_id, requires
from api.reports import agent_figures
from cases import allocations, evaluations
from cases.domain import Role
from cases.errors import InvalidInput
from cases.evaluation import AgentResult, check_results, decimal, parse_month, whole

routes = web.RouteTableDef()
VIEWERS = (Role.ADMIN, Role.SUPERVISOR, Role.CAMPAIGN_MANAGER, Role.CLIENT_AUDITOR, Role.AGENT)


def parse_results(raw: object) -> tuple[AgentResult, ...]:
    """Figures from JSON: a list of objects with the AgentResult fields."""
    if not isinstance(raw, list):
        raise InvalidInput("evaluation.invalid_results", "results must be a list")
    parsed, problems = [], {}
    for n, item in enumerate(raw):
        try:
            parsed.append(_parse_result(item))
        except ValueError as exc:
            problems[str(n)] = str(exc)
    if problems:
        raise InvalidInput("evaluation.invalid_results", "some figures are invalid", problems)
    check_results(parsed)
    return tuple(parsed)


def _parse_result(item: object) -> AgentResult:
    if not isinstance(item, dict):
        raise ValueError("must be an object")
    return AgentResult(
        agent_id=whole(item.get("agent_id"), "agent_id"),
        amount_assigned=decimal(item.get("amount_assigned"), "amount_assigned"),
        amount_recovered=decimal(item.get("amount_recovered"), "amount_recovered"),
        accounts=whole(item.get("accounts"), "accounts"),
        compliant_accounts=whole(item.get("compliant_accounts"), "compliant_accounts"),
    )


@routes.post("/clients/{id}/evaluations/{month}")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def compute(request: web.Request) -> web.Response:
    """The figures are the month-end report's (`api.reports.agent_figures`); a body
    with ``results`` replaces them (a correction the bank agreed to: the evaluation's
    audit row says the figures came from the request)."""
    month = parse_month(request.match_info["month"])
    body = await json_body(request) if request.can_read_body else {}
    client_id = path_id(request)
    if "results" in body:
        results = parse_results(body.get("results"))
    else:
        results = tuple(
            AgentResult(f.agent_id, f.amount_assigned, f.amount_recovered, f.accounts,
                        f.compliant_accounts)
            for f in await agent_figures(request.app[PG], client_id=client_id, month=month))
    computed = await evaluations.compute(
        request.app[PG], actor(request), client_id, month, results, now(request))
    return web.json_response({**computed.evaluation.as_json(), "replaced": computed.replaced},
                             status=200 if computed.replaced else 201)


@routes.post("/clients/{id}/evaluations/{month}/publish")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def publish(request: web.Request) -> web.Response:
    published = await evaluations.publish(
        request.app[PG], actor(request), path_id(request),
        parse_month(request.match_info["month"]), now(request))
    return web.json_response(published.as_json())


@routes.get("/clients/{id}/evaluations")
@requires(*VIEWERS)
async def list_evaluations(request: web.Request) -> web.Response:
    found = await evaluations.list_evaluations(
        request.app[PG], current_user(request), path_id(request))
    return web.json_response({"items": [e.as_json(with_rows=False) for e in found]})


@routes.get("/clients/{id}/evaluations/{month}")
@requires(*VIEWERS)
async def get_evaluation(request: web.Request) -> web.Response:
    found = await evaluations.view(request.app[PG], actor(request), path_id(request),
                                   parse_month(request.match_info["month"]))
    return web.json_response(found.as_json())


@routes.get("/clients/{id}/evaluation-settings")
@requires(Role.ADMIN, Role.SUPERVISOR, Role.CAMPAIGN_MANAGER, Role.CLIENT_AUDITOR)
async def get_settings(request: web.Request) -> web.Response:
    client_id = path_id(request)
    params = await evaluations.visible_params(request.app[PG], current_user(request),
                                              client_id)
    return web.json_response({"client_id": client_id, "parameters": params.as_json()})


@routes.put("/clients/{id}/evaluation-settings")
@requires(Role.ADMIN)
async def put_settings(request: web.Request) -> web.Response:
    client_id = path_id(request)
    body = await json_body(request)
    params = await evaluations.set_params(request.app[PG], actor(request), client_id, body,
                                          now(request))
    return web.json_response({"client_id": client_id, "parameters": params.as_json()})


@routes.post("/batches/{id}/allocate")
@requires(Role.ADMIN, Role.CAMPAIGN_MANAGER)
async def allocate(request: web.Request) -> web.Response:
    body = await json_body(request) if request.body_exists else {}
    by_balance = body.get("by_balance", False)
    if not isinstance(by_balance, bool):
        raise InvalidInput("allocation.by_balance", "by_balance must be true or false")
    report = await allocations.allocate_batch(
        request.app[PG], actor(request), path_id(request), now(request), by_balance=by_balance)
    return web.json_response(report.as_json())


@routes.put("/agents/{id}/caseload-cap")
@requires(Role.ADMIN, Role.SUPERVISOR, Role.CAMPAIGN_MANAGER)
async def put_caseload_cap(request: web.Request) -> web.Response:
    body = await json_body(request)
    cap = body.get("cap")
    if "cap" not in body or (cap is not None and (not isinstance(cap, int)
                                                  or isinstance(cap, bool))):
        raise InvalidInput("caseload.bad_cap", "cap must be a whole number, or null for the"
                           " default")
    agent_id = path_id(request)
    in_force = await allocations.set_caseload_cap(request.app[PG], actor(request), agent_id,
                                                  cap, now(request))
    return web.json_response({"agent_id": agent_id, "cap": in_force, "default": cap is None})
