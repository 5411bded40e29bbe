"""A call whose wrap-up runs out with no code filed gets NOCODE, filed by the
service in its own name, once; a call with a code gets nothing more."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import cast

from api.wrap_up import file_default_code
from routing.dispatch import Dispatcher
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
