"""The demo's collection day: every part real, on one machine, in one process.

After `api.demo.prepare` has made the demo database: a work line to the simulated
carrier, the demo agents with softphone extensions in one queue, a progressive
campaign under cn-bank; then the simulated carrier, the call path (registrar,
media, recorder, routing, campaign loop), the API, and pyVoIP agents that register,
answer, speak and file action codes through the agent API. The campaign runs for
`minutes` on a demo clock that starts at 10:00 in Shanghai today (so the calling
window is open whenever the demo is run), with progress on the terminal; then it is
paused, the calls in progress finish, the day's recordings are transcribed locally
and the day's report is printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg
from redis.asyncio import Redis

from api.callpath import CallPath
from api.dayreport import day_report
from api.server import REDIS_CONNECTIONS, api_site
from api.settings import Settings
from api.simulate_agents import AgentLogin, SimulatedAgent
from dialer.campaign import Command, parse_settings
from dialer.store import add_campaign, command_campaign
from recording.storage import LocalStorage
from routing.agent import AgentTimers
from routing.roster import Member
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue
from telephony.lines import WorkLine
from telephony.media.engine import MediaEngine
from telephony.simulated.behaviour import Profile
from telephony.simulated.carrier import SimulatedCarrier
from telephony.simulated.speech import Speech
from telephony.store import add_line
from transcription import qa_store, recognizer
from transcription.worker import WorkerConfig, work_one

logger = logging.getLogger(__name__)

CARRIER_PORT = 5070
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, slots=True)
class DayPlan:
    minutes: float
    agents: tuple[AgentLogin, ...]
    workdir: Path


def demo_clock() -> Callable[[], datetime]:
    local = datetime.now(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    start, base = time.monotonic(), local.astimezone(UTC)
    return lambda: base + timedelta(seconds=time.monotonic() - start)


async def setup_day(pool: asyncpg.Pool, client_id: int, plan: DayPlan, realm: str,
                    now: datetime) -> int:
    """The work line, the agents' softphones, the queue and the campaign; its id."""
    await add_line(pool, WorkLine("sim", "127.0.0.1", CARRIER_PORT, "4008001234",
                                  max_channels=60))
    queue = await create_queue(pool, NewQueue("demo collections"))
    for n, login in enumerate(plan.agents):
        user_id = await pool.fetchval("SELECT id FROM users WHERE username = $1", login.username)
        timers = AgentTimers(wrap_up_time=timedelta(seconds=5))
        await create_agent(pool, NewAgent(user_id, login.extension, login.sip_password, timers),
                           realm, now)
        await add_member(pool, Member(queue.id, user_id, position=n + 1))
    settings = parse_settings({
        "name": "Demo day: M1-M6+ progressive", "mode": "progressive", "work_lines": ["sim"],
        "queue_id": queue.id, "ring_timeout_s": 20, "amd_policy": "hang_up",
        "parties": ["debtor", "guarantor"],
    }, client_pack="cn-bank")
    campaign = await add_campaign(pool, client_id, settings, by=None, now=now)
    return campaign.id


@contextlib.asynccontextmanager
async def carrier(workdir: Path) -> AsyncIterator[SimulatedCarrier]:
    speech = Speech(workdir / "sim-audio", voice="cmn")
    async with MediaEngine(host="127.0.0.1", port_range=(62000, 64000)) as media:
        sim = await SimulatedCarrier.open("127.0.0.1", CARRIER_PORT, profile=Profile(seed=7),
                                          speech=speech, media=media)
        try:
            yield sim
        finally:
            await sim.close()


async def run_day(settings: Settings, plan: DayPlan, client_id: int) -> None:
    clock = demo_clock()
    db = settings.database
    pool = await asyncpg.create_pool(db.url, min_size=2, max_size=db.max_pool)
    redis = Redis.from_url(settings.redis.url, max_connections=REDIS_CONNECTIONS)
    try:
        await redis.flushdb()
        campaign_id = await setup_day(pool, client_id, plan, settings.dialer.sip_realm, clock())
        async with (carrier(plan.workdir), CallPath.open(settings, pool, redis, clock) as path,
                    api_site(settings, clock) as base):
            await _calls(path, pool, plan, campaign_id, base, clock)
        await transcribe_day(pool, settings)
        month = clock().strftime("%Y-%m")
        await qa_store.sample_month(pool, month, seed="demo", now=clock())
        report = await day_report(pool, clock() - timedelta(hours=1))
        print("\n" + "\n".join(report.lines(f"http://{settings.http.host}:{settings.http.port}")))
    finally:
        await redis.aclose()
        await pool.close()


