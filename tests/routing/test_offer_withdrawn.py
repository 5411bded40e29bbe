"""An offer withdrawn at any point leaves no agent leg up: the softphone rung for a
call is hung up whether the offer is withdrawn while it rings or just after it
answered, while the agent's state is still being written (slow on a starved machine).
Pure: the dispatcher's offer with fakes for the call control, registrar and agent
service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

from routing.dispatch import Dispatcher
from routing.live import Live, Reservation
from routing.service import AgentService
from routing.state import Answered, StateEvent
from telephony.control import CallControl
from telephony.sip.call_state import Outcome
from telephony.sip.registrar import Registrar


@dataclass
class Leg:
    """An agent's leg whose softphone answers at once (or never)."""

    answers: bool
    hung_up: int = 0
    outcome: Outcome | None = None
    ringing: asyncio.Event = field(default_factory=asyncio.Event)

    async def events(self) -> AsyncIterator[SimpleNamespace]:
        if self.answers:
            yield SimpleNamespace(outcome=Outcome.ANSWERED)
        self.ringing.set()
        await asyncio.Event().wait()  # rings (or talks) until hung up

    async def hangup(self) -> SimpleNamespace:
        self.hung_up += 1
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


async def test_an_offer_withdrawn_after_the_answer_hangs_the_leg_up() -> None:
    leg, service = Leg(answers=True), Service()
    offer = asyncio.ensure_future(dispatcher(leg, service)._offer(RESERVED, 1e9))
    await service.answering.wait()  # the answer is being written
    offer.cancel()
    await asyncio.gather(offer, return_exceptions=True)
    assert offer.cancelled()
    assert leg.hung_up == 1


async def test_an_offer_withdrawn_while_ringing_hangs_the_leg_up() -> None:
    leg, service = Leg(answers=False), Service()
    offer = asyncio.ensure_future(dispatcher(leg, service)._offer(RESERVED, 1e9))
    await leg.ringing.wait()
    offer.cancel()
    await asyncio.gather(offer, return_exceptions=True)
    assert offer.cancelled() and leg.hung_up == 1


async def test_an_answered_offer_keeps_its_leg() -> None:
    leg, service = Leg(answers=True), Service()
    service.written.set()
    async with asyncio.timeout(5):  # a hang guard, not a timing assertion
        got = await dispatcher(leg, service)._offer(RESERVED, 1e9)
    assert got is cast(object, leg) and leg.hung_up == 0 and service.seen == ["Offer", "Answered"]
