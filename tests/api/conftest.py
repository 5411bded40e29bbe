from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeAlias

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.settings import Settings
from tests.api.world import NOW, World, build_world

ApiClient: TypeAlias = TestClient[web.Request, web.Application]


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


@pytest.fixture
async def api(
    settings: Settings,
    aiohttp_client: Callable[..., Awaitable[ApiClient]],
    pool: asyncpg.Pool,
) -> ApiClient:
    return await aiohttp_client(create_app(settings, clock=lambda: NOW))
