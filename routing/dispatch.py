"""Offering answered calls to agents: reserve, ring the softphone, bridge, wrap up.

`Dispatcher` is what the dialer's `AgentRouter` port asks for (wired in `api`).

    connect(call, queue, info, deadline):
      reserve the queue's best agent (Lua, atomic)       none free: wait, try again
      -> the registrar's binding for their extension       none: NoAnswer, next agent
      -> Offer; INVITE the softphone (ring until the deadline)
           answered: Answered; bridge the two legs; Connected
           declined: Rejected; rang out or unreachable: NoAnswer; next agent
      deadline passed: the reservation is withdrawn (Release); None (abandoned)
      withdrawn (the caller cancels): at once; the agent's leg is hung up and the
      agent released in a task of the dispatcher's, in that order
    release(connected): hang up the agent's leg; CallEnded; the wrap-up timer starts
      and, when it fires, WrapUpTimeout (the agent API sends WrapUpDone earlier when
      the action code is filed: `wrap_up_done`).

The offer loop waits for an agent by polling the ready set every `POLL_S` while the
deadline lasts (2 s at most: a subscription would save little). A lost live state
(Redis flushed or being rebuilt) counts as no agent free.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from redis.exceptions import RedisError

from cases.durable import storage_down
from cases.errors import NotFound
from routing.live import Live, LiveContentionError, LiveStateLost, Reservation
from routing.service import AgentService
from routing.state import (
    AgentState,
    AgentStateError,
    Answered,
    CallEnded,
    NoAnswer,
    Offer,
    Rejected,
    Release,
    Reserve,
    StateEvent,
    WrapUpDone,
    WrapUpTimeout,
)
from routing.status import AgentStatus
from telephony.control import CallControl, ControlledCall
from telephony.sip.call_state import Outcome
from telephony.sip.registrar import Registrar

logger = logging.getLogger(__name__)

POLL_S = 0.1
ENDING_RETRY_S = 10.0  # the reconciler's rebuild takes over after that
ENDING_RETRY_PAUSE_S = 0.25
UNAVAILABLE = (LiveStateLost, LiveContentionError, NotFound, RedisError)
ENDING = (Release, NoAnswer, Rejected, CallEnded, WrapUpDone, WrapUpTimeout)


@dataclass(frozen=True, slots=True)
class Connected:
    agent_id: int
    leg: ControlledCall
    call_id: str  # the debtor's call, as routing knows it


class Bridged(Protocol):
    """A debtor's call bridged to an agent (a `Connected`, as the dialer holds it)."""

    @property
    def agent_id(self) -> int: ...
    @property
    def leg(self) -> ControlledCall: ...
    @property
    def call_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Capacity:
    free: int
    talking: tuple[float, ...] = ()
    wrapping_up: tuple[float, ...] = ()
    mean_wrap_up_s: float = 20.0


