"""Catalogue rows, filed actions and stored transcripts for the QA store tests, written
with plain SQL (thousands of real recordings would only slow the tests down; the API
tests use recordings written by the recorder)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import asyncpg

from tests.api.world import NOW, World
from transcription import queue
from transcription.dialogue import Speaker, Word, merge
from transcription.metrics import talk_metrics
from transcription.pipeline import Transcript
from transcription.redact import redact

_RECORDING = """
INSERT INTO recordings (call_id, attempt_id, case_id, client_id, agent_id, campaign_id,
    started_at, duration_ms, size_bytes, channels, sample_rate, sha256, storage_uri, state,
    retention_until, prev_hash, row_hash, created_at)
SELECT $1, $2, c.id, c.client_id, $3, $4, $5, $6, 44, 2, 8000, $7, $8, 'finished',
       $9, $7, $10, $9
  FROM cases c WHERE c.id = $11
RETURNING id
"""


async def add_recording(pool: asyncpg.Pool, world: World, call_id: str, started_at: datetime,
                        *, agent: str = "agent_a", account: str = "A1",
                        campaign_id: int | None = None, attempt_id: int | None = None,
                        duration_ms: int = 60_000) -> int:
    digest = hashlib.sha256(call_id.encode()).hexdigest()
    rid: int = await pool.fetchval(
        _RECORDING, call_id, attempt_id, world.users[agent].id, campaign_id, started_at,
        duration_ms, digest, f"test/{call_id}.wav", NOW + timedelta(days=3650),
        hashlib.sha256(digest.encode()).hexdigest(), world.cases[account])
    return rid


async def file_action(pool: asyncpg.Pool, world: World, account: str, code: str,
                      attempt_id: int) -> None:
    await pool.execute(
        "INSERT INTO actions (case_id, code, attempt_id, idempotency_key, created_at)"
        " VALUES ($1, $2, $3, $4, $5)", world.cases[account], code, attempt_id,
        f"qa-{attempt_id}-{code}", NOW)


async def store_transcript(pool: asyncpg.Pool, recording_id: int,
                           transcript: Transcript) -> None:
    job = queue.Job(0, recording_id, f"test/{recording_id}.wav", 1)
    assert await queue.complete(pool, job, "test", transcript)


def scripted_transcript(*turns: tuple[Speaker, str], duration: float = 30.0) -> Transcript:
    """A transcript of scripted turns, 0.5 s a word (API tests need no recogniser)."""
    heard: list[Word] = []
    for speaker, text in turns:
        for token in text.split():
            at = len(heard) * 0.5
            heard.append(Word(speaker, token, at, at + 0.4, 0.9))
    words, redactions = redact(heard)
    return Transcript("scripted", "scripted-1", duration, {}, words, merge(words),
                      talk_metrics({}, {}, duration), redactions)
