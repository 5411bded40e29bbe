"""Archiving to FLAC on a real PostgreSQL: the WAV replaced by a smaller FLAC with the
same samples, the chained SHA-256 proved from the FLAC alone, tampering found,
playback of the rebuilt WAV with Range, and the crash and concurrency cases."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import asyncpg
import numpy as np
import numpy.typing as npt
import pytest
import soundfile  # type: ignore[import-untyped]

from api import cli_archive
from api.app import create_app
from api.settings import RecordingSettings, Settings
from cases import audit
from recording import archive, catalog, flac, retention
from recording.archive import Outcome
from recording.catalog import RecordingRow
from recording.integrity import ProblemKind, verify
from recording.layout import archive_paths
from recording.lifecycle import CatalogState
from recording.storage import LocalStorage
from recording.wavfile import HEADER_SIZE, TICK_FRAMES
from recording.writer import RecorderPool
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World
from tests.recording.catalogued import STARTED, facts, tamper

Pcm = npt.NDArray[np.int16]
LATER = STARTED + timedelta(days=1)  # compress everything started before it
TICKS = 400  # 8 s


def speechlike(ticks: int, seed: int) -> tuple[Pcm, Pcm]:
    """Two talkers taking turns (a voiced buzz under a syllable envelope), line noise."""
    n = ticks * TICK_FRAMES
    t = np.arange(n) / 8000
    phase = 2 * np.pi * np.cumsum(110 + 30 * np.sin(2 * np.pi * 0.7 * t)) / 8000
    buzz = sum(np.sin(k * phase) / k for k in range(1, 9))
    syllables = np.abs(np.sin(2 * np.pi * 3.5 * t))
    turn = (t // 2).astype(int) % 2 == 0
    noise = np.random.default_rng(seed).normal(0, 15, (2, n))
    agent = 5000 * buzz * syllables * turn + noise[0]
    debtor = 4000 * buzz * syllables * ~turn + noise[1]
    return agent.astype(np.int16), debtor.astype(np.int16)


def full_scale_noise(ticks: int, seed: int) -> tuple[Pcm, Pcm]:
    noise = np.random.default_rng(seed).integers(-32768, 32768, (2, ticks * TICK_FRAMES))
    return noise[0].astype(np.int16), noise[1].astype(np.int16)


async def record_signal(db: asyncpg.Pool, recorder: RecorderPool, world: World, call_id: str,
                        signal: tuple[Pcm, Pcm], account: str = "A1") -> RecordingRow:
    """Record ``signal`` (agent, debtor) as the media clock would, and catalogue it."""
    recording = recorder.record(call_id, "BANKA" if account.startswith("A") else "BANKB",
                                STARTED)
    agent, debtor = (channel.reshape(-1, TICK_FRAMES) for channel in signal)
    for tick, (out, inbound) in enumerate(zip(agent, debtor, strict=True)):
        recording.on_frame(tick, inbound, out)
    async with asyncio.timeout(10):
        result = await recording.finish()
    return await catalog.register(db, LocalStorage(recorder.root), result,
                                  facts(world, call_id, account), NOW)


@pytest.fixture
async def a1(db: asyncpg.Pool, pool: RecorderPool, world: World) -> RecordingRow:
    """8 s of turn-taking speech-like audio of case A1: 256,044 bytes of WAV."""
    return await record_signal(db, pool, world, "call-a1", speechlike(TICKS, 1))


def paths(pool: RecorderPool, row: RecordingRow) -> tuple[Path, Path]:
    wav = LocalStorage(pool.root).path_of(row.entry.storage_uri)
    return wav, archive_paths(wav).final


async def compressed(db: asyncpg.Pool, pool: RecorderPool) -> archive.CompressRun:
    return await archive.compress_due(db, LocalStorage(pool.root), LATER, NOW)


async def test_compressing_replaces_the_wav_by_a_smaller_flac_of_the_same_samples(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    wav, flac_path = paths(pool, a1)
    original = wav.read_bytes()
    run = await compressed(db, pool)
    [done] = run.done
    assert (done.recording_id, done.outcome, done.wav_bytes) == (
        a1.id, Outcome.COMPRESSED, len(original)) and run.failed == ()
    assert not wav.exists() and flac_path.exists()
    assert done.flac_bytes == flac_path.stat().st_size < len(original) // 2
    samples, rate = soundfile.read(flac_path, dtype="int16")
    assert rate == 8000 and samples.tobytes() == original[HEADER_SIZE:]
    stored = await archive.get_archive(db, a1.id)
    assert stored is not None
    assert (stored.format, stored.storage_uri, stored.size_bytes, stored.compressed_at) == (
        "flac", a1.entry.storage_uri[:-4] + ".flac", done.flac_bytes, NOW)
    assert stored.sha256 == hashlib.sha256(flac_path.read_bytes()).hexdigest()
    assert stored.pcm_sha256 == hashlib.sha256(original[HEADER_SIZE:]).hexdigest()
    assert list(pool.root.rglob(".*.part")) == []
    assert (await catalog.get(db, a1.id)) == a1  # the chained row is untouched
    assert (await compressed(db, pool)).done == ()  # archived once


async def test_verify_proves_the_chained_hash_from_the_flac_alone(
    db: asyncpg.Pool, pool: RecorderPool, world: World, a1: RecordingRow
) -> None:
    other = await record_signal(db, pool, world, "call-b1", speechlike(100, 2), "B1")
    storage = LocalStorage(pool.root)
    before = await verify(db, storage)
    await compressed(db, pool)
    report = await verify(db, storage)
    assert report.ok and report.archives_proved == 2 and report.files_hashed == 2
    assert report.chain.head == before.chain.head and report.chain.rows == 2
    for row in (a1, other):
        rebuilt = flac.rebuild_hashes(paths(pool, row)[1])
        assert rebuilt.wav_sha256 == row.entry.sha256  # the hash chained at the call


async def reencode(path: Path, level: float, change: int | None = None) -> None:
    """Write the FLAC again at another level, one sample changed at ``change``."""
    samples, _ = soundfile.read(path, dtype="int16")
    if change is not None:
        samples[change, 1] += 1
    soundfile.write(path, samples, 8000, "PCM_16", format="FLAC", compression_level=level)


def problems(report: object) -> list[tuple[int, ProblemKind]]:
    found = getattr(report, "problems", ())
    return [(p.recording_id, p.kind) for p in found]


async def test_verify_tells_a_rewritten_archive_from_a_changed_recording(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    await compressed(db, pool)
    _, flac_path = paths(pool, a1)
    storage = LocalStorage(pool.root)
    archived = flac_path.read_bytes()
    await reencode(flac_path, 1.0)  # other bytes, the same samples: still the recording
    assert flac_path.read_bytes() != archived
    report = await verify(db, storage)
    assert problems(report) == [(a1.id, ProblemKind.ARCHIVE_CHANGED)]
    assert report.archives_proved == 1
    await reencode(flac_path, 1.0, change=12345)  # one sample off by one
    assert problems(await verify(db, storage)) == [
        (a1.id, ProblemKind.ARCHIVE_CHANGED), (a1.id, ProblemKind.FILE_CHANGED)]
    size, sha256 = flac.file_hash(flac_path)  # hide it in the archive row: no use
    await tamper(db, "UPDATE recording_archives SET size_bytes = $2, sha256 = $3"
                 " WHERE recording_id = $1", a1.id, size, sha256)
    report = await verify(db, storage)
    assert problems(report) == [(a1.id, ProblemKind.FILE_CHANGED)]
    assert "rebuilds sha256" in report.problems[0].detail


async def test_verify_finds_a_damaged_or_missing_flac(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    await compressed(db, pool)
    _, flac_path = paths(pool, a1)
    data = bytearray(flac_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flac_path.write_bytes(bytes(data))
    storage = LocalStorage(pool.root)
    assert problems(await verify(db, storage)) == [
        (a1.id, ProblemKind.ARCHIVE_CHANGED), (a1.id, ProblemKind.FILE_CHANGED)]
    flac_path.unlink()
    report = await verify(db, storage)
    assert problems(report) == [(a1.id, ProblemKind.FILE_MISSING)]
    assert report.problems[0].detail.endswith(".flac")


async def test_a_wav_changed_since_it_was_catalogued_is_not_compressed(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    wav, flac_path = paths(pool, a1)
    data = bytearray(wav.read_bytes())
    data[-1] ^= 1
    wav.write_bytes(bytes(data))
    run = await compressed(db, pool)
    assert run.done == () and [i for i, _ in run.failed] == [a1.id]
    assert "catalogued" in run.failed[0][1]
    assert wav.read_bytes() == bytes(data) and not flac_path.exists()
    assert list(pool.root.rglob(".*.part")) == []
    assert await archive.get_archive(db, a1.id) is None


async def test_noise_that_does_not_compress_stays_a_wav(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await record_signal(db, pool, world, "call-noise", full_scale_noise(50, 3))
    run = await compressed(db, pool)
    assert [(c.recording_id, c.outcome) for c in run.done] == [(row.id, Outcome.NO_SAVING)]
    wav, flac_path = paths(pool, row)
    assert wav.exists() and not flac_path.exists() and not list(pool.root.rglob(".*.part"))
    assert (await verify(db, LocalStorage(pool.root))).ok


async def test_a_flac_whose_commit_was_lost_is_proved_and_adopted(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    wav, flac_path = paths(pool, a1)
    flac.encode(wav, flac_path)  # what a run wrote before its commit was lost
    wav.unlink()
    storage = LocalStorage(pool.root)
    assert problems(await verify(db, storage)) == [(a1.id, ProblemKind.FILE_MISSING)]
    [done] = (await compressed(db, pool)).done
    assert done.outcome is Outcome.ADOPTED
    assert (await verify(db, storage)).archives_proved == 1


async def test_a_flac_that_does_not_prove_the_missing_wav_is_not_adopted(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    wav, flac_path = paths(pool, a1)
    flac.encode(wav, flac_path)
    wav.unlink()
    await reencode(flac_path, 0.5, change=7)
    run = await compressed(db, pool)
    assert run.done == () and "rebuilds sha256" in run.failed[0][1]
    assert await archive.get_archive(db, a1.id) is None


async def test_legal_hold_does_not_stop_compression_and_deletion_takes_the_flac(
    db: asyncpg.Pool, pool: RecorderPool, world: World, a1: RecordingRow
) -> None:
    admin = audit.Actor(world.users["admin"])
    await catalog.set_legal_hold(db, admin, a1.id, "suit", NOW)
    assert [c.outcome for c in (await compressed(db, pool)).done] == [Outcome.COMPRESSED]
    await catalog.release_legal_hold(db, admin, a1.id, "settled")
    storage = LocalStorage(pool.root)
    expired = STARTED.replace(year=2032)
    run = await retention.apply_retention(db, storage, expired)
    assert [(d.recording_id, d.file_found) for d in run.deleted] == [(a1.id, True)]
    _, flac_path = paths(pool, a1)
    assert not flac_path.exists()
    logged = await db.fetchrow("SELECT storage_uri, sha256 FROM recording_deletions")
    assert logged is not None
    assert (logged["storage_uri"], logged["sha256"]) == (
        storage.uri_for(flac_path), a1.entry.sha256)
    assert (await catalog.get(db, a1.id)).state is CatalogState.DELETED
    assert (await verify(db, storage)).ok
    flac_path.write_bytes(b"fLaC")  # put back: found
    assert problems(await verify(db, storage)) == [(a1.id, ProblemKind.DELETED_FILE_PRESENT)]


async def test_only_calls_older_than_the_cut_off_and_one_run_at_a_time(
    db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow
) -> None:
    assert await archive.candidates(db, STARTED) == []
    assert [r.id for r in await archive.candidates(db, LATER)] == [a1.id]
    async with db.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", archive.ARCHIVE_LOCK)
        with pytest.raises(Exception, match="another compress run"):
            await compressed(db, pool)
        await conn.execute("SELECT pg_advisory_unlock($1)", archive.ARCHIVE_LOCK)


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              db: asyncpg.Pool, pool: RecorderPool) -> ApiClient:
    settings = dataclasses.replace(settings, recording=RecordingSettings(pool.root))
    return await aiohttp_client(create_app(settings, clock=lambda: NOW))


RANGES = ["bytes=0-43", "bytes=0-100", "bytes=43-46", "bytes=45-50", "bytes=1001-70000",
          "bytes=-3", "bytes=200000-"]


async def test_an_archived_recording_plays_as_its_original_wav_with_ranges(
    api: ApiClient, db: asyncpg.Pool, pool: RecorderPool, world: World, a1: RecordingRow
) -> None:
    original = paths(pool, a1)[0].read_bytes()
    await compressed(db, pool)
    resp = await api.get(f"/recordings/{a1.id}/audio", headers=world.headers("qa"))
    assert resp.status == 200 and await resp.read() == original
    assert resp.headers["ETag"] == f'"{a1.entry.sha256}"'
    assert resp.headers["Content-Length"] == str(len(original))
    for header in RANGES:
        resp = await api.get(f"/recordings/{a1.id}/audio",
                             headers={**world.headers("auditor_a"), "Range": header})
        first, _, last = resp.headers["Content-Range"][6:].partition("/")[0].partition("-")
        assert resp.status == 206
        assert await resp.read() == original[int(first) : int(last) + 1], header
    played = await db.fetch("SELECT details FROM audit_log WHERE action = 'recording.play'"
                            " ORDER BY id")
    assert len(played) == 1 + len(RANGES)


async def test_an_archive_that_does_not_decode_is_not_served(
    api: ApiClient, db: asyncpg.Pool, pool: RecorderPool, world: World, a1: RecordingRow
) -> None:
    await compressed(db, pool)
    paths(pool, a1)[1].write_bytes(b"not a flac at all")
    resp = await api.get(f"/recordings/{a1.id}/audio", headers=world.headers("qa"))
    assert resp.status == 409
    assert (await resp.json())["error_id"] == "recording.audio_changed"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="callcase")
    recordings = parser.add_subparsers(dest="command").add_parser("recordings")
    cli_archive.add_parser(recordings.add_subparsers(dest="recordings_command"))
    return parser.parse_args(["recordings", *argv])


async def test_the_compress_command(
    settings: Settings, db: asyncpg.Pool, pool: RecorderPool, a1: RecordingRow,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = dataclasses.replace(settings, recording=RecordingSettings(pool.root))
    assert await cli_archive.run(parse("compress", "--dry-run"), settings) == 0
    assert "0 recording(s) started before" in capsys.readouterr().out  # not 30 days old
    assert await cli_archive.run(parse("compress", "--dry-run", "--older-than-days", "0"),
                                 settings) == 0
    out = capsys.readouterr().out
    assert f"would compress recording {a1.id} (call call-a1), 256044 bytes" in out
    assert "1 recording(s) started before" in out and paths(pool, a1)[0].exists()
    assert await cli_archive.run(parse("compress", "--older-than-days", "0"), settings) == 0
    out = capsys.readouterr().out
    assert "compressed 1 recording(s): 256044 bytes of WAV -> " in out
    assert "0 kept as WAV (the FLAC was not smaller); 0 could not be compressed" in out
    assert not paths(pool, a1)[0].exists()
    with pytest.raises(SystemExit):
        parse("compress", "--older-than-days", "-1")
