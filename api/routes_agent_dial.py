"""An agent dials a case assigned to them, from the desk (manual or preview dial).

`POST /agent/preview/next` (``{"campaign_id"?}``) hands the agent the next case of
their running preview campaign (`dialer.preview`): the case, as `GET /cases/{id}`
shows it to them, which becomes theirs if nobody had it; ``{"case": null}`` when no
case is left to read now. Audited as ``case.preview``.

`POST /agent/dial` with ``{"case_id", "phone_id"?, "campaign_id"?}`` asks the call
path holding the agent's softphone (`dialer.dial_requests`) to run the case through
the compliance check and, when a phone is allowed, to ring the agent's softphone
and then the debtor (`dialer.agent_dial`). The answer is the attempt and the call
id (202), or every refusal with its reasons and next permitted time (409
``dial.refused``); no call path answering is a 503 saying nothing was dialled.
Every request is audited as ``call.agent_dial`` with its answer.
"""

from __future__ import annotations

from aiohttp import web

from api.context import PG, REDIS, actor, current_user, json_body, now, requires
from api.views import case_detail_json
from cases import audit, store
from cases.access import check_case_visible
from cases.domain import Role
from cases.errors import Conflict, InvalidInput
from dialer import dial_requests, preview
from dialer.agent_dial import DialRequest

routes = web.RouteTableDef()


def _id(body: dict[str, object], name: str, *, required: bool = False) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or value <= 0:
        raise InvalidInput("request.bad_field", f"{name} must be a positive number",
                           {name: "invalid" if value is not None else "required"})
    return value


@routes.post("/agent/preview/next")
@requires(Role.AGENT)
async def preview_next(request: web.Request) -> web.Response:
    body = await json_body(request) if request.can_read_body else {}
    user, pool = current_user(request), request.app[PG]
    found = await preview.next_case(pool, user.id, now(request), _id(body, "campaign_id"))
    if found is None:
        return web.json_response({"case": None, "why": "no case of your preview campaigns"
                                  " is left to read now"})
    detail = await store.get_case(pool, found.case_id)
    await audit.record(pool, actor(request), "case.preview", record_type="case",
                       record_id=found.case_id, client_id=detail.summary.client_id,
                       details={"campaign_id": found.campaign.id})
    return web.json_response({"campaign_id": found.campaign.id,
                              "case": case_detail_json(detail, reveal_id=False)})


@routes.post("/agent/dial")
@requires(Role.AGENT)
async def dial(request: web.Request) -> web.Response:
    body = await json_body(request)
    user, pool = current_user(request), request.app[PG]
    case_id = _id(body, "case_id", required=True)
    assert case_id is not None
    summary = (await store.get_case(pool, case_id)).summary
    check_case_visible(user, summary.client_id, summary.assigned_agent_id)
    extension = await pool.fetchval("SELECT extension FROM agents WHERE user_id = $1", user.id)
    if extension is None:
        raise Conflict("agent.no_softphone", "you have no softphone extension: ask an admin")
    wanted = DialRequest(user.id, case_id, _id(body, "phone_id"), _id(body, "campaign_id"))
    answer = await dial_requests.request(request.app[REDIS], extension, wanted)
    await audit.record(pool, actor(request), "call.agent_dial", record_type="case",
                       record_id=case_id, client_id=summary.client_id,
                       details={"phone_id": wanted.phone_id, "answer": answer or "none"})
    if answer is None:
        return web.json_response(
            {"error_id": "dial.unconfirmed", "details": {"case_id": case_id},
             "message": "no call path holds your softphone (is it registered?): nothing "
                        "was dialled"}, status=503, headers={"Retry-After": "2"})
    if not answer.get("ok"):
        raise Conflict("dial.refused", str(answer.get("why")),
                       {"refusals": answer.get("refusals", [])})
    return web.json_response(answer, status=202)
