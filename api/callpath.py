"""The call path, wired: SIP user agent with the agents' registrar, media engine,
call control on the registered work lines, routing's live state and dispatcher,
the recorder and its catalogue, and the dialer's campaign loop.

    async with CallPath.open(settings, pool, redis) as path:
        await path.run_dialer()        # until cancelled

Start-up order matters: recordings a crash left unfinished are recovered and
catalogued first, the dialer closes the attempts it left open, routing rebuilds its
live state from PostgreSQL and the registrar (an agent whose call died with the
earlier run starts wrapping up), the wrap-ups whose timers died with that run are
timed again, and only then are calls placed. The process freezes the objects that
survive start-up out of the garbage collector's view: a full collection over many
live calls took 78-151 ms and stalled the media clock.

`status()` is what the process holds right now (calls, RTP ports, recordings,
attempts, asyncio tasks by kind); `callcase serve` logs it on SIGUSR1, so an
operator can see that a quiet call path holds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.gcwatch import GcWatch
from api.prompts import load_prompts
from api.settings import Settings
from api.wrap_up import default_code_filer
from dialer import dial_requests
from dialer import store as dialer_store
from dialer.calls import CallDeps
from dialer.loop import Dialer
from recording import pci
from recording.catalog import CallFacts
from recording.service import CallRecordings
from recording.storage import LocalStorage
from recording.writer import RecorderPool
from routing import monitoring
from routing.dispatch import Dispatcher
from routing.fields import LiveRecordError
from routing.live import Live
from routing.monitoring import Monitors
from routing.rebuild import Reconciler, rebuild
from routing.service import AgentService
from routing.state import AgentState, AgentStateError, WrapUpTimeout
from routing.store import PgCredentials
from telephony import store as telephony_store
from telephony.control import CallControl
from telephony.media.engine import MediaEngine
from telephony.sip.bindings import Binding
from telephony.sip.flood import FloodGuard
from telephony.sip.registrar import Registrar
from telephony.sip.ua import UserAgent
from transcription.queue import enqueue

logger = logging.getLogger(__name__)


_TASK_ID = re.compile(r"\S*\d\S*")  # "attempt 12", "Task-7": counted by kind


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CallPath:
    ua: UserAgent
    registrar: Registrar
    media: MediaEngine
    control: CallControl
    live: Live
    dispatcher: Dispatcher
    recordings: CallRecordings
    dialer: Dialer
    reconciler: Reconciler
    redis: Redis
    monitors: Monitors
    gc_watch: GcWatch = field(default_factory=GcWatch, init=False)
    _wrap_ups: dict[str, asyncio.TimerHandle] = field(default_factory=dict, init=False)
    _timeouts: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, settings: Settings, pool: asyncpg.Pool, redis: Redis,
                   clock: Callable[[], datetime] = utc_now) -> AsyncIterator[CallPath]:
        tel, dial = settings.telephony, settings.dialer
        registrar = Registrar(PgCredentials(pool, dial.sip_realm), realm=dial.sip_realm)
        lines = await telephony_store.load_lines(pool)
        prompts = await load_prompts(dial.prompts_dir, company=dial.company,
                                     number=dial.callback_number, contact=dial.contact,
                                     language=dial.prompt_language)
        async with contextlib.AsyncExitStack() as stack:
            media = await stack.enter_async_context(
                MediaEngine(host=tel.sip_host, port_range=tel.rtp_ports,
                            rtp_timeout=tel.rtp_timeout_s or None))
            ua = await UserAgent.open(tel.sip_host, tel.sip_port, registrar=registrar)
            stack.callback(ua.close)
            if tel.invite_rate:
                ua.flood = FloodGuard(rate=tel.invite_rate, burst=2 * tel.invite_rate)
            control = CallControl(ua, media, lines, media_host=tel.sip_host,
                                  max_legs=tel.max_call_legs)
            stack.push_async_callback(control.close)
            recorder = RecorderPool(settings.recording.root)
            recovered = await recorder.start()
            stack.push_async_callback(recorder.close)
            recordings = CallRecordings(
                recorder, pool, LocalStorage(settings.recording.root), control, clock,
                on_catalogued=lambda row: enqueue(pool, row.id, row.entry.storage_uri))
            live = Live(redis)
            dispatcher = Dispatcher(live, AgentService(pool, live, clock), control, registrar,
                                    clock, on_wrap_up_timeout=default_code_filer(pool, clock))
            stack.callback(dispatcher.close)
            monitors = Monitors(control, registrar)
            stack.push_async_callback(monitors.close)
            deps = CallDeps(pool=pool, control=control, router=dispatcher, recorder=recordings,
                            prompts=prompts, clock=clock)
            dialer = Dialer(deps, name=dial.name, tick_s=dial.tick_ms / 1000)
            reconciler = Reconciler(pool, redis, registrar, control.calls, clock,
                                    held=dispatcher.held)
            path = cls(ua, registrar, media, control, live, dispatcher, recordings, dialer,
                       reconciler, redis, monitors)
            registrar.on_binding = path._on_binding
            await recordings.register_recovered(recovered, lambda c: _facts(pool, c))
            await dialer.recover()
            wrapping = await _wrapping_up(live)  # before the rebuild ends the overdue ones
            await rebuild(pool, redis, registrar, control.calls, clock(), dispatcher.held)
            stack.push_async_callback(path._drop_wrap_up_timers)
            await path._time_wrap_ups(wrapping)
            gc.collect()
            gc.freeze()
            path.gc_watch.install()
            stack.callback(path.gc_watch.remove)
            logger.info("call path ready: SIP %s:%d, %d work lines", tel.sip_host,
                        ua.endpoint.address[1], len(lines.names))
            try:
                yield path
            finally:
                await dialer.close()

    def status(self) -> dict[str, object]:
        """What the call path holds now; every count is 0 on a quiet call path but
        the registrations and the tasks that run for the process's lifetime."""
        tasks = Counter(_TASK_ID.sub("*", task.get_name()) for task in asyncio.all_tasks())
        return {
            "calls": len(self.control.calls),
            "rtp_streams": len(self.media.streams),
            "rtp_ports_in_use": self.media.ports.in_use,
            "rtp_ports_free": self.media.ports.available,
            "recordings": len(self.recordings.active),
            "attempts": len(self.dialer.tasks),
            "agents_on_calls": len(self.dispatcher.held),
            "registrations": len(self.registrar.bindings),
            "tasks": sum(tasks.values()),
            "tasks_by_name": dict(sorted(tasks.items())),
            "gc": self.gc_watch.status(),
        }

    async def _time_wrap_ups(self, wrapping: dict[str, str]) -> None:
        """Time the wrap-ups whose timers died with the earlier run: those the
        start-up rebuild began (the run's calls were cut) or found under way end at
        their deadline, as the dispatcher's timer would have ended them, with the
        default code filed when the agent filed none; those it ended as overdue
        (`wrapping`, agent -> call, read before it) get the code now."""
        now, loop = self.dispatcher.clock(), asyncio.get_running_loop()
        ends = {agent_id: (call_id, 0.0) for agent_id, call_id in wrapping.items()}
        for live in await self.live.agents():
            call_id = live.agent.call_id
            if live.agent.state is AgentState.WRAP_UP and call_id is not None:
                until = live.wrap_up_until or now
                ends[live.agent_id] = (call_id, max(0.0, (until - now).total_seconds()))
        for agent_id, (call_id, delay) in ends.items():
            self._wrap_ups[agent_id] = loop.call_later(
                delay, self._wrap_up_over, agent_id, call_id)
        if self._wrap_ups:
            logger.info("wrap-ups of %d agents from an earlier run timed", len(self._wrap_ups))

    def _wrap_up_over(self, agent_id: str, call_id: str) -> None:
        self._wrap_ups.pop(agent_id, None)
        task = asyncio.create_task(self._wrap_up_timeout(agent_id, call_id),
                                   name=f"wrap-up timeout {call_id}")
        self._timeouts.add(task)
        task.add_done_callback(self._timeouts.discard)

    async def _wrap_up_timeout(self, agent_id: str, call_id: str) -> None:
        try:
            with contextlib.suppress(AgentStateError):  # over already: the code was filed
                await self.dispatcher.service.call_event(agent_id, WrapUpTimeout(call_id))
            if self.dispatcher.on_wrap_up_timeout is not None:
                await self.dispatcher.on_wrap_up_timeout(int(agent_id), call_id)
        except Exception:  # the timer task's boundary
            logger.exception("agent %s: call %s: wrap-up timeout not handled", agent_id,
                             call_id)

    async def _drop_wrap_up_timers(self) -> None:
        for timer in self._wrap_ups.values():
            timer.cancel()
        for task in self._timeouts:
            task.cancel()
        await asyncio.gather(*self._timeouts, return_exceptions=True)

    def _on_binding(self, extension: str, binding: Binding | None) -> None:
        task = asyncio.ensure_future(
            self.live.set_registered(extension, binding is not None, utc_now()))
        task.add_done_callback(_log_failure)

    async def run(self, *, campaigns: bool = True) -> None:
        """The campaign loop (unless `campaigns` is False), routing's reconciler and the
        listeners for PCI pauses, monitors and agents' dials, until cancelled or one
        of them fails (raised).

        Stopping, each is cancelled until it has ended (`_cancel_until_done`): a
        cancel that came while they were connecting to Redis was lost (where, in
        redis-py or asyncio, is not known), and a task left running held the
        process's shutdown for ever (`callcase serve media` stopped just after its
        start, 1 time in 4 to 12)."""
        async with asyncio.TaskGroup() as group:
            if campaigns:
                group.create_task(_stoppable("dialer", self.dialer.run()), name="dialer")
            else:
                await self.dialer.recover()
                if (current := asyncio.current_task()) is not None and current.cancelling():
                    raise asyncio.CancelledError  # a cancel lost in the recovery's queries
            group.create_task(_stoppable("routing reconciler", self.reconciler.run()),
                              name="routing reconciler")
            group.create_task(_stoppable("PCI pauses", _kept("PCI pauses", lambda: pci.serve(
                self.redis, self.recordings.active, lambda: self.media.clock.ticks))))
            group.create_task(_stoppable("supervisor monitoring", _kept(
                "supervisor monitoring", lambda: monitoring.serve(self.redis, self.monitors))))
            group.create_task(_stoppable("agents' dial requests", _kept(
                "agents' dial requests", lambda: dial_requests.serve(
                    self.redis, lambda extension: self.registrar.lookup(extension) is not None,
                    self.dialer.dial_for_agent))))


