"""``kill -9`` of the call path with 50 live calls: on restart nothing is lost,
nothing is duplicated, nothing is left held.

A real ``callcase serve dialer`` process dials a progressive campaign of 60 debtors
(one sipp answering every number after 1 to 6 s and talking until our BYE) and
bridges each call to one of 50 agents (one sipp registering 50 extensions with
digest, one sipp answering and talking for all of them); the 10 spare debtors take
the place of calls abandoned when a loaded machine misses the 2 s to an agent. Once
50 calls are answered, bridged and recording, the process is killed with SIGKILL, the
bank recalls the cases never dialled, and the process is started again. Within 60 s
of the kill (a hang guard; the time is measured and printed):

* every attempt is closed with a final result, those the kill cut as
  ``interrupted`` and naming their agent, and no debtor's phone rang twice (sipp's
  own log of INVITEs);
* every answered call's recording is catalogued with a SHA-256 that matches the
  file, those of the cut calls recovered from their ``.part`` files with every frame
  that was on disk at the kill, and ``callcase recordings verify`` passes;
* no agent is left reserved, ringing or talking on a call that died; their
  wrap-ups end on time and each cut call gets the default code.

Then the floor registers again and a second bank's campaign places five calls on
another trunk: they reach the agents and record their own debtor and agent (not
the RTP the phones of the killed calls still send to the ports the restarted
process reuses), the campaign of the killed calls redials none of its cases even
with every agent free, and once the calls end the process holds no call, RTP port,
recording or task more than before them (its SIGUSR1 status).
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from dialer.campaign import Command
from dialer.store import command_campaign
from routing.agent import AgentTimers
from routing.fields import LiveAgent
from routing.live import Live
from routing.roster import ChangedBy, Changer, Member
from routing.state import AgentState
from routing.status import AgentStatus
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue, set_status
from telephony.lines import WorkLine
from telephony.store import add_line
from tests.api.test_e2e_campaign import redis
from tests.conftest import TEST_REDIS_URL
from tests.dialer.records import Phone, make_campaign, make_case, make_client
from tests.faults.floor import (
    DialerProcess,
    daytime_zone,
    dialer_process,
    invites_per_number,
    parts_under,
    register_floor,
    talking_phones,
    until,
)
from tests.faults.kill9_checks import (
    attempts_per_phone,
    check_attempts,
    check_late_recordings,
    check_recordings,
    codes_filed,
    open_attempts,
)
from tests.telephony.sip.peers import LOOPBACK, free_port

pytestmark = pytest.mark.e2e
__all__ = ["redis"]  # a fixture, used by name

CALLS, SPARE = 50, 10
REALM = "callcase"
AGENTS = {f"81{n:02d}": f"agent-81{n:02d}-pw" for n in range(CALLS)}
# uas_talk_spread.xml: answer after 1 to 6 s and talk until our BYE; the second bank's,
# uas_mixed.xml by the last digit: 4 answers and hangs up after 3 s
DEBTORS = [f"+861390000{n:03d}6" for n in range(CALLS + SPARE)]
LATE = [f"+861370000{n:03d}4" for n in range(5)]
WRAP_UP = timedelta(seconds=2)
HZ = {"debtor": 500, "agent": 900, "late": 1400}
HELD = {AgentState.RESERVED, AgentState.RINGING, AgentState.TALKING}


@pytest.mark.timeout(300)  # a hang guard: 35-85 s here, by the machine's load
async def test_kill9_with_50_live_calls_loses_duplicates_and_holds_nothing(
    pool: asyncpg.Pool,
    redis: Redis,
    database_url: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "recordings").mkdir()
    async with (
        talking_phones(tmp_path / "debtors", HZ["debtor"], "uas_talk_spread") as (debtors, trunk),
        talking_phones(tmp_path / "late", HZ["late"]) as (_, late_trunk),
        talking_phones(tmp_path / "phones", HZ["agent"], "uas_agent_talk") as (_, phones),
    ):
        first, late = await seed(pool, trunk, late_trunk)
        env = dialer_env(database_url, tmp_path)
        live = Live(redis)
        async with dialer_process(env, tmp_path / "dialer.log") as dialer:
            await register_floor(tmp_path / "register-1", dialer.sip_port, phones, AGENTS)
            await agents_ready(live)
            await command_campaign(pool, first, Command.START, now=datetime.now(UTC))
            await live_calls(pool, live, tmp_path / "recordings")
            dialer.kill()
            killed, killed_at = time.monotonic(), datetime.now(UTC)
            await dialer.proc.wait()
        on_disk = parts_under(tmp_path / "recordings")  # what reached the kernel
        at_kill = await open_attempts(pool)
        await recall_undialled(pool)
        async with dialer_process(env, tmp_path / "dialer.log") as dialer:
            await consistent(pool, live)
            took = time.monotonic() - killed
            print(f"kill -9 with {CALLS} live calls: consistent {took:.1f} s after the kill")
            await check_attempts(
                pool, at_kill, CALLS, debtors.file("*messages.log"), dialer.log_text()
            )
            await check_recordings(pool, tmp_path / "recordings", env, on_disk, killed_at)
            await wrap_ups_end(live)
            await codes_filed(pool)
            before = await settled(dialer)
            dialled = await attempts_per_phone(pool, first)
            await calls_after_restart(pool, live, dialer, tmp_path, phones, late)
            await quiet(dialer, before)
        recorded = tmp_path / "recordings"
        assert await check_late_recordings(pool, late, recorded, HZ["agent"], HZ["late"]) == len(
            LATE
        )
    # with every agent free again and the campaign running, none was dialled again
    assert await attempts_per_phone(pool, first) == dialled
    assert invites_per_number(debtors.file("*messages.log")) == dialled
    assert {key: before[key] for key in HELD_BY_CALLS} == dict.fromkeys(HELD_BY_CALLS, 0)


def dialer_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    rtp = free_port(400)
    return {
        "CALLCASE_DATABASE_URL": database_url,
        "CALLCASE_REDIS_URL": TEST_REDIS_URL,
        "CALLCASE_DATABASE_MAX_POOL": "20",
        "CALLCASE_SIP_HOST": LOOPBACK,
        "CALLCASE_SIP_PORT": str(free_port()),
        "CALLCASE_RTP_PORTS": f"{rtp}-{rtp + 400}",
        "CALLCASE_RECORDINGS_DIR": str(tmp_path / "recordings"),
        "CALLCASE_PROMPTS_DIR": str(tmp_path / "prompts"),
        "CALLCASE_DIALER_TICK_MS": "200",
        "CALLCASE_SIP_REALM": REALM,
        "CALLCASE_DIALER_NAME": "dialer-kill9",
    }


async def seed(pool: asyncpg.Pool, trunk: int, late_trunk: int) -> tuple[int, int]:
    """Two banks in a zone where it is early afternoon: the first with the 50 debtors
    on trunk1, the second with 5 on trunk2; one queue of 50 available agents."""
    zone = daytime_zone()
    await add_line(pool, WorkLine("trunk1", LOOPBACK, trunk, "+862100000000", max_channels=80))
    await add_line(pool, WorkLine("trunk2", LOOPBACK, late_trunk, "+862100000001"))
    queue = await create_queue(pool, NewQueue("floor"))
    now = datetime.now(UTC)
    for n, (extension, password) in enumerate(AGENTS.items()):
        user = await pool.fetchval(
            "INSERT INTO users (username, display_name, role, password_hash)"
            " VALUES ($1, $1, 'agent', 'x') RETURNING id",
            f"agent-{extension}",
        )
        await create_agent(
            pool, NewAgent(user, extension, password, AgentTimers(wrap_up_time=WRAP_UP)), REALM, now
        )
        await add_member(pool, Member(queue.id, user, position=n + 1))
        async with pool.acquire() as conn:
            await set_status(
                conn, user, AgentStatus.AVAILABLE, None, Changer(ChangedBy.SELF, user), now
            )
    campaigns = []
    for code, numbers, line in (("KILLBANK", DEBTORS, "trunk1"), ("LATEBANK", LATE, "trunk2")):
        client = await make_client(pool, code, zone=zone)
        for number in numbers:
            await make_case(pool, client, Phone(number), debtor_zone=zone)
        campaign = await make_campaign(
            pool, client, queue_id=queue.id, ring_timeout_s=15, work_lines=[line], amd_policy="off"
        )
        campaigns.append(campaign.id)
    return campaigns[0], campaigns[1]


async def agents_ready(live: Live) -> None:
    """Every agent registered and idle in routing's live state."""

    async def ready() -> object:
        agents = await live.agents()
        states = Counter((a.registered, str(a.agent.state)) for a in agents)
        return states == {(True, "idle"): CALLS} or states

    await until("agents registered and idle", 30, ready)


