"""A call whose wrap-up runs out with no code filed gets NOCODE, filed by the
service in its own name, once; a call with a code gets nothing more."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import cast

from redis.exceptions import ConnectionError as RedisConnectionError

from api.wrap_up import file_default_code
from routing.dispatch import Bridged, Dispatcher
from routing.service import AgentService
from routing.state import AgentState, StateEvent
from telephony.control import CallControl
from telephony.sip.registrar import Registrar
from tests.api.conftest import ApiClient
from tests.api.floor import Floor, floor
from tests.api.test_agents_api import talking
from tests.api.world import NOW, World

__all__ = ["floor"]  # a fixture, used by name


async def test_no_code_in_wrap_up_files_nocode_once(api: ApiClient, world: World,
                                                    floor: Floor) -> None:
    attempt_id = await talking(api, floor, call="call-w", result="connected")
    case_id = world.cases["A1"]
    status = await world.pool.fetchval("SELECT status FROM cases WHERE id = $1", case_id)
    action = await file_default_code(world.pool, world.users["agent_a"].id, "call-w", NOW)
    assert action is not None
    assert (action.code, action.case_id, action.user_id) == ("NOCODE", case_id, None)
    row = await world.pool.fetchrow("SELECT attempt_id, phone_id FROM actions WHERE id = $1",
                                    action.id)
    assert row is not None and row["attempt_id"] == attempt_id and row["phone_id"] is not None
    case = await world.pool.fetchrow("SELECT status, next_action_at FROM cases WHERE id = $1",
                                     case_id)
    assert case is not None
    assert (case["status"], case["next_action_at"]) == (status, NOW + timedelta(hours=24))
    assert await file_default_code(world.pool, world.users["agent_a"].id, "call-w", NOW) is None
    assert await world.pool.fetchval("SELECT count(*) FROM actions WHERE attempt_id = $1",
                                     attempt_id) == 1
    audited = await world.pool.fetchrow(
        "SELECT username, details::text AS details FROM audit_log WHERE action = 'action.file'")
    assert audited is not None and audited["username"] is None and "NOCODE" in audited["details"]


async def test_a_call_with_a_code_gets_no_default(api: ApiClient, world: World,
                                                  floor: Floor) -> None:
    await talking(api, floor, call="call-c", result="connected")
    await floor.hang_up("agent_a", "call-c")
    resp = await api.post("/agent/call/action", json={"code": "RPC"},
                          headers={**world.headers("agent_a"), "Idempotency-Key": "k1"})
    assert resp.status in (200, 201), await resp.text()
    assert await file_default_code(world.pool, world.users["agent_a"].id, "call-c", NOW) is None
    assert await file_default_code(world.pool, world.users["agent_a"].id, "no-call", NOW) is None


async def test_the_dispatchers_wrap_up_timer_calls_the_filer(floor: Floor) -> None:
    called: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

    async def filer(agent_id: int, call_id: str) -> None:
        await called.put((agent_id, call_id))

    dispatcher = Dispatcher(floor.live, floor.service, cast(CallControl, None),
                            cast(Registrar, None), lambda: NOW, on_wrap_up_timeout=filer)
    dispatcher._wrap_up_timeout(floor.id("agent_a"), "call-t")
    async with asyncio.timeout(5):
        assert await called.get() == (int(floor.id("agent_a")), "call-t")
    dispatcher.close()


class _FlakyService:
    """The agent service with Redis connections killed under it `failures` times."""

    def __init__(self, service: AgentService, failures: int) -> None:
        self.service, self.failures, self.tries = service, failures, 0

    async def call_event(self, agent_id: str, event: StateEvent) -> object:
        self.tries += 1
        if self.tries <= self.failures:
            raise RedisConnectionError("Connection closed by server.")
        return await self.service.call_event(agent_id, event)


@dataclass
class _Ended:
    agent_id: int
    call_id: str
    leg: object = field(default_factory=lambda: SimpleNamespace(outcome="ended"))


async def test_a_call_end_lost_to_a_redis_blip_is_applied_once_redis_answers(
    api: ApiClient, floor: Floor
) -> None:
    """Found by the Redis-restart fault test: the call's end dropped while the
    connections were being killed left the agent talking on a call that was gone."""
    await talking(api, floor, call="call-r", result="connected")
    flaky = _FlakyService(floor.service, failures=3)
    called: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

    async def filer(agent_id: int, call_id: str) -> None:
        await called.put((agent_id, call_id))

    dispatcher = Dispatcher(floor.live, cast(AgentService, flaky), cast(CallControl, None),
                            cast(Registrar, None), lambda: NOW, on_wrap_up_timeout=filer)
    agent = int(floor.id("agent_a"))
    await dispatcher.release(cast(Bridged, _Ended(agent, "call-r")), ended_at=NOW)
    live = await floor.live.agent(floor.id("agent_a"))
    assert (live.agent.state, live.agent.call_id, flaky.tries) == (
        AgentState.WRAP_UP, "call-r", 4)
    assert "call-r" in dispatcher._timers  # the wrap-up timer runs: NOCODE if nothing filed
    dispatcher.close()


async def test_a_call_end_a_rebuild_applied_first_still_starts_the_wrap_up_timer(
    api: ApiClient, floor: Floor
) -> None:
    await talking(api, floor, call="call-b", result="connected")
    await floor.hang_up("agent_a", "call-b")  # as the rebuild's settle does for a gone call
    dispatcher = Dispatcher(floor.live, floor.service, cast(CallControl, None),
                            cast(Registrar, None), lambda: NOW)
    agent = int(floor.id("agent_a"))
    await dispatcher.release(cast(Bridged, _Ended(agent, "call-b")), ended_at=NOW)
    assert "call-b" in dispatcher._timers
    dispatcher.close()


async def test_a_call_that_ends_after_the_shutdown_leaves_its_wrap_up_to_the_next_start(
    api: ApiClient, floor: Floor
) -> None:
    """Call control hangs up the calls still up after the dispatcher has closed: no
    timer may fire then (its default code would be written on a closing pool); the
    next start times the wrap-up it finds in the live state (`CallPath.open`)."""
    await talking(api, floor, call="call-s", result="connected")
    dispatcher = Dispatcher(floor.live, floor.service, cast(CallControl, None),
                            cast(Registrar, None), lambda: NOW)
    dispatcher.close()
    await dispatcher.release(cast(Bridged, _Ended(int(floor.id("agent_a")), "call-s")),
                             ended_at=NOW)
    live = await floor.live.agent(floor.id("agent_a"))
    assert (live.agent.state, live.agent.call_id) == (AgentState.WRAP_UP, "call-s")
    assert dispatcher._timers == {}
