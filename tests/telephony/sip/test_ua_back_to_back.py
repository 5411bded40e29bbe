"""Two of our user agents calling each other over loopback UDP: the answering side,
CANCEL of an offered call, re-INVITE from the callee, and hundreds of calls at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from telephony.sip.call import Call, CallEvent
from telephony.sip.call_state import Outcome
from telephony.sip.incoming import IncomingCall
from telephony.sip.outgoing import OutgoingCall
from telephony.sip.sdp import Direction, SessionDescription, offer
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK

CALLER_SDP = bytes(offer(LOOPBACK, 41000, session_id=1))
CALLEE_SDP = bytes(offer(LOOPBACK, 42000, session_id=2))


@dataclass
class Callee:
    """The answering side: rings, then answers or just keeps ringing."""

    answer: bool = True
    offered: asyncio.Queue[IncomingCall] = field(default_factory=asyncio.Queue)
    answered: asyncio.Queue[Call] = field(default_factory=asyncio.Queue)

    async def __call__(self, incoming: IncomingCall) -> None:
        incoming.ring()
        self.offered.put_nowait(incoming)
        if self.answer:
            self.answered.put_nowait(incoming.answer(CALLEE_SDP))


@dataclass
class Pair:
    caller: UserAgent
    callee: UserAgent
    handler: Callee

    def call(self, ring_timeout: float = 10) -> OutgoingCall:
        port = self.callee.endpoint.address[1]
        return self.caller.invite(
            f"sip:agent@{LOOPBACK}:{port}", CALLER_SDP, from_uri=f"sip:queue@{LOOPBACK}",
            ring_timeout=ring_timeout,
        )  # fmt: skip


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    handler = Callee()
    caller = await UserAgent.open(LOOPBACK, 0)
    callee = await UserAgent.open(LOOPBACK, 0, on_invite=handler)
    yield Pair(caller, callee, handler)
    caller.close()
    callee.close()


async def until(call: Call, outcome: Outcome) -> list[Outcome]:
    seen: list[Outcome] = []
    async with asyncio.timeout(5):
        async for event in call.events():
            seen.append(event.outcome)
            if event.outcome is outcome:
                break
    return seen


async def test_answered_by_our_own_ua_then_the_callee_hangs_up(pair: Pair) -> None:
    call = pair.call()
    assert await until(call, Outcome.ANSWERED) == [
        Outcome.TRYING,
        Outcome.RINGING,
        Outcome.ANSWERED,
    ]
    async with asyncio.timeout(5):
        answered = await pair.handler.answered.get()
    assert call.remote_sdp == CALLEE_SDP and answered.remote_sdp == CALLER_SDP
    hung_up: list[CallEvent] = []
    call.on_remote_bye = hung_up.append
    assert (await answered.bye()).outcome is Outcome.ENDED
    assert [e.outcome for e in hung_up] == [Outcome.HUNG_UP]
    assert pair.caller.calls == {} and pair.callee.calls == {}


async def test_the_callee_puts_the_caller_on_hold(pair: Pair) -> None:
    call = pair.call()
    await until(call, Outcome.ANSWERED)
    answered = await pair.handler.answered.get()
    held = bytes(offer(LOOPBACK, 42000, session_id=2, version=2, direction=Direction.SENDONLY))
    reply = SessionDescription.parse(await answered.reinvite(held))
    assert reply.direction(reply.media[0]) is Direction.RECVONLY  # the default answer
    assert call.remote_sdp == held
    assert (await call.bye()).outcome is Outcome.ENDED


async def test_the_caller_cancels_an_offered_call(pair: Pair) -> None:
    pair.handler.answer = False
    call = pair.call()
    assert await until(call, Outcome.RINGING) == [Outcome.TRYING, Outcome.RINGING]
    offered = await pair.handler.offered.get()
    call.cancel()
    assert await until(call, Outcome.CANCELLED) == [Outcome.CANCELLED]
    assert call.outcome is not None and call.outcome.status == 487
    assert offered.cancelled.is_set() and not offered.pending


async def test_without_an_invite_handler_calls_get_480() -> None:
    caller = await UserAgent.open(LOOPBACK, 0)
    closed = await UserAgent.open(LOOPBACK, 0)
    try:
        port = closed.endpoint.address[1]
        call = caller.invite(f"sip:x@{LOOPBACK}:{port}", CALLER_SDP, from_uri="sip:q@127.0.0.1")
        final = await call.finished()
        assert (final.outcome, final.status) == (Outcome.REJECTED, 480)
    finally:
        caller.close()
        closed.close()


async def test_three_hundred_calls_at_once(pair: Pair) -> None:
    started = time.perf_counter()
    calls = [pair.call() for _ in range(300)]
    async with asyncio.timeout(20):
        answered = await asyncio.gather(*(until(c, Outcome.ANSWERED) for c in calls))
        assert all(seen[-1] is Outcome.ANSWERED for seen in answered)
        assert len(pair.callee.calls) == 300
        ended = await asyncio.gather(*(c.bye() for c in calls))
    elapsed = time.perf_counter() - started
    assert {e.outcome for e in ended} == {Outcome.ENDED}
    assert pair.caller.calls == {} and pair.callee.calls == {}
    assert pair.caller.endpoint.stats.errors == pair.callee.endpoint.stats.errors == 0
    assert elapsed < 10
