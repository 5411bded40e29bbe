from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from recording.writer import RecorderPool


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[RecorderPool]:
    """A running pool on an empty root: flush every 5 ticks, sync every 25."""
    async with RecorderPool(
        tmp_path / "recordings", flush_interval=0.1, sync_interval=0.5, min_free_bytes=0
    ) as running:
        yield running