def states(agents: list[LiveAgent]) -> Counter[str]:
    return Counter(str(a.agent.state) for a in agents)


async def live_calls(pool: asyncpg.Pool, routing: Live, recordings: Path) -> None:
    """Until 50 calls are answered and bridged to their agent (PostgreSQL and Redis:
    talking) and recording (a ``.part`` file each, with audio written)."""

    async def live() -> object:
        rows = await pool.fetch(
            "SELECT call_id, answered_at, agent_id, ended_at FROM attempts"
            " WHERE answered_at IS NOT NULL"
        )
        ended = sum(r["ended_at"] is not None for r in rows)
        assert ended <= SPARE, f"more calls ended before the kill than spare debtors: {ended}"
        bridged = {r["call_id"] for r in rows if r["agent_id"] and r["ended_at"] is None}
        audio = {call for call, size in parts_under(recordings).items() if size > 44}
        seen = {
            "bridged": len(bridged),
            "talking": states(await routing.agents())["talking"],
            "recording": len(bridged & audio),
        }
        return set(seen.values()) == {CALLS} or seen

    await until(f"{CALLS} live calls", 60, live)


async def consistent(pool: asyncpg.Pool, live: Live) -> None:
    """Until every attempt is closed, every answered call's recording catalogued and
    no agent holds a call (the restarted process has no call of its own yet): within
    60 s of the kill (a hang guard)."""

    async def consistent() -> object:
        seen = {
            "open attempts": await pool.fetchval(
                "SELECT count(*) FROM attempts WHERE ended_at IS NULL"
            ),
            "uncatalogued": await pool.fetchval(
                "SELECT count(*) FROM attempts a WHERE answered_at IS NOT NULL"
                " AND NOT EXISTS (SELECT 1 FROM recordings r WHERE r.attempt_id = a.id)"
            ),
            "routing built": await live.is_built(),
        }
        held = states(await live.agents()) if seen["routing built"] else {}
        done = seen == {"open attempts": 0, "uncatalogued": 0, "routing built": True}
        return (done and not HELD & set(held)) or (seen, held)

    await until("a consistent state after the kill", 60, consistent)


