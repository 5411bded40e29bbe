"""Shared fixtures: a real PostgreSQL database migrated once per run, emptied before
each test that asks for it; real Redis on a database of its own."""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import AsyncIterator, Generator, Iterator

import asyncpg
import pytest

from api.migrate import recreate_database
from api.settings import Settings

TEST_DB_URL = os.environ.get(
    "CALLCASE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/callcase_test"
)
TEST_REDIS_URL = os.environ.get("CALLCASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
KEEP_TABLES = ("schema_migrations", "action_codes")
WATCHDOG_GRACE_S = 60.0


def _awaiting(coro: object) -> list[str]:
    """Where a coroutine waits: each frame down its chain of awaits."""
    lines = []
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines


def _terminal_stderr(config: pytest.Config) -> int:
    """The run's real stderr: under pytest's fd capture, fd 2 is a temporary file that
    an exiting process never shows (pytest keeps the original in `targetfd_save`)."""
    capman = config.pluginmanager.getplugin("capturemanager")
    err = getattr(getattr(capman, "_global_capturing", None), "err", None)
    return int(getattr(err, "targetfd_save", sys.__stderr__.fileno() if sys.__stderr__ else 2))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """A last guard against a test that hangs where pytest-timeout cannot reach it.

    pytest-timeout's alarm fires once: a test stopped by it whose teardown then hangs
    (a peer thread that never ends, a task that ignores its cancel) would hold the run
    until CI's own limit. Past the test's timeout and a grace, every thread's stack is
    printed and the run exits, so that it fails at once and shows where it hung. A
    timer thread of its own: pytest cancels faulthandler's timer when a test fails."""
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(
        item.config.getini("timeout") or 0)
    if limit <= 0:
        yield
        return
    fd = _terminal_stderr(item.config)

    def hung() -> None:
        os.write(fd, f"\n\n{item.nodeid} still running {limit + WATCHDOG_GRACE_S:.0f} s"
                     " after it started; the run stops here:\n".encode())
        faulthandler.dump_traceback(file=fd, all_threads=True)
        with os.fdopen(os.dup(fd), "w") as out:  # and where each unfinished task waits
            for task in [o for o in gc.get_objects()
                         if isinstance(o, asyncio.Task) and not o.done()]:
                out.write(f"\n{task!r}\n")
                for line in _awaiting(task.get_coro()):
                    out.write(f"  {line}\n")
        os._exit(70)

    watchdog = threading.Timer(limit + WATCHDOG_GRACE_S, hung)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield
    finally:
        watchdog.cancel()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database with every migration applied, once per test run."""
    asyncio.run(recreate_database(TEST_DB_URL))
    yield TEST_DB_URL


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings.from_env({
        "CALLCASE_DATABASE_URL": database_url,
        "CALLCASE_REDIS_URL": TEST_REDIS_URL,
        "CALLCASE_DATABASE_MIN_POOL": "1",
        "CALLCASE_DATABASE_MAX_POOL": "8",
    })


async def emptied_pool(database_url: str) -> asyncpg.Pool:
    """A pool on the test database, emptied of all data but the seeded catalogue."""
    db = await asyncpg.create_pool(database_url, min_size=1, max_size=8)
    tables = await db.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND NOT (tablename = ANY($1::text[]))", list(KEEP_TABLES),
    )
    if tables:
        names = ", ".join(f'"{t["tablename"]}"' for t in tables)
        await db.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    return db


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test database, emptied of all data but the seeded catalogue."""
    db = await emptied_pool(database_url)
    yield db
    await db.close()
