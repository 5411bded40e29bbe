"""ACD benchmark: reservations per second and their latency with 500 agents and 5,000
waiting calls, and the time a rebuild of the live state takes.

    .venv/bin/python bench/acd_bench.py [--agents 500] [--waiting 5000] [--seconds 5]
        [--routers 4] [--releasers 4] [--repeat 3] [--uvloop]

Uses its own database `callcase_bench_acd` (recreated) on the server of
CALLCASE_DATABASE_URL (default 127.0.0.1:5432) and its own Redis database,
CALLCASE_BENCH_REDIS_URL (default redis://127.0.0.1:6379/10, emptied with FLUSHDB).

Set-up: N agents in PostgreSQL, available and registered, members of three queues
(longest_idle, round_robin, skills_weighted); the live state rebuilt from them; the
queue under test holds `--waiting` calls. A run repeats two phases until it has
spent `--seconds` reserving:

1. a reservation burst: `--routers` concurrent tasks (over as many Redis clients)
   offer the longest-waiting call to the best free agent (`Live.reserve_next`, one
   Lua script) until no agent is free; a reservation's latency is that call;
2. a release burst: `--releasers` tasks hand every reserved agent back through the
   real path (`AgentService.call_event(Release)`: read, pure rules, check-and-set
   write) and queue a new call for each, so the queue keeps its waiting calls.

Reservations/s is reservations over the time spent in bursts of reservations;
releases/s likewise. Everything runs in this one process, with Redis and PostgreSQL
on the same machine. Prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from api.migrate import recreate_database
from cases.domain import Role
from cases.store import NewUser, add_user
from routing import store
from routing.live import Live, Reservation
from routing.rebuild import rebuild
from routing.roster import SYSTEM, AgentProfile, Member
from routing.service import AgentService
from routing.state import Release
from routing.status import AgentStatus

STRATEGIES = ("longest_idle", "round_robin", "skills_weighted")
REALM = "bench"


def now() -> datetime:
    return datetime.now(UTC)


class AllRegistered:
    """Every softphone is registered."""

    def lookup(self, extension: str) -> object | None:
        return extension


async def set_up(pool: asyncpg.Pool, agents: int) -> dict[str, str]:
    """N available agents in three queues; queue id by strategy."""
    users: list[AgentProfile] = []
    for n in range(agents):
        person = await add_user(pool, NewUser(f"bench{n}", f"Bench {n}", Role.AGENT, "x"))
        skills = {"cards": 1 + n % 5}
        new = store.NewAgent(person.id, f"{10000 + n}", "bench-password", skills=skills)
        users.append(await store.create_agent(pool, new, REALM, now()))
    queues = {}
    for strategy in STRATEGIES:
        queue = store.NewQueue(strategy, strategy, None, {"cards": 1})
        made = await store.create_queue(pool, queue)
        queues[strategy] = str(made.id)
        async with pool.acquire() as conn:
            for user in users:
                await store.add_member(conn, Member(made.id, user.user_id))
    async with pool.acquire() as conn, conn.transaction():
        for user in users:
            await store.set_status(conn, user.user_id, AgentStatus.AVAILABLE, None, SYSTEM, now())
    return queues


@dataclass
class Figures:
    latencies: list[float] = field(default_factory=list)  # seconds, reservations made
    reserving: float = 0.0  # seconds spent in reservation bursts
    releases: int = 0
    releasing: float = 0.0  # seconds spent releasing through the service


async def burst(
    lives: list[Live], queue_id: str, routers: int, figures: Figures
) -> list[Reservation]:
    """Offer waiting calls from `routers` concurrent tasks until no agent is free."""
    made: list[Reservation] = []

    async def route(live: Live) -> None:
        while True:
            started = time.perf_counter()
            found = await live.reserve_next(queue_id, now())
            if found is None:
                return
            figures.latencies.append(time.perf_counter() - started)
            made.append(found)

    started = time.perf_counter()
    await asyncio.gather(*(route(lives[n % len(lives)]) for n in range(routers)))
    figures.reserving += time.perf_counter() - started
    return made


async def release_all(
    service: AgentService, lives: list[Live], made: list[Reservation], releasers: int,
    calls: Iterator[int], figures: Figures,
) -> None:  # fmt: skip
    """Hand every reserved agent back through the service; queue a new call for each."""
    todo = list(made)

    async def release(live: Live) -> None:
        while todo:
            found = todo.pop()
            await service.call_event(found.agent_id, Release(found.call_id))
            await live.enqueue(found.queue_id, f"call-{next(calls)}", now())

    started = time.perf_counter()
    await asyncio.gather(*(release(lives[n % len(lives)]) for n in range(releasers)))
    figures.releasing += time.perf_counter() - started
    figures.releases += len(made)


async def offer_for(
    pool: asyncpg.Pool, clients: list[aioredis.Redis], queue_id: str, args: argparse.Namespace
) -> Figures:
    lives = [Live(client) for client in clients]
    calls = iter(range(10**9))
    for _ in range(args.waiting):
        await lives[0].enqueue(queue_id, f"call-{next(calls)}", now())
    service, figures = AgentService(pool, lives[0], now), Figures()
    while figures.reserving < args.seconds:
        made = await burst(lives, queue_id, args.routers, figures)
        await release_all(service, lives, made, args.releasers, calls, figures)
    return figures


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def time_rebuilds(
    pool: asyncpg.Pool, redis: aioredis.Redis, repeat: int
) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {"after FLUSHDB": [], "over the intact state": []}
    for _ in range(repeat):
        for label in found:
            if label == "after FLUSHDB":
                await redis.flushdb()
            report = await rebuild(pool, redis, AllRegistered(), set(), now())
            assert report is not None
            found[label].append(report.seconds)
    return found


async def bench(args: argparse.Namespace) -> None:
    base = os.environ.get("CALLCASE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/callcase")
    url = urlunsplit(urlsplit(base)._replace(path="/callcase_bench_acd"))
    redis_url = os.environ.get("CALLCASE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/10")
    await recreate_database(url)
    pool = await asyncpg.create_pool(url, min_size=2, max_size=8)
    clients = [aioredis.from_url(redis_url) for _ in range(max(args.routers, args.releasers))]
    try:
        await clients[0].flushdb()
        t0 = time.perf_counter()
        queues = await set_up(pool, args.agents)
        print(f"set-up: {args.agents} agents in PostgreSQL in {time.perf_counter() - t0:.1f} s\n")
        rebuilds = await time_rebuilds(pool, clients[0], args.repeat)
        print_rebuilds(args, rebuilds)
        rows = []
        for strategy in STRATEGIES:
            for _ in range(args.repeat):
                await time_rebuilds(pool, clients[0], 1)  # every run from a fresh state
                rows.append((strategy, await offer_for(pool, clients, queues[strategy], args)))
        print_offers(args, rows)
    finally:
        for client in clients:
            await client.aclose()
        await pool.close()


def print_rebuilds(args: argparse.Namespace, rebuilds: dict[str, list[float]]) -> None:
    print(f"| rebuild of {args.agents} agents, 3 queues | median of {args.repeat} | min | max |")
    print("|---|---|---|---|")
    for label, seconds in rebuilds.items():
        ms = [s * 1000 for s in seconds]
        print(f"| {label} | {statistics.median(ms):.0f} ms | {min(ms):.0f} ms | {max(ms):.0f} ms |")
    print()


def print_offers(args: argparse.Namespace, rows: list[tuple[str, Figures]]) -> None:
    print(f"{args.agents} agents, {args.waiting:,} waiting calls, {args.routers} routers, "
          f"{args.releasers} releasers, {args.seconds:.0f} s of reservations per run:\n")
    print("| strategy | run | reservations/s | reserve p50 ms | p99 ms | max ms "
          "| releases/s (service) |")
    print("|---|---|---|---|---|---|---|")
    for n, (strategy, f) in enumerate(rows):
        ms = [s * 1000 for s in f.latencies]
        print(f"| {strategy} | {n % args.repeat + 1} | {len(ms) / f.reserving:,.0f} | "
              f"{percentile(ms, 0.5):.2f} | {percentile(ms, 0.99):.2f} | {max(ms):.2f} | "
              f"{f.releases / f.releasing:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--waiting", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--routers", type=int, default=4)
    parser.add_argument("--releasers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {'uvloop' if args.uvloop else 'asyncio'}, "
          f"{datetime.now(UTC):%Y-%m-%d}")
    if args.uvloop:
        import uvloop

        uvloop.run(bench(args))
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
