"""Recordings over HTTP: Range playback a browser can seek with, who may listen, the
audit row of every playback, and legal hold."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from api.app import create_app
from api.settings import RecordingSettings, Settings
from cases.access import Scope
from cases.audit import AuditEntry, AuditFilter, query
from recording import retention
from recording.catalog import RecordingRow
from recording.lifecycle import DeletionReason
from recording.storage import LocalStorage
from recording.writer import RecorderPool
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World
from tests.recording.catalogued import catalogued

LISTENERS = {"admin", "supervisor", "cleared_supervisor", "qa", "auditor_a"}


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[RecorderPool]:
    async with RecorderPool(tmp_path / "recordings", min_free_bytes=0) as running:
        yield running


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool, recorder: RecorderPool) -> ApiClient:
    settings = dataclasses.replace(settings, recording=RecordingSettings(recorder.root))
    return await aiohttp_client(create_app(settings, clock=lambda: NOW))


@pytest.fixture
async def a1(pool: asyncpg.Pool, recorder: RecorderPool, world: World) -> RecordingRow:
    """A 2 s recording of case A1 (BANKA, agent_a): 64,044 bytes."""
    return await catalogued(pool, recorder, world, "call-a1", ticks=100)


def wav(recorder: RecorderPool, row: RecordingRow) -> bytes:
    return LocalStorage(recorder.root).path_of(row.entry.storage_uri).read_bytes()


async def plays(pool: asyncpg.Pool) -> list[AuditEntry]:
    entries = await query(pool, Scope(), AuditFilter(record_type="recording"))
    return [e for e in entries if e.action in ("recording.play", "recording.download")]


async def test_the_whole_file_with_range_support_advertised(
    api: ApiClient, world: World, a1: RecordingRow, recorder: RecorderPool, pool: asyncpg.Pool
) -> None:
    resp = await api.get(f"/recordings/{a1.id}/audio", headers=world.headers("qa"))
    assert resp.status == 200
    assert await resp.read() == wav(recorder, a1)
    h = resp.headers
    assert (h["Content-Type"], h["Accept-Ranges"], h["Content-Length"]) == (
        "audio/wav", "bytes", "64044")
    assert h["ETag"] == f'"{a1.entry.sha256}"' and "Content-Range" not in h
    assert h["Content-Disposition"] == f'inline; filename="recording-{a1.id}.wav"'
    assert "no-store" in h["Cache-Control"]
    [entry] = await plays(pool)
    assert (entry.action, entry.username, entry.record_id, entry.client_id) == (
        "recording.play", "qa", str(a1.id), world.clients["BANKA"])
    assert entry.details == {"range": "0-64043", "bytes": 64044, "size": 64044,
                             "partial": False}


RANGES = [
    ("bytes=0-43", 0, 43),  # the header
    ("bytes=44-", 44, 64043),
    ("bytes=-1000", 63044, 64043),
    ("bytes=64000-999999", 64000, 64043),
    ("bytes=64043-64043", 64043, 64043),
    ("bytes=-999999", 0, 64043),
]


@pytest.mark.parametrize(("header", "start", "end"), RANGES, ids=[r[0] for r in RANGES])
async def test_one_range(api: ApiClient, world: World, a1: RecordingRow,
                         recorder: RecorderPool, pool: asyncpg.Pool, header: str, start: int,
                         end: int) -> None:
    headers = {**world.headers("auditor_a"), "Range": header}
    resp = await api.get(f"/recordings/{a1.id}/audio", headers=headers)
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/64044"
    assert resp.headers["Content-Length"] == str(end - start + 1)
    assert await resp.read() == wav(recorder, a1)[start : end + 1]
    [entry] = await plays(pool)
    assert entry.details["range"] == f"{start}-{end}" and entry.details["partial"] is True


async def test_a_player_seeking_in_ranges_gets_every_byte_once(
    api: ApiClient, world: World, a1: RecordingRow, recorder: RecorderPool, pool: asyncpg.Pool
) -> None:
    parts = []
    for first in range(0, 64044, 20000):
        headers = {**world.headers("supervisor"), "Range": f"bytes={first}-{first + 19999}",
                   "If-Range": f'"{a1.entry.sha256}"'}
        resp = await api.get(f"/recordings/{a1.id}/audio", headers=headers)
        assert resp.status == 206
        parts.append(await resp.read())
    assert b"".join(parts) == wav(recorder, a1)
    assert [e.details["range"] for e in await plays(pool)] == [
        "0-19999", "20000-39999", "40000-59999", "60000-64043"]


@pytest.mark.parametrize("header", ["bytes=64044-", "bytes=70000-70010", "bytes=-0"])
async def test_a_range_past_the_end_is_416_and_not_audited(
    api: ApiClient, world: World, a1: RecordingRow, pool: asyncpg.Pool, header: str
) -> None:
    headers = {**world.headers("qa"), "Range": header}
    resp = await api.get(f"/recordings/{a1.id}/audio", headers=headers)
    assert resp.status == 416
    assert resp.headers["Content-Range"] == "bytes */64044"
    assert (await resp.json())["error_id"] == "recording.range_not_satisfiable"
    assert await plays(pool) == []


@pytest.mark.parametrize(("header", "if_range"), [
    ("bytes=0-9,20-29", None), ("bytes=9-0", None), ("frames=0-9", None),
    ("bytes=0-9", '"an-older-etag"'),
])
async def test_ranges_not_served_give_the_whole_file(
    api: ApiClient, world: World, a1: RecordingRow, header: str, if_range: str | None
) -> None:
    headers = {**world.headers("qa"), "Range": header}
    if if_range:
        headers["If-Range"] = if_range
    resp = await api.get(f"/recordings/{a1.id}/audio", headers=headers)
    assert resp.status == 200 and len(await resp.read()) == 64044


async def test_head_tells_size_and_ranges_without_audio_or_audit(
    api: ApiClient, world: World, a1: RecordingRow, pool: asyncpg.Pool
) -> None:
    resp = await api.head(f"/recordings/{a1.id}/audio", headers=world.headers("qa"))
    assert resp.status == 200
    assert (resp.headers["Content-Length"], resp.headers["Accept-Ranges"]) == ("64044", "bytes")
    assert await resp.read() == b""
    headers = {**world.headers("qa"), "Range": "bytes=-10"}
    resp = await api.head(f"/recordings/{a1.id}/audio", headers=headers)
    assert (resp.status, resp.headers["Content-Range"]) == (206, "bytes 64034-64043/64044")
    assert await plays(pool) == []


async def test_a_download_is_an_attachment_audited_as_such(
    api: ApiClient, world: World, a1: RecordingRow, pool: asyncpg.Pool
) -> None:
    resp = await api.get(f"/recordings/{a1.id}/audio?download=1", headers=world.headers("admin"))
    assert resp.status == 200
    assert resp.headers["Content-Disposition"].startswith("attachment;")
    assert [(e.action, e.username) for e in await plays(pool)] == [
        ("recording.download", "admin")]


async def test_deleted_missing_and_changed_audio(
    api: ApiClient, world: World, pool: asyncpg.Pool, recorder: RecorderPool
) -> None:
    gone = await catalogued(pool, recorder, world, "gone")
    missing = await catalogued(pool, recorder, world, "missing")
    cut = await catalogued(pool, recorder, world, "cut")
    storage = LocalStorage(recorder.root)
    await retention.delete(pool, storage, gone.id, DeletionReason.OFFBOARD, NOW)
    storage.path_of(missing.entry.storage_uri).unlink()
    with storage.path_of(cut.entry.storage_uri).open("ab") as file:
        file.write(b"extra")
    expected = [(gone, 404, "recording.deleted"), (missing, 404, "recording.audio_missing"),
                (cut, 409, "recording.audio_changed")]
    for row, status, error_id in expected:
        resp = await api.get(f"/recordings/{row.id}/audio", headers=world.headers("qa"))
        assert (resp.status, (await resp.json())["error_id"]) == (status, error_id)
    assert await plays(pool) == []
