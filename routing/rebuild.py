"""Rebuild routing's live state from PostgreSQL, and notice when it must be.

`rebuild` recreates everything under ``callcase:routing:`` from the agents, their
statuses, queues and members in PostgreSQL, the registrar's bindings and the calls
known to be live; `routing.recovery` decides each agent (status from PostgreSQL,
state kept while Redis still has it, no agent left holding a call that is gone).
It runs at start-up, after a change of agents or queues, and after Redis lost the
state. Steps:

1. Take the rebuild lock (SET NX with an expiry): one rebuild at a time; another
   process asking meanwhile gets None.
2. Delete the epoch key. From here every script that would change an agent refuses
   (`LiveStateLost`), so what is read next cannot change under the rebuild; the
   router treats that moment as "no agent free". Status changes still committing
   in PostgreSQL are waited for (an advisory lock) before the statuses are read.
3. Read PostgreSQL and what Redis still has; decide every agent; write the status
   changes that decisions made (a pending request applied) to PostgreSQL.
4. In one MULTI/EXEC: delete the old keys (but the waiting calls and counters of
   the queues that remain), write agents, ready sets, indexes and queue
   definitions, set a new epoch. Publish ``{"kind": "rebuilt"}`` for supervisors.

`reconcile` rebuilds when the epoch key is missing (a FLUSHDB, an eviction, a
rebuild that died half-way) or when the API marked the roster changed (an agent or
queue was added or changed: seen within one reconcile interval), and otherwise
corrects registration flags that differ from the registrar's bindings;
`Reconciler.run` calls it every `interval` seconds (at most 60) until cancelled.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from cases.channels import scoped
from routing import keys, lua, store
from routing import state as st
from routing.fields import LiveAgent, LiveRecordError, queue_definition
from routing.live import Live, Redis, decoded, text
from routing.placement import placements
from routing.recovery import Recovered, correction, recover
from routing.roster import AgentProfile, Roster
from routing.service import AgentService
from routing.state import AgentStateError

logger = logging.getLogger(__name__)
LOCK_MILLISECONDS = 30_000
MAX_INTERVAL = 60.0
Clock = Callable[[], datetime]


class Registrations(Protocol):
    """The registrar's bindings (`telephony.sip.registrar.Registrar` is one)."""

    def lookup(self, extension: str) -> object | None: ...


LiveCalls = Container[str]  # call ids known live (telephony's call table, a set)
HeldCalls = Mapping[str, str]  # agent id -> the live call bridged to the agent's softphone


@dataclass(frozen=True, slots=True)
class RebuildReport:
    epoch: str
    agents: int
    queues: int
    registered: int
    released: tuple[str, ...]  # calls whose agents were released
    status_changes: int  # pending requests applied, written to PostgreSQL
    seconds: float  # wall time of the whole rebuild


async def rebuild(
    db: asyncpg.Pool, redis: Redis, registrations: Registrations, live_calls: LiveCalls,
    now: datetime, held: HeldCalls | None = None,
) -> RebuildReport | None:  # fmt: skip
    """Recreate the live state; None when another rebuild holds the lock.

    `live_calls` is consulted for every call an agent holds; `held` (from call
    control, when it knows) puts agents back on their calls after a flush."""
    token = secrets.token_hex(8)
    if not await redis.set(keys.REBUILD_LOCK, token, nx=True, px=LOCK_MILLISECONDS):
        logger.info("routing rebuild already under way elsewhere")
        return None
    try:
        return await _rebuild(db, redis, _Sources(registrations, live_calls, held or {}), now,
                              token)  # fmt: skip
    finally:
        await redis.register_script(lua.UNLOCK)(keys=[keys.REBUILD_LOCK], args=[token])


@dataclass(frozen=True, slots=True)
class _Sources:
    registrations: Registrations
    live_calls: LiveCalls
    held: HeldCalls

    def decide(self, profile: AgentProfile, queues: frozenset[str],
               previous: LiveAgent | None, now: datetime) -> Recovered:  # fmt: skip
        registered = self.registrations.lookup(profile.extension) is not None
        return recover(profile, queues, previous, registered, self.live_calls.__contains__,
                       now, self.held.get(profile.agent_id))  # fmt: skip


