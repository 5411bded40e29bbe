"""How a bridged call's end is written: who hung up, or whose RTP timed out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import cast

import pytest

from dialer.calls import CallDeps, talk
from dialer.ports import Connected
from telephony.control import ControlledCall
from telephony.sip.call import CallEvent
from telephony.sip.call_state import Outcome


class Leg:
    def __init__(self) -> None:
        self.done: asyncio.Future[CallEvent] = asyncio.get_running_loop().create_future()

    async def finished(self) -> CallEvent:
        return await asyncio.shield(self.done)


@pytest.mark.parametrize(
    ("ends", "outcome", "cause"),
    [("debtor", Outcome.HUNG_UP, "debtor hung up"),
     ("agent", Outcome.HUNG_UP, "agent hung up"),
     ("debtor", Outcome.MEDIA_TIMEOUT, "no RTP from the debtor (RTP timeout)"),
     ("agent", Outcome.MEDIA_TIMEOUT, "no RTP from the agent (RTP timeout)")],
)  # fmt: skip
async def test_the_cause_says_who_ended_the_call_and_how(
    ends: str, outcome: Outcome, cause: str
) -> None:
    debtor, agent = Leg(), Leg()
    released: list[object] = []

    async def release(connected: object, *, ended_at: datetime) -> None:
        released.append(connected)

    router = SimpleNamespace(release=release)
    deps = cast(CallDeps, SimpleNamespace(router=router, clock=lambda: datetime.now(UTC)))
    connected = cast(Connected, SimpleNamespace(leg=agent, agent_id=7))
    (debtor if ends == "debtor" else agent).done.set_result(CallEvent(outcome, 200))
    ending = await talk(deps, cast(ControlledCall, debtor), connected, None)
    assert (ending.cause, ending.agent_id, released) == (cause, 7, [connected])
