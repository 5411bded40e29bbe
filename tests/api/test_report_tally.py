"""The month's tally of calls (dialer/migrations/0006_call_tally.sql) and QA's marks on
the recordings (recording/ and transcription/migrations/0003_qa_marks.sql) stay what
the calls and the QA rows say: as the dialer places, bridges and ends calls and agents
code them, as samples and reviews are written and removed, and when many of these
happen to one case or one recording at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import pytest

from cases import actions, audit
from cases.store import Db
from dialer import store as dialer_store
from dialer.campaign import AttemptResult
from tests.api.report_month import Month, local, month
from tests.api.test_report_flags import TALLY
from tests.api.world import NOW

__all__ = ["month"]  # a fixture, used by name

# The tally as it should be: the calls themselves, grouped as the trigger keeps them.
TALLY_READ = """
SELECT date_trunc('month', a.placed_at AT TIME ZONE cl.time_zone)::date AS month,
       coalesce(a.campaign_id, 0) AS campaign_id, a.case_id, coalesce(a.agent_id, 0),
       c.client_id, c.first_batch_id, count(*),
       count(*) FILTER (WHERE a.result = 'connected'),
       count(*) FILTER (WHERE a.result = 'connected' AND a.right_party),
       count(*) FILTER (WHERE a.result = 'connected' AND a.promise_to_pay),
       count(*) FILTER (WHERE a.result = 'abandoned')
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN clients cl ON cl.id = c.client_id
 GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4
