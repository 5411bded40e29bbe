"""Applying what happens to an agent: the person's status requests and the call
events, by the pure rules (`routing.agent.apply`), durable in PostgreSQL where the
status changes and live in Redis.

Each change reads the live agent, applies the event, and writes the result back
with `Live.commit`'s check-and-set; when another writer got there first (the
router reserved the agent, the registrar dropped its phone) it reads again and
re-applies, up to `routing.live.ATTEMPTS` times. A step that changes the person's
status (a request, a request pending for the call's end, a max_no_answer break)
writes the status and its history line in a PostgreSQL transaction that commits
only if the live write succeeded; so a refused or lost write leaves no history
behind. (Should the commit fail after the live write, the live status is ahead
until the next rebuild, which takes PostgreSQL's.)

Who changed the status: the `Changer` given with a request; for a request that
waited for the call's end, whoever asked for it; for max_no_answer, the system.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

import asyncpg

from routing import store
from routing.agent import AgentStep, apply
from routing.eligibility import Queue
from routing.fields import LiveAgent
from routing.live import ATTEMPTS, Live, LiveContentionError
from routing.roster import SYSTEM, Changer
from routing.state import AgentState, StateEvent
from routing.status import StatusChanged, StatusEvent

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


class _LostRace(Exception):
    """The live write lost its check-and-set: roll the transaction back, try again."""


class AgentService:
    def __init__(self, pool: asyncpg.Pool, live: Live, clock: Clock) -> None:
        self.pool, self.live, self.clock = pool, live, clock

    async def request_status(self, agent_id: str, request: StatusEvent, by: Changer) -> AgentStep:
        """The person (or a supervisor) asks for a status; `StatusError` if refused."""
        return await self._apply(agent_id, request, by)

    async def call_event(self, agent_id: str, event: StateEvent) -> AgentStep:
        """What happened to the agent's call (`Offer`, `Answered`, `CallEnded`, ...);
        `routing.state.AgentStateError` (a `StaleEventError` to drop) if it does not
        fit. Reservations are made by `Live.reserve`, not here."""
        return await self._apply(agent_id, event, None)

    async def _apply(
        self, agent_id: str, event: StatusEvent | StateEvent, by: Changer | None
    ) -> AgentStep:
        now = self.clock()
        for _ in range(ATTEMPTS):
            before, queues = await self.live.snapshot(agent_id)
            step = apply(before.agent, event, now)
            after = before.after(step, by)
            if await self._write(before, after, queues, step, by or _asker(before, after), now):
                return step
        raise LiveContentionError(f"agent {agent_id} kept changing; {event!r} not applied")

    async def _write(
        self, before: LiveAgent, after: LiveAgent, queues: Mapping[str, Queue],
        step: AgentStep, by: Changer, now: datetime,
    ) -> bool:  # fmt: skip
        changes = [e for e in step.effects if isinstance(e, StatusChanged)]
        if not changes:
            return await self.live.commit(before, after, queues, now)
        user_id = int(before.agent_id)
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for change in changes:
                    await store.set_status(conn, user_id, change.status, change.reason, by, now)
                if not await self.live.commit(before, after, queues, now):
                    raise _LostRace
        except _LostRace:
            return False
        logger.info("agent %s status %s (by %s)", user_id, changes[-1].status, by.source)
        return True


def _asker(before: LiveAgent, after: LiveAgent) -> Changer:
    """Who a status change made by a call event is by: whoever asked for the request
    it applied at the call's end, or the system (max_no_answer)."""
    applied = before.agent.pending is not None and after.agent.state is AgentState.IDLE
    return (before.pending_by or SYSTEM) if applied else SYSTEM
