"""Lost contact after failed calls: the rule as a table, then against real PostgreSQL
through `dialer.store.end_attempt` (status, one field-visit request, the system's note
on the case, the audit row, and the third-party calls it opens)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import asyncpg
import pytest

from cases.domain import CaseStatus, Party
from dialer.campaign import AttemptResult
from dialer.candidates import phones_of
from dialer.lost_contact import EndedAttempt, decide, failed_run, may_decide
from dialer.store import end_attempt
from tests.dialer.records import T0, Made, Phone, make_case, make_client, one

R = AttemptResult
P = Party
LETTERS = {"B": R.BUSY, "N": R.NO_ANSWER, "R": R.REJECTED, "F": R.FAILED, "M": R.MACHINE,
           "V": R.VOICEMAIL, "C": R.CONNECTED, "H": R.HUNG_UP, "A": R.ABANDONED,
           "I": R.INTERRUPTED}


def attempts(pattern: str, party: Party = P.DEBTOR) -> list[EndedAttempt]:
    """`NBV`: no answer, busy, voicemail; a lower-case letter is a call to a relative."""
    return [EndedAttempt(n, P.RELATIVE if c.islower() else party, LETTERS[c.upper()])
            for n, c in enumerate(pattern, start=1)]


# attempts in placed order -> length of the failed run at the end
RUNS = [
    ("", 0), ("N", 1), ("NB", 2), ("NBV", 3), ("NBVMRF", 6),
    ("NNC", 0), ("NNH", 0), ("NNA", 0), ("NCN", 1), ("NHNN", 2), ("NANNN", 3),
    ("NNI", 2), ("NINIB", 3), ("III", 0), ("CII", 0), ("NNIC", 0),
    ("NNc", 2), ("NnNnN", 3), ("NNcN", 3),
]


@pytest.mark.parametrize(("pattern", "run"), RUNS, ids=[p or "none" for p, _ in RUNS])
def test_the_failed_run(pattern: str, run: int) -> None:
    assert len(failed_run(attempts(pattern))) == run


def test_guarantor_calls_count_like_the_debtors() -> None:
    mixed = [*attempts("N"), *attempts("B", P.GUARANTOR), *attempts("V")]
    assert len(failed_run(mixed)) == 3


# case status, active hold, open visit -> (marked lost, visit requested)
DECISIONS = [
    (CaseStatus.OPEN, False, False, (True, True)),
    (CaseStatus.IN_PROGRESS, False, False, (True, True)),
    (CaseStatus.PROMISED, False, False, (True, True)),
    (CaseStatus.IN_PROGRESS, False, True, (True, False)),
    (CaseStatus.OPEN, True, False, (False, False)),
    (CaseStatus.ON_HOLD, False, False, (False, False)),
    (CaseStatus.LEGAL, False, False, (False, False)),
    (CaseStatus.PAID, False, False, (False, False)),
    (CaseStatus.CLOSED, False, False, (False, False)),
    (CaseStatus.LOST_CONTACT, False, False, (False, False)),
]


@pytest.mark.parametrize(("status", "on_hold", "open_visit", "outcome"), DECISIONS)
def test_what_three_failures_do_to_a_case(status: CaseStatus, on_hold: bool,
                                          open_visit: bool,
                                          outcome: tuple[bool, bool]) -> None:
    decision = decide(attempts("NBV"), status=status, on_hold=on_hold, open_visit=open_visit)
    assert (decision.mark_lost, decision.request_visit) == outcome
    if decision.mark_lost:
        assert decision.attempt_ids == (1, 2, 3)
        assert decision.reason is not None and "3 consecutive failed attempts" in decision.reason
    assert not decide(attempts("NB"), status=status, on_hold=on_hold,
                      open_visit=open_visit).mark_lost


@pytest.mark.parametrize(("result", "party", "may"), [
    (R.NO_ANSWER, P.DEBTOR, True), (R.VOICEMAIL, P.GUARANTOR, True),
    (R.NO_ANSWER, P.RELATIVE, False), (R.CONNECTED, P.DEBTOR, False),
    (R.INTERRUPTED, P.DEBTOR, False),
])
def test_only_a_counted_failure_can_decide(result: AttemptResult, party: Party,
                                           may: bool) -> None:
    assert may_decide(EndedAttempt(1, party, result)) is may


# --- against PostgreSQL ------------------------------------------------------------------

async def case_with_phones(pool: asyncpg.Pool, status: str = "open") -> Made:
    client_id = await make_client(pool)
    return await make_case(pool, client_id, Phone("+8613800138000"),
                           Phone("+8613900139000", party="guarantor"),
                           Phone("+8613700137000", party="relative"), status=status)


async def open_attempt(pool: asyncpg.Pool, made: Made, at: datetime, phone: int = 0) -> int:
    row = await one(pool, "SELECT e164, party FROM phones WHERE id = $1",
                    made.phone_ids[phone])
    attempt_id: int = await pool.fetchval(
        "INSERT INTO attempts (case_id, debtor_id, phone_id, number, party, work_line,"
        " dialer, placed_at, decision, pack, pack_version) VALUES ($1, $2, $3, $4, $5,"
        " 'line1', 'd1', $6, '{}', 'cn-bank', '2026.1') RETURNING id",
        made.case_id, made.debtor_id, made.phone_ids[phone], row["e164"], row["party"], at)
    return attempt_id


async def call(pool: asyncpg.Pool, made: Made, results: str, start: datetime = T0,
               phone: int = 0) -> list[int]:
    """Place and end one attempt per letter, an hour apart."""
    ids = []
    for n, letter in enumerate(results):
        at = start + timedelta(hours=n)
        attempt_id = await open_attempt(pool, made, at, phone)
        assert await end_attempt(pool, attempt_id, LETTERS[letter], at=at + timedelta(
            seconds=30), cause="test", retry_after=timedelta(hours=1))
        ids.append(attempt_id)
    return ids


async def status(pool: asyncpg.Pool, made: Made) -> str:
    value: str = await pool.fetchval("SELECT status FROM cases WHERE id = $1", made.case_id)
    return value


async def visits(pool: asyncpg.Pool, made: Made) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM field_visit_requests WHERE case_id = $1 ORDER BY id",
                            made.case_id)


async def test_three_failed_calls_make_the_case_lost_with_one_visit(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    first = await call(pool, made, "NB")
    assert await status(pool, made) == "open"
    assert await visits(pool, made) == []
    last = await call(pool, made, "V", start=T0 + timedelta(hours=3), phone=1)
    assert await status(pool, made) == "lost_contact"
    [visit] = await visits(pool, made)
    assert visit["status"] == "requested"
    assert "3 consecutive failed attempts" in visit["reason"]
    note = await one(pool, "SELECT * FROM actions WHERE id = $1", visit["action_id"])
    assert (note["code"], note["user_id"], note["note"]) == ("SKIP", None, visit["reason"])
    assert json.loads(note["effect"])["status"] == "lost_contact"
    entry = await one(pool, "SELECT * FROM audit_log WHERE action = 'case.lost_contact'")
    assert (entry["user_id"], entry["record_type"], entry["record_id"]) == (
        None, "case", str(made.case_id))
    details = json.loads(entry["details"])
    assert details["attempt_ids"] == [*first, *last]
    assert details["field_visit_id"] == visit["id"]


async def test_third_parties_may_be_called_once_the_case_is_lost(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    before = await phones_of(pool, [made.case_id], T0)
    assert not any(f.candidate.lost_contact for f in before[made.case_id])
    await call(pool, made, "NNN")
    after = await phones_of(pool, [made.case_id], T0)
    assert all(f.candidate.lost_contact for f in after[made.case_id])


@pytest.mark.parametrize("pattern", ["NNC", "NNH", "NNA", "NIN", "NN", "CNN"])
async def test_a_person_answering_or_too_few_failures_keep_the_case(
        pool: asyncpg.Pool, pattern: str) -> None:
    made = await case_with_phones(pool)
    await call(pool, made, pattern)
    assert await status(pool, made) == "open"
    assert await visits(pool, made) == []


async def test_an_interrupted_call_does_not_break_the_run(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    await call(pool, made, "NNIN")
    assert await status(pool, made) == "lost_contact"


async def test_calls_to_relatives_do_not_count(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    await call(pool, made, "NN")
    await call(pool, made, "NNN", start=T0 + timedelta(hours=5), phone=2)
    assert await status(pool, made) == "open"


@pytest.mark.parametrize("case_status", ["on_hold", "legal", "paid", "closed"])
async def test_held_legal_paid_and_closed_cases_are_left_alone(
        pool: asyncpg.Pool, case_status: str) -> None:
    made = await case_with_phones(pool, status=case_status)
    await call(pool, made, "NNNN")
    assert await status(pool, made) == case_status
    assert await visits(pool, made) == []


async def test_an_active_hold_keeps_the_case(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool, status="in_progress")
    await pool.execute("INSERT INTO case_holds (case_id, reason, placed_at) VALUES ($1,"
                       " 'dispute', $2)", made.case_id, T0)
    await call(pool, made, "NNN")
    assert await status(pool, made) == "in_progress"


async def test_a_lost_case_gets_no_second_visit(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    await call(pool, made, "NNNNN")
    assert len(await visits(pool, made)) == 1
    assert await pool.fetchval("SELECT count(*) FROM audit_log"
                               " WHERE action = 'case.lost_contact'") == 1


async def test_an_open_visit_is_not_duplicated(pool: asyncpg.Pool) -> None:
    """A visit requested earlier (an agent's SKIP) and the case worked again since."""
    made = await case_with_phones(pool, status="in_progress")
    await pool.execute("INSERT INTO field_visit_requests (case_id, reason, created_at)"
                       " VALUES ($1, 'agent', $2)", made.case_id, T0 - timedelta(days=1))
    await call(pool, made, "NNN")
    assert await status(pool, made) == "lost_contact"
    assert [v["reason"] for v in await visits(pool, made)] == ["agent"]


async def test_a_found_case_needs_three_fresh_failures(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    await call(pool, made, "NNN")
    [visit] = await visits(pool, made)
    # the visit finds the debtor; the team works the case again
    await pool.execute("UPDATE field_visit_requests SET status = 'cancelled',"
                       " cancelled_at = $2, cancel_reason = 'found' WHERE id = $1",
                       visit["id"], T0 + timedelta(hours=4))
    await pool.execute("UPDATE cases SET status = 'in_progress' WHERE id = $1", made.case_id)
    later = T0 + timedelta(days=1)
    await call(pool, made, "NN", start=later)
    assert await status(pool, made) == "in_progress"
    await call(pool, made, "B", start=later + timedelta(hours=3))
    assert await status(pool, made) == "lost_contact"
    assert [v["status"] for v in await visits(pool, made)] == ["cancelled", "requested"]


async def test_two_calls_ending_together_request_one_visit(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    await call(pool, made, "NN")
    ids = [await open_attempt(pool, made, T0 + timedelta(hours=5), phone)
           for phone in (0, 1)]
    ended = await asyncio.gather(*(end_attempt(
        pool, attempt_id, R.NO_ANSWER, at=T0 + timedelta(hours=5, minutes=1), cause="test",
        retry_after=timedelta(hours=1)) for attempt_id in ids))
    assert ended == [True, True]
    assert len(await visits(pool, made)) == 1
    assert await pool.fetchval("SELECT count(*) FROM actions WHERE case_id = $1",
                               made.case_id) == 1


async def test_ending_an_ended_attempt_changes_nothing(pool: asyncpg.Pool) -> None:
    made = await case_with_phones(pool)
    [*_, last] = await call(pool, made, "NNN")
    assert not await end_attempt(pool, last, R.BUSY, at=T0 + timedelta(days=1), cause="again",
                                 retry_after=timedelta(hours=1))
    assert len(await visits(pool, made)) == 1
