"""Event-to-socket latency of the agent and supervisor websockets: how long after a
change of an agent the supervisor's screen shows it, and how long after the agent
answers a call their screen-pop arrives.

    .venv/bin/python bench/floor_latency.py [--rounds 200] [--agents 50]
        [--database-url URL] [--redis-url URL]

Uses its own database (default `callcase_bench_floor` on the server of
CALLCASE_DATABASE_URL, recreated) and its own Redis database (CALLCASE_BENCH_REDIS_URL,
default redis://127.0.0.1:6379/12, emptied with FLUSHDB). Note that Redis pub/sub
channels are server-wide: another process publishing routing events on the same
server meanwhile adds load (and foreign events, which are skipped here).

Set-up: a bank with one case (debtor, phone), a supervisor, agent-a alone in a
queue and `--agents` other agents, all logged in; the
API served on loopback by `create_app` (the event feed and websockets as in
production); a supervisor socket and agent_a's socket connected over TCP; an
`AgentService` on the same Redis and PostgreSQL plays the call path (as the
dispatcher would, in its own process).

Each round:

1. a status change: one of the agents goes on break (or back), through
   `AgentService.request_status` (PostgreSQL transaction with the status log, Redis
   commit, publish). Measured from the call to the moment the supervisor's socket
   receives the agent's event. (Not from the call's return: the event leaves Redis
   inside the write, before the PostgreSQL commit returns, and usually arrives
   first.)
2. a screen-pop: agent_a is reserved for a call the dialer placed to case A1 and
   rung; the time from `call_event(Answered)` to the ``screen_pop`` message on
   agent_a's socket (it includes reading the attempt, the case, its actions and
   promises and the audit write).

Prints a markdown table (milliseconds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from api import auth
from api.app import create_app
from api.migrate import recreate_database
from api.settings import Settings
from cases.domain import Role
from cases.store import NewUser, add_user
from routing import state as sm
from routing import status as su
from routing.live import Live
from routing.rebuild import rebuild
from routing.roster import SYSTEM, Member
from routing.service import AgentService
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue

Stamped = tuple[float, dict[str, Any]]


def now() -> datetime:
    return datetime.now(UTC)


class AllRegistered:
    def lookup(self, extension: str) -> object | None:
        return extension


_SEED = """
WITH cl AS (INSERT INTO clients (code, name, time_zone) VALUES ('BENCH', 'Bench bank',
            'Asia/Shanghai') RETURNING id),
     b AS (INSERT INTO batches (client_id, file_name, file_sha256, encoding, received_at,
           imported_at, rows_read, rows_accepted, rows_rejected, cases_created, cases_updated,
           total_balance) SELECT id, 'seed.csv', repeat('0', 64), 'utf-8', now(), now(), 1, 1,
           0, 1, 0, 12000.50 FROM cl RETURNING id, client_id),
     d AS (INSERT INTO debtors (client_id, name, id_no) SELECT client_id, '王伟',
           '11010119850312123X' FROM b RETURNING id, client_id),
     c AS (INSERT INTO cases (client_id, account_no, debtor_id, first_batch_id, last_batch_id,
           product, balance, days_past_due) SELECT d.client_id, 'A1', d.id, b.id, b.id,
           'credit_card', 12000.50, 45 FROM d, b RETURNING id, debtor_id)
