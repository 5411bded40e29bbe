"""Campaigns and attempts in PostgreSQL: thin SQL returning dialer values.

An attempt row is written (by `dialer.gate`) before the call leaves; this module
moves it on: answered, bridged to its agent, ended with a result, or closed as
interrupted when the dialer that placed it restarts (`recover`). A closed attempt
is never reopened and never redialled by recovery: the next call to that case goes
through the check again, which counts the interrupted one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from cases import field_visits
from cases.domain import CaseStatus, Party
from cases.errors import NotFound
from cases.store import Conn, Db
from dialer.campaign import (
    AmdPolicy,
    AttemptResult,
    Campaign,
    CampaignSettings,
    CaseFilter,
    Command,
    RunState,
    Schedule,
    next_state,
)
from dialer.lost_contact import EndedAttempt, decide, may_decide
from dialer.pacing import DialMode


def campaign_from_row(row: asyncpg.Record) -> Campaign:
    return Campaign(
        id=row["id"], client_id=row["client_id"], state=RunState(row["state"]),
        created_at=row["created_at"], updated_at=row["updated_at"],
        settings=CampaignSettings(
            name=row["name"], mode=DialMode(row["mode"]), rule_pack=row["rule_pack"],
            work_lines=tuple(row["work_lines"]), schedule=_schedule(json.loads(row["schedule"])),
            case_filter=_case_filter(json.loads(row["case_filter"])),
            parties=frozenset(Party(p) for p in row["parties"]), queue_id=row["queue_id"],
            ring_timeout=timedelta(seconds=row["ring_timeout_s"]),
            retry_minutes={AttemptResult(k): v for k, v in json.loads(row["retry_policy"]).items()},
            amd_policy=AmdPolicy(row["amd_policy"]),
            max_abandon_rate=row["max_abandon_rate"],
        ),
    )


def _schedule(data: dict[str, Any]) -> Schedule:
    return Schedule(frozenset(data["days"]), time.fromisoformat(data["start"]),
                    time.fromisoformat(data["end"]))


def _case_filter(data: dict[str, Any]) -> CaseFilter:
    def money(key: str) -> Decimal | None:
        return None if data.get(key) is None else Decimal(data[key])

    return CaseFilter(
        statuses=tuple(CaseStatus(s) for s in data["statuses"]),
        buckets=tuple(data["buckets"]), products=tuple(data["products"]),
        balance_min=money("balance_min"), balance_max=money("balance_max"),
        teams=tuple(data["teams"]),
    )


async def add_campaign(
    db: Db, client_id: int, settings: CampaignSettings, *, by: int | None, now: datetime
) -> Campaign:
    row = await db.fetchrow(
        "INSERT INTO campaigns (client_id, name, mode, rule_pack, case_filter, parties,"
        " work_lines, queue_id, schedule, ring_timeout_s, retry_policy, amd_policy,"
        " max_abandon_rate, created_by, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)"
        " RETURNING *",
        client_id, settings.name, str(settings.mode), settings.rule_pack,
        json.dumps(settings.case_filter.as_json()), sorted(str(p) for p in settings.parties),
        list(settings.work_lines), settings.queue_id, json.dumps(settings.schedule.as_json()),
        int(settings.ring_timeout.total_seconds()),
        json.dumps({str(k): v for k, v in settings.retry_minutes.items()}),
        str(settings.amd_policy), settings.max_abandon_rate, by, now,
    )
    assert row is not None  # INSERT ... RETURNING gives the row
    return campaign_from_row(row)


async def get_campaign(db: Db, campaign_id: int) -> Campaign:
    row = await db.fetchrow("SELECT * FROM campaigns WHERE id = $1", campaign_id)
    if row is None:
        raise NotFound("campaign.not_found", f"no campaign {campaign_id}")
    return campaign_from_row(row)


async def list_campaigns(db: Db, client_ids: list[int] | None) -> list[Campaign]:
    rows = await db.fetch(
        "SELECT * FROM campaigns WHERE $1::bigint[] IS NULL OR client_id = ANY($1)"
        " ORDER BY id", client_ids,
    )
    return [campaign_from_row(row) for row in rows]


async def running_campaigns(db: Db) -> list[Campaign]:
    rows = await db.fetch("SELECT * FROM campaigns WHERE state = 'running' ORDER BY id")
    return [campaign_from_row(row) for row in rows]


async def command_campaign(
    pool: asyncpg.Pool, campaign_id: int, command: Command, *, now: datetime
) -> tuple[RunState, Campaign]:
    """Apply a run command under a row lock; returns the state before and the campaign."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT state FROM campaigns WHERE id = $1 FOR UPDATE",
                                  campaign_id)
        if row is None:
            raise NotFound("campaign.not_found", f"no campaign {campaign_id}")
        before = RunState(row["state"])
        after = next_state(before, command)
        updated = await conn.fetchrow(
            "UPDATE campaigns SET state = $2, updated_at = $3 WHERE id = $1 RETURNING *",
            campaign_id, str(after), now,
        )
    assert updated is not None  # the row is locked: it is still there
    return before, campaign_from_row(updated)