class Dispatcher:
    def __init__(self, live: Live, service: AgentService, control: CallControl,
                 registrar: Registrar, clock: Callable[[], datetime],
                 monotonic: Callable[[], float] = time.monotonic, *,
                 on_wrap_up_timeout: Callable[[int, str], Awaitable[None]] | None = None
                 ) -> None:
        """`on_wrap_up_timeout(agent_id, call_id)`: called when an agent's wrap-up
        ran out (the composition root files the default action code if none was)."""
        self.live = live
        self.service = service
        self.control = control
        self.registrar = registrar
        self.clock = clock
        self.monotonic = monotonic
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._closed = False  # no wrap-up timed after close: the next start times them
        self.held: dict[str, str] = {}  # agent id -> the debtor call bridged to them
        self.on_wrap_up_timeout = on_wrap_up_timeout
        self._timeouts: set[asyncio.Task[None]] = set()
        self._withdrawals: set[asyncio.Task[None]] = set()

    async def capacity(self, queue_id: int | None) -> Capacity:
        if queue_id is None:
            return Capacity(free=0)
        try:
            agents = [a for a in await self.live.agents() if str(queue_id) in a.queues]
        except (LiveStateLost, RedisError):
            return Capacity(free=0)
        now = self.clock()
        free = sum(a.registered and a.view.agent.state is AgentState.IDLE
                   and a.agent.is_ready(now) and a.agent.status is AgentStatus.AVAILABLE
                   for a in agents)
        talking = tuple(0.0 for a in agents if a.agent.state is AgentState.TALKING)
        wrapping = tuple(_wrap_up_elapsed(a.agent.timers.wrap_up_time.total_seconds(),
                                          a.wrap_up_until, now)
                         for a in agents if a.agent.state is AgentState.WRAP_UP)
        return Capacity(free=free, talking=talking, wrapping_up=wrapping)

    async def connect(self, call: ControlledCall, queue_id: int | None, info: object,
                      deadline: float) -> Connected | None:
        """An agent's answered leg for `call` (the caller bridges it), or None by the
        deadline. Cancelled, it withdraws at once, so that the caller can play the
        abandon message within its 2 s: a ringing softphone is hung up and the agent
        released without penalty, an answered one ends as a call, in a task of the
        dispatcher's (`_withdrawal`); a reservation being made when the cancel came
        is given back when it is made."""
        if queue_id is None:
            return None
        trace = OfferTrace(self.monotonic)
        try:
            found = await self._connect(call, str(queue_id), deadline, trace)
        except asyncio.CancelledError:
            trace.withdrawn(call.call_id)
            raise
        if found is None and call.outcome is None:
            trace.withdrawn(call.call_id)
        return found

    async def _connect(self, call: ControlledCall, queue_id: str, deadline: float,
                       trace: OfferTrace) -> Connected | None:  # fmt: skip
        until = self.monotonic() + deadline
        while self.monotonic() < until and call.outcome is None:
            trace.at("reserving an agent (routing's live state)")
            reserving = asyncio.ensure_future(self._reserve(queue_id, call.call_id))
            try:
                reservation = await asyncio.shield(reserving)
            except asyncio.CancelledError:
                reserving.add_done_callback(self._give_back)
                raise
            if reservation is None:
                trace.at("waiting for a free agent", waited=True)
                await asyncio.sleep(POLL_S)
                continue
            leg = await self._offer(reservation, until, trace)
            if leg is None:
                continue
            _raise_if_withdrawn(reservation, leg, self._withdraw_later)
            try:
                if call.outcome is not None:  # the debtor hung up while the agent answered
                    await leg.hangup()
                    await self._event(reservation.agent_id, CallEnded(call.call_id))
                    return None
            except asyncio.CancelledError:
                self._withdraw_later(reservation, leg)
                raise
            self.held[reservation.agent_id] = call.call_id
            return Connected(int(reservation.agent_id), leg, call.call_id)
        return None

    async def claim(self, agent_id: int, call_id: str, ring_s: float) -> Connected | str:
        """The agent dials themselves (a preview or manual call): reserve that agent
        for `call_id`, ring their softphone and return the answered leg; else why not.
        The reservation is the agent state machine's (`Reserve`, check-and-set), so
        a queue reservation racing it finds the agent taken, or takes it first."""
        agent = str(agent_id)
        try:
            live = await self.live.agent(agent)
            if not live.registered:
                return "your softphone is not registered"
            await self.service.call_event(agent, Reserve(call_id))
        except (LiveStateLost, LiveContentionError, RedisError) as error:
            return f"routing is not ready: {error}"
        except NotFound:
            return "you are not in routing's live state (not an agent, or not logged in yet)"
        except AgentStateError as error:
            return f"you cannot take a call now: {error}"
        reservation = Reservation("", call_id, agent, live.extension, live.version + 1)
        leg = await self._offer(reservation, self.monotonic() + ring_s)
        if leg is None:
            return "your softphone did not answer"
        _raise_if_withdrawn(reservation, leg, self._withdraw_later)
        self.held[agent] = call_id
        return Connected(agent_id, leg, call_id)

    async def _reserve(self, queue_id: str, call_id: str) -> Reservation | None:
        try:
            return await self.live.reserve(queue_id, call_id, self.clock())
        except (LiveStateLost, LiveContentionError, RedisError) as error:
            logger.warning("queue %s: no reservation for call %s: %s", queue_id, call_id, error)
            return None

    async def _offer(self, reservation: Reservation, until: float,
                     trace: OfferTrace | None = None) -> ControlledCall | None:  # fmt: skip
        """Ring the reserved agent's softphone until `until`; the answered leg, or None
        (the agent's state records why). Cancelled at any step (withdrawn while
        ringing, or after the answer while the agent's state was being written, slow
        on a starved machine), it returns at once and leaves the leg's hang-up and the
        agent's release to `_withdrawal`: the leg must be hung up, or the softphone
        stays on a call nobody will end."""
        agent, call_id = reservation.agent_id, reservation.call_id
        trace = trace or OfferTrace(self.monotonic)
        leg: ControlledCall | None = None
        try:
            binding = self.registrar.lookup(reservation.extension)
            trace.at(f"agent {agent}: writing the offer to their state")
            if binding is None:
                await self._event(agent, Offer(call_id))
                await self._event(agent, NoAnswer(call_id))
                return None
            await self._event(agent, Offer(call_id))
            uri = str(binding.contact)
            trace.at(f"agent {agent}: calling their softphone")
            leg = await self.control.originate(
                uri, uri=uri, ring_timeout=max(0.2, until - self.monotonic()))
            trace.at(f"agent {agent}: their softphone ringing")
            if await _answered(leg, until - self.monotonic()):
                trace.at(f"agent {agent}: answered; writing it to their state")
                await self._event(agent, Answered(call_id))
                return leg
            final = await leg.hangup()
            missed: StateEvent = Rejected(call_id) if final.outcome in (
                Outcome.REJECTED, Outcome.BUSY) else NoAnswer(call_id)
            await self._event(agent, missed)
            return None
        except asyncio.CancelledError:
            self._withdraw_later(reservation, leg)
            raise

    def _withdraw_later(self, reservation: Reservation, leg: ControlledCall | None) -> None:
        task = asyncio.ensure_future(self._withdrawal(reservation, leg))
        self._withdrawals.add(task)
        task.add_done_callback(self._withdrawals.discard)

    def _give_back(self, reserving: asyncio.Future[Reservation | None]) -> None:
        """A reservation made after its call's offer was withdrawn: withdraw it too."""
        if reserving.cancelled() or reserving.exception() is not None:
            return
        reservation = reserving.result()
        if reservation is not None:
            self._withdraw_later(reservation, None)

    async def _withdrawal(self, reservation: Reservation, leg: ControlledCall | None) -> None:
        """A withdrawn offer, after the fact: the agent's leg hung up (up to 64*T1, 32 s,
        when a softphone ignores the CANCEL), then the agent released; the agent
        stays reserved meanwhile, their softphone being in no known state."""
        try:
            if leg is not None and leg.outcome is None:
                await leg.hangup()
            await self._withdraw(reservation)
        except Exception:  # the task's boundary: the reconciler corrects what is left
            logger.exception("agent %s: the withdrawal of call %s failed",
                             reservation.agent_id, reservation.call_id)

    async def _withdraw(self, reservation: Reservation) -> None:
        """The offer was withdrawn: the agent goes back without penalty (or, if they
        had answered already, through the end of a call)."""
        agent, call_id = reservation.agent_id, reservation.call_id
        if await self._event(agent, Release(call_id)) is None:
            await self._event(agent, CallEnded(call_id))

    async def release(self, connected: Bridged, *, ended_at: datetime) -> None:
        if connected.leg.outcome is None:
            await connected.leg.hangup()
        agent = str(connected.agent_id)
        self.held.pop(agent, None)
        await self._event(agent, CallEnded(connected.call_id))
        until = await self._wrap_up_until(agent, connected.call_id)
        if until is not None and not self._closed:
            delay = max(0.0, (until - self.clock()).total_seconds())
            loop = asyncio.get_running_loop()
            self._timers[connected.call_id] = loop.call_later(
                delay, self._wrap_up_timeout, agent, connected.call_id)

    async def _wrap_up_until(self, agent: str, call_id: str) -> datetime | None:
        """When the agent's wrap-up of `call_id` ends, if they are in it (the call's end
        applied here, or by a rebuild that found the call gone)."""
        try:
            live = await self.live.agent(agent)
        except (LiveStateLost, NotFound, RedisError) as error:
            logger.warning("agent %s: no wrap-up timer for call %s: %s", agent, call_id, error)
            return None
        if live.agent.state is not AgentState.WRAP_UP or live.agent.call_id != call_id:
            return None
        return live.wrap_up_until

    async def wrap_up_done(self, agent_id: int, call_id: str) -> None:
        """The agent filed the call's action code."""
        timer = self._timers.pop(call_id, None)
        if timer is not None:
            timer.cancel()
        await self._event(str(agent_id), WrapUpDone(call_id))

    def _wrap_up_timeout(self, agent: str, call_id: str) -> None:
        self._timers.pop(call_id, None)
        task = asyncio.ensure_future(self._timed_out(agent, call_id))
        self._timeouts.add(task)
        task.add_done_callback(self._timeouts.discard)

    async def _timed_out(self, agent: str, call_id: str) -> None:
        await self._event(agent, WrapUpTimeout(call_id))
        if self.on_wrap_up_timeout is None:
            return
        try:
            await self.on_wrap_up_timeout(int(agent), call_id)
        except Exception:  # the timer task's boundary
            logger.exception("agent %s: call %s: wrap-up timeout not handled", agent, call_id)

    async def _event(self, agent: str, event: StateEvent) -> object | None:
        """Apply what happened to the agent's call; None when it could not be: a stale
        event, or the live state lost (the rebuild decides the agent from PostgreSQL,
        the registrar and the calls still up, `routing.recovery`).

        An event that ends something (the offer, the call, the wrap-up) is tried again
        for up to `ENDING_RETRY_S` while the live state is unavailable: dropped, it
        would leave the agent reserved, ringing or talking on a call that is gone
        when Redis came back with the agent's record but lost the write (a connection
        killed mid-call). Once applied, or applied meanwhile by a rebuild, it is stale
        and dropped."""
        deadline = self.monotonic() + (ENDING_RETRY_S if isinstance(event, ENDING) else 0.0)
        while True:
            try:
                return await self.service.call_event(agent, event)
            except AgentStateError as error:  # stale: the call moved on meanwhile
                logger.info("agent %s: %s dropped: %s", agent, type(event).__name__, error)
                return None
            except Exception as error:  # a status change also writes to PostgreSQL
                if not isinstance(error, UNAVAILABLE) and not storage_down(error):
                    raise
                if self.monotonic() >= deadline:
                    logger.warning("agent %s: %s not applied, live state unavailable: %s",
                                   agent, type(event).__name__, error)  # fmt: skip
                    return None
                logger.info("agent %s: %s not applied yet (%s); trying again", agent,
                            type(event).__name__, error)  # fmt: skip
            await asyncio.sleep(ENDING_RETRY_PAUSE_S)

    def close(self) -> None:
        """Cancel the timers and the work under way. A wrap-up still running (its call
        ended at the shutdown, or after it) is timed by the next start, which files
        the default code for it when its deadline has passed (`CallPath.open`)."""
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in (*self._timeouts, *self._withdrawals):
            task.cancel()


