"""PCI pause and resume across processes: the agent asks through the API, the
process that records the call silences it.

The API publishes `{"call_id", "action", "reply"}` on `CONTROL`; the call path's
listener pauses or resumes the call's recording at the current media tick and
pushes the outcome on the `reply` list (kept 30 s); the API waits for it at most
`WAIT_S` and tells the agent the recording is NOT paused when nothing answered, so
an agent never reads a card number believing the recorder is silent when it is not.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Protocol

from redis.asyncio import Redis

from cases.channels import answer, ask, scoped

logger = logging.getLogger(__name__)

CONTROL = "callcase:recording:control"
WAIT_S = 1.5  # under the API's Redis socket timeout (2 s)
ACTIONS = ("pause", "resume")


REPLIES = "callcase:recording:reply:"


class Pausable(Protocol):
    def pause(self, at_tick: int) -> None: ...
    def resume(self, at_tick: int) -> None: ...


async def request(redis: Redis, call_id: str, action: str) -> dict[str, object] | None:
    """Ask the recording process; its answer, or None when none came in time."""
    if action not in ACTIONS:
        raise ValueError(f"unknown PCI action {action!r}")
    return await ask(redis, CONTROL, {"call_id": call_id, "action": action}, REPLIES, WAIT_S)


def apply(active: Mapping[str, Pausable], command: dict[str, str], tick: int
          ) -> dict[str, object]:
    """Carry out one command on this process's recordings (pure but for the recording)."""
    recording = active.get(command.get("call_id", ""))
    if recording is None:
        return {"ok": False, "why": "no recording of that call here"}
    action = command.get("action")
    try:
        if action == "pause":
            recording.pause(tick)
        elif action == "resume":
            recording.resume(tick)
        else:
            return {"ok": False, "why": f"unknown action {action!r}"}
    except ValueError as error:  # paused twice, resumed while not paused
        return {"ok": False, "why": str(error)}
    return {"ok": True, "action": action, "at_tick": tick}


async def serve(redis: Redis, active: Mapping[str, Pausable], tick: Callable[[], int],
                ready: asyncio.Event | None = None) -> None:
    """Listen for commands until cancelled; answer the ones for calls recorded here.
    `ready` is set once subscribed (a command published before is not seen)."""
    async with redis.pubsub() as channel:
        await channel.subscribe(scoped(redis, CONTROL))
        if ready is not None:
            ready.set()
        async for message in channel.listen():
            if message.get("type") != "message":
                continue
            await _answer(redis, active, tick, message["data"])


async def _answer(redis: Redis, active: Mapping[str, Pausable], tick: Callable[[], int],
                  data: bytes | str) -> None:
    try:
        command = json.loads(data)
    except ValueError:
        logger.warning("PCI command that is not JSON ignored")
        return
    if command.get("call_id") not in active:
        return  # another process records that call
    outcome = apply(active, command, tick())
    logger.info("call %s: PCI %s: %s", command.get("call_id"), command.get("action"), outcome)
    await answer(redis, REPLIES, command, outcome)