@dataclass(frozen=True, slots=True)
class AttemptRow:
    id: int
    campaign_id: int | None
    case_id: int
    debtor_id: int
    phone_id: int
    number: str
    party: Party
    work_line: str
    placed_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    result: AttemptResult | None
    call_id: str | None


def attempt_from_row(row: asyncpg.Record) -> AttemptRow:
    result = row["result"]
    return AttemptRow(
        id=row["id"], campaign_id=row["campaign_id"], case_id=row["case_id"],
        debtor_id=row["debtor_id"], phone_id=row["phone_id"], number=row["number"],
        party=Party(row["party"]), work_line=row["work_line"], placed_at=row["placed_at"],
        answered_at=row["answered_at"], ended_at=row["ended_at"],
        result=None if result is None else AttemptResult(result), call_id=row["call_id"],
    )


async def set_call_id(db: Db, attempt_id: int, call_id: str) -> None:
    await db.execute("UPDATE attempts SET call_id = $2 WHERE id = $1", attempt_id, call_id)


async def mark_answered(db: Db, attempt_id: int, at: datetime) -> None:
    await db.execute(
        "UPDATE attempts SET answered_at = $2 WHERE id = $1 AND ended_at IS NULL",
        attempt_id, at,
    )


async def note_agent(db: Db, attempt_id: int, agent_id: int) -> None:
    """The agent bridged to the attempt's call, written at the bridge: a call cut by
    a crash still names who took it (its recording and its default code follow)."""
    await db.execute(
        "UPDATE attempts SET agent_id = $2 WHERE id = $1 AND ended_at IS NULL",
        attempt_id, agent_id,
    )


async def end_attempt(
    pool: asyncpg.Pool, attempt_id: int, result: AttemptResult, *, at: datetime, cause: str,
    retry_after: timedelta, agent_id: int | None = None, amd: dict[str, object] | None = None,
) -> bool:
    """Close the attempt and push the case's next action time out by the retry
    policy (never earlier than a time already set). False when it was closed already."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "UPDATE attempts SET ended_at = $2, result = $3, cause = $4,"
            " agent_id = COALESCE($5, agent_id), amd = COALESCE($6, amd)"
            " WHERE id = $1 AND ended_at IS NULL RETURNING case_id, party",
            attempt_id, at, str(result), cause, agent_id,
            None if amd is None else json.dumps(amd),
        )
        if row is None:
            return False
        await conn.execute(
            "UPDATE cases SET next_action_at = GREATEST(next_action_at, $2), updated_at = $3"
            " WHERE id = $1", row["case_id"], at + retry_after, at,
        )
        ended = EndedAttempt(attempt_id, Party(row["party"]), result)
        if may_decide(ended):
            await _check_lost_contact(conn, row["case_id"], at)
    return True


_LOST_CONTACT_FACTS = """
SELECT c.status,
       EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id
               AND h.released_at IS NULL) AS on_hold,
       EXISTS (SELECT 1 FROM field_visit_requests v WHERE v.case_id = c.id
               AND v.status IN ('requested', 'planned', 'visited')) AS open_visit,
       (SELECT max(v.created_at) FROM field_visit_requests v
         WHERE v.case_id = c.id) AS last_request
  FROM cases c WHERE c.id = $1 FOR UPDATE
