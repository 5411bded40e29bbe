"""The job queue on real PostgreSQL, and workers as real forked processes."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import emptied_pool
from tests.transcription.conftest import DATA
from tests.transcription.fakes import ScriptedRecognizer, StuckRecognizer
from transcription import queue
from transcription.pipeline import transcribe_file
from transcription.worker import WorkerConfig, fork_worker, work

WAV = str(DATA / "ko_call.wav")


@pytest.fixture
def db_url(database_url: str) -> Iterator[str]:
    async def empty() -> None:
        await (await emptied_pool(database_url)).close()

    asyncio.run(empty())
    yield database_url


async def _pool(url: str) -> asyncpg.Pool:
    return await asyncpg.create_pool(url, min_size=1, max_size=4)


def test_enqueue_is_idempotent(db_url: str) -> None:
    async def scenario() -> list[bool]:
        async with await _pool(db_url) as pool:
            return [await queue.enqueue(pool, 7, WAV), await queue.enqueue(pool, 7, WAV)]

    assert asyncio.run(scenario()) == [True, False]


def test_two_workers_never_lease_the_same_job(db_url: str) -> None:
    async def scenario() -> tuple[queue.Job | None, ...]:
        async with await _pool(db_url) as pool:
            await queue.enqueue(pool, 1, WAV)
            both = queue.lease(pool, "a", 60), queue.lease(pool, "b", 60)
            return tuple(await asyncio.gather(*both))

    leased = [j for j in asyncio.run(scenario()) if j is not None]
    assert len(leased) == 1


def test_an_expired_lease_is_taken_and_the_transcript_stored_once(db_url: str) -> None:
    transcript = transcribe_file(Path(WAV), ScriptedRecognizer())

    async def scenario() -> tuple[bool, bool, int, int]:
        async with await _pool(db_url) as pool:
            await queue.enqueue(pool, 1, WAV)
            first = await queue.lease(pool, "a", 0.01)
            assert first is not None
            await pool.execute("SELECT pg_sleep(0.05)")  # the database's clock moves on
            second = await queue.lease(pool, "b", 60)
            assert second is not None and second.attempts == 2
            stored_b = await queue.complete(pool, second, "b", transcript)
            stored_a = await queue.complete(pool, first, "a", transcript)
            count = await pool.fetchval("SELECT count(*) FROM transcripts")
            return stored_b, stored_a, count, await pool.fetchval(
                "SELECT count(*) FROM transcription_jobs WHERE state = 'done'")

    assert asyncio.run(scenario()) == (True, False, 1, 1)


def test_a_job_out_of_attempts_fails(db_url: str) -> None:
    async def scenario() -> tuple[queue.Job | None, str]:
        async with await _pool(db_url) as pool:
            await queue.enqueue(pool, 1, WAV)
            await queue.lease(pool, "a", 0.0, max_attempts=1)
            await pool.execute("SELECT pg_sleep(0.01)")
            again = await queue.lease(pool, "b", 60, max_attempts=1)
            return again, await pool.fetchval("SELECT state FROM transcription_jobs")

    assert asyncio.run(scenario()) == (None, "failed")


def _wait_exit(pid: int, timeout: float) -> int:
    """The child's exit code, waited for in a thread (killed when it takes too long)."""
    with ThreadPoolExecutor(1) as waiter:
        exited = waiter.submit(os.waitpid, pid, 0)
        try:
            return os.waitstatus_to_exitcode(exited.result(timeout=timeout)[1])
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            raise


def test_a_worker_killed_mid_job_leaves_it_to_another(db_url: str) -> None:
    async def enqueue() -> None:
        async with await _pool(db_url) as pool:
            await queue.enqueue(pool, 42, WAV)

    asyncio.run(enqueue())
    started_r, started_w = os.pipe()
    hang_r, hang_w = os.pipe()
    config = WorkerConfig(database_url=db_url, lease_seconds=1.0, idle_seconds=0.05, max_jobs=1)
    stuck = fork_worker(StuckRecognizer(started_w, hang_r), Path, "stuck", config)
    helper = None
    try:
        assert os.read(started_r, 1) == b"s"  # the stuck worker is mid-job
        helper = fork_worker(ScriptedRecognizer(), Path, "helper", config)
        os.kill(stuck, signal.SIGKILL)
        assert os.waitstatus_to_exitcode(os.waitpid(stuck, 0)[1]) == -signal.SIGKILL
        assert _wait_exit(helper, timeout=20.0) == 0
    finally:
        for fd in (started_r, started_w, hang_r, hang_w):
            os.close(fd)

    async def outcome() -> tuple[object, ...]:
        async with await _pool(db_url) as pool:
            job = await pool.fetchrow("SELECT state, attempts, worker FROM transcription_jobs")
            stored = await pool.fetch("SELECT recording_id, worker, engine FROM transcripts")
            assert job is not None
            return tuple(job.values()), [tuple(r.values()) for r in stored]

    assert asyncio.run(outcome()) == (("done", 2, "helper"), [(42, "helper", "scripted")])


class ThreadRecorder(ScriptedRecognizer):
    """Notes the thread each segment is decoded in."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def before_segment(self) -> None:
        self.threads.append(threading.current_thread().name)


def test_a_worker_decodes_every_job_in_its_one_transcription_thread(db_url: str) -> None:
    """A warm recogniser belongs to a thread: a worker that moved between threads
    would keep one warm recogniser (and its memory) in each."""
    recorder = ThreadRecorder()
    config = WorkerConfig(database_url=db_url, idle_seconds=0.05, max_jobs=3)

    async def scenario() -> None:
        async with await _pool(db_url) as pool:
            for recording in (1, 2, 3):
                await queue.enqueue(pool, recording, WAV)
        await work(recorder, Path, "w", config)

    asyncio.run(scenario())
    assert len(recorder.threads) >= 3 * 2  # segments of both channels of three calls
    assert {name.split("_")[0] for name in recorder.threads} == {"transcribe"}
    assert len(set(recorder.threads)) == 1
