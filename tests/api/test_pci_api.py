"""The agent's PCI pause over HTTP, through real Redis to a recording: confirmed and
audited when the recording process answers, a 503 saying "NOT paused" when none
does, refused outside a call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from recording import pci
from recording.writer import RecorderPool
from tests.api.conftest import ApiClient
from tests.api.floor import Floor, floor
from tests.api.test_agents_api import log_in, post, talking
from tests.api.world import World

__all__ = ["floor"]  # a fixture, used by name


async def recording_process(floor: Floor, call_id: str, root: Path) -> AsyncIterator[None]:
    async with RecorderPool(root) as recorder:
        recording = recorder.record(call_id, "BANKA", datetime.now(UTC))
        ready = asyncio.Event()
        serving = asyncio.create_task(pci.serve(floor.redis, {call_id: recording},
                                                lambda: 50, ready))
        async with asyncio.timeout(5):
            await ready.wait()
        try:
            yield
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            await recording.finish()


async def test_pause_is_confirmed_by_the_recording_process_and_audited(
    api: ApiClient, world: World, floor: Floor, tmp_path: Path,
) -> None:
    await talking(api, floor, call="call-pci")
    async for _ in recording_process(floor, "call-pci", tmp_path):
        status, body = await post(api, world, "agent_a", "/agent/call/pci-pause")
        assert (status, body["recording"], body["at_tick"]) == (200, "silenced", 50), body
        status, body = await post(api, world, "agent_a", "/agent/call/pci-pause")
        assert (status, body["error_id"]) == (409, "recording.pci_refused")
        status, body = await post(api, world, "agent_a", "/agent/call/pci-resume")
        assert (status, body["recording"]) == (200, "recording")
    logged = await world.pool.fetch("SELECT action FROM audit_log WHERE record_id = 'call-pci'"
                                    " AND action LIKE 'recording.pci%' ORDER BY id")
    assert [r["action"] for r in logged] == [
        "recording.pci_pause", "recording.pci_pause", "recording.pci_resume"]


async def test_no_recording_process_means_not_paused(api: ApiClient, world: World,
                                                     floor: Floor) -> None:
    await talking(api, floor, call="call-alone")
    status, body = await post(api, world, "agent_a", "/agent/call/pci-pause")
    assert (status, body["error_id"]) == (503, "recording.pci_unconfirmed")
    assert "NOT paused" in body["message"]


async def test_no_pause_outside_a_call(api: ApiClient, world: World, floor: Floor) -> None:
    await log_in(api, world)
    status, body = await post(api, world, "agent_a", "/agent/call/pci-pause")
    assert (status, body["error_id"]) == (409, "call.not_talking")
    status, _ = await post(api, world, "supervisor", "/agent/call/pci-pause")
    assert status == 403