"""
_SINCE_LAST_REQUEST = """
SELECT id, party, result FROM attempts
 WHERE case_id = $1 AND ended_at IS NOT NULL
   AND ($2::timestamptz IS NULL OR placed_at > $2)
 ORDER BY placed_at, id
"""


async def _check_lost_contact(conn: Conn, case_id: int, at: datetime) -> None:
    """After a failed attempt: is the case now lost (`dialer.lost_contact`)? The
    attempts counted are those placed after the case's last field-visit request."""
    facts = await conn.fetchrow(_LOST_CONTACT_FACTS, case_id)
    assert facts is not None  # the attempt's case: attempts refer to it
    rows = await conn.fetch(_SINCE_LAST_REQUEST, case_id, facts["last_request"])
    decision = decide(
        (EndedAttempt(r["id"], Party(r["party"]), AttemptResult(r["result"])) for r in rows),
        status=CaseStatus(facts["status"]), on_hold=facts["on_hold"],
        open_visit=facts["open_visit"],
    )
    if decision.mark_lost and decision.reason is not None:
        await field_visits.mark_lost_contact(
            conn, case_id, reason=decision.reason, attempt_ids=decision.attempt_ids,
            request_visit=decision.request_visit, now=at,
        )


async def open_attempts(db: Db, dialer: str) -> list[AttemptRow]:
    rows = await db.fetch(
        "SELECT * FROM attempts WHERE dialer = $1 AND ended_at IS NULL ORDER BY id", dialer)
    return [attempt_from_row(row) for row in rows]


async def recover(pool: asyncpg.Pool, dialer: str, *, now: datetime, retry_after: timedelta) -> int:
    """Close every attempt this dialer left open (it stopped mid-call) as
    interrupted. Returns how many were closed."""
    closed = 0
    for attempt in await open_attempts(pool, dialer):
        cause = "dialer restarted while the call was " + (
            "answered" if attempt.answered_at else "ringing")
        closed += await end_attempt(pool, attempt.id, AttemptResult.INTERRUPTED, at=now,
                                    cause=cause, retry_after=retry_after)
    return closed


async def campaign_stats(db: Db, campaign_id: int, since: datetime) -> dict[str, object]:
    """Attempts by result, calls in progress, and refusals in all and by reason since
    `since` (a refusal that gives several reasons counts once under each)."""
    results = await db.fetch(
        "SELECT coalesce(result, 'in_progress') AS result, count(*) AS n FROM attempts"
        " WHERE campaign_id = $1 AND placed_at >= $2 GROUP BY 1 ORDER BY 1",
        campaign_id, since)
    # One read of the refusals: a row per reason, and the () row with the refusals.
    refusals = await db.fetch(
        "SELECT reason, count(*) AS n, count(DISTINCT id) AS refused"
        " FROM refusals, unnest(reasons) AS reason WHERE campaign_id = $1 AND at >= $2"
        " GROUP BY GROUPING SETS ((reason), ()) ORDER BY 2 DESC, 1",
        campaign_id, since)
    by_reason = {row["reason"]: row["n"] for row in refusals if row["reason"] is not None}
    refused = next(row["refused"] for row in refusals if row["reason"] is None)
    by_result = {row["result"]: row["n"] for row in results}
    live = by_result.get("connected", 0)
    abandoned = by_result.get("abandoned", 0)
    return {
        "since": since.isoformat(),
        "attempts": sum(by_result.values()),
        "by_result": by_result,
        "abandon_rate": None if live + abandoned == 0 else abandoned / (live + abandoned),
        "refusals": refused,
        "refusals_by_reason": by_reason,
    }


async def attempt_by_call(db: Db, call_id: str) -> asyncpg.Record | None:
    """The attempt that placed SIP call `call_id`, with its case's client."""
    return await db.fetchrow(
        "SELECT a.id, a.case_id, a.campaign_id, a.agent_id, a.placed_at, a.answered_at,"
        " c.client_id FROM attempts a JOIN cases c ON c.id = a.case_id WHERE a.call_id = $1",
        call_id)
