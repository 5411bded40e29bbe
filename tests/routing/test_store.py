"""Agents, queues and the status history on a real PostgreSQL: the softphone
password is kept only as its HA1 and registers a real REGISTER; agents, queues and
members load back; every status change is logged in the same transaction."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from cases.domain import Role
from cases.errors import Conflict, InvalidInput, NotFound
from cases.store import NewUser, add_user
from routing import store
from routing.agent import AgentTimers
from routing.roster import SYSTEM, ChangedBy, Changer, Member
from routing.status import AgentStatus
from telephony.sip.digest import ha1
from telephony.sip.registrar import RETRY_AFTER_S, Registrar
from tests.routing.build import NOW, TIMERS, later
from tests.routing.world import PASSWORD, REALM, add_agents, add_queue
from tests.telephony.sip.peers import free_port
from tests.telephony.sip.test_registrar_handle import SOURCE, login, register


async def test_the_password_is_kept_only_as_the_ha1_of_extension_realm_password(
    pool: asyncpg.Pool,
) -> None:
    [agent] = await add_agents(pool, 1)
    row = await pool.fetchrow("SELECT * FROM agents WHERE user_id = $1", agent.user_id)
    assert row is not None
    assert row["sip_ha1"] == ha1("MD5", "1000", REALM, PASSWORD) and row["sip_realm"] == REALM
    assert not any(PASSWORD in str(value) for value in row.values())
    assert "softphone-secret" not in repr(store.NewAgent(1, "1000", PASSWORD))


async def test_a_softphone_registers_with_the_agents_password_through_postgresql(
    pool: asyncpg.Pool,
) -> None:
    [agent] = await add_agents(pool, 1)
    registrar = Registrar(store.PgCredentials(pool, REALM), realm=REALM)
    wrong = await login(registrar, register(agent.extension, call_id="r1"), "1000", "guess")
    assert wrong is not None and wrong.status == 403
    right = await login(registrar, register(agent.extension, call_id="r2"), "1000", PASSWORD)
    assert right is not None and right.status == 200
    assert registrar.lookup(agent.extension) is not None


async def test_with_the_database_away_a_softphone_is_told_503_and_when_to_retry() -> None:
    """A refused connection is an outage, not a wrong password: 503 with Retry-After,
    and no failure counted against the phone's address."""
    away = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/none",
                                     min_size=0, max_size=1)  # fmt: skip
    try:
        registrar = Registrar(store.PgCredentials(away, REALM), realm=REALM)
        for attempt in range(6):  # more than the lockout's five failures
            answer = await login(registrar, register("1000", call_id=f"r{attempt}"),
                                 "1000", PASSWORD)  # fmt: skip
            assert answer is not None and answer.status == 503
            assert answer.headers.get("Retry-After") == str(RETRY_AFTER_S)
        assert not registrar.lockout.is_blocked(SOURCE[0], registrar.clock())
    finally:
        await away.close()


async def test_credentials_are_only_for_active_agents_in_this_realm(pool: asyncpg.Pool) -> None:
    [agent] = await add_agents(pool, 1)
    assert await store.PgCredentials(pool, REALM).ha1_for("1000") is not None
    assert await store.PgCredentials(pool, "other.example").ha1_for("1000") is None
    assert await store.PgCredentials(pool, REALM).ha1_for("1999") is None
    await pool.execute("UPDATE users SET active = false WHERE id = $1", agent.user_id)
    assert await store.PgCredentials(pool, REALM).ha1_for("1000") is None


async def test_only_an_agent_user_becomes_an_agent_once_with_a_free_extension(
    pool: asyncpg.Pool,
) -> None:
    boss = await add_user(pool, NewUser("boss", "Boss", Role.SUPERVISOR, "x"))
    with pytest.raises(InvalidInput, match="not an agent"):
        await store.create_agent(pool, store.NewAgent(boss.id, "1500", PASSWORD), REALM, NOW)
    with pytest.raises(NotFound):
        await store.create_agent(pool, store.NewAgent(999, "1500", PASSWORD), REALM, NOW)
    [agent] = await add_agents(pool, 1)
    other = await add_user(pool, NewUser("agent9", "Nine", Role.AGENT, "x"))
    with pytest.raises(Conflict):
        await store.create_agent(pool, store.NewAgent(other.id, agent.extension, PASSWORD),
                                 REALM, NOW)  # fmt: skip
    with pytest.raises(InvalidInput, match="at least 8"):
        await store.create_agent(pool, store.NewAgent(other.id, "1501", "short"), REALM, NOW)
    with pytest.raises(InvalidInput, match="invalid agent: agents_extension_check"):
        await store.create_agent(pool, store.NewAgent(other.id, "15:01", PASSWORD), REALM, NOW)


