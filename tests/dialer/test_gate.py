"""The gate against real PostgreSQL: lease order, decisions stored with attempts and
refusals, hold-offs, caps under racing dialers, recovery after a crash."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from dialer.campaign import AttemptResult, Campaign
from dialer.candidates import lease
from dialer.compliance import (
    CampaignState,
    DialContext,
    Resources,
    pack_named,
)
from dialer.gate import Admitted, Gate, LinePicker, admit
from dialer.store import end_attempt, mark_answered, recover
from tests.dialer.records import T0, Phone, make_campaign, make_case, make_client, one

SHANGHAI_22H = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def gate_for(campaign: Campaign, *, dialer: str = "d1", lines: int = 10) -> Gate:
    def dial(line_free: bool) -> DialContext:
        return DialContext(
            campaign_id=campaign.id, ring_timeout=campaign.settings.ring_timeout,
            agent_guaranteed=True, campaign=CampaignState(0, 0),
            resources=Resources(work_line=line_free, recording=True),
        )

    return Gate(campaign, pack_named(campaign.settings.rule_pack), dialer, dial,
                LinePicker({"line1": lines}))


async def admit_now(pool: asyncpg.Pool, campaign: Campaign, at: datetime = T0,
                    limit: int = 10, dialer: str = "d1") -> list[Admitted]:
    return await admit(pool, gate_for(campaign, dialer=dialer, lines=limit), at, limit)


async def place(pool: asyncpg.Pool, campaign: Campaign, case_id: int, at: datetime,
                result: AttemptResult, *, answered: bool = False) -> None:
    """An earlier call of the campaign, already ended."""
    row = await one(pool,
        "SELECT c.debtor_id, p.id, p.e164 FROM cases c JOIN phones p ON p.case_id = c.id"
        " WHERE c.id = $1 ORDER BY p.id LIMIT 1", case_id)
    attempt_id = await pool.fetchval(
        "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
        " work_line, dialer, placed_at, answered_at, ended_at, result, decision, pack,"
        " pack_version) VALUES ($1, $2, $3, $4, $5, 'debtor', 'line1', 'old', $6, $7, $8,"
        " $9, '{}', 'cn-bank', '2026.1') RETURNING id",
        campaign.id, case_id, row["debtor_id"], row["id"], row["e164"], at,
        at if answered else None, at + timedelta(minutes=1), str(result),
    )
    assert attempt_id


async def test_leases_by_priority_and_stores_the_decision(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    low = await make_case(pool, client, Phone("+8613800000001"), dpd=10)
    high = await make_case(pool, client, Phone("+8613800000002"), dpd=95)
    campaign = await make_campaign(pool, client)
    admitted = await admit_now(pool, campaign)
    assert [a.candidate.case_id for a in admitted] == [high.case_id, low.case_id]
    row = await one(pool, "SELECT * FROM attempts WHERE id = $1", admitted[0].attempt_id)
    decision = json.loads(row["decision"])
    assert (row["pack"], row["pack_version"], row["work_line"]) == ("cn-bank", "2026.1", "line1")
    assert decision["allowed"] is True
    assert decision["inputs"]["time_zones"] == ["Asia/Shanghai"]
    assert row["ended_at"] is None


async def test_a_debtor_with_a_call_in_progress_is_not_called_again(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800000001"))
    await make_case(pool, client, Phone("+8613800000009"), debtor_id=made.debtor_id)
    campaign = await make_campaign(pool, client)
    assert len(await admit_now(pool, campaign)) == 1
    assert await admit_now(pool, campaign) == []


async def test_refused_phone_is_recorded_and_the_next_phone_tried(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800000001", consent="revoked"),
                           Phone("+8613800000002", party="guarantor"))
    campaign = await make_campaign(pool, client)
    [admitted] = await admit_now(pool, campaign)
    assert admitted.candidate.phone_id == made.phone_ids[1]
    refusal = await one(pool, "SELECT * FROM refusals WHERE phone_id = $1",
                                  made.phone_ids[0])
    assert refusal["reasons"] == ["consent.revoked"]
    assert json.loads(refusal["decision"])["allowed"] is False


async def test_outside_the_window_is_held_off_until_it_opens(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800000001"))
    campaign = await make_campaign(pool, client)
    assert await admit_now(pool, campaign, at=SHANGHAI_22H) == []
    until = await pool.fetchval("SELECT until FROM phone_holdoff WHERE phone_id = $1",
                                made.phone_ids[0])
    assert until == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert await admit_now(pool, campaign, at=SHANGHAI_22H + timedelta(minutes=5)) == []
    assert await pool.fetchval("SELECT count(*) FROM refusals") == 1
    assert len(await admit_now(pool, campaign, at=until)) == 1


async def test_the_daily_connected_cap_counts_every_campaign(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800000001"))
    other = await make_campaign(pool, client)
    for hour in range(3):
        await place(pool, other, made.case_id, T0 - timedelta(hours=hour + 1),
                    AttemptResult.CONNECTED, answered=True)
    campaign = await make_campaign(pool, client)
    assert await admit_now(pool, campaign) == []
    refusal = await one(pool, "SELECT * FROM refusals")
    assert refusal["reasons"] == ["cap.connected_daily"]
    assert refusal["next_permitted_at"] == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


async def test_hold_placed_while_ringing_lets_the_call_finish_and_refuses_the_next(
    pool: asyncpg.Pool,
) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800000001"))
    campaign = await make_campaign(pool, client)
    [ringing] = await admit_now(pool, campaign)
    await pool.execute("INSERT INTO case_holds (case_id, reason, placed_at)"
                       " VALUES ($1, 'dispute', $2)", made.case_id, T0)
    assert await end_attempt(pool, ringing.attempt_id, AttemptResult.CONNECTED,
                             at=T0 + timedelta(minutes=3), cause="hangup",
                             retry_after=timedelta(0))
    assert await admit_now(pool, campaign, at=T0 + timedelta(minutes=5)) == []


async def test_racing_dialers_never_pass_a_cap_together(pool: asyncpg.Pool) -> None:
    """Two connected calls today leave room for one more; ten cases of the same
    debtor leased by two dialers at once give exactly one attempt."""
    client = await make_client(pool)
    first = await make_case(pool, client, Phone("+8613800000001"))
    for n in range(9):
        await make_case(pool, client, Phone(f"+861380000010{n}"), debtor_id=first.debtor_id)
    campaign = await make_campaign(pool, client)
    for hour in range(2):
        await place(pool, campaign, first.case_id, T0 - timedelta(hours=hour + 1),
                    AttemptResult.CONNECTED, answered=True)
    results = await asyncio.gather(*(
        admit_now(pool, campaign, limit=1, dialer=f"d{n}") for n in range(8)))
    assert sum(len(r) for r in results) == 1
    [open_attempt] = await pool.fetch("SELECT id FROM attempts WHERE ended_at IS NULL")
    await end_attempt(pool, open_attempt["id"], AttemptResult.CONNECTED, at=T0,
                      cause="hangup", retry_after=timedelta(0))
    await pool.execute("UPDATE attempts SET answered_at = placed_at WHERE result = 'connected'")
    assert await admit_now(pool, campaign, at=T0 + timedelta(minutes=1)) == []


async def test_two_dialers_share_a_campaign_without_sharing_a_case(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    for n in range(40):
        await make_case(pool, client, Phone(f"+86138000{n:05d}"))
    campaign = await make_campaign(pool, client)
    results = await asyncio.gather(admit_now(pool, campaign, limit=25, dialer="a"),
                                   admit_now(pool, campaign, limit=25, dialer="b"))
    cases = [a.candidate.case_id for r in results for a in r]
    assert len(cases) == len(set(cases)) == 40


async def test_no_free_work_line_leaves_cases_for_later(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    for n in range(5):
        await make_case(pool, client, Phone(f"+86138000{n:05d}"))
    campaign = await make_campaign(pool, client)
    admitted = await admit(pool, gate_for(campaign, lines=2), T0, 5)
    assert len(admitted) == 2
    assert await pool.fetchval("SELECT count(*) FROM refusals") == 0


async def test_recovery_closes_open_attempts_as_interrupted(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    await make_case(pool, client, Phone("+8613800000001"))
    await make_case(pool, client, Phone("+8613800000002"))
    campaign = await make_campaign(pool, client)
    first, second = await admit_now(pool, campaign)
    await mark_answered(pool, first.attempt_id, T0 + timedelta(seconds=9))
    later = T0 + timedelta(minutes=2)
    assert await recover(pool, "d1", now=later, retry_after=timedelta(hours=1)) == 2
    rows = {r["id"]: r for r in await pool.fetch("SELECT * FROM attempts")}
    assert {r["result"] for r in rows.values()} == {"interrupted"}
    assert "answered" in rows[first.attempt_id]["cause"]
    assert "ringing" in rows[second.attempt_id]["cause"]
    assert await recover(pool, "d1", now=later, retry_after=timedelta(hours=1)) == 0
    # Not redialled blindly: the retry policy holds the cases off.
    assert await admit_now(pool, campaign, at=later) == []


@pytest.mark.parametrize("result", list(AttemptResult))
async def test_ending_an_attempt_sets_the_next_action_time(
    pool: asyncpg.Pool, result: AttemptResult,
) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800000001"))
    campaign = await make_campaign(pool, client)
    [attempt] = await admit_now(pool, campaign)
    end = T0 + timedelta(seconds=30)
    assert await end_attempt(pool, attempt.attempt_id, result, at=end, cause="test",
                             retry_after=campaign.retry_after(result))
    assert not await end_attempt(pool, attempt.attempt_id, result, at=end, cause="again",
                                 retry_after=timedelta(0))
    next_at = await pool.fetchval("SELECT next_action_at FROM cases WHERE id = $1",
                                  made.case_id)
    assert next_at == end + campaign.retry_after(result)


async def test_the_case_filter_selects_what_is_leased(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = {}
    for n, (dpd, balance) in enumerate([(10, "100"), (45, "900"), (75, "5000"), (95, "50"),
                                        (400, "20000")]):
        made[dpd] = (await make_case(pool, client, Phone(f"+86138000{n:05d}"), dpd=dpd,
                                     balance=balance)).case_id

    async def leased(**case_filter: object) -> set[int]:
        campaign = await make_campaign(pool, client, case_filter=case_filter)
        async with pool.acquire() as conn, conn.transaction():
            return set(await lease(conn, campaign, T0, 100))

    assert await leased() == set(made.values())
    assert await leased(buckets=["M2", "M3"]) == {made[45], made[75]}
    assert await leased(buckets=["M1", "M6+"]) == {made[10], made[400]}
    assert await leased(buckets=["M4"], balance_max=40) == set()
    assert await leased(balance_min=500, balance_max=5000) == {made[45], made[75]}
    await pool.execute("UPDATE cases SET product = 'personal_loan' WHERE id = $1", made[95])
    assert await leased(products=["personal_loan"]) == {made[95]}
    agent = await pool.fetchval(
        "INSERT INTO users (username, display_name, role, team, password_hash)"
        " VALUES ('east-1', 'east 1', 'agent', 'east', 'x') RETURNING id")
    await pool.execute("UPDATE cases SET assigned_agent_id = $1 WHERE id = $2", agent, made[10])
    assert await leased(teams=["east"]) == {made[10]}
