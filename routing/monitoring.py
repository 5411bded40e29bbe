"""Supervisors listen in, whisper and barge on live calls, from their own softphone.

The API publishes ``{"action", "call_id", "extension", "mode", "reply"}`` on
`CONTROL`; the call path that holds the call (its debtor leg is in its call
control) answers on the ``reply`` list, like `recording.pci` does:

- ``start``: ring the supervisor's registered softphone; once it answers, the media
  engine mixes the call for it in ``mode`` (`telephony.media.monitor`). Starting
  again from the same supervisor switches the mode; another supervisor is refused
  (one monitor per call).
- ``mode``: switch listen / whisper / barge without ringing again.
- ``stop``: hang up the supervisor's leg.

The supervisor's leg is hung up when the call ends; the supervisor hanging up ends
the monitor and the call goes on as before. The answer says what was done
("ringing", "monitoring", "ended"), never that the supervisor is listening before
their phone has answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from cases.channels import answer, ask, scoped
from telephony.control import CallControl, ControlledCall
from telephony.media.monitor import MonitorMode
from telephony.sip.bindings import Binding

logger = logging.getLogger(__name__)

CONTROL = "callcase:routing:monitor"
WAIT_S = 1.5  # under the API's Redis socket timeout (2 s)
RING_S = 20.0  # how long the supervisor's phone rings
ACTIONS = ("start", "mode", "stop")


REPLIES = "callcase:routing:monitor-reply:"


class Bindings(Protocol):
    def lookup(self, extension: str) -> Binding | None: ...


class Handler(Protocol):
    """What `serve` hands commands to (`Monitors`)."""

    def holds(self, call_id: str) -> bool: ...
    async def handle(self, command: dict[str, str]) -> dict[str, object]: ...


async def request(redis: Redis, action: str, call_id: str, *, extension: str = "",
                  mode: str = "") -> dict[str, object] | None:
    """Ask the process holding the call; its answer, or None when none came in time."""
    if action not in ACTIONS:
        raise ValueError(f"unknown monitor action {action!r}")
    command: dict[str, object] = {"action": action, "call_id": call_id,
                                  "extension": extension, "mode": mode}
    return await ask(redis, CONTROL, command, REPLIES, WAIT_S)


@dataclass
class Session:
    call: ControlledCall  # the debtor's leg
    leg: ControlledCall  # the supervisor's leg
    extension: str
    mode: MonitorMode
    live: bool = False  # the supervisor answered and hears the call
    task: asyncio.Task[None] | None = field(default=None, repr=False)
    joined: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    left: asyncio.Event = field(default_factory=asyncio.Event, repr=False)


class Monitors:
    """This process's monitor sessions, by the debtor leg's call id."""

    def __init__(self, control: CallControl, bindings: Bindings, *,
                 ring_s: float = RING_S) -> None:
        self.control, self.bindings, self.ring_s = control, bindings, ring_s
        self.sessions: dict[str, Session] = {}

    async def close(self) -> None:
        """Hang up every supervisor's leg; the calls they monitored go on."""
        tasks = [s.task for s in self.sessions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def holds(self, call_id: str) -> bool:
        return call_id in self.control.calls

    async def handle(self, command: dict[str, str]) -> dict[str, object]:
        action, call_id = command.get("action"), command.get("call_id", "")
        handlers: dict[str, Callable[[str, dict[str, str]], Awaitable[dict[str, object]]]] = {
            "start": self._start, "mode": self._mode, "stop": self._stop}
        handler = handlers.get(str(action))
        if handler is None:
            return {"ok": False, "why": f"unknown action {action!r}"}
        return await handler(call_id, command)

    async def _start(self, call_id: str, command: dict[str, str]) -> dict[str, object]:
        mode = _mode(command.get("mode", ""))
        extension = command.get("extension", "")
        call = self.control.calls.get(call_id)
        if mode is None:
            return {"ok": False, "why": f"unknown mode {command.get('mode')!r}"}
        if call is None or call.stream.bridged_to is None:
            return {"ok": False, "why": "the call is not connected to an agent"}
        session = self.sessions.get(call_id)
        if session is not None:
            if session.extension != extension:
                return {"ok": False, "why": "another supervisor is monitoring this call"}
            return await self._mode(call_id, command)
        binding = self.bindings.lookup(extension)
        if binding is None:
            return {"ok": False, "why": f"softphone {extension} is not registered"}
        uri = str(binding.contact)
        leg = await self.control.originate(uri, uri=uri, ring_timeout=self.ring_s)
        session = Session(call, leg, extension, mode)
        self.sessions[call_id] = session
        session.task = asyncio.create_task(self._run(session), name=f"monitor {call_id}")
        return {"ok": True, "state": "ringing", "mode": str(mode)}

    async def _mode(self, call_id: str, command: dict[str, str]) -> dict[str, object]:
        mode = _mode(command.get("mode", ""))
        session = self.sessions.get(call_id)
        if mode is None:
            return {"ok": False, "why": f"unknown mode {command.get('mode')!r}"}
        if session is None:
            return {"ok": False, "why": "nobody is monitoring this call"}
        session.mode = mode
        if session.live:
            self._apply(session)
        return {"ok": True, "state": "monitoring" if session.live else "ringing",
                "mode": str(mode)}

    async def _stop(self, call_id: str, command: dict[str, str]) -> dict[str, object]:
        session = self.sessions.get(call_id)
        if session is None:
            return {"ok": False, "why": "nobody is monitoring this call"}
        await session.leg.hangup()
        return {"ok": True, "state": "ended"}

    def _apply(self, session: Session) -> None:
        agent = session.call.stream.bridged_to
        if agent is None:
            raise ValueError("the call is no longer connected to an agent")
        self.control.media.monitor(agent, session.call.stream, session.leg.stream,
                                   session.mode)

    async def _run(self, session: Session) -> None:
        """Ring, join, and end with whichever of the two calls ends first."""
        call_id = session.call.call_id
        call_ended = asyncio.ensure_future(session.call.finished())
        leg_ended = asyncio.ensure_future(session.leg.finished())
        answered = asyncio.ensure_future(session.leg.answered.wait())
        try:
            await asyncio.wait({call_ended, leg_ended, answered},
                               return_when=asyncio.FIRST_COMPLETED)
            if answered.done() and not (call_ended.done() or leg_ended.done()):
                self._apply(session)
                session.live = True
                session.joined.set()
                logger.info("call %s: supervisor %s joined (%s)", call_id, session.extension,
                            session.mode)
                await asyncio.wait({call_ended, leg_ended}, return_when=asyncio.FIRST_COMPLETED)
        except ValueError as error:  # the call was unbridged meanwhile
            logger.warning("call %s: monitor not started: %s", call_id, error)
        finally:
            for waiter in (call_ended, leg_ended, answered):
                waiter.cancel()
            self.sessions.pop(call_id, None)
            await asyncio.shield(self._hang_up(session))
            session.left.set()

    async def _hang_up(self, session: Session) -> None:
        try:
            await session.leg.hangup()
        except Exception:  # the session task's boundary
            logger.exception("call %s: supervisor's leg did not hang up", session.call.call_id)
        logger.info("call %s: supervisor %s left", session.call.call_id, session.extension)


def _mode(text: str) -> MonitorMode | None:
    try:
        return MonitorMode(text)
    except ValueError:
        return None


async def serve(redis: Redis, monitors: Handler, ready: asyncio.Event | None = None) -> None:
    """Answer monitor commands for the calls this process holds, until cancelled."""
    async with redis.pubsub() as channel:
        await channel.subscribe(scoped(redis, CONTROL))
        if ready is not None:
            ready.set()
        async for message in channel.listen():
            if message.get("type") != "message":
                continue
            await _answer(redis, monitors, message["data"])


async def _answer(redis: Redis, monitors: Handler, data: bytes | str) -> None:
    try:
        command = json.loads(data)
    except ValueError:
        logger.warning("monitor command that is not JSON ignored")
        return
    if not isinstance(command, dict) or not monitors.holds(str(command.get("call_id"))):
        return  # another process holds that call
    outcome = await monitors.handle({k: str(v) for k, v in command.items()})
    logger.info("call %s: monitor %s: %s", command.get("call_id"), command.get("action"),
                outcome)
    await answer(redis, REPLIES, command, outcome)
