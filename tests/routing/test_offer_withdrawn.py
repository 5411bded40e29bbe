"""An offer withdrawn at any point leaves no agent leg up: the softphone rung for a
call is hung up whether the offer is withdrawn while it rings or just after it
answered, while the agent's state is still being written (slow on a starved machine).
The withdrawal returns at once (the dialer plays the abandon message within its 2 s)
and the hang-up and the agent's release follow, in that order, however long a
softphone that ignores the CANCEL takes. Pure: the dispatcher's offer with fakes for
the call control, registrar and agent service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import pytest

from routing.dispatch import Connected, Dispatcher
from routing.live import Live, Reservation
from routing.service import AgentService
from routing.state import Answered, StateEvent
from telephony.control import CallControl, ControlledCall
from telephony.sip.call_state import Outcome
from telephony.sip.registrar import Registrar


@dataclass
class Leg:
    """An agent's leg whose softphone answers at once (or never)."""

    answers: bool
    hung_up: int = 0
    outcome: Outcome | None = None
    ringing: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_answered: asyncio.Event = field(default_factory=asyncio.Event)

    async def events(self) -> AsyncIterator[SimpleNamespace]:
        if self.answers:
            yield SimpleNamespace(outcome=Outcome.ANSWERED)
        self.ringing.set()
        await asyncio.Event().wait()  # rings (or talks) until hung up

    async def hangup(self) -> SimpleNamespace:
        self.hung_up += 1
        await self.cancel_answered.wait()  # the softphone's final response to our CANCEL
        self.outcome = Outcome.ENDED
        return SimpleNamespace(outcome=Outcome.ENDED)


@dataclass
class Control:
    leg: Leg

    async def originate(self, to: str, *, uri: str, ring_timeout: float) -> Leg:
        return self.leg


@dataclass
class Service:
    """Writes the agent's state; an `Answered` waits until `written` is set."""

    written: asyncio.Event = field(default_factory=asyncio.Event)
    seen: list[str] = field(default_factory=list)
    answering: asyncio.Event = field(default_factory=asyncio.Event)

    async def call_event(self, agent: str, event: StateEvent) -> object:
        self.seen.append(type(event).__name__)
        if isinstance(event, Answered):
            self.answering.set()
            await self.written.wait()
        return object()


class Bindings:
    def lookup(self, extension: str) -> SimpleNamespace:
        return SimpleNamespace(contact="sip:1001@127.0.0.1:5070")


def dispatcher(leg: Leg, service: Service) -> Dispatcher:
    return Dispatcher(cast(Live, None), cast(AgentService, service),
                      cast(CallControl, Control(leg)), cast(Registrar, Bindings()),
                      lambda: datetime(2026, 11, 29, tzinfo=UTC))


RESERVED = Reservation("7", "call-1", "42", "1001", 3)


async def withdrawn(leg: Leg, service: Service, *, after: asyncio.Event) -> Dispatcher:
    """Offer `leg`, cancel the offer once `after` is set; the cancelled offer must end
    without waiting for the leg's hang-up. The dispatcher, its withdrawal under way."""
    routing = dispatcher(leg, service)
    offer = asyncio.ensure_future(routing._offer(RESERVED, 1e9))
    await after.wait()
    offer.cancel()
    async with asyncio.timeout(5):  # a hang guard: the softphone has not answered the CANCEL
        await asyncio.gather(offer, return_exceptions=True)
    assert offer.cancelled()
    return routing


async def finish(routing: Dispatcher, leg: Leg) -> None:
    leg.cancel_answered.set()
    async with asyncio.timeout(5):
        await asyncio.gather(*routing._withdrawals)


async def test_an_offer_withdrawn_after_the_answer_hangs_the_leg_up() -> None:
    leg, service = Leg(answers=True), Service()
    routing = await withdrawn(leg, service, after=service.answering)  # the answer being written
    await finish(routing, leg)
    assert leg.hung_up == 1 and service.seen[-1] == "Release"