async def recall_undialled(pool: asyncpg.Pool) -> None:
    """The spare cases never dialled before the kill are put on hold (the bank recalls
    them): after the restart only the cut calls' cases are left to redial, and none
    may be."""
    await pool.execute(
        "INSERT INTO case_holds (case_id, reason, placed_at) SELECT c.id, 'dispute', now()"
        " FROM cases c JOIN clients k ON k.id = c.client_id WHERE k.code = 'KILLBANK'"
        " AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.case_id = c.id)"
    )


async def wrap_ups_end(live: Live) -> None:
    """The agents whose calls died wrap up, and their wrap-ups end on time (the
    guard allows for a loaded machine)."""

    async def idle() -> object:
        seen = states(await live.agents())
        return seen == {"idle": CALLS} or seen

    await until("every agent idle after the wrap-up", WRAP_UP.total_seconds() + 20, idle)


async def calls_after_restart(
    pool: asyncpg.Pool, live: Live, dialer: DialerProcess, tmp_path: Path, phones: int, late: int
) -> None:
    """The floor registers again; the second bank's five calls reach agents and end."""
    await register_floor(tmp_path / "register-2", dialer.sip_port, phones, AGENTS)
    await agents_ready(live)
    await command_campaign(pool, late, Command.START, now=datetime.now(UTC))

    async def ended() -> object:
        rows = await pool.fetch(
            "SELECT result FROM attempts WHERE campaign_id = $1 AND ended_at IS NOT NULL", late
        )
        results = Counter(r["result"] for r in rows)
        return results == {"connected": len(LATE)} or results

    await until("the second bank's calls connected and ended", 30, ended)
    await wrap_ups_end(live)
    await codes_filed(pool)


async def settled(dialer: DialerProcess) -> dict[str, object]:
    """The process's status once its tasks stay the same between two looks."""
    last: list[object] = [None]

    async def same() -> object:
        status = await dialer.status()
        previous, last[0] = last[0], status["tasks_by_name"]
        return previous == status["tasks_by_name"] or status

    await until("the process's tasks settled", 10, same)
    return await dialer.status()


HELD_BY_CALLS = ("calls", "rtp_streams", "rtp_ports_in_use", "recordings", "attempts")


async def quiet(dialer: DialerProcess, before: dict[str, object]) -> None:
    """Once its calls ended the process holds no call, RTP port, recording, attempt
    or agent, and runs the tasks it ran before them (a leak never gets back there;
    a task finishing its last write gets there within the guard)."""

    async def back() -> object:
        status = await dialer.status()
        held = {key: status[key] for key in (*HELD_BY_CALLS, "agents_on_calls")}
        done = set(held.values()) == {0} and status["tasks_by_name"] == before["tasks_by_name"]
        return done or status

    await until("the process holding nothing its calls held", 10, back)