async def _rebuild(
    db: asyncpg.Pool, redis: Redis, sources: _Sources, now: datetime, token: str
) -> RebuildReport:
    started = time.perf_counter()
    await redis.delete(keys.EPOCH)
    roster, decided = await _decide(db, redis, sources, now)
    await _write_statuses(db, decided, now)
    epoch = f"{now.isoformat()} {token}"
    await install(redis, roster, [d.live for d in decided], epoch)
    report = RebuildReport(
        epoch, len(decided), len(roster.queues), sum(d.live.registered for d in decided),
        tuple(d.released for d in decided if d.released), sum(1 for d in decided if d.status),
        time.perf_counter() - started,
    )  # fmt: skip
    rebuilt = json.dumps({"kind": "rebuilt", "at": now.isoformat()})
    await redis.publish(scoped(redis, keys.EVENTS), rebuilt)
    logger.info("routing live state rebuilt: %s", report)
    return report


async def _decide(
    db: asyncpg.Pool, redis: Redis, sources: _Sources, now: datetime
) -> tuple[Roster, list[Recovered]]:
    async with db.acquire() as conn, conn.transaction():
        await store.wait_for_status_writers(conn)
        roster = await store.load_roster(conn)
    previous = await _previous(redis, roster)
    memberships = roster.memberships()
    return roster, [
        sources.decide(p, memberships[p.user_id], previous.get(p.agent_id), now)
        for p in roster.agents
    ]


async def _previous(redis: Redis, roster: Roster) -> dict[str, LiveAgent]:
    """What Redis still has of each agent (nothing after a flush)."""
    async with redis.pipeline(transaction=False) as pipe:
        for profile in roster.agents:
            pipe.hgetall(keys.agent(profile.agent_id))
        found = await pipe.execute()
    previous: dict[str, LiveAgent] = {}
    for profile, fields in zip(roster.agents, found, strict=True):
        if not fields:
            continue
        try:
            previous[profile.agent_id] = LiveAgent.parse(decoded(fields))
        except LiveRecordError:
            logger.warning("agent %s: unreadable live record replaced", profile.agent_id)
    return previous


async def _write_statuses(db: asyncpg.Pool, decided: list[Recovered], now: datetime) -> None:
    changed = [d for d in decided if d.status is not None]
    if not changed:
        return
    async with db.acquire() as conn, conn.transaction():
        for d in changed:
            assert d.status is not None
            await store.set_status(conn, int(d.live.agent_id), d.status.status,
                                   d.status.reason, d.by, now)  # fmt: skip


async def install(
    redis: Redis, roster: Roster, agents: Sequence[LiveAgent], epoch: str
) -> None:
    """Replace the whole live state with `agents` and `roster`'s queues in one
    MULTI/EXEC, ending with the epoch (the rebuild's last step)."""
    queues = {str(q.id): q.queue for q in roster.queues}
    kept = keys.kept_by_rebuild(frozenset(queues))
    found = redis.scan_iter(match=keys.NAMESPACE_PATTERN, count=1000)
    old = [name for name in [text(k) async for k in found] if name not in kept]
    async with redis.pipeline(transaction=True) as pipe:
        if old:
            pipe.delete(*old)
        for q in roster.queues:
            pipe.hset(keys.QUEUES, str(q.id), queue_definition(q.queue, q.name, q.campaign_id))
        for live in agents:
            _put_agent(pipe, live, placements(live.view, queues))
        pipe.set(keys.EPOCH, epoch)
        await pipe.execute()


def _put_agent(pipe: Pipeline, live: LiveAgent, places: dict[str, int]) -> None:
    ready = {queue_id: keys.ready(queue_id) for queue_id in places}
    fields = live.fields() | {"version": str(live.version), "placed": " ".join(ready.values())}
    pipe.hset(keys.agent(live.agent_id), mapping=fields)  # type: ignore[arg-type]
    for queue_id, score in places.items():
        pipe.zadd(ready[queue_id], {live.agent_id: score})
    pipe.sadd(keys.AGENTS, live.agent_id)
    pipe.hset(keys.EXTENSIONS, live.extension, live.agent_id)
    if live.agent.call_id is not None:
        pipe.hset(keys.CALLS, live.agent.call_id, live.agent_id)


