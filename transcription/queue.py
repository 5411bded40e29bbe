"""The transcription job queue in PostgreSQL: at-least-once jobs, results stored once.

* :func:`enqueue` adds a recording's job; enqueueing the same recording again is a
  no-op (``recording_id`` is unique), so the caller may retry freely.
* :func:`lease` takes the oldest runnable job, queued or leased with an expired
  lease (its worker died), with ``FOR UPDATE SKIP LOCKED`` so two workers never take
  the same job at once, and leases it for ``lease_seconds``. :func:`extend` renews
  the lease while the job runs. A job leased ``max_attempts`` times without being
  completed is failed instead of leased again.
* :func:`complete` stores the transcript with ``INSERT ... ON CONFLICT DO NOTHING``
  and marks the job done in one transaction: a job done twice (a lease that expired
  under a slow worker) still has one transcript.

Thin SQL over asyncpg; times come from the database's clock, the one all workers share.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import asyncpg

from cases.store import Db
from transcription.pipeline import Transcript

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    recording_id: int
    audio_uri: str
    attempts: int


async def enqueue(db: Db, recording_id: int, audio_uri: str) -> bool:
    """Queue a recording for transcription; False when it was queued already."""
    status = await db.execute(
        "INSERT INTO transcription_jobs (recording_id, audio_uri) VALUES ($1, $2)"
        " ON CONFLICT (recording_id) DO NOTHING", recording_id, audio_uri)
    return bool(status.endswith(" 1"))


_FAIL_EXHAUSTED = """
UPDATE transcription_jobs SET state = 'failed', leased_until = NULL, finished_at = now(),
       last_error = coalesce(last_error, 'lease expired ' || attempts || ' times')
 WHERE state = 'leased' AND leased_until < now() AND attempts >= $1
"""

_LEASE = """
UPDATE transcription_jobs j
   SET state = 'leased', attempts = j.attempts + 1, worker = $1,
       leased_until = now() + make_interval(secs => $2)
 WHERE j.id = (
     SELECT id FROM transcription_jobs
      WHERE state = 'queued' OR (state = 'leased' AND leased_until < now())
      ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING j.id, j.recording_id, j.audio_uri, j.attempts
"""


async def lease(db: Db, worker: str, lease_seconds: float, max_attempts: int = 3) -> Job | None:
    """The next job for ``worker``, or None when there is nothing to do."""
    await db.execute(_FAIL_EXHAUSTED, max_attempts)
    row = await db.fetchrow(_LEASE, worker, float(lease_seconds))
    if row is None:
        return None
    return Job(row["id"], row["recording_id"], row["audio_uri"], row["attempts"])


async def extend(db: Db, job: Job, worker: str, lease_seconds: float) -> bool:
    """Renew ``worker``'s lease; False when the job is no longer its own."""
    status = await db.execute(
        "UPDATE transcription_jobs SET leased_until = now() + make_interval(secs => $3)"
        " WHERE id = $1 AND worker = $2 AND state = 'leased'", job.id, worker,
        float(lease_seconds))
    return bool(status.endswith(" 1"))


async def complete(db: asyncpg.Pool, job: Job, worker: str, transcript: Transcript) -> bool:
    """Store the transcript (once) and mark the job done; False if stored before."""
    body = transcript.as_json()
    async with db.acquire() as conn, conn.transaction():
        status = await conn.execute(
            "INSERT INTO transcripts (recording_id, engine, model, duration_ms, text, words,"
            " dialogue, metrics, redactions, worker)"
            " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10)"
            " ON CONFLICT (recording_id) DO NOTHING",
            job.recording_id, transcript.engine, transcript.model,
            round(transcript.duration * 1000), transcript.text,
            *(json.dumps(body[k], ensure_ascii=False)
              for k in ("words", "dialogue", "metrics", "redactions")), worker)
        await conn.execute(
            "UPDATE transcription_jobs SET state = 'done', leased_until = NULL,"
            " finished_at = now() WHERE id = $1 AND state <> 'done'", job.id)
    return bool(status.endswith(" 1"))


async def fail(db: Db, job: Job, error: str, max_attempts: int = 3) -> None:
    """A job that raised: queued again, or failed once out of attempts."""
    await db.execute(
        "UPDATE transcription_jobs SET leased_until = NULL, last_error = $2,"
        " state = CASE WHEN attempts >= $3 THEN 'failed' ELSE 'queued' END,"
        " finished_at = CASE WHEN attempts >= $3 THEN now() END"
        " WHERE id = $1 AND state = 'leased'", job.id, error[:1000], max_attempts)
