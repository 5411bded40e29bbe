"""The API served for real on 127.0.0.1, for clients that are not asyncio (schemathesis
calls it with `requests`): the app and its estate (`tests.security.estate`) on a free
port, in a thread that runs an event loop of its own.

`LiveApi.start()` returns once the app answers and the estate is built (or raises what
went wrong); `stop()` closes the app, the database pool and Redis and ends the thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from api.settings import Settings
from recording.writer import RecorderPool
from tests.api.world import World, build_world
from tests.conftest import TEST_REDIS_URL, emptied_pool
from tests.security.estate import (
    Estate,
    build_estate,
    estate_app,
    estate_settings,
    stand_in_call_path,
)

READY_S = 60.0  # to empty the database, build the estate, bind; and to stop
logger = logging.getLogger(__name__)


@dataclass
class LiveApi:
    database_url: str
    root: Path
    base_url: str = ""
    estate: Estate | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _failed: Exception | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _thread: threading.Thread | None = None

    @property
    def world(self) -> World:
        assert self.estate is not None
        return self.estate.world

    def headers(self, who: str = "admin") -> dict[str, str]:
        return self.world.headers(who)

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),),
                                        name="live-api", daemon=True)
        self._thread.start()
        if not self._ready.wait(READY_S):
            raise TimeoutError(f"the API did not start within {READY_S} s")
        if self._failed is not None:
            raise self._failed

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(READY_S)

    async def _serve(self) -> None:
        try:
            await self._run()
        except Exception as exc:  # a thread's boundary: hand it to the starting thread
            logger.exception("the live API failed")
            self._failed = exc
        finally:
            self._ready.set()

    async def _run(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        settings = estate_settings(Settings.from_env({
            "CALLCASE_DATABASE_URL": self.database_url, "CALLCASE_REDIS_URL": TEST_REDIS_URL,
            "CALLCASE_DATABASE_MIN_POOL": "1", "CALLCASE_DATABASE_MAX_POOL": "8"}), self.root)
        pool = await emptied_pool(self.database_url)
        redis = aioredis.from_url(TEST_REDIS_URL)
        client = TestClient(TestServer(estate_app(settings), host="127.0.0.1"))
        try:
            await redis.flushdb()
            world = await build_world(pool)
            await client.start_server()
            async with RecorderPool(settings.recording.root, min_free_bytes=0) as recorder:
                self.estate = await build_estate(client, world, redis, recorder)
            async with stand_in_call_path(redis):
                self.base_url = str(client.make_url("")).rstrip("/")
                self._ready.set()
                await self._stop.wait()
        finally:
            await client.close()
            await redis.aclose()
            await pool.close()
