"""Listen-in, whisper and barge: a supervisor joins a live call from their softphone.

`POST /supervisor/calls/{call_id}/monitor` with ``{"mode": "listen" | "whisper" |
"barge"}`` rings the supervisor's registered softphone (`PUT
/supervisors/{id}/phone`); once it answers, the supervisor hears the call in that
mode. Posting again switches the mode. `DELETE` the same path hangs up the
supervisor's leg; the call goes on. The call id is the debtor's call, as the
wallboard shows it for a talking agent.

The call lives in the call path's process; `routing.monitoring` carries the command
there and its answer back. Every request, answered or not, leaves one audit row
(``call.monitor`` / ``call.monitor_end``) with the mode, the case and the answer.
"""

from __future__ import annotations

from aiohttp import web

from api.context import PG, REDIS, actor, current_user, json_body, requires
from cases import audit
from cases.domain import Role
from cases.errors import Conflict, InvalidInput, NotFound
from routing import monitoring
from routing.store import supervisor_extension
from telephony.media.monitor import MonitorMode

routes = web.RouteTableDef()
SUPERVISORS = (Role.SUPERVISOR, Role.ADMIN)


async def _live_call(request: web.Request) -> tuple[str, int, int]:
    call_id = request.match_info["call_id"]
    if not 1 <= len(call_id) <= 200:
        raise InvalidInput("request.bad_id", "call_id is 1-200 characters")
    attempt = await request.app[PG].fetchrow(
        "SELECT a.case_id, c.client_id FROM attempts a JOIN cases c ON c.id = a.case_id"
        " WHERE a.call_id = $1 AND a.ended_at IS NULL", call_id)
    if attempt is None:
        raise NotFound("call.not_live", "no live call with that id")
    return call_id, int(attempt["case_id"]), int(attempt["client_id"])


def _unanswered(call_id: str) -> web.Response:
    return web.json_response(
        {"error_id": "call.monitor_unconfirmed", "details": {"call_id": call_id},
         "message": "the call path did not answer: you are NOT monitoring this call"},
        status=503, headers={"Retry-After": "1"})


@routes.post("/supervisor/calls/{call_id}/monitor")
@requires(*SUPERVISORS)
async def monitor(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        mode = MonitorMode(str(body.get("mode", "listen")))
    except ValueError:
        raise InvalidInput("monitor.bad_mode", "mode is listen, whisper or barge",
                           {"mode": str(body.get("mode"))}) from None
    call_id, case_id, client_id = await _live_call(request)
    extension = await supervisor_extension(request.app[PG], current_user(request).id)
    if extension is None:
        raise Conflict("phone.none", "you have no softphone: PUT /supervisors/{id}/phone")
    answer = await monitoring.request(request.app[REDIS], "start", call_id,
                                      extension=extension, mode=str(mode))
    await audit.record(request.app[PG], actor(request), "call.monitor", record_type="call",
                       record_id=call_id, client_id=client_id,
                       details={"mode": str(mode), "case_id": case_id, "extension": extension,
                                "answer": answer or "none"})
    if answer is None:
        return _unanswered(call_id)
    if not answer.get("ok"):
        raise Conflict("call.monitor_refused", str(answer.get("why")), {"call_id": call_id})
    return web.json_response({"call_id": call_id, "mode": str(mode),
                              "state": answer.get("state"), "extension": extension},
                             status=202)


@routes.delete("/supervisor/calls/{call_id}/monitor")
@requires(*SUPERVISORS)
async def stop_monitor(request: web.Request) -> web.Response:
    call_id, case_id, client_id = await _live_call(request)
    answer = await monitoring.request(request.app[REDIS], "stop", call_id)
    await audit.record(request.app[PG], actor(request), "call.monitor_end", record_type="call",
                       record_id=call_id, client_id=client_id,
                       details={"case_id": case_id, "answer": answer or "none"})
    if answer is None:
        return _unanswered(call_id)
    if not answer.get("ok"):
        raise Conflict("call.monitor_refused", str(answer.get("why")), {"call_id": call_id})
    return web.json_response({"call_id": call_id, "state": answer.get("state")})
