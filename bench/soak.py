"""Soak: the whole system at the telephony targets for a long run, then an overload.

    .venv/bin/python bench/soak.py                    # 30 minutes, 200 agents
    .venv/bin/python bench/soak.py --minutes 480      # the release check: 8 hours
    .venv/bin/python bench/soak.py --minutes 5 --overload 10

One process runs what `callcase serve all` runs but the transcription workers: the
API and the call path (SIP, the agents' registrar, media, recorder, routing on
Redis, the campaign loop), on a soak database (recreated: its name must contain
"soak") and a Redis database of its own (emptied). sipp plays the debtors' phones
behind a work line and the agents' softphones, and registers the agents with digest;
``--softphones`` of the agents (4 by default) are baresip instead, one process each,
registering themselves. The agents log in through the API; a progressive campaign
over generated cases keeps all ``--calls`` agents talking (``--talk`` seconds a call,
one second of wrap-up). The peers stand for phones on other machines: under root they
run at nice -5 (``--peers-nice``), so that on a small machine a starved sipp does not
send its RTP late and have the service's recordings blamed for the gaps.
Peers and floor: :mod:`bench.soak_floor`, :mod:`bench.soak_peers`.

Every ``--sample`` seconds one row: calls in progress, RTP ports in use, RSS, open
file descriptors, threads, asyncio tasks, the recorder's backlog, Redis keys, memory
and queue lengths, transcription jobs queued (no workers here), attempts ended and
failed, RTP loss and media-tick p99 since the last row, this process's CPU. Each
finished recording is checked for silent frames, then deleted (``--keep-recordings``
to keep them: about 1 MB per 30 s call). At the end the table and the verdict
(:mod:`bench.soak_verdict`): each resource flat over the steady part, under 0.1% of
calls failed, 99% of the recordings with their audio, the agents on baresip each took
calls, and nothing held once the calls are drained.

``--overload N``: for ``--overload-seconds`` after the steady run, a sipp caller
offers new calls to the service's SIP port at N times the soak's call rate. The
service runs with its call-leg limit at the target (``--max-legs``, default two legs
per agent): an INVITE that comes while it is at the limit is answered 503 Service
Unavailable with Retry-After; the service takes no inbound calls, so one that comes
while it has room gets 480. Judged: new calls answered 503, and the calls in progress
keep their audio (RTP loss, tick lateness and recordings in that window against the
one before).

``--gc-census SECONDS``: between the steady run and the overload, what the cyclic
garbage collector frees in that time, counted by type and by code
(:mod:`bench.gc_census`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import asyncpg
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.callpath import CallPath
from api.server import api_site
from api.settings import Settings
from bench import gc_census, soak_floor, soak_peers
from bench.soak_sampler import Listener, Sampler
from bench.soak_verdict import (
    Overload,
    Sample,
    audio_lines,
    judge_overload,
    overlaps,
    steady,
    table,
    verdict,
)
from dialer.campaign import Command

logger = logging.getLogger("soak")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="the steady run")
    parser.add_argument("--calls", type=int, default=200, help="agents: calls at once")
    parser.add_argument("--talk", type=float, default=30.0, help="seconds a call lasts")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between rows")
    parser.add_argument("--overload", type=float, default=0.0, help="N times the call rate")
    parser.add_argument("--overload-seconds", type=float, default=60.0)
    parser.add_argument("--max-legs", type=int, default=0,
                        help="the service's call-leg limit (CALLCASE_MAX_CALL_LEGS); "
                        "default 2 x --calls, the target as its capacity")
    parser.add_argument("--cps", type=float, default=0.0,
                        help="the work line's new calls a second (default: no limit)")
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/callcase_soak"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument(
        "--redis-connections",
        type=int,
        default=1000,
        help="the call path's Redis pool (redis-py 8 defaults to 100)",
    )
    parser.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    parser.add_argument("--keep-recordings", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the rows and verdict here")
    parser.add_argument("--peers-nice", type=int, default=soak_peers.PEERS_NICE,
                        help="the sipp peers' nice value: they stand for phones on other "
                        "machines, so they go ahead of the service for the CPU (root; "
                        "0: they share it)")
    parser.add_argument("--softphones", type=int, default=4,
                        help="agents on baresip instead of sipp (one process each)")
    parser.add_argument("--gc-census", type=float, default=0.0, metavar="SECONDS",
                        help="at the end of the steady run, count what the cyclic "
                        "collector frees in SECONDS, by type and code (bench/gc_census.py)")
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace, workdir: Path) -> Settings:
    return Settings.from_env(
        {
            "CALLCASE_DATABASE_URL": args.database_url,
            "CALLCASE_REDIS_URL": args.redis_url,
            "CALLCASE_DATABASE_MAX_POOL": "20",
            "CALLCASE_SIP_PORT": "0",
            "CALLCASE_HTTP_PORT": str(soak_peers.free_udp_port()),
            "CALLCASE_RECORDINGS_DIR": str(workdir / "recordings"),
            "CALLCASE_PROMPTS_DIR": str(workdir / "prompts"),
            "CALLCASE_LOG_LEVEL": "WARNING",
            "CALLCASE_MAX_CALL_LEGS": str(args.max_legs or 2 * args.calls),
        }
    )


async def soak(args: argparse.Namespace, workdir: Path) -> int:
    clock = soak_floor.soak_clock()
    settings = settings_for(args, workdir)
    rate = args.calls / (args.talk + 1.5)  # calls a second: talk, ringing and wrap-up
    cases = int(rate * 60 * (args.minutes + args.overload_seconds / 60 + 2) * 1.2) + args.calls
    async with soak_peers.phones(
        workdir / "peers",
        talk_s=args.talk,
        calls=args.calls,
        max_call_s=args.talk * 4 + 60,
        nice=args.peers_nice,
    ) as (debtors, agents):
        floor = await soak_floor.prepare(
            args.database_url,
            agents=args.calls,
            cases=cases,
            debtors_port=debtors.port,
            realm=settings.dialer.sip_realm,
            now=clock(),
            workdir=workdir,
            calls_per_second=args.cps or None,
        )
        print(
            f"floor: {floor.cases} cases, {len(floor.agents)} agents, campaign "
            f"{floor.campaign_id}; about {rate:.1f} calls/s",
            flush=True,
        )
        pool = await asyncpg.create_pool(args.database_url, min_size=2, max_size=8)
        redis = Redis.from_url(args.redis_url, max_connections=args.redis_connections)
        try:
            await redis.flushdb()
            async with (
                CallPath.open(settings, pool, redis, clock) as path,
                api_site(settings, clock) as base,
                soak_peers.softphones(
                    workdir / "peers" / "softphones", path.ua.endpoint.address,
                    floor.agents[: args.softphones], call_s=args.talk * 4 + 60,
                    nice=args.peers_nice,
                ) as phones,
            ):  # fmt: skip
                return await _run(
                    args, workdir, path, pool, redis, base, floor, agents, phones, rate, clock
                )
        finally:
            await redis.aclose()
            await pool.close()


async def _run(
    args: argparse.Namespace,
    workdir: Path,
    path: CallPath,
    pool: asyncpg.Pool,
    redis: Redis,
    base: str,
    floor: soak_floor.Floor,
    agents: soak_peers.Sipp,
    phones: list[soak_peers.Softphone],
    rate: float,
    clock: soak_floor.Clock,
) -> int:
    sip = path.ua.endpoint.address

    async def register() -> list[soak_peers.Sipp]:
        return await soak_peers.register(
            workdir / "peers" / "register", (sip[0], sip[1]),
            floor.agents[len(phones):], agents.port,
        )  # fmt: skip

    registered = await register()
    bound = await _registered(path, floor.agents)
    print(f"registered {bound}/{len(floor.agents)} agents ({len(phones)} on baresip)",
          flush=True)  # fmt: skip
    if bound < len(floor.agents):
        failed = [r for r in registered if r.proc.returncode != 0]
        print(failed[0].errors(20) if failed else "")
        for phone in phones:
            if path.registrar.lookup(phone.agent.extension) is None:
                print(f"baresip {phone.agent.extension}:\n{phone.said()}")
        return 2
    for agent in floor.agents:
        await path.live.set_registered(agent.extension, True, clock())
    await soak_floor.log_in(base, pool, floor.agents, clock())
    started = time.monotonic()
    sampler = Sampler(path, pool, redis, started)
    listener = Listener(path.recordings.recorder.root, started, keep=args.keep_recordings)
    running = asyncio.create_task(path.run(), name="call path")
    refreshing = asyncio.create_task(_keep_registered(register), name="registrations")
    await soak_floor.start_campaign(args.database_url, floor.campaign_id, clock(), Command.START)
    census = None
    try:
        await _steady(args, sampler, listener, args.minutes * 60)
        if args.gc_census:
            ended = "SELECT count(*) FROM attempts WHERE ended_at IS NOT NULL"
            before = await pool.fetchval(ended)
            begins = time.monotonic() - started
            found = await gc_census.census(args.gc_census)
            census = (begins, time.monotonic() - started)
            calls = await pool.fetchval(ended) - before
            print("\n".join(gc_census.lines(found, args.gc_census, calls)), flush=True)
        overload = None
        if args.overload:
            overload = await _overload(args, workdir, sampler, listener, sip, rate)
        await soak_floor.start_campaign(
            args.database_url, floor.campaign_id, clock(), Command.PAUSE
        )
        await _drain(path, args.talk * 2 + 30)
        await listener.sweep()
        idle = await sampler.take()
        _print_leftovers(path)
        took = await soak_floor.calls_taken(pool, floor.agents)
    finally:
        for task in (running, refreshing):
            task.cancel()
        await asyncio.gather(running, refreshing, return_exceptions=True)
    return report(args, sampler, listener, idle, overload, census, softphones(phones, took))


def softphones(phones: Sequence[soak_peers.Softphone],
               took: dict[str, int]) -> tuple[bool, list[str]]:  # fmt: skip
    """The baresip agents worked as the others did: each took calls and is still up."""
    if not phones:
        return True, []
    theirs = [took.get(phone.agent.extension, 0) for phone in phones]
    others = [n for extension, n in took.items()
              if extension not in {phone.agent.extension for phone in phones}]  # fmt: skip
    up = sum(phone.proc.returncode is None for phone in phones)
    ok = min(theirs) > 0 and up == len(phones)
    mean = sum(others) / len(others) if others else 0.0
    return ok, [f"softphones    {'ok' if ok else 'IDLE':<5} {len(phones)} agents on baresip "
                f"took {sum(theirs)} calls ({min(theirs)}-{max(theirs)} each; an agent on sipp "
                f"{mean:.1f} on average); {up} of {len(phones)} still up"]


async def _registered(path: CallPath, agents: Sequence[soak_floor.SoakAgent],
                      within_s: float = 30.0) -> int:  # fmt: skip
    """How many of ``agents`` the registrar has bound, once all are or after ``within_s``
    (the softphones register on their own)."""
    ends = time.monotonic() + within_s
    while True:
        bound = sum(path.registrar.lookup(a.extension) is not None for a in agents)
        if bound == len(agents) or time.monotonic() >= ends:
            return bound
        await asyncio.sleep(0.2)  # no event to await: the registrar keeps no listeners


async def _keep_registered(
    register: Callable[[], Awaitable[list[soak_peers.Sipp]]], every_s: float = 1800
) -> None:
    """Register the agents again every half hour (they ask for an hour): a long soak."""
    while True:
        await asyncio.sleep(every_s)
        failed = sum(sipp.proc.returncode != 0 for sipp in await register())
        if failed:
            print(f"registrations refreshed: {failed} failed", flush=True)


async def _steady(
    args: argparse.Namespace, sampler: Sampler, listener: Listener, seconds: float
) -> None:
    ends = time.monotonic() + seconds
    while True:
        left = ends - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(args.sample, left))
        await listener.sweep()
        row = await sampler.take()
        print(
            f"[{row.at:7.1f} s] {row.calls} calls, {row.ended} ended, {row.failed} failed, "
            f"{row.ports} ports, rss {row.rss_mb:.0f} MB, fds {row.fds}, tasks {row.tasks},"
            f" cpu {row.cpu:.0%}, tick p99 {row.late_p99_ms:.1f} ms, load {row.load1:.1f}",
            flush=True,
        )


async def _overload(
    args: argparse.Namespace,
    workdir: Path,
    sampler: Sampler,
    listener: Listener,
    sip: tuple[str, int],
    rate: float,
) -> Overload:
    begins = time.monotonic() - sampler.started
    offered = rate * args.overload
    print(
        f"overload: new calls at {offered:.1f}/s ({args.overload:g}x) for "
        f"{args.overload_seconds:g} s",
        flush=True,
    )
    caller = await soak_peers.overload(
        workdir / "peers" / "overload",
        (sip[0], sip[1]),
        rate=offered,
        seconds=args.overload_seconds,
        nice=args.peers_nice,
    )
    await _steady(args, sampler, listener, args.overload_seconds)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await caller.proc.wait()
    await caller.stop()
    counts = caller.counts()
    statuses = {
        int(m.group(1)): n
        for name, n in counts.items()
        if (m := re.search(r"_(\d{3})_Recv$", name))
    }
    invites = sum(n for name, n in counts.items() if name.endswith("INVITE_Sent"))
    return Overload(begins, begins + args.overload_seconds, offered, invites, statuses)


async def _drain(path: CallPath, seconds: float) -> None:
    """Let the calls in progress end (the campaign is paused)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while path.dialer.tasks:
                await asyncio.wait(set(path.dialer.tasks))


