"""Routing's Redis fixture: a client on the test Redis database, emptied first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from tests.conftest import TEST_REDIS_URL


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    """Like the application's client (bytes, not decoded), on the test database only:
    FLUSHDB, never FLUSHALL, so other databases on the server are left alone."""
    client = aioredis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    yield client
    await client.aclose()
