"""QA in PostgreSQL: flags stored with a transcript, the monthly sample, coverage,
reviews and the monthly compliance mark of a case."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from cases.errors import Conflict
from tests.api.world import NOW, World, build_world
from tests.transcription.conftest import Call
from tests.transcription.qa_world import add_recording, file_action, store_transcript
from transcription import qa_store, review_store
from transcription.flags import FlagKind
from transcription.pipeline import Transcript
from transcription.review_store import ReviewInput
from transcription.sampling import CoverageShort, Reason, require_coverage

Heard = tuple[Call, Transcript]
NOV = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
PASS = {"opening": "pass", "verification": "pass", "courtesy": "pass", "negotiation": "pass",
        "arrangement": "pass", "closing": "pass", "no_threats": "pass",
        "no_third_party": "pass", "no_impersonation": "pass"}


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def test_flags_are_stored_with_the_transcript(pool: asyncpg.Pool, world: World,
                                                    flagged_call: Heard) -> None:
    rid = await add_recording(pool, world, "c1", NOV, attempt_id=11)
    await store_transcript(pool, rid, flagged_call[1])
    before = {f.kind for f in await qa_store.refresh_flags(pool, rid)}
    assert before == {FlagKind.IMPERSONATION, FlagKind.ABUSIVE, FlagKind.THREAT,
                      FlagKind.NO_IDENTITY_DISCLOSURE}
    await file_action(pool, world, "A1", "TPC", 11)  # filed after the transcript
    flags = await qa_store.refresh_flags(pool, rid)
    assert {f.kind for f in flags} == before | {FlagKind.THIRD_PARTY_DISCLOSURE}
    assert await qa_store.flags_of(pool, rid) == [
        type(f)(f.kind, f.speaker, round(f.start, 3), round(f.end, 3), f.text, f.term)
        for f in flags]


async def test_a_clients_lexicon_changes_its_flags(pool: asyncpg.Pool, world: World,
                                                   clean_call: Heard) -> None:
    rid = await add_recording(pool, world, "c1", NOV)
    await store_transcript(pool, rid, clean_call[1])
    assert await qa_store.refresh_flags(pool, rid) == []
    await qa_store.set_lexicon(pool, world.clients["BANKA"],
                               {"terms": {"abusive": ["friday"]}})
    [flag] = await qa_store.refresh_flags(pool, rid)
    assert (flag.kind, flag.text, flag.speaker) == (FlagKind.ABUSIVE, "friday", "agent")


async def test_a_spoken_card_number_is_a_masked_flag(pool: asyncpg.Pool, world: World,
                                                     english: Heard) -> None:
    rid = await add_recording(pool, world, "c1", NOV)
    await store_transcript(pool, rid, english[1])
    [flag] = await qa_store.refresh_flags(pool, rid)
    assert (flag.kind, flag.text) == (FlagKind.NUMBER_SPOKEN, "[card]")
    stored = await pool.fetchval("SELECT text || words::text FROM transcripts")
    assert "four five three two" not in stored and "[card]" in stored


async def _month(pool: asyncpg.Pool, world: World, flagged: Transcript) -> None:
    """agent_a: 40 calls in November over two campaigns; agent_b: 7 calls, one with a
    flagged transcript; and calls of October and December that do not count."""
    for i in range(40):
        await add_recording(pool, world, f"a{i}", NOV + timedelta(hours=i),
                            campaign_id=1 + i % 2, attempt_id=100 + i)
    for i in range(7):
        await add_recording(pool, world, f"b{i}", NOV + timedelta(days=i), agent="agent_b",
                            account="A2")
    await store_transcript(pool, await pool.fetchval(
        "SELECT id FROM recordings WHERE call_id = 'b3'"), flagged)
    for when in (NOV - timedelta(days=2), NOV + timedelta(days=29)):
        await add_recording(pool, world, f"x{when.day}", when)


async def test_the_monthly_sample_and_its_coverage(pool: asyncpg.Pool, world: World,
                                                   flagged_call: Heard) -> None:
    await _month(pool, world, flagged_call[1])
    with pytest.raises(CoverageShort):
        require_coverage("2026-11", await qa_store.coverage(pool, "2026-11"))
    picks = await qa_store.sample_month(pool, "2026-11", "s1", NOW)
    a, b = world.users["agent_a"].id, world.users["agent_b"].id
    assert sum(p.agent_id == a for p in picks) == 6
    assert sorted(p.reason for p in picks if p.agent_id == b) == [
        Reason.FLAGGED, Reason.RANDOM, Reason.RANDOM]
    assert {p.stratum for p in picks if p.agent_id == a} == {"1/-", "2/-"}
    assert await qa_store.sample_month(pool, "2026-11", "s1", NOW) == picks
    assert await pool.fetchval("SELECT count(*) FROM qa_samples") == 9
    report = await qa_store.coverage(pool, "2026-11")
    require_coverage("2026-11", report)
    assert [(c.agent_id, c.calls, c.sampled, c.reviewed) for c in report] == [
        (a, 40, 6, 0), (b, 7, 3, 0)]


async def test_reviews_score_and_mark_the_cases_compliance(pool: asyncpg.Pool, world: World,
                                                           flagged_call: Heard) -> None:
    await _month(pool, world, flagged_call[1])
    await qa_store.sample_month(pool, "2026-11", "s1", NOW)
    queue = await qa_store.review_queue(pool, month="2026-11")
    assert len(queue) == 9
    first = queue[0].recording_id
    failing = ReviewInput(first, None, {**PASS, "no_threats": "fail"},
                          [{"at": 4.5, "text": "threatens the family"}])
    review = await review_store.submit_review(pool, world.users["qa"].id, failing, NOW)
    assert (review.score, review.auto_failed) == (0.0, ("no_threats",))
    with pytest.raises(Conflict):
        await review_store.submit_review(pool, world.users["qa"].id, failing, NOW)
    passing = ReviewInput(first, review.scorecard_id, PASS, [])
    again = await review_store.submit_review(pool, world.users["supervisor"].id, passing, NOW)
    assert again.score == 100.0
    mark = await review_store.compliance_of(pool, review.case_id, date(2026, 11, 1))
    assert mark is not None and (mark.compliant, mark.failed_items) == (False, ("no_threats",))
    assert [q.recording_id for q in await qa_store.review_queue(pool)] == [
        q.recording_id for q in queue[1:]]
    report = await qa_store.coverage(pool, "2026-11")
    assert sum(c.reviewed for c in report) == 1