def _raise_if_withdrawn(reservation: Reservation, leg: ControlledCall,
                       withdraw: Callable[[Reservation, ControlledCall], None]) -> None:
    """An offer cancelled while it ended may still have come back with its leg: on
    Python 3.11 `asyncio.wait_for` (asyncpg's timeouts use it) returns its result and
    swallows a cancel that came in the same turn. The caller has withdrawn all the
    same (and will not release what it does not get): hang up and release here."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        withdraw(reservation, leg)
        raise asyncio.CancelledError


async def _answered(leg: ControlledCall, within: float) -> bool:
    try:
        async with asyncio.timeout(max(0.0, within)):
            async for event in leg.events():
                if event.outcome is Outcome.ANSWERED:
                    return True
                if event.outcome.final:
                    return False
    except TimeoutError:
        return False
    return False


class OfferTrace:
    """Where an offer is and where its time went, for the log line of an offer
    withdrawn at its deadline (the call is abandoned): no agent was free, or one was
    and their state's writes or their softphone were slow. The first is the pacing's
    business (information), the others a fault to look into (a warning)."""

    __slots__ = ("monotonic", "since", "spent", "stage", "started", "waits")

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self.monotonic = monotonic
        self.started = self.since = monotonic()
        self.stage = "starting"
        self.spent: dict[str, float] = {}  # stage -> seconds, in the order first reached
        self.waits = 0

    def at(self, stage: str, *, waited: bool = False) -> None:
        if stage != self.stage:
            now = self.monotonic()
            self.spent[self.stage] = self.spent.get(self.stage, 0.0) + now - self.since
            self.stage, self.since = stage, now
        self.waits += waited

    def withdrawn(self, call_id: str) -> None:
        self.at("withdrawn")
        level = logging.INFO if not self.spent.keys() - IDLE_STAGES else logging.WARNING
        steps = ", ".join(f"{stage} {seconds * 1e3:.0f} ms" for stage, seconds
                          in self.spent.items() if stage != "starting")  # fmt: skip
        logger.log(level, "call %s: offer withdrawn after %.0f ms (%d waits for a free"
                   " agent): %s", call_id, (self.since - self.started) * 1e3, self.waits,
                   steps)


IDLE_STAGES = {"starting", "reserving an agent (routing's live state)",
               "waiting for a free agent"}


def _wrap_up_elapsed(wrap_up_s: float, until: datetime | None, now: datetime) -> float:
    if until is None:
        return wrap_up_s
    return max(0.0, wrap_up_s - (until - now).total_seconds())