INSERT INTO phones (case_id, e164, party, kind) SELECT id, '+8613800138000', 'debtor', 'mobile'
FROM c RETURNING id, case_id, e164, (SELECT debtor_id FROM c) AS debtor_id
"""


async def person(pool: asyncpg.Pool, name: str, role: Role) -> int:
    return (await add_user(pool, NewUser(name, name, role, "x"))).id


async def set_up(pool: asyncpg.Pool, redis: aioredis.Redis, agents: int) -> dict[str, Any]:
    phone = await pool.fetchrow(_SEED)
    assert phone is not None
    queue = await create_queue(pool, NewQueue("a-only"))
    tokens, ids = {}, {}
    for name, role in (("supervisor", Role.SUPERVISOR), ("agent-a", Role.AGENT)):
        ids[name] = await person(pool, name, role)
        tokens[name], _ = await auth.issue_session(pool, ids[name], now=now(),
                                                   ttl=timedelta(hours=1), ip=None)
    await create_agent(pool, NewAgent(ids["agent-a"], "7000", "bench-password"), "bench", now())
    await add_member(pool, Member(queue.id, ids["agent-a"]))
    others = []
    for n in range(agents):
        user_id = await person(pool, f"floor{n}", Role.AGENT)
        await create_agent(pool, NewAgent(user_id, f"{7100 + n}", "bench-password"), "bench",
                           now())
        others.append(str(user_id))
    await rebuild(pool, redis, AllRegistered(), set(), now())
    return {"queue": str(queue.id), "agent_a": str(ids["agent-a"]), "others": others,
            "tokens": tokens, "case": phone["case_id"], "phone": phone}


async def attempt(pool: asyncpg.Pool, floor: dict[str, Any], call_id: str) -> None:
    phone = floor["phone"]
    await pool.execute(
        "INSERT INTO attempts (case_id, debtor_id, phone_id, number, party, work_line, dialer,"
        " call_id, placed_at, decision, pack, pack_version) VALUES ($1, $2, $3, $4, 'debtor',"
        " 'line1', 'bench', $5, $6, '{\"notes\": []}', 'cn-bank', '1')",
        floor["case"], phone["debtor_id"], phone["id"], phone["e164"], call_id, now())


async def reader(ws: aiohttp.ClientWebSocketResponse, into: asyncio.Queue[Stamped]) -> None:
    async for message in ws:
        into.put_nowait((time.perf_counter(), json.loads(message.data)))


async def until(into: asyncio.Queue[Stamped], wanted: Callable[[dict[str, Any]], bool]
                ) -> float:
    async with asyncio.timeout(10):
        while True:
            at, message = await into.get()
            if wanted(message):
                return at


async def status_round(service: AgentService, floor: dict[str, Any], n: int,
                       feed: asyncio.Queue[Stamped]) -> float:
    agent = floor["others"][n % len(floor["others"])]
    going = (n // len(floor["others"])) % 2 == 0
    request = su.GoOnBreak("bench") if going else su.BecomeAvailable()
    wanted = "on_break" if going else "available"
    started = time.perf_counter()
    await service.request_status(agent, request, SYSTEM)
    seen = await until(feed, lambda m: m.get("kind") == "agent" and m.get("agent_id") == agent
                       and m.get("status") == wanted)
    return seen - started


async def pop_round(pool: asyncpg.Pool, service: AgentService, floor: dict[str, Any], n: int,
                    screen: asyncio.Queue[Stamped]) -> float:
    call, agent = f"bench-call-{n}", floor["agent_a"]
    await attempt(pool, floor, call)
    found = await service.live.reserve(floor["queue"], call, now())
    assert found is not None and found.agent_id == agent
    await service.call_event(agent, sm.Offer(call))
    started = time.perf_counter()
    await service.call_event(agent, sm.Answered(call))
    seen = await until(screen, lambda m: m.get("kind") == "screen_pop" and m["call_id"] == call)
    await service.call_event(agent, sm.CallEnded(call))
    await service.call_event(agent, sm.WrapUpDone(call))
    return seen - started


def row(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95, p99 = ms[int(0.95 * (len(ms) - 1))], ms[int(0.99 * (len(ms) - 1))]
    return (f"| {name} | {len(ms)} | {statistics.median(ms):.1f} | {p95:.1f} | {p99:.1f}"
            f" | {ms[-1]:.1f} |")


async def bench(args: argparse.Namespace) -> None:
    await recreate_database(args.database_url)
    pool = await asyncpg.create_pool(args.database_url, min_size=2, max_size=8)
    redis = aioredis.from_url(args.redis_url)
    await redis.flushdb()
    floor = await set_up(pool, redis, args.agents)
    settings = Settings.from_env({"CALLCASE_DATABASE_URL": args.database_url,
                                  "CALLCASE_REDIS_URL": args.redis_url})
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    service = AgentService(pool, Live(redis), now)
    for agent in (floor["agent_a"], *floor["others"]):
        await service.request_status(agent, su.LogIn(), SYSTEM)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            await measure(args, pool, service, floor, session)
    finally:
        await runner.cleanup()
        await redis.aclose()
        await pool.close()


async def measure(args: argparse.Namespace, pool: asyncpg.Pool, service: AgentService,
                  floor: dict[str, Any], session: aiohttp.ClientSession) -> None:
    tokens = floor["tokens"]
    feed: asyncio.Queue[Stamped] = asyncio.Queue()
    screen: asyncio.Queue[Stamped] = asyncio.Queue()
    async with session.ws_connect(f"/supervisor/events?token={tokens['supervisor']}") as sup, \
            session.ws_connect(f"/agent/events?token={tokens['agent-a']}") as mine:
        readers = [asyncio.ensure_future(reader(sup, feed)),
                   asyncio.ensure_future(reader(mine, screen))]
        await until(feed, lambda m: m.get("kind") == "snapshot")
        await until(screen, lambda m: m.get("kind") == "snapshot")
        status = [await status_round(service, floor, n, feed) for n in range(args.rounds)]
        pops = [await pop_round(pool, service, floor, n, screen) for n in range(args.rounds)]
        for task in readers:
            task.cancel()
    print(f"{args.rounds} rounds, {args.agents + 1} agents live, loopback, one process\n")
    print("| event to socket | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    print(row("supervisor: status change -> agent event", status))
    print(row("agent: answered -> screen-pop", pops))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    base = os.environ.get("CALLCASE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/x")
    parser.add_argument("--database-url",
                        default=urlunsplit(urlsplit(base)._replace(path="/callcase_bench_floor")))
    parser.add_argument("--redis-url", default=os.environ.get("CALLCASE_BENCH_REDIS_URL",
                                                              "redis://127.0.0.1:6379/12"))
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--agents", type=int, default=50)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