"""
RETRY = timedelta(hours=1)


async def tally_is_the_calls(db: asyncpg.Pool) -> bool:
    kept = [tuple(r) for r in await db.fetch(TALLY)]
    return kept == [tuple(r) for r in await db.fetch(TALLY_READ)] and len(kept) > 0


async def row_of(db: asyncpg.Pool, call: int) -> tuple[int, ...]:
    """The counts of the tally row call `call` is in."""
    row = await db.fetchrow(
        "SELECT t.calls, t.connected, t.right_party, t.promises, t.abandoned"
        " FROM call_tally t JOIN attempts a ON a.case_id = t.case_id"
        " AND coalesce(a.campaign_id, 0) = t.campaign_id"
        " AND coalesce(a.agent_id, 0) = t.agent_id WHERE a.id = $1 AND t.month = $2",
        call, local(10, 1).date().replace(day=1))
    assert row is not None
    return tuple(row)


async def place(db: Db, m: Month, case: str, at: datetime,
                *, agent: str | None = None, dialer: str = "test") -> int:
    """A call placed as the dialer writes it: its attempt first, no result yet."""
    call: int = await db.fetchval(
        "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
        " agent_id, work_line, dialer, placed_at, decision, pack, pack_version)"
        " SELECT $1, c.id, c.debtor_id, p.id, p.e164, 'debtor', $2, 'line1', $3, $4, '{}',"
        " 'cn-bank', '2026.1' FROM cases c JOIN phones p ON p.case_id = c.id WHERE c.id = $5"
        " RETURNING id", m.campaigns[case[0].upper()], m.agents.get(agent or ""), dialer, at,
        m.cases[case])
    return call


async def code(pool: asyncpg.Pool, m: Month, case: str, call: int, code_: str,
               agent: str = "agent_a", key: str = "") -> None:
    fields: dict[str, object] = {"amount": "800", "due_date": "2026-12-10"} if (
        code_ == "PTP") else {}
    req = actions.ActionRequest(m.cases[case], code_, key or f"{call}-{code_}", fields,
                                attempt_id=call)
    await actions.file_action(pool, audit.Actor(m.world.users[agent]), req, NOW, on_call=True)


async def test_a_call_counts_as_it_is_placed_bridged_ended_and_coded(
        month: Month, pool: asyncpg.Pool) -> None:
    agent = month.agents["agent_a"]
    call = await place(pool, month, "a05", local(10, 30))
    assert await tally_is_the_calls(pool) and await row_of(pool, call) == (2, 0, 0, 0, 0)
    await dialer_store.mark_answered(pool, call, local(10, 30))
    await dialer_store.note_agent(pool, call, agent)  # bridged: from no agent to agent_a
    assert await tally_is_the_calls(pool) and await row_of(pool, call) == (1, 0, 0, 0, 0)
    await dialer_store.end_attempt(pool, call, AttemptResult.CONNECTED, at=local(10, 30, 11),
                                   cause="hangup", retry_after=RETRY)
    assert await row_of(pool, call) == (1, 1, 0, 0, 0)
    steps = []
    for code_ in ("RPC", "PTP", "HU"):  # a later code never takes back an earlier one
        await code(pool, month, "a05", call, code_)
        assert await tally_is_the_calls(pool)
        steps.append(await row_of(pool, call))
    assert steps == [(1, 1, 1, 0, 0), (1, 1, 1, 1, 0), (1, 1, 1, 1, 0)]
    # Ended without an answer, abandoned, cut by a restart, removed.
    busy = await place(pool, month, "a05", local(10, 31))
    await dialer_store.end_attempt(pool, busy, AttemptResult.BUSY, at=local(10, 31, 11),
                                   cause="486", retry_after=RETRY)
    abandoned = await place(pool, month, "a05", local(10, 31, 12))
    await dialer_store.end_attempt(pool, abandoned, AttemptResult.ABANDONED,
                                   at=local(10, 31, 13), cause="no agent", retry_after=RETRY)
    assert await row_of(pool, abandoned) == (3, 0, 0, 0, 1)  # with #14; the first moved
    cut = await place(pool, month, "a05", local(10, 31, 14), agent="agent_a", dialer="gone")
    assert await dialer_store.recover(pool, "gone", now=NOW, retry_after=RETRY) == 1
    assert await row_of(pool, cut) == (2, 1, 1, 1, 0)
    await pool.execute("DELETE FROM attempts WHERE id = $1", busy)
    assert await tally_is_the_calls(pool) and await row_of(pool, abandoned) == (2, 0, 0, 0, 1)


async def test_many_calls_on_one_case_at_once_keep_its_rows_right(
        month: Month, pool: asyncpg.Pool) -> None:
    """Every call of a case touches the same rows: placed, bridged, ended and coded side
    by side, none is lost and none waits for ever."""
    agents = ("agent_a", "agent_b")

    async def one_call(n: int) -> None:
        agent = agents[n % 2]
        call = await place(pool, month, "a05", local(10, 30, 9) + timedelta(minutes=n))
        await dialer_store.note_agent(pool, call, month.agents[agent])
        result = AttemptResult.CONNECTED if n % 3 else AttemptResult.ABANDONED
        await dialer_store.end_attempt(pool, call, result, at=local(10, 30, 12),
                                       cause="hangup", retry_after=RETRY)
        await code(pool, month, "a05", call, ("RPC", "PTP", "HU")[n % 3], agent)

    async with asyncio.timeout(60):
        await asyncio.gather(*(one_call(n) for n in range(12)))
    assert await tally_is_the_calls(pool)
    totals = await pool.fetchrow(
        "SELECT sum(calls), sum(connected), sum(right_party), sum(promises), sum(abandoned)"
        " FROM call_tally WHERE case_id = $1 AND agent_id <> 0", month.cases["a05"])
    # 4 abandoned (their RPC codes count for nothing), 4 connected PTP, 4 connected HU.
    assert totals is not None and tuple(totals) == (12, 8, 4, 4, 4)


async def test_a_code_filed_while_the_dialer_ends_another_call_of_the_case(
        month: Month, pool: asyncpg.Pool) -> None:
    """The dialer ends a call (its attempt, then its case) while a code is filed on an
    earlier call of the same case (that attempt, then the case): both change the same
    rows of the tally, which they take at commit, after the case: neither waits for
    the other's row while holding what the other waits for."""
    agent = month.agents["agent_a"]
    earlier = await place(pool, month, "a05", local(10, 29), agent="agent_a")
    await dialer_store.end_attempt(pool, earlier, AttemptResult.CONNECTED, at=local(10, 29, 11),
                                   cause="hangup", retry_after=RETRY)
    ringing = await place(pool, month, "a05", local(10, 30))
    async with pool.acquire() as dialer, dialer.transaction():
        await dialer.execute("UPDATE attempts SET ended_at = $2, result = 'connected',"
                             " agent_id = $3 WHERE id = $1", ringing, local(10, 30, 11), agent)
        filing = asyncio.create_task(code(pool, month, "a05", earlier, "RPC"))
        await asyncio.wait([filing], timeout=1)  # it files, or waits for the case
        await dialer.execute("UPDATE cases SET updated_at = $2 WHERE id = $1",
                             month.cases["a05"], NOW)
    async with asyncio.timeout(10):
        await filing
    assert await tally_is_the_calls(pool)
    assert await row_of(pool, ringing) == (2, 2, 1, 0, 0)


