"""The 2 s agent deadline (pure, fakes for routing): an offer still open at the
deadline is withdrawn and the call goes on without an agent, even when the agent's
softphone answered in time and routing was still writing their state; an
agent who comes back from the withdrawn offer all the same (a cancel swallowed on the
way, as `asyncio.wait_for` does on Python 3.11) is released, never left on a dead leg."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from dialer.calls import CallDeps, _agent_within


def deps(released: list[Any]) -> CallDeps:
    async def release(connected: Any, *, ended_at: datetime) -> None:
        released.append(connected)

    router = SimpleNamespace(release=release)
    return cast(CallDeps, SimpleNamespace(router=router,
                                          clock=lambda: datetime(2026, 11, 29, tzinfo=UTC)))


CAME = SimpleNamespace(agent_id=42, leg=SimpleNamespace(), call_id="call-1")


async def test_an_offer_still_open_at_the_deadline_is_withdrawn() -> None:
    released: list[Any] = []
    offer: asyncio.Future[Any] = asyncio.ensure_future(asyncio.sleep(10, result=CAME))
    assert await _agent_within(deps(released), offer, 0.01) is None
    assert offer.cancelled() and released == []


async def test_an_agent_who_comes_back_from_a_withdrawn_offer_is_released() -> None:
    released: list[Any] = []

    async def stubborn() -> SimpleNamespace:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            return CAME  # the cancel swallowed: the offer ends with its agent
        raise AssertionError("not reached")

    offer: asyncio.Future[Any] = asyncio.ensure_future(stubborn())
    assert await _agent_within(deps(released), offer, 0.01) is None
    assert released == [CAME]


async def test_an_agent_within_the_deadline_is_kept() -> None:
    released: list[Any] = []
    offer: asyncio.Future[Any] = asyncio.ensure_future(asyncio.sleep(0, result=CAME))
    assert await _agent_within(deps(released), offer, 5.0) is CAME
    assert released == []