def _print_leftovers(path: CallPath, most: int = 20) -> None:
    """What the call path still holds after the drain (what SIGUSR1 logs), and the call
    legs still up: each leg's SIP state, work line (None: an agent's or a monitor's
    leg), the outcomes it went through and how long ago it was placed."""
    print(f"after the drain: {json.dumps(path.status())}", flush=True)
    now, held = time.monotonic(), {call: agent for agent, call in path.dispatcher.held.items()}
    legs = list(path.control.calls.values())
    print(f"  {len(legs)} legs up: {sum(leg.line is not None for leg in legs)} to debtors "
          f"(on a work line), {len(path.dispatcher.held)} agents held", flush=True)
    for leg in legs[:most]:
        print(f"  leg {leg.call_id}: {leg.sip.state.name}, line {leg.line}, "
              f"{[event.outcome.name for event in leg.history]}, placed "
              f"{now - leg.timeline.started:.0f} s ago, agent {held.get(leg.call_id)}",
              flush=True)


def report(
    args: argparse.Namespace,
    sampler: Sampler,
    listener: Listener,
    idle: Sample,
    overload: Overload | None,
    census: tuple[float, float] | None = None,
    phones: tuple[bool, list[str]] = (True, []),
) -> int:
    rows = sampler.rows
    ramp = max(60.0, 0.2 * args.minutes * 60)
    until = overload.begins if overload else None
    calm = steady(rows[:-1], ramp_s=ramp, until=until)
    print("\n".join(["", *table(rows), ""]))
    ok, lines = verdict(rows[:-1], calm)
    drained = idle.calls == 0 and idle.ports == 0 and idle.backlog == 0
    ok &= drained
    lines.append(
        f"drained       {'ok' if drained else 'HELD':<5} after the run: "
        f"{idle.calls} calls, {idle.ports} ports, {idle.backlog} backlog, "
        f"{idle.tasks} tasks, {idle.fds} fds"
    )
    heard = listener.heard
    if census is not None:  # its collections stop the process: the harness's, not judged
        heard = [h for h in heard if not overlaps(h, census)]
        lines.append(f"gc census    {len(listener.heard) - len(heard)} recordings up during "
                     f"it ({census[0]:.0f}-{census[1]:.0f} s) left out of the audio checks")
    in_steady = [h for h in heard if until is None or h.finished_at < until]
    steady_ok, more = audio_lines("steady recordings", in_steady)
    ok &= steady_ok
    lines += more
    ok &= phones[0]
    lines += phones[1]
    if overload is not None:
        overload_ok, more = judge_overload(
            overload, rows, heard, talk_s=args.talk, sample_s=args.sample
        )
        ok &= overload_ok
        lines += more
    print(f"steady part: {len(calm)} rows from {ramp:.0f} s; verdict: {'PASS' if ok else 'FAIL'}")
    print("\n".join(lines))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "rows": [asdict(r) for r in rows],
                    "verdict": lines,
                    "pass": ok,
                    "overload": None if overload is None else asdict(overload),
                },
                indent=1,
            )
        )
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    with contextlib.ExitStack() as stack:
        workdir = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="callcase-soak-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(soak(args, workdir))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed, as `callcase serve` runs."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    raise SystemExit(main())