async def test_an_offer_withdrawn_while_ringing_hangs_the_leg_up() -> None:
    leg, service = Leg(answers=False), Service()
    routing = await withdrawn(leg, service, after=leg.ringing)
    await finish(routing, leg)
    assert leg.hung_up == 1 and service.seen == ["Offer", "Release"]


async def test_the_agent_is_released_only_once_the_softphone_has_hung_up() -> None:
    leg, service = Leg(answers=False), Service()
    routing = await withdrawn(leg, service, after=leg.ringing)
    for _ in range(10):  # the withdrawal runs: it hangs up and waits for the softphone
        await asyncio.sleep(0)
    assert leg.hung_up == 1 and leg.outcome is None and service.seen == ["Offer"]
    await finish(routing, leg)
    assert leg.outcome is Outcome.ENDED and service.seen == ["Offer", "Release"]


async def test_an_answered_offer_keeps_its_leg() -> None:
    leg, service = Leg(answers=True), Service()
    service.written.set()
    async with asyncio.timeout(5):  # a hang guard, not a timing assertion
        got = await dispatcher(leg, service)._offer(RESERVED, 1e9)
    assert got is cast(object, leg) and leg.hung_up == 0 and service.seen == ["Offer", "Answered"]


@dataclass
class SlowLive:
    """Makes a reservation only when `done` is set (a slow Redis round trip)."""

    asked: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def reserve(self, queue_id: str, call_id: str, now: datetime) -> Reservation:
        self.asked.set()
        await self.done.wait()
        return RESERVED


async def test_a_reservation_made_after_the_withdrawal_is_given_back() -> None:
    leg, service, live = Leg(answers=False), Service(), SlowLive()
    routing = Dispatcher(cast(Live, live), cast(AgentService, service),
                         cast(CallControl, Control(leg)), cast(Registrar, Bindings()),
                         lambda: datetime(2026, 11, 29, tzinfo=UTC))  # fmt: skip
    call = SimpleNamespace(outcome=None, call_id="call-1")
    offer = asyncio.ensure_future(routing.connect(cast(ControlledCall, call), 7, None, 2.0))
    await live.asked.wait()
    offer.cancel()
    async with asyncio.timeout(5):  # a hang guard: the reservation is still being made
        await asyncio.gather(offer, return_exceptions=True)
    assert offer.cancelled() and service.seen == []
    live.done.set()  # Redis reserved the agent after all
    for _ in range(10):
        await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await asyncio.gather(*routing._withdrawals)
    assert service.seen == ["Release"] and leg.hung_up == 0


@dataclass
class SwallowingService(Service):
    """Writes `Answered` as a library call on Python 3.11 may: `asyncio.wait_for`
    whose result is ready returns it and swallows a cancel that came meanwhile."""

    async def call_event(self, agent: str, event: StateEvent) -> object:
        self.seen.append(type(event).__name__)
        if isinstance(event, Answered):
            self.answering.set()
            with contextlib.suppress(asyncio.CancelledError):
                await self.written.wait()
        return object()


async def test_a_leg_that_comes_back_from_a_withdrawn_offer_is_hung_up_all_the_same() -> None:
    leg, service = Leg(answers=True), SwallowingService()
    routing = dispatcher(leg, service)
    offer = connecting(routing)
    await service.answering.wait()
    offer.cancel()  # swallowed inside the write of Answered: _offer returns the leg
    async with asyncio.timeout(5):
        await asyncio.gather(offer, return_exceptions=True)
    assert offer.cancelled() and not routing.held
    await finish(routing, leg)
    assert leg.hung_up == 1 and service.seen == ["Offer", "Answered", "Release"]


def connecting(routing: Dispatcher) -> asyncio.Future[Connected | None]:
    """The offer of call-1 to the agent `RESERVED` holds, under way."""
    routing.live = cast(Live, SimpleNamespace(reserve=lambda *_: _reserved()))
    call = SimpleNamespace(outcome=None, call_id="call-1")
    return asyncio.ensure_future(routing.connect(cast(ControlledCall, call), 7, None, 1e9))


