"""QA in PostgreSQL: flags of stored transcripts, the monthly sample, coverage, the
reviewer's queue.

The recordings catalogue belongs to the recording package, which transcription
must not import: it is read here with plain SQL (``recordings``: case, client,
agent, campaign, attempt, start), and the outcome of a call is the action code
filed on its attempt (``actions.attempt_id``), the latest when several were.

Months are calendar months in UTC. Thin SQL over asyncpg; the rules are pure
(:mod:`transcription.flags`, :mod:`transcription.sampling`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

import asyncpg

from cases.errors import InvalidInput, NotFound
from cases.store import Db
from transcription import lexicon, sampling
from transcription.dialogue import Speaker, Word
from transcription.flags import CallContext, Flag, FlagKind, raise_flags
from transcription.redact import Kind, Redaction

logger = logging.getLogger(__name__)

_CALL = """
SELECT r.client_id, r.case_id, t.duration_ms, t.words, t.redactions,
       coalesce((SELECT array_agg(DISTINCT a.code) FROM actions a
                  WHERE a.attempt_id = r.attempt_id AND a.case_id = r.case_id), '{}') AS codes
  FROM transcripts t LEFT JOIN recordings r ON r.id = t.recording_id
 WHERE t.recording_id = $1
"""


async def lexicon_of(db: Db, client_id: int | None) -> lexicon.Lexicon:
    """The client's lexicon; the default one for a client without (or no client)."""
    body = await db.fetchval("SELECT lexicon FROM qa_lexicons WHERE client_id = $1", client_id)
    return lexicon.default() if body is None else lexicon.for_client(json.loads(body))


async def set_lexicon(db: Db, client_id: int, body: dict[str, object]) -> lexicon.Lexicon:
    """Store a client's lexicon (checked first: ``InvalidInput`` if it is wrong)."""
    try:
        parsed = lexicon.for_client(body)
    except ValueError as exc:
        raise InvalidInput("qa.bad_lexicon", str(exc)) from None
    await db.execute(
        "INSERT INTO qa_lexicons (client_id, lexicon) VALUES ($1, $2::jsonb)"
        " ON CONFLICT (client_id) DO UPDATE SET lexicon = EXCLUDED.lexicon, updated_at = now()",
        client_id, json.dumps(body, ensure_ascii=False))
    return parsed


def _words(body: str) -> list[Word]:
    return [Word(Speaker(w["speaker"]), w["text"], w["start"], w["end"], w["confidence"])
            for w in json.loads(body)]


def _redactions(body: str) -> list[Redaction]:
    return [Redaction(Kind(r["kind"]), r["start"], r["end"], r["speaker"])
            for r in json.loads(body)]


async def refresh_flags(db: asyncpg.Pool, recording_id: int) -> list[Flag]:
    """Raise a stored transcript's flags again and store them in place of the old ones
    (a transcript of a recording not in the catalogue gets the default lexicon)."""
    row = await db.fetchrow(_CALL, recording_id)
    if row is None:
        raise NotFound("transcript.not_found", "no transcript of this recording")
    context = CallContext(frozenset(row["codes"]), row["duration_ms"] / 1000)
    flags = raise_flags(_words(row["words"]), _redactions(row["redactions"]),
                        await lexicon_of(db, row["client_id"]), context)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM qa_flags WHERE recording_id = $1", recording_id)
        await conn.executemany(
            "INSERT INTO qa_flags (recording_id, kind, speaker, start_ms, end_ms, text, term)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(recording_id, str(f.kind), f.speaker, round(f.start * 1000), round(f.end * 1000),
              f.text[:1000], f.term) for f in flags])
    logger.info("recording %s: %d QA flag(s)", recording_id, len(flags))
    return flags


async def flags_of(db: Db, recording_id: int) -> list[Flag]:
    rows = await db.fetch("SELECT * FROM qa_flags WHERE recording_id = $1"
                          " ORDER BY start_ms, end_ms, kind", recording_id)
    return [Flag(FlagKind(r["kind"]), r["speaker"], r["start_ms"] / 1000, r["end_ms"] / 1000,
                 r["text"], r["term"]) for r in rows]


_MONTH_CALLS = """
SELECT r.id, r.agent_id, r.campaign_id, r.client_id,
       (SELECT a.code FROM actions a WHERE a.attempt_id = r.attempt_id
           AND a.case_id = r.case_id ORDER BY a.id DESC LIMIT 1) AS outcome,
       EXISTS (SELECT 1 FROM qa_flags f WHERE f.recording_id = r.id) AS flagged
  FROM recordings r
 WHERE r.started_at >= $1 AND r.started_at < $2 AND r.agent_id IS NOT NULL
   AND r.state IN ('finished', 'recovered')
"""


