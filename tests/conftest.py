"""Shared fixtures: a real PostgreSQL database migrated once per run, emptied before
each test that asks for it; real Redis on a database of its own."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from api.migrate import recreate_database
from api.settings import Settings

TEST_DB_URL = os.environ.get(
    "CALLCASE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/callcase_test"
)
TEST_REDIS_URL = os.environ.get("CALLCASE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
KEEP_TABLES = ("schema_migrations", "action_codes")


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