async def _stoppable(name: str, work: Coroutine[Any, Any, None]) -> None:
    """`work` in a task of its own, which a cancel of this one cancels until it has
    ended (`_cancel_until_done`)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await _cancel_until_done(name, task)
        raise


async def _kept(name: str, serve: Callable[[], Awaitable[None]]) -> None:
    """A Redis listener for the process's lifetime: a lost connection (Redis
    restarted) is logged and the listener subscribes again a second later. Commands
    published meanwhile are not heard; their senders time out and say so."""
    while True:
        try:
            await serve()
        except (RedisError, OSError) as error:
            logger.warning("%s: Redis connection lost (%s); subscribing again in 1 s",
                           name, error)
        await asyncio.sleep(1.0)


RECANCEL_S = 1.0
RECANCEL_TRIES = 10


async def _cancel_until_done(name: str, task: asyncio.Future[None]) -> None:
    """Cancel `task` again every `RECANCEL_S` until it has ended (at most
    `RECANCEL_TRIES` times: a task that will not end is logged and left)."""
    for tries in range(1, RECANCEL_TRIES + 1):
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=RECANCEL_S)
        if done:
            if not task.cancelled() and task.exception() is not None:
                logger.warning("%s: ended on its cancel with %r", name, task.exception())
            return
        logger.warning("%s: still running %g s after it was cancelled; cancelling again",
                       name, tries * RECANCEL_S)
    logger.error("%s: would not stop; left behind", name)


def _log_failure(task: asyncio.Future[bool]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("registration not reflected in routing: %s", task.exception())


async def _wrapping_up(live: Live) -> dict[str, str]:
    """Agent -> call, for the agents the live state has wrapping up."""
    try:
        agents = await live.agents()
    except LiveRecordError as error:  # the rebuild replaces what it cannot read
        logger.warning("live state unreadable before the rebuild: %s", error)
        return {}
    return {a.agent_id: a.agent.call_id for a in agents
            if a.agent.state is AgentState.WRAP_UP and a.agent.call_id is not None}


async def _facts(pool: asyncpg.Pool, call_id: str) -> CallFacts | None:
    row = await dialer_store.attempt_by_call(pool, call_id)
    if row is None:
        return None
    return CallFacts(call_id=call_id, case_id=row["case_id"], client_id=row["client_id"],
                     started_at=row["answered_at"] or row["placed_at"], attempt_id=row["id"],
                     agent_id=row["agent_id"], campaign_id=row["campaign_id"])