async def _reserved() -> Reservation:
    return RESERVED

async def withdrawal_logged(
    offer: asyncio.Future[Connected | None], caplog: pytest.LogCaptureFixture
) -> tuple[logging.LogRecord, list[str]]:
    """Withdraw ``offer``; its log line and steps (`logged`)."""
    with caplog.at_level(logging.INFO, logger="routing.dispatch"):
        offer.cancel()
        async with asyncio.timeout(5):  # a hang guard
            await asyncio.gather(offer, return_exceptions=True)
    return logged(caplog)


def logged(caplog: pytest.LogCaptureFixture) -> tuple[logging.LogRecord, list[str]]:
    """The withdrawn offer's log line and the steps it names, without their times."""
    (record,) = [r for r in caplog.records if "offer withdrawn" in r.getMessage()]
    steps = record.getMessage().split("): ", 1)[1].split(", ")
    return record, [re.sub(r" \d+ ms$", "", step) for step in steps]



async def test_an_offer_withdrawn_while_ringing_says_so_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    leg, service = Leg(answers=False), Service()
    routing = dispatcher(leg, service)
    offer = connecting(routing)
    await leg.ringing.wait()
    record, steps = await withdrawal_logged(offer, caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("call call-1: offer withdrawn after ")
    assert steps == [
        "reserving an agent (routing's live state)", "agent 42: writing the offer to their state",
        "agent 42: calling their softphone", "agent 42: their softphone ringing"]
    await finish(routing, leg)


async def test_an_offer_that_found_no_free_agent_is_logged_as_information(
    caplog: pytest.LogCaptureFixture,
) -> None:
    leg, service = Leg(answers=False), Service()
    routing = dispatcher(leg, service)
    asked = asyncio.Event()

    async def none_free(*_: object) -> None:
        asked.set()

    routing.live = cast(Live, SimpleNamespace(reserve=none_free))
    call = SimpleNamespace(outcome=None, call_id="call-2")
    with caplog.at_level(logging.INFO, logger="routing.dispatch"):
        async with asyncio.timeout(5):  # a hang guard: the deadline is 0.25 s
            got = await routing.connect(cast(ControlledCall, call), 7, None, 0.25)
    assert got is None
    record, steps = logged(caplog)
    assert record.levelno == logging.INFO
    assert steps == [
        "reserving an agent (routing's live state)", "waiting for a free agent"]
    assert service.seen == []


async def test_an_offer_withdrawn_after_the_answer_says_so_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The softphone answered in time, the agent's state was still being written at
    the deadline: the call is abandoned all the same, and the log says where it was."""
    leg, service = Leg(answers=True), Service()
    routing = dispatcher(leg, service)
    offer = connecting(routing)
    await service.answering.wait()  # answered; `Answered` being written
    record, steps = await withdrawal_logged(offer, caplog)
    assert record.levelno == logging.WARNING
    assert steps[-1] == "agent 42: answered; writing it to their state"
    await finish(routing, leg)
    assert leg.hung_up == 1 and service.seen == ["Offer", "Answered", "Release"]


async def test_an_agents_own_dial_rings_them_and_keeps_the_leg() -> None:
    leg, service = Leg(answers=True), Service()
    service.written.set()
    routing = dispatcher(leg, service)

    async def agent(agent_id: str) -> SimpleNamespace:
        return SimpleNamespace(registered=True, extension="1001", version=3)

    routing.live = cast(Live, SimpleNamespace(agent=agent))
    async with asyncio.timeout(5):  # a hang guard
        got = await routing.claim(42, "call-9", ring_s=5)
    assert isinstance(got, Connected) and got.agent_id == 42
    assert service.seen == ["Reserve", "Offer", "Answered"] and leg.hung_up == 0
