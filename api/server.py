"""Running the service parts in one process until SIGTERM or SIGINT; SIGUSR1 logs
what the call path holds (`CallPath.status`).

    callcase serve api       the HTTP API, the webhook deliveries to the banks and the
                             periodic jobs (`api.housekeeping`)
    callcase serve dialer    the call path: SIP (work lines and the agents' registrar),
                             media, recording, routing's dispatcher and the campaign
                             loop; calls are controlled where their media is
    callcase serve media     the call path without the campaign loop: the agents'
                             registrar, media, recording and routing, for calls the
                             agents dial themselves and supervisors' monitoring
    callcase serve all       api and dialer in one process, and the transcription
                             workers forked beside it (one machine, the demo)
    callcase serve transcribe-worker   the workers alone (as transcribe-worker)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from api.app import create_app
from api.callpath import CallPath
from api.housekeeping import housekeeping
from api.settings import Settings

logger = logging.getLogger(__name__)
PARTS = ("api", "dialer", "media", "all")
# The call path's Redis pool: redis-py 8 pools 100 connections by default, and the
# offers of 200 calls placed in one dialer tick exhausted it (bench/soak.py)
REDIS_CONNECTIONS = 1000
Clock = Callable[[], datetime]


async def serve(settings: Settings, part: str = "api") -> None:
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}; one of {', '.join(PARTS)}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        if part in ("api", "all"):
            await stack.enter_async_context(api_site(settings))
            await stack.enter_async_context(housekeeping(settings))
        if part in ("dialer", "media", "all"):
            path = await stack.enter_async_context(_call_path(settings))
            loop.add_signal_handler(signal.SIGUSR1, _log_status, path)
            stack.callback(loop.remove_signal_handler, signal.SIGUSR1)
            running = asyncio.create_task(path.run(campaigns=part != "media"),
                                          name="call path")
            stack.push_async_callback(_cancel, running)
            running.add_done_callback(lambda _: stop.set())
        await stop.wait()
        logger.info("stopping")


@contextlib.asynccontextmanager
async def api_site(settings: Settings, clock: Clock | None = None) -> AsyncIterator[str]:
    """The API listening on its address until the context ends; yields its base URL."""
    app = create_app(settings) if clock is None else create_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.http.host, settings.http.port)
    await site.start()
    base = f"http://{settings.http.host}:{settings.http.port}"
    logger.info("API listening on %s", base)
    try:
        yield base
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def _call_path(settings: Settings) -> AsyncIterator[CallPath]:
    db = settings.database
    pool = await asyncpg.create_pool(db.url, min_size=db.min_pool, max_size=db.max_pool)
    redis = Redis.from_url(settings.redis.url, max_connections=REDIS_CONNECTIONS)
    try:
        async with CallPath.open(settings, pool, redis) as path:
            yield path
    finally:
        await redis.aclose()
        await pool.close()


def _log_status(path: CallPath) -> None:
    logger.info("call path status: %s", json.dumps(path.status()))


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    (result,) = await asyncio.gather(task, return_exceptions=True)
    if isinstance(result, Exception):
        logger.error("the call path stopped: %r", result)
