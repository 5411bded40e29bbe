"""An agent's dial request, from the API to the call path that holds the agent's
softphone registration.

The API publishes ``{"agent_id", "extension", "case_id", "phone_id", "campaign_id",
"reply"}`` on `CONTROL`; the call path whose registrar has that extension bound
admits the call (`Dialer.dial_for_agent`) and pushes the answer on the ``reply``
list (kept 30 s). The API waits `WAIT_S` at most; no answer means nothing was
dialled by this request (no call path holds that softphone).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from cases.channels import answer, ask, scoped
from dialer.agent_dial import DialRequest

logger = logging.getLogger(__name__)

CONTROL = "callcase:dialer:agent-dial"
WAIT_S = 1.5  # under the API's Redis socket timeout (2 s)


REPLIES = "callcase:dialer:agent-dial-reply:"


async def request(redis: Redis, extension: str, dial: DialRequest) -> dict[str, object] | None:
    command: dict[str, object] = {
        "agent_id": dial.agent_id, "extension": extension, "case_id": dial.case_id,
        "phone_id": dial.phone_id, "campaign_id": dial.campaign_id}
    return await ask(redis, CONTROL, command, REPLIES, WAIT_S)


def parse(command: object) -> tuple[str, DialRequest] | None:
    """The extension and request in a command, or None for a malformed one."""
    if not isinstance(command, dict):
        return None
    try:
        ids = {name: command.get(name) for name in
               ("agent_id", "case_id", "phone_id", "campaign_id")}
        if not all(v is None or type(v) is int for v in ids.values()):
            return None
        agent_id, case_id = ids["agent_id"], ids["case_id"]
        phone_id, campaign_id = ids["phone_id"], ids["campaign_id"]
        if not isinstance(agent_id, int) or not isinstance(case_id, int):
            return None
        return str(command["extension"]), DialRequest(
            agent_id, case_id,
            phone_id if isinstance(phone_id, int) else None,
            campaign_id if isinstance(campaign_id, int) else None)
    except (KeyError, TypeError):
        return None


async def serve(redis: Redis, holds: Callable[[str], bool],
                dial: Callable[[DialRequest], Awaitable[dict[str, object]]],
                ready: asyncio.Event | None = None) -> None:
    """Answer the dial requests of agents whose softphone is bound here."""
    async with redis.pubsub() as channel:
        await channel.subscribe(scoped(redis, CONTROL))
        if ready is not None:
            ready.set()
        async for message in channel.listen():
            if message.get("type") == "message":
                await _answer(redis, holds, dial, message["data"])


async def _answer(redis: Redis, holds: Callable[[str], bool],
                  dial: Callable[[DialRequest], Awaitable[dict[str, object]]],
                  data: bytes | str) -> None:
    try:
        command = json.loads(data)
    except ValueError:
        logger.warning("agent dial request that is not JSON ignored")
        return
    found = parse(command)
    if found is None:
        logger.warning("malformed agent dial request ignored: %r", command)
        return
    extension, request = found
    if not holds(extension):
        return  # another call path holds that softphone
    outcome = await dial(request)
    logger.info("agent %s dials case %s: %s", request.agent_id, request.case_id, outcome)
    await answer(redis, REPLIES, command, outcome)
