"""PCI pause and resume for the agent: while a debtor reads out a card number, the
call's recording is silence (both channels), marked in its metadata.

The recording lives in the call path's process; `recording.pci` carries the request
there and its answer back. No answer within 1.5 s is a 503 saying the recording was
NOT paused, so the agent does not go on believing it is. Every request is audited.
"""

from __future__ import annotations

from aiohttp import web

from api.context import PG, REDIS, actor, current_user, requires
from api.desk import LIVE, routing_unavailable
from cases import audit
from cases.domain import Role
from cases.errors import Conflict
from recording import pci
from routing.state import AgentState

routes = web.RouteTableDef()


@routes.post("/agent/call/pci-pause")
@routes.post("/agent/call/pci-resume")
@requires(Role.AGENT)
@routing_unavailable
async def pci_pause(request: web.Request) -> web.Response:
    action = "pause" if request.path.endswith("pause") else "resume"
    agent = await request.app[LIVE].agent(str(current_user(request).id))
    call_id = agent.agent.call_id
    if call_id is None or agent.agent.state is not AgentState.TALKING:
        raise Conflict("call.not_talking", "the recording can be paused only during a call")
    answer = await pci.request(request.app[REDIS], call_id, action)
    await audit.record(request.app[PG], actor(request), f"recording.pci_{action}",
                       record_type="call", record_id=call_id,
                       details={"answer": answer} if answer else {"answer": "none"})
    if answer is None:
        return web.json_response(
            {"error_id": "recording.pci_unconfirmed", "details": {"call_id": call_id},
             "message": f"the recorder did not confirm: the recording is NOT {action}d"},
            status=503, headers={"Retry-After": "1"})
    if not answer.get("ok"):
        raise Conflict("recording.pci_refused", str(answer.get("why")), {"call_id": call_id})
    return web.json_response({"call_id": call_id, "action": action,
                              "at_tick": answer.get("at_tick"),
                              "recording": "silenced" if action == "pause" else "recording"})