async def reconcile(
    db: asyncpg.Pool, redis: Redis, registrations: Registrations, live_calls: LiveCalls,
    now: datetime, held: HeldCalls | None = None,
) -> RebuildReport | None:  # fmt: skip
    """Rebuild if the live state is missing (the epoch key is gone) or agents or queues
    changed since the last rebuild; else None, after correcting registration flags
    that differ from the registrar's bindings (a binding that expired without the
    registrar's hook firing)."""
    live = Live(redis)
    if await live.take_roster_change():
        logger.info("agents or queues changed: rebuilding routing's live state")
        report = await rebuild(db, redis, registrations, live_calls, now, held)
        if report is None:  # another rebuild holds the lock: ask again next time
            await live.roster_changed()
        return report
    if await live.is_built():
        await sync_registrations(live, registrations, now)
        return None
    logger.warning("routing live state missing (Redis flushed or a rebuild died): rebuilding")
    return await rebuild(db, redis, registrations, live_calls, now, held)


async def sync_registrations(live: Live, registrations: Registrations, now: datetime) -> list[str]:
    """Make the live registration flags the registrar's; the extensions corrected."""
    fixed = []
    for extension, flag in (await live.registered_flags()).items():
        bound = registrations.lookup(extension) is not None
        if bound != flag:
            await live.set_registered(extension, bound, now)
            fixed.append(extension)
    if fixed:
        logger.warning("registration flags corrected for extensions %s", ", ".join(fixed))
    return fixed


class Reconciler:
    """Runs `reconcile` every `interval` seconds until cancelled: a task for the
    application's lifetime. `wait` is `asyncio.sleep` but for tests."""

    def __init__(
        self, db: asyncpg.Pool, redis: Redis, registrations: Registrations,
        live_calls: LiveCalls, clock: Clock, interval: float = 30.0,
        wait: Callable[[float], Awaitable[None]] = asyncio.sleep, held: HeldCalls | None = None,
    ) -> None:  # fmt: skip
        if not 0 < interval <= MAX_INTERVAL:
            raise ValueError(f"reconcile interval must be in (0, {MAX_INTERVAL}] s: {interval}")
        self.db, self.redis, self.clock = db, redis, clock
        self.registrations, self.live_calls = registrations, live_calls
        self.interval, self.wait, self.held = interval, wait, held
        self._suspects: dict[str, tuple[int, tuple[st.StateEvent, ...]]] = {}

    async def check(self) -> RebuildReport | None:
        report = await reconcile(self.db, self.redis, self.registrations, self.live_calls,
                                 self.clock(), self.held)  # fmt: skip
        if report is None and self.held is not None:
            await self.correct()
        return report

    async def correct(self) -> list[str]:
        """Correct agents whose live state disagrees with telephony (`correction`) the
        same way on two passes in a row, at the same version: one pass could catch
        an event on its way. Returns the agents corrected."""
        held = dict(self.held or {})
        seen: dict[str, tuple[int, tuple[st.StateEvent, ...]]] = {}
        for live in await Live(self.redis).agents():
            events = correction(live, held.get(live.agent_id), self.live_calls.__contains__)
            if events:
                seen[live.agent_id] = (live.version, events)
        due = [a for a, found in seen.items() if self._suspects.get(a) == found]
        self._suspects = {a: found for a, found in seen.items() if a not in due}
        service = AgentService(self.db, Live(self.redis), self.clock)
        for agent_id in due:
            events = seen[agent_id][1]
            logger.warning("agent %s: live state disagreed with telephony twice; applying %s",
                           agent_id, ", ".join(type(e).__name__ for e in events))  # fmt: skip
            for event in events:
                try:
                    await service.call_event(agent_id, event)
                except AgentStateError as error:  # moved on meanwhile: leave it
                    logger.info("agent %s: correction stopped: %s", agent_id, error)
                    break
        return due

    async def run(self) -> None:
        while True:
            try:
                await self.check()
            except RedisError as error:  # Redis restarting: the next pass rebuilds
                logger.warning("routing reconcile: Redis unavailable (%s); trying again in"
                               " %s s", error, self.interval)
            except Exception:
                logger.exception("routing reconcile failed; trying again in %s s", self.interval)
            await self.wait(self.interval)
