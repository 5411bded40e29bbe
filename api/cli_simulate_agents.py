"""`callcase simulate agents N`: N simulated agents against a running service.

For demos and trials without people: the command makes (or reuses) agent accounts
``<prefix>1`` .. ``<prefix>N`` with routing agents on extensions from ``--first-
extension``, puts them in ``--queue`` when given, and marks routing's roster changed
(the call path rebuilds within its reconcile interval). Their passwords are made
afresh on every run and never printed. Then each agent logs in through the API,
registers its pyVoIP softphone at ``--sip``, answers the calls it is offered, speaks
a scripted line and files an action code (`api.simulate_agents`), until Ctrl-C;
a tally of calls and codes is printed at the end.

The accounts are ordinary agent accounts: the command refuses to take over a user
that exists with another role, and never touches a real agent's account unless it
has the prefix's name.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import asyncpg
from redis.asyncio import Redis

from api import auth
from api.cli_simulate import until_signalled
from api.settings import Settings
from api.simulate_agents import AgentLogin, SimulatedAgent
from cases import store
from cases.domain import Role
from cases.errors import Conflict
from routing.agent import AgentTimers
from routing.live import Live
from routing.roster import Member
from routing.store import AgentChanges, NewAgent, add_member, create_agent, update_agent
from telephony.simulated.speech import INSTALL_HINT, Speech

AGENT_SAYS = "您好，这里是客户服务中心，请问是本人吗？"
STOP_S = 15.0  # how long the phones get to stop after Ctrl-C or SIGTERM


def add_parser(simulate_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agents = simulate_sub.add_parser(
        "agents", help="simulated agents: pyVoIP softphones and people at the agent API")
    agents.set_defaults(simulate=run_agents)
    agents.add_argument("count", type=int, help="how many agents")
    agents.add_argument("--api", default="http://127.0.0.1:8080", help="the API's base URL")
    agents.add_argument("--sip", default="127.0.0.1:5060", help="the registrar's HOST:PORT")
    agents.add_argument("--prefix", default="sim-agent", help="their usernames' prefix")
    agents.add_argument("--first-extension", type=int, default=8101)
    agents.add_argument("--queue", type=int, help="put them in this queue (its id)")
    agents.add_argument("--seed", type=int, default=0, help="their outcomes' seed")
    agents.add_argument("--talk", type=float, nargs=2, default=(15.0, 45.0),
                        metavar=("MIN", "MAX"), help="seconds a conversation lasts")
    agents.add_argument("--cache", type=Path, default=Path("var/sim-audio"))


async def run_agents(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.count <= 200:
        raise SystemExit("callcase: between 1 and 200 simulated agents")
    host, _, port = args.sip.rpartition(":")
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        logins = await provision(pool, settings, args)
    finally:
        await pool.close()
    redis = Redis.from_url(settings.redis.url)
    try:
        await Live(redis).roster_changed()
    finally:
        await redis.aclose()
    speech = await agent_speech(args.cache)
    agents = [SimulatedAgent(login, api=args.api, sip=(host, int(port)), speech=speech,
                             seed=args.seed + n, rtp_base=41000 + 20 * n,
                             talk_s=(args.talk[0], args.talk[1]))
              for n, login in enumerate(logins)]
    print(f"{len(agents)} simulated agents on {args.sip}, filing through {args.api};"
          " Ctrl-C or SIGTERM stops them with a summary", flush=True)
    async with aiohttp.ClientSession() as session:
        running = [asyncio.create_task(agent.run(session)) for agent in agents]
        stop = asyncio.create_task(until_signalled())
        await asyncio.wait({stop, *running}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stop, *running):
            task.cancel()
        done, stuck = await asyncio.wait(running, timeout=STOP_S)
        failed = [t.exception() for t in done if not t.cancelled() and t.exception()]
    for agent in agents:
        t = agent.tally
        print(f"{agent.login.username}: {t.calls} calls, codes {t.codes}, {t.errors} errors")
    for error in failed:
        print(f"callcase: a simulated agent stopped: {error!r}")
    code = 1 if failed else 0
    if stuck:  # a pyVoIP phone that does not stop would keep the process alive
        print(f"callcase: {len(stuck)} softphone(s) did not stop in {STOP_S:g} s; exiting",
              flush=True)
        os._exit(code)
    return code


async def provision(pool: asyncpg.Pool, settings: Settings, args: argparse.Namespace
                    ) -> list[AgentLogin]:
    logins = []
    now = datetime.now(UTC)
    for n in range(1, args.count + 1):
        login = AgentLogin(f"{args.prefix}{n}", secrets.token_urlsafe(12),
                           str(args.first_extension + n - 1), secrets.token_urlsafe(12))
        user_id = await _account(pool, login)
        await _softphone(pool, user_id, login, settings.dialer.sip_realm, now)
        if args.queue is not None:
            await add_member(pool, Member(args.queue, user_id, position=n))
        logins.append(login)
    return logins


async def _account(pool: asyncpg.Pool, login: AgentLogin) -> int:
    row = await pool.fetchrow("SELECT id, role FROM users WHERE username = $1", login.username)
    digest = auth.hash_password(login.password)
    if row is None:
        user = await store.add_user(pool, store.NewUser(
            username=login.username, display_name=f"Simulated {login.username}",
            role=Role.AGENT, password_hash=digest))
        return user.id
    if row["role"] != "agent":
        raise Conflict("simulate.not_an_agent", f"{login.username} exists and is not an agent")
    await pool.execute("UPDATE users SET password_hash = $2, active = true WHERE id = $1",
                       row["id"], digest)
    user_id: int = row["id"]
    return user_id


async def _softphone(pool: asyncpg.Pool, user_id: int, login: AgentLogin, realm: str,
                     now: datetime) -> None:
    timers = AgentTimers(wrap_up_time=timedelta(seconds=5))
    if await pool.fetchval("SELECT 1 FROM agents WHERE user_id = $1", user_id) is None:
        await create_agent(pool, NewAgent(user_id, login.extension, login.sip_password,
                                          timers), realm, now)
    else:
        await update_agent(pool, user_id, AgentChanges(
            extension=login.extension, password=login.sip_password, timers=timers), realm)


async def agent_speech(cache: Path) -> bytes:
    speech = Speech(cache, voice="cmn")
    if speech.missing:
        print(f"callcase: {' and '.join(speech.missing)} not found, so the agents babble "
              f"instead of speaking; for speech: {INSTALL_HINT}", file=sys.stderr)
    await speech.prepare([AGENT_SAYS])
    return speech.say(AGENT_SAYS).astype("<i2").tobytes()
