"""`callcase transcribe-worker`: N worker processes that share one loaded model.

The parent loads the recogniser once (the Vosk model is about 510 MB) and forks the
workers, which share its memory pages copy-on-write (asr-notes: 277 MB PSS per forked
worker against 633 MB for a spawned one). The parent then only watches: a worker
that dies is forked again; SIGTERM or SIGINT stops them all. The parent must not
start threads or an event loop before forking.

Each worker runs its own event loop and database pool and loops: lease a job
(:mod:`transcription.queue`), transcribe the recording in the worker's one
transcription thread (so that it keeps one warm recogniser, see
:class:`transcription.recognizer.KaldiStreams`) while the loop renews the lease every
third of ``lease_seconds``, give the heap's free pages back to the system, store the
transcript, repeat; with nothing to do it polls every ``idle_seconds``. A worker
killed mid-job stops renewing; its lease expires and another worker does the job
again (at least once), and the transcript is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from transcription import qa_store, queue
from transcription.pipeline import Transcript, transcribe_file
from transcription.ports import AudioLocator
from transcription.recognizer import Recognizer

logger = logging.getLogger(__name__)
_MALLOC_TRIM = getattr(ctypes.CDLL(None), "malloc_trim", None)  # glibc only


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerConfig:
    database_url: str
    workers: int = os.cpu_count() or 1
    lease_seconds: float = 300.0
    idle_seconds: float = 2.0
    max_attempts: int = 3
    max_jobs: int | None = None  # stop after this many jobs (tests, benches)
    name: str = socket.gethostname()


async def _renew(pool: asyncpg.Pool, job: queue.Job, name: str, config: WorkerConfig) -> None:
    while True:
        await asyncio.sleep(config.lease_seconds / 3)
        if not await queue.extend(pool, job, name, config.lease_seconds):
            logger.warning("job %s (recording %s): lease lost", job.id, job.recording_id)
            return


def transcribe_and_trim(path: Path, recognizer: Recognizer) -> Transcript:
    """The recording's transcript; then the heap's free pages go back to the system.
    Kaldi frees a call's buffers (and a replaced recogniser) into malloc's free lists,
    which keep them: measured with bench/asr_bench.py, a forked worker's private
    memory after one 20-30 s call was 94 MB without ``malloc_trim`` and 12 MB with it
    (a new recogniser per call)."""
    try:
        return transcribe_file(path, recognizer)
    finally:
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)


async def work_one(pool: asyncpg.Pool, recognizer: Recognizer, locate: AudioLocator,
                   name: str, config: WorkerConfig, asr: Executor | None = None) -> bool:
    """Do one job if there is one; False when the queue was empty. The recording is
    transcribed in ``asr`` (None: the loop's default executor)."""
    job = await queue.lease(pool, name, config.lease_seconds, config.max_attempts)
    if job is None:
        return False
    logger.info("job %s: recording %s, attempt %s", job.id, job.recording_id, job.attempts)
    renewing = asyncio.create_task(_renew(pool, job, name, config))
    try:
        path = locate(job.audio_uri)
        transcript = await asyncio.get_running_loop().run_in_executor(
            asr, transcribe_and_trim, path, recognizer)
    except (OSError, ValueError) as exc:
        logger.error("job %s (recording %s) failed: %s", job.id, job.recording_id, exc)
        await queue.fail(pool, job, str(exc), config.max_attempts)
        return True
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    stored = await queue.complete(pool, job, name, transcript)
    logger.info("job %s (recording %s): done%s", job.id, job.recording_id,
                "" if stored else ", transcript stored before")
    await _flag(pool, job)
    return True


async def _flag(pool: asyncpg.Pool, job: queue.Job) -> None:
    """Raise the QA flags of the stored transcript; a failure leaves them to the
    monthly sampling, which raises every transcript's flags again."""
    try:
        await qa_store.refresh_flags(pool, job.recording_id)
    except (asyncpg.PostgresError, ValueError) as exc:
        logger.error("job %s (recording %s): QA flags not raised: %s", job.id,
                     job.recording_id, exc)


async def work(recognizer: Recognizer, locate: AudioLocator, name: str,
               config: WorkerConfig) -> None:
    """One worker's loop, until ``max_jobs`` jobs are done (or forever)."""
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="transcribe") as asr:
        async with asyncpg.create_pool(config.database_url, min_size=1, max_size=2) as pool:
            while config.max_jobs is None or done < config.max_jobs:
                if await work_one(pool, recognizer, locate, name, config, asr):
                    done += 1
                else:
                    await asyncio.sleep(config.idle_seconds)


def worker_process(recognizer: Recognizer, locate: AudioLocator, name: str,
                   config: WorkerConfig) -> int:
    """The body of a forked worker: its exit status."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        asyncio.run(work(recognizer, locate, name, config))
    except Exception:  # the process boundary: log it, the parent forks a new one
        logger.exception("transcription worker %s died", name)
        return 1
    return 0


def fork_worker(recognizer: Recognizer, locate: AudioLocator, name: str,
                config: WorkerConfig) -> int:
    """Fork a worker sharing this process's loaded model; its pid."""
    pid = os.fork()
    if pid == 0:  # the child never returns into the caller
        status = 1
        try:
            status = worker_process(recognizer, locate, name, config)
        finally:
            os._exit(status)
    return pid


class _Stop(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Stop


def supervise(recognizer: Recognizer, locate: AudioLocator, config: WorkerConfig) -> int:
    """Fork ``config.workers`` workers and keep them running until SIGTERM or SIGINT."""
    names = [f"{config.name}-{os.getpid()}-{i}" for i in range(config.workers)]
    running = {fork_worker(recognizer, locate, n, config): n for n in names}
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while running:
            pid, status = os.wait()
            name = running.pop(pid, None)
            if name is None:
                continue
            if os.waitstatus_to_exitcode(status) == 0 and config.max_jobs is not None:
                continue
            logger.error("worker %s (pid %s) exited with %s; forking it again", name, pid,
                         os.waitstatus_to_exitcode(status))
            running[fork_worker(recognizer, locate, name, config)] = name
    except _Stop:
        for pid in running:
            os.kill(pid, signal.SIGTERM)
        for pid in running:
            os.waitpid(pid, 0)
    return 0
