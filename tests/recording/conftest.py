from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from recording.writer import RecorderPool
from tests.api.world import World, build_world
from tests.conftest import emptied_pool


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[RecorderPool]:
    """A running pool on an empty root: flush every 5 ticks, sync every 25."""
    async with RecorderPool(
        tmp_path / "recordings", flush_interval=0.1, sync_interval=0.5, min_free_bytes=0
    ) as running:
        yield running


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """The emptied test database (``pool`` is the recorder pool in these tests)."""
    connections = await emptied_pool(database_url)
    yield connections
    await connections.close()


@pytest.fixture
async def world(db: asyncpg.Pool) -> World:
    return await build_world(db)
