"""PCI pause across processes, over real Redis: the API side asks, the recording
side silences the call from the current media tick and answers; nobody recording
that call means no answer, which the API reports as not paused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from recording import pci
from recording.spans import Span
from recording.writer import RecorderPool
from tests.conftest import TEST_REDIS_URL
from tests.recording.frames import feed, read_wav, tick_values

STARTED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


async def test_pause_and_resume_reach_the_recording_process(pool: RecorderPool,
                                                            redis: Redis) -> None:
    recording = pool.record("pci-call", "bank", STARTED)
    tick = [100]
    ready = asyncio.Event()
    serving = asyncio.create_task(
        pci.serve(redis, {"pci-call": recording}, lambda: tick[0], ready))
    try:
        async with asyncio.timeout(5):
            await ready.wait()
        feed([recording], range(100, 110))
        tick[0] = 110
        paused = await pci.request(redis, "pci-call", "pause")
        assert paused == {"ok": True, "action": "pause", "at_tick": 110}
        again = await pci.request(redis, "pci-call", "pause")
        assert again is not None and again["ok"] is False  # paused already: said so
        feed([recording], range(110, 125))
        tick[0] = 125
        resumed = await pci.request(redis, "pci-call", "resume")
        assert resumed is not None and resumed["ok"] is True
        feed([recording], range(125, 140))
        assert await pci.request(redis, "no-such-call", "pause") is None
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    result = await recording.finish()
    assert result.pci_pauses == (Span(200, 500),)
    silent = [n for n, v in enumerate(tick_values(read_wav(result.path))) if v == (0, 0)]
    assert silent == list(range(10, 25))