async def test_an_agent_is_updated_and_a_new_extension_needs_the_password(
    pool: asyncpg.Pool,
) -> None:
    [agent] = await add_agents(pool, 1)
    with pytest.raises(InvalidInput, match="needs the password"):
        await store.update_agent(pool, agent.user_id, store.AgentChanges(extension="2000"), REALM)
    timers = AgentTimers(wrap_up_time=timedelta(seconds=45), max_no_answer=0)
    changed = await store.update_agent(pool, agent.user_id, store.AgentChanges(
        extension="2000", password="new-password", timers=timers, skills={"legal": 4},
    ), REALM)  # fmt: skip
    assert (changed.extension, changed.timers, changed.skills) == ("2000", timers, {"legal": 4})
    found = await store.PgCredentials(pool, REALM).ha1_for("2000")
    assert found == ha1("MD5", "2000", REALM, "new-password")


async def test_queues_are_created_with_any_campaign_id_and_known_strategies_only(
    pool: asyncpg.Pool,
) -> None:
    made = await add_queue(pool, "cards", [], "skills_weighted", 424242, cards=2)
    assert (made.campaign_id, made.required_skills) == (424242, {"cards": 2})
    with pytest.raises(InvalidInput, match="'fastest'"):
        await store.create_queue(pool, store.NewQueue("x", "fastest"))
    with pytest.raises(Conflict):
        await store.create_queue(pool, store.NewQueue("cards"))


async def test_the_roster_loads_active_agents_queues_and_members(pool: asyncpg.Pool) -> None:
    agents = await add_agents(pool, 3, skills={"cards": 3})
    cards = await add_queue(pool, "cards", agents[:2], "round_robin")
    legal = await add_queue(pool, "legal", agents[1:], legal=1)
    await store.add_member(pool, Member(legal.id, agents[1].user_id, level=2, position=5))
    assert await store.remove_member(pool, legal.id, agents[2].user_id)
    await pool.execute("UPDATE users SET active = false WHERE id = $1", agents[0].user_id)
    roster = await store.load_roster(pool)
    assert [a.user_id for a in roster.agents] == [agents[1].user_id, agents[2].user_id]
    assert roster.agents[0].timers == TIMERS and roster.agents[0].skills == {"cards": 3}
    assert [(q.name, q.strategy, dict(q.required_skills)) for q in roster.queues] == [
        ("cards", "round_robin", {}), ("legal", "longest_idle", {"legal": 1})]
    assert roster.members == (Member(cards.id, agents[1].user_id),
                              Member(legal.id, agents[1].user_id, 2, 5))  # fmt: skip
    assert roster.memberships()[agents[2].user_id] == frozenset()


async def test_a_status_change_is_logged_with_who_made_it(pool: asyncpg.Pool) -> None:
    [agent] = await add_agents(pool, 1)
    boss = Changer(ChangedBy.SUPERVISOR, agent.user_id)
    async with pool.acquire() as conn:
        await store.set_status(conn, agent.user_id, AgentStatus.AVAILABLE, None, boss, NOW)
        await store.set_status(conn, agent.user_id, AgentStatus.ON_BREAK, "max_no_answer",
                               SYSTEM, later(9))  # fmt: skip
    profile = await store.get_agent(pool, agent.user_id)
    assert (profile.status, profile.status_reason, profile.status_since) == (
        AgentStatus.ON_BREAK, "max_no_answer", later(9))
    log = await store.status_log(pool, agent.user_id)
    assert [(c.from_status, c.to_status, c.reason, c.by) for c in log] == [
        (AgentStatus.LOGGED_OUT, AgentStatus.AVAILABLE, None, boss),
        (AgentStatus.AVAILABLE, AgentStatus.ON_BREAK, "max_no_answer", SYSTEM),
    ]


async def test_a_status_change_rolled_back_leaves_no_log_and_the_log_is_append_only(
    pool: asyncpg.Pool,
) -> None:
    [agent] = await add_agents(pool, 1)
    me = Changer(ChangedBy.SELF, agent.user_id)
    with pytest.raises(RuntimeError, match="router down"):
        async with pool.acquire() as conn, conn.transaction():
            await store.set_status(conn, agent.user_id, AgentStatus.AVAILABLE, None, me, NOW)
            raise RuntimeError("router down")
    assert (await store.get_agent(pool, agent.user_id)).status is AgentStatus.LOGGED_OUT
    assert await store.status_log(pool, agent.user_id) == []
    async with pool.acquire() as conn:
        await store.set_status(conn, agent.user_id, AgentStatus.AVAILABLE, None, me, NOW)
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await pool.execute("UPDATE agent_status_log SET reason = 'edited'")
    with pytest.raises(NotFound):
        async with pool.acquire() as conn:
            await store.set_status(conn, 999, AgentStatus.AVAILABLE, None, me, NOW)
