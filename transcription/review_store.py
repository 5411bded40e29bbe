"""Scorecards and reviews in PostgreSQL, and the monthly compliance mark of a case.

* :func:`add_scorecard` stores a new version of a client's form; reviews keep the
  version they used. :func:`current_scorecard` is the latest version, the default
  form (:data:`transcription.scorecard.DEFAULT_ITEMS`) stored as version 1 when the
  client has none yet.
* :func:`submit_review` checks and scores a reviewer's answers, stores the review
  and marks the case's compliance for the month of the call in one transaction:
  ``qa_compliance.compliant`` turns false at the first failed auto-fail item and
  stays false; a passing review adds its id and leaves it as it is.

The recording's case, client, agent and start are read with plain SQL from the
recording package's table.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from cases.errors import Conflict, NotFound
from cases.store import Db
from transcription.scorecard import (
    DEFAULT_ITEMS,
    Answer,
    Comment,
    Item,
    Scorecard,
    parse_answers,
    parse_comments,
    parse_items,
    score,
)

logger = logging.getLogger(__name__)


def _card(row: asyncpg.Record) -> Scorecard:
    items = tuple(Item(i["key"], i["label"], i["weight"], i["auto_fail"])
                  for i in json.loads(row["items"]))
    return Scorecard(row["id"], row["client_id"], row["version"], row["name"], items)


async def add_scorecard(db: Db, client_id: int, name: str, items: object,
                        now: datetime) -> Scorecard:
    """A new version of the client's form (``InvalidInput`` when the items are wrong)."""
    parsed = parse_items(items)
    row = await db.fetchrow(
        "INSERT INTO qa_scorecards (client_id, version, name, items, created_at)"
        " SELECT $1, coalesce(max(version), 0) + 1, $2, $3::jsonb, $4"
        "   FROM qa_scorecards WHERE client_id = $1 RETURNING *",
        client_id, name, json.dumps([i.as_json() for i in parsed], ensure_ascii=False), now)
    assert row is not None
    return _card(row)


async def scorecard(db: Db, scorecard_id: int) -> Scorecard:
    row = await db.fetchrow("SELECT * FROM qa_scorecards WHERE id = $1", scorecard_id)
    if row is None:
        raise NotFound("qa.scorecard_not_found", "no such scorecard")
    return _card(row)


async def current_scorecard(db: Db, client_id: int, now: datetime) -> Scorecard:
    row = await db.fetchrow("SELECT * FROM qa_scorecards WHERE client_id = $1"
                            " ORDER BY version DESC LIMIT 1", client_id)
    if row is not None:
        return _card(row)
    items = [i.as_json() for i in DEFAULT_ITEMS]
    return await add_scorecard(db, client_id, "Standard call review", items, now)


@dataclass(frozen=True, slots=True)
class Review:
    id: int
    recording_id: int
    case_id: int
    client_id: int
    agent_id: int | None
    scorecard_id: int
    reviewer_id: int
    answers: dict[str, Answer]
    comments: tuple[Comment, ...]
    score: float
    auto_failed: tuple[str, ...]
    month: date

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "recording_id": self.recording_id, "case_id": self.case_id,
                "client_id": self.client_id, "agent_id": self.agent_id,
                "scorecard_id": self.scorecard_id, "reviewer_id": self.reviewer_id,
                "answers": {k: str(v) for k, v in self.answers.items()},
                "comments": [c.as_json() for c in self.comments], "score": self.score,
                "auto_failed": list(self.auto_failed), "compliant": not self.auto_failed,
                "month": self.month.strftime("%Y-%m")}


@dataclass(frozen=True, slots=True)
class ReviewInput:
    recording_id: int
    scorecard_id: int | None
    answers: object
    comments: object


_RECORDING = """
SELECT r.case_id, r.client_id, r.agent_id, r.started_at, r.duration_ms
  FROM recordings r WHERE r.id = $1
"""

_INSERT = """
INSERT INTO qa_reviews (recording_id, case_id, client_id, agent_id, scorecard_id, reviewer_id,
                        answers, comments, score, auto_failed, month, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12)
ON CONFLICT (recording_id, reviewer_id) DO NOTHING RETURNING id
"""

_MARK = """
INSERT INTO qa_compliance AS c (case_id, month, client_id, compliant, failed_items,
                                review_ids, updated_at)
VALUES ($1, $2, $3, $4, $5, ARRAY[$6::bigint], $7)
ON CONFLICT (case_id, month) DO UPDATE
   SET compliant = c.compliant AND EXCLUDED.compliant,
       failed_items = ARRAY(SELECT DISTINCT unnest(c.failed_items || EXCLUDED.failed_items)
                             ORDER BY 1),
       review_ids = c.review_ids || EXCLUDED.review_ids, updated_at = EXCLUDED.updated_at
"""


async def _card_for(db: Db, client_id: int, scorecard_id: int | None,
                    now: datetime) -> Scorecard:
    if scorecard_id is None:
        return await current_scorecard(db, client_id, now)
    card = await scorecard(db, scorecard_id)
    if card.client_id != client_id:
        raise NotFound("qa.scorecard_not_found", "no such scorecard for this client")
    return card


async def submit_review(db: asyncpg.Pool, reviewer_id: int, given: ReviewInput,
                        now: datetime) -> Review:
    """Score and store a review; ``Conflict`` when this reviewer reviewed the call."""
    call = await db.fetchrow(_RECORDING, given.recording_id)
    if call is None:
        raise NotFound("recording.not_found", "no such recording")
    card = await _card_for(db, call["client_id"], given.scorecard_id, now)
    answers = parse_answers(card, given.answers)
    comments = parse_comments(given.comments, call["duration_ms"] / 1000)
    result = score(card, answers)
    started: datetime = call["started_at"]
    month = date(started.year, started.month, 1)
    async with db.acquire() as conn, conn.transaction():
        review_id = await conn.fetchval(
            _INSERT, given.recording_id, call["case_id"], call["client_id"], call["agent_id"],
            card.id, reviewer_id, json.dumps({k: str(v) for k, v in answers.items()}),
            json.dumps([c.as_json() for c in comments], ensure_ascii=False), result.score,
            list(result.auto_failed), month, now)
        if review_id is None:
            raise Conflict("qa.already_reviewed", "you reviewed this call already",
                           {"recording_id": given.recording_id})
        await conn.execute(_MARK, call["case_id"], month, call["client_id"], result.compliant,
                           list(result.auto_failed), review_id, now)
    logger.info("recording %s reviewed by %s: %s%s", given.recording_id, reviewer_id,
                result.score, f" (auto-fail {', '.join(result.auto_failed)})"
                if result.auto_failed else "")
    return Review(review_id, given.recording_id, call["case_id"], call["client_id"],
                  call["agent_id"], card.id, reviewer_id, answers, comments,
                  float(result.score), result.auto_failed, month)


@dataclass(frozen=True, slots=True)
class Compliance:
    case_id: int
    month: date
    compliant: bool
    failed_items: tuple[str, ...]


async def compliance_of(db: Db, case_id: int, month: date) -> Compliance | None:
    row = await db.fetchrow("SELECT * FROM qa_compliance WHERE case_id = $1 AND month = $2",
                            case_id, month)
    if row is None:
        return None
    return Compliance(row["case_id"], row["month"], row["compliant"],
                      tuple(row["failed_items"]))
