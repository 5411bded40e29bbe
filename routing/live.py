"""Routing's live state in Redis: agents, the queues' ready sets and waiting calls,
atomic reservation, check-and-set writes, and the supervisors' feed.

The IO shell around the pure core. What lives where is in `routing.keys`; the
agent hash is `routing.fields`; the scripts are `routing.lua`. Rules stay pure:
`Live.commit` writes an agent computed by `routing.agent.apply` and placed by
`routing.placement`, and fails (returns False) when the agent changed since it was
read, so a stale writer never overwrites a newer state; `routing.service` applies
events and status requests with it, in a retry loop. Reservation is one script
(`Live.reserve`): the best eligible agent by the queue's strategy, for all three
strategies, or None; Redis runs one script at a time, so no agent is ever reserved
for two calls.

Supervisors subscribe to `routing.keys.EVENTS` (scoped to the Redis database,
`cases.channels`); each message is one JSON object:

* ``{"kind": "agent", "agent_id", "status", "reason", "state", "call_id",
  "registered", "at"}`` when an agent's status, state, call or registration changes
  (a reservation adds ``queue_id``);
* ``{"kind": "queue", "queue_id", "waiting", "free", "at"}`` when a queue's waiting
  calls change (``free``: agents in its ready set, some perhaps not ready yet);
* ``{"kind": "rebuilt", "at"}`` after a rebuild: read the whole state again.

Works with a client that decodes responses or not. Time comes in as `now`, aware
UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from cases.channels import scoped
from cases.errors import Conflict, NotFound
from routing import keys, lua
from routing.eligibility import Queue
from routing.fields import LiveAgent, agent_event, micros, parse_queue
from routing.placement import placements

logger = logging.getLogger(__name__)
Redis = aioredis.Redis
_EVENT_FIELDS = ("status", "reason", "state", "call_id", "registered")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


ATTEMPTS = 8  # check-and-set tries before giving up on a contended agent


class LiveContentionError(RuntimeError):
    """An agent kept changing under a writer for `ATTEMPTS` tries."""


class LiveStateLost(RuntimeError):
    """The epoch key is missing: Redis was flushed or a rebuild is under way. Call
    `routing.rebuild.rebuild` (the reconcile task does within its interval)."""


@dataclass(frozen=True, slots=True)
class Reservation:
    queue_id: str
    call_id: str
    agent_id: str
    extension: str  # the softphone to ring (the registrar's binding)
    version: int


@dataclass(frozen=True, slots=True)
class QueueFigures:
    waiting: int  # calls waiting for an agent
    free: int  # agents in the ready set (some perhaps waiting for ready_at)
    reserved: int  # reservations made since the live state was created
    missed: int  # reservations asked for when no agent was free


def text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def decoded(mapping: Mapping[bytes | str, bytes | str]) -> dict[str, str]:
    return {text(k): text(v) for k, v in mapping.items()}


def _script_error(exc: ResponseError) -> Exception:
    message = str(exc)
    if message.startswith("LIVE_STATE_LOST"):
        return LiveStateLost("routing live state missing: rebuild it")
    if message.startswith("NO_SUCH_QUEUE"):
        return NotFound("queue.not_live", f"no live queue {message.split()[-1]}")
    if message.startswith("CALL_HELD"):
        call = message.split()[-1]
        return Conflict("routing.call_held", f"call {call} already holds an agent")
    return exc


class Live:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.events = scoped(redis, keys.EVENTS)  # the supervisors' channel
        self._reserve = redis.register_script(lua.RESERVE)
        self._commit = redis.register_script(lua.COMMIT)
        self._waiting = redis.register_script(lua.WAITING)

    async def is_built(self) -> bool:
        return bool(await self.redis.exists(keys.EPOCH))

    async def roster_changed(self) -> None:
        """Agents or queues changed in PostgreSQL: the next reconcile rebuilds."""
        await self.redis.set(keys.ROSTER_CHANGED, "1")

    async def take_roster_change(self) -> bool:
        """Whether the roster changed since this was last asked (and forget it)."""
        return await self.redis.getdel(keys.ROSTER_CHANGED) is not None

    # Reading.

    async def agent(self, agent_id: str) -> LiveAgent:
        return (await self.snapshot(agent_id))[0]

    async def snapshot(self, agent_id: str) -> tuple[LiveAgent, dict[str, Queue]]:
        """The live agent and every queue definition, read together."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.agent(agent_id))
            pipe.hgetall(keys.QUEUES)
            fields, queues = await pipe.execute()
        if not fields:
            raise NotFound("agent.not_live", f"agent {agent_id} is not in the live state")
        definitions = {text(k): parse_queue(text(v)) for k, v in queues.items()}
        return LiveAgent.parse(decoded(fields)), definitions

    async def agents(self) -> list[LiveAgent]:
        """Every live agent, in agent id order (the supervisors' first view)."""
        ids = sorted(text(m) for m in await self.redis.smembers(keys.AGENTS))
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in ids:
                pipe.hgetall(keys.agent(agent_id))
            found = await pipe.execute()
        return [LiveAgent.parse(decoded(fields)) for fields in found if fields]

    async def agent_by_extension(self, extension: str) -> str | None:
        found = await self.redis.hget(keys.EXTENSIONS, extension)
        return None if found is None else text(found)

    async def registered_flags(self) -> dict[str, bool]:
        """Extension -> whether the live state has its softphone registered."""
        extensions = decoded(await self.redis.hgetall(keys.EXTENSIONS))
        async with self.redis.pipeline(transaction=False) as pipe:
            for agent_id in extensions.values():
                pipe.hget(keys.agent(agent_id), "registered")
            flags = await pipe.execute()
        return {ext: flag in (b"1", "1") for ext, flag in zip(extensions, flags, strict=True)}

    async def holder(self, call_id: str) -> str | None:
        """The agent holding `call_id` (reserved, ringing, talking, wrap_up), if any."""
        found = await self.redis.hget(keys.CALLS, call_id)
        return None if found is None else text(found)

    async def figures(self, queue_id: str) -> QueueFigures:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.waiting(queue_id))
            pipe.zcard(keys.ready(queue_id))
            pipe.hmget(keys.queue(queue_id), ["reserved", "missed"])
            waiting, free, (reserved, missed) = await pipe.execute()
        return QueueFigures(waiting, free, int(reserved or 0), int(missed or 0))

    async def oldest_waiting(self, queue_id: str) -> datetime | None:
        """Since when the call waiting longest in the queue has waited (the time it was
        enqueued, aware UTC); None when no call waits."""
        found = await self.redis.zrange(keys.waiting(queue_id), 0, 0, withscores=True)
        if not found:
            return None
        return _EPOCH + timedelta(microseconds=int(found[0][1]))

    # Writing.

    async def commit(
        self, before: LiveAgent, after: LiveAgent, queues: Mapping[str, Queue], now: datetime
    ) -> bool:
        """Write `after` if the agent is still at `before`'s version; False if not."""
        fields = after.fields()
        args: list[str | int] = [before.version, self.events, _event(before, after, now)]
        args.append(len(fields))
        for name, value in fields.items():
            args += [name, value]
        for queue_id, score in placements(after.view, queues).items():
            args += [keys.ready(queue_id), score]
        try:
            found = await self._commit(keys=[keys.EPOCH, keys.agent(after.agent_id), keys.CALLS],
                                       args=args)  # fmt: skip
        except ResponseError as exc:
            raise _script_error(exc) from exc
        return found is not None

    async def set_registered(self, extension: str, registered: bool, now: datetime) -> bool:
        """The registrar's word on an agent's softphone (its `on_binding` hook); False
        for an extension no agent has."""
        agent_id = await self.agent_by_extension(extension)
        if agent_id is None:
            return False
        for _ in range(ATTEMPTS):
            live, queues = await self.snapshot(agent_id)
            if live.registered == registered:
                return True
            if await self.commit(live, replace(live, registered=registered), queues, now):
                return True
        raise LiveContentionError(f"agent {agent_id} kept changing; registration not written")

    async def reserve(self, queue_id: str, call_id: str, now: datetime) -> Reservation | None:
        """Reserve the queue's best eligible agent for `call_id`, or None if none is.

        Takes the call out of the queue's waiting calls when it is there. Raises
        `LiveStateLost` when the live state is missing, `NotFound` for an unknown
        queue and `Conflict` when the call already holds an agent."""
        if not call_id:
            raise ValueError("a reservation needs a call id")
        return await self._reserve_call(queue_id, call_id, now)

    async def reserve_next(self, queue_id: str, now: datetime) -> Reservation | None:
        """Reserve an agent for the call waiting longest; None if no call or no agent."""
        return await self._reserve_call(queue_id, "", now)

    async def _reserve_call(
        self, queue_id: str, call_id: str, now: datetime
    ) -> Reservation | None:
        names = [keys.EPOCH, keys.QUEUES, keys.queue(queue_id), keys.ready(queue_id),
                 keys.waiting(queue_id), keys.CALLS]  # fmt: skip
        args: list[str | int] = [
            queue_id, call_id, micros(now), keys.AGENT_PREFIX, self.events, now.isoformat()
        ]
        try:
            found = await self._reserve(keys=names, args=args)
        except ResponseError as exc:
            raise _script_error(exc) from exc
        if found is None:
            return None
        agent_id, call, version, extension = found
        logger.info("call %s reserved agent %s in queue %s", text(call), text(agent_id), queue_id)
        return Reservation(queue_id, text(call), text(agent_id), text(extension), int(version))

    async def enqueue(self, queue_id: str, call_id: str, now: datetime) -> bool:
        """The answered call waits in the queue; False if it already does."""
        return await self._wait("add", queue_id, call_id, now)

    async def withdraw(self, queue_id: str, call_id: str, now: datetime) -> bool:
        """The call stops waiting (the debtor hung up, or it was abandoned)."""
        return await self._wait("remove", queue_id, call_id, now)

    async def _wait(self, op: str, queue_id: str, call_id: str, now: datetime) -> bool:
        found = await self._waiting(
            keys=[keys.waiting(queue_id), keys.ready(queue_id)],
            args=[op, call_id, micros(now), self.events, queue_id, now.isoformat()],
        )
        return bool(found)


def _event(before: LiveAgent, after: LiveAgent, now: datetime) -> str:
    """The supervisors' event for the change, or '' when they would see none."""
    old, new = before.fields(), after.fields()
    if all(old[name] == new[name] for name in _EVENT_FIELDS):
        return ""
    return agent_event(after, now)
