"""Stored transcripts read back: one call's transcript with its flags, and full-text
search across transcripts with PostgreSQL (``websearch_to_tsquery`` over the
``simple`` configuration, the one the ``transcripts.search`` column is built with:
no stemming, so Chinese and Korean words match as the recogniser wrote them).

Search is limited to one client when ``client_id`` is given (a client's auditor);
every hit names its recording, case and client so the caller can check access.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cases.errors import InvalidInput, NotFound
from cases.store import Db
from transcription.flags import Flag
from transcription.qa_store import flags_of


@dataclass(frozen=True, slots=True)
class StoredTranscript:
    recording_id: int
    case_id: int
    client_id: int
    agent_id: int | None
    engine: str
    model: str
    duration: float
    text: str
    words: list[object]
    dialogue: list[object]
    metrics: dict[str, object]
    flags: list[Flag]

    def as_json(self) -> dict[str, object]:
        speakers = sorted({str(w["speaker"]) for w in self.words if isinstance(w, dict)})
        return {"recording_id": self.recording_id, "case_id": self.case_id,
                "client_id": self.client_id, "agent_id": self.agent_id, "engine": self.engine,
                "model": self.model, "duration": self.duration, "text": self.text,
                "speakers": speakers, "words": self.words, "dialogue": self.dialogue,
                "metrics": self.metrics, "flags": [f.as_json() for f in self.flags]}


_GET = """
SELECT t.*, r.case_id, r.client_id, r.agent_id
  FROM transcripts t JOIN recordings r ON r.id = t.recording_id
 WHERE t.recording_id = $1
"""


async def get_transcript(db: Db, recording_id: int) -> StoredTranscript:
    row = await db.fetchrow(_GET, recording_id)
    if row is None:
        raise NotFound("transcript.not_found", "no transcript of this recording")
    return StoredTranscript(
        recording_id, row["case_id"], row["client_id"], row["agent_id"], row["engine"],
        row["model"], row["duration_ms"] / 1000, row["text"], json.loads(row["words"]),
        json.loads(row["dialogue"]), json.loads(row["metrics"]),
        await flags_of(db, recording_id))


@dataclass(frozen=True, slots=True)
class Hit:
    recording_id: int
    case_id: int
    client_id: int
    agent_id: int | None
    rank: float
    snippet: str

    def as_json(self) -> dict[str, object]:
        return {"recording_id": self.recording_id, "case_id": self.case_id,
                "client_id": self.client_id, "agent_id": self.agent_id,
                "rank": round(self.rank, 4), "snippet": self.snippet,
                "transcript_url": f"/recordings/{self.recording_id}/transcript"}


_SEARCH = """
SELECT t.recording_id, r.case_id, r.client_id, r.agent_id,
       ts_rank(t.search, q) AS rank,
       ts_headline('simple', t.text, q, 'MaxFragments=2, MaxWords=12, MinWords=4') AS snippet
  FROM transcripts t JOIN recordings r ON r.id = t.recording_id,
       websearch_to_tsquery('simple', $1) q
 WHERE t.search @@ q AND ($2::bigint IS NULL OR r.client_id = $2)
 ORDER BY rank DESC, t.recording_id DESC LIMIT $3
"""


async def search(db: Db, query: str, *, client_id: int | None = None,
                 limit: int = 20) -> list[Hit]:
    """Transcripts that say ``query`` (words, "a phrase", -not, or), best first."""
    if not 1 <= len(query.strip()) <= 200:
        raise InvalidInput("transcript.bad_query", "q must be 1-200 characters")
    rows = await db.fetch(_SEARCH, query.strip(), client_id, limit)
    return [Hit(r["recording_id"], r["case_id"], r["client_id"], r["agent_id"],
                float(r["rank"]), r["snippet"]) for r in rows]