def _utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


async def month_calls(db: Db, month: str) -> tuple[list[sampling.RecordedCall], dict[int, int]]:
    """The month's recorded calls of agents, and each one's client."""
    first, after = sampling.parse_month(month)
    rows = await db.fetch(_MONTH_CALLS, _utc(first), _utc(after))
    calls = [sampling.RecordedCall(r["id"], r["agent_id"], r["campaign_id"], r["outcome"],
                                   r["flagged"]) for r in rows]
    return calls, {r["id"]: r["client_id"] for r in rows}


async def refresh_month_flags(db: asyncpg.Pool, month: str) -> int:
    """Raise again the flags of the month's transcripts (codes filed since count)."""
    first, after = sampling.parse_month(month)
    ids = await db.fetch(
        "SELECT t.recording_id FROM transcripts t JOIN recordings r ON r.id = t.recording_id"
        " WHERE r.started_at >= $1 AND r.started_at < $2", _utc(first), _utc(after))
    for row in ids:
        await refresh_flags(db, row["recording_id"])
    return len(ids)


async def sample_month(db: asyncpg.Pool, month: str, seed: str, now: datetime) -> list[
        sampling.Pick]:
    """Draw (or draw again: picks already stored stay) the month's QA sample."""
    await refresh_month_flags(db, month)
    calls, clients = await month_calls(db, month)
    picks = sampling.sample_month(calls, seed, month)
    first, _ = sampling.parse_month(month)
    await db.executemany(
        "INSERT INTO qa_samples (month, recording_id, agent_id, client_id, reason, stratum,"
        " seed, sampled_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (recording_id) DO NOTHING",
        [(first, p.recording_id, p.agent_id, clients[p.recording_id], str(p.reason), p.stratum,
          seed, now) for p in picks])
    logger.info("QA sample %s: %d call(s) of %d", month, len(picks), len(calls))
    return picks


_COVERAGE = """
SELECT r.agent_id, count(*) AS calls,
       count(s.id) AS sampled,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM qa_reviews v
                                       WHERE v.recording_id = r.id)) AS reviewed
  FROM recordings r LEFT JOIN qa_samples s ON s.recording_id = r.id
 WHERE r.started_at >= $1 AND r.started_at < $2 AND r.agent_id IS NOT NULL
   AND r.state IN ('finished', 'recovered')
   AND ($3::bigint IS NULL OR r.client_id = $3)
 GROUP BY r.agent_id
"""


async def coverage(db: Db, month: str,
                   client_id: int | None = None) -> list[sampling.AgentCoverage]:
    first, after = sampling.parse_month(month)
    rows = await db.fetch(_COVERAGE, _utc(first), _utc(after), client_id)
    return sampling.coverage((r["agent_id"], r["calls"], r["sampled"], r["reviewed"])
                             for r in rows)


@dataclass(frozen=True, slots=True)
class QueuedCall:
    sample_id: int
    recording_id: int
    month: date
    agent_id: int
    client_id: int
    reason: str
    stratum: str
    flags: int

    def as_json(self) -> dict[str, object]:
        return {"sample_id": self.sample_id, "recording_id": self.recording_id,
                "month": self.month.strftime("%Y-%m"), "agent_id": self.agent_id,
                "client_id": self.client_id, "reason": self.reason, "stratum": self.stratum,
                "flags": self.flags,
                "transcript_url": f"/recordings/{self.recording_id}/transcript"}


_QUEUE = """
SELECT s.id, s.recording_id, s.month, s.agent_id, s.client_id, s.reason, s.stratum,
       (SELECT count(*) FROM qa_flags f WHERE f.recording_id = s.recording_id) AS flags
  FROM qa_samples s
 WHERE NOT EXISTS (SELECT 1 FROM qa_reviews v WHERE v.recording_id = s.recording_id)
   AND ($1::date IS NULL OR s.month = $1) AND ($2::bigint IS NULL OR s.client_id = $2)
   AND s.id > $3
 ORDER BY s.id LIMIT $4
"""


async def review_queue(db: Db, *, month: str | None = None, client_id: int | None = None,
                       after: int = 0, limit: int = 50) -> list[QueuedCall]:
    """Sampled calls nobody has reviewed yet, oldest sample first (keyset on its id)."""
    first = sampling.parse_month(month)[0] if month else None
    rows = await db.fetch(_QUEUE, first, client_id, after, limit)
    return [QueuedCall(r["id"], r["recording_id"], r["month"], r["agent_id"], r["client_id"],
                       r["reason"], r["stratum"], r["flags"]) for r in rows]