async def _calls(path: CallPath, pool: asyncpg.Pool, plan: DayPlan, campaign_id: int,
                 base: str, clock: Callable[[], datetime]) -> None:
    speech = await _agent_speech(plan.workdir)
    sip = path.ua.endpoint.address
    agents = [SimulatedAgent(login, api=base, sip=(sip[0], sip[1]), speech=speech, seed=n,
                             clock=clock, rtp_base=40000 + 20 * n)
              for n, login in enumerate(plan.agents)]
    async with aiohttp.ClientSession() as session, asyncio.TaskGroup() as group:
        running = [group.create_task(agent.run(session)) for agent in agents]
        dialing = group.create_task(path.run())
        await command_campaign(pool, campaign_id, Command.START, now=clock())
        await _progress(path, pool, plan.minutes)
        await command_campaign(pool, campaign_id, Command.PAUSE, now=clock())
        await _drain(path)
        await _coded(pool)
        for task in (*running, dialing):
            task.cancel()


AGENT_SAYS = "您好，这里是客户服务中心，本次通话将被录音。请问是机主本人吗？"


async def _agent_speech(workdir: Path) -> bytes:
    speech = Speech(workdir / "sim-audio", voice="cmn")
    await speech.prepare([AGENT_SAYS])
    return speech.say(AGENT_SAYS).astype("<i2").tobytes()


async def _progress(path: CallPath, pool: asyncpg.Pool, minutes: float) -> None:
    ends = time.monotonic() + minutes * 60
    while time.monotonic() < ends:
        await asyncio.sleep(min(5.0, max(0.0, ends - time.monotonic())))
        rows = await pool.fetch("SELECT coalesce(result, 'in progress') AS r, count(*) AS n"
                                " FROM attempts GROUP BY 1 ORDER BY 1")
        states: dict[str, int] = {}
        for agent in await path.live.agents():
            states[str(agent.agent.state)] = states.get(str(agent.agent.state), 0) + 1
        left = max(0, int(ends - time.monotonic()))
        print(f"[{left:4d} s left] calls: " + ", ".join(f"{r['r']} {r['n']}" for r in rows)
              + " | agents: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())),
              flush=True)


async def _drain(path: CallPath, seconds: float = 90) -> None:
    """Let the calls in progress finish (the campaign is paused)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while path.dialer.tasks:
                await asyncio.wait(set(path.dialer.tasks))


_UNCODED = """
SELECT count(*) FROM attempts a WHERE a.result = 'connected'
  AND NOT EXISTS (SELECT 1 FROM actions x WHERE x.attempt_id = a.id)
"""


async def _coded(pool: asyncpg.Pool, seconds: float = 30) -> None:
    """Until every connected call has its action code: the agents file theirs just
    after the call, the wrap-up timer files NOCODE for the others (5 s here)."""
    deadline = time.monotonic() + seconds
    while True:
        left = await pool.fetchval(_UNCODED)
        if not left or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)  # codes are rows in PostgreSQL, filed by other tasks
    if left:
        logger.warning("%d connected call(s) still without an action code", left)


async def transcribe_day(pool: asyncpg.Pool, settings: Settings) -> None:
    pending = await pool.fetchval("SELECT count(*) FROM transcription_jobs WHERE state = 'queued'")
    print(f"\nTranscribing {pending} recordings locally (Vosk, no audio leaves the machine)...")
    with tempfile.TemporaryDirectory(prefix="callcase-demo-asr-") as workdir:
        engine = await asyncio.to_thread(recognizer.load, "vosk", Path(workdir), {})
        locate = LocalStorage(settings.recording.root).path_of
        config = WorkerConfig(database_url=settings.database.url, workers=1, name="demo")
        while await work_one(pool, engine, locate, "demo", config):
            pass