async def recording_of(db: asyncpg.Pool, call: str) -> int:
    found: int = await db.fetchval("SELECT id FROM recordings WHERE call_id = $1",
                                   f"call-{call}")
    return found


async def marks(db: asyncpg.Pool, recording: int) -> tuple[bool, bool]:
    row = await db.fetchrow("SELECT sampled, reviewed FROM recordings WHERE id = $1",
                            recording)
    assert row is not None
    return row["sampled"], row["reviewed"]


_REVIEW = """
INSERT INTO qa_reviews (recording_id, case_id, client_id, agent_id, scorecard_id, reviewer_id,
    answers, score, month, created_at)
SELECT r.id, r.case_id, r.client_id, r.agent_id, s.id, $2, '{}', 90, $3, $4
  FROM recordings r JOIN qa_scorecards s ON s.client_id = r.client_id
 WHERE r.id = $1 RETURNING id
"""


async def review(db: Db, m: Month, recording: int,
                 reviewer: str) -> int:
    review_id: int = await db.fetchval(_REVIEW, recording, m.world.users[reviewer].id,
                                       local(10, 1).date().replace(day=1), NOW)
    return review_id


async def test_the_marks_follow_samples_and_reviews_written_and_removed(
        month: Month, pool: asyncpg.Pool) -> None:
    sampled, unsampled = await recording_of(pool, "3"), await recording_of(pool, "4")
    assert await marks(pool, sampled) == (True, True)  # the month's own sample and review
    assert await marks(pool, unsampled) == (False, False)
    second = await review(pool, month, sampled, "supervisor")
    await pool.execute("DELETE FROM qa_reviews WHERE recording_id = $1 AND id <> $2",
                       sampled, second)
    assert await marks(pool, sampled) == (True, True)  # the supervisor's review is left
    await pool.execute("DELETE FROM qa_reviews WHERE id = $1", second)
    await pool.execute("DELETE FROM qa_samples WHERE recording_id = $1", sampled)
    assert await marks(pool, sampled) == (False, False)
    await pool.execute("UPDATE qa_samples SET recording_id = $1 WHERE recording_id = $2",
                       unsampled, await recording_of(pool, "10"))
    assert await marks(pool, unsampled) == (True, False)
    assert await marks(pool, await recording_of(pool, "10")) == (False, True)


async def blocked_or_done(pool: asyncpg.Pool, task: asyncio.Task[object]) -> None:
    """Until `task` waits for a lock another transaction holds, or has finished."""
    while not task.done():
        if await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"):
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("first", ["written", "removed"])
async def test_a_review_written_while_another_is_removed_leaves_the_call_reviewed(
        month: Month, pool: asyncpg.Pool, first: str) -> None:
    """Two transactions, each with what it did uncommitted: whichever commits first, the
    other looks after it, and the call stays reviewed by the review that is left."""
    recording = await recording_of(pool, "3")  # reviewed once, by the QA user
    remove = "DELETE FROM qa_reviews WHERE recording_id = $1"
    async with (pool.acquire() as writer, pool.acquire() as remover,
                writer.transaction(), remover.transaction()):
        if first == "written":
            await review(writer, month, recording, "supervisor")
            second: asyncio.Task[object] = asyncio.create_task(
                remover.execute(remove, recording))
        else:
            await remover.execute(remove, recording)
            second = asyncio.create_task(review(writer, month, recording, "supervisor"))
        async with asyncio.timeout(10):
            await blocked_or_done(pool, second)
        await (writer if first == "written" else remover).execute("COMMIT; BEGIN")
        async with asyncio.timeout(10):
            await second
    left = await pool.fetchval("SELECT count(*) FROM qa_reviews WHERE recording_id = $1",
                               recording)
    assert left == 1 and await marks(pool, recording) == (True, True)
