"""The compliance gate: check a leased case's phones and write the attempt, in one
transaction, before anything is dialled.

For each leased case, its phones are tried in the dialer's order. Before reading the
history the gate takes transaction-scoped advisory locks on the debtor and on the
number, without waiting: if another dialer holds either, the case is skipped this
tick (it is working on that debtor right now). Holding both locks while reading the
history, checking and inserting the attempt means two dialers can never both pass
a cap: the second one to get the locks sees the first one's attempt row. A debtor
with a call in progress is never called again until that call ends.

The first phone the check allows gets an attempt row carrying the whole decision
(pack, version, inputs, reasons, notes); every refused phone gets a refusal row with
its decision and is held off until the decision's next permitted time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases.store import Conn
from dialer.campaign import Campaign
from dialer.candidates import PhoneFacts, history, holdoff_until, lease, phones_of
from dialer.compliance import Candidate, Decision, DialContext, RulePack, check


@dataclass(frozen=True, slots=True)
class Admitted:
    attempt_id: int
    candidate: Candidate
    decision: Decision
    work_line: str


@dataclass(frozen=True, slots=True)
class Refused:
    candidate: Candidate
    decision: Decision


class LinePicker:
    """Free channels per work line for one tick: the gate takes one per admitted
    call; the loop gives them back when calls end."""

    def __init__(self, free: dict[str, int]) -> None:
        self._free = dict(free)

    def available(self) -> bool:
        return any(count > 0 for count in self._free.values())

    def take(self) -> str:
        name = max(self._free, key=lambda line: self._free[line])
        if self._free[name] <= 0:
            raise LookupError("no work line channel free")
        self._free[name] -= 1
        return name


@dataclass(frozen=True, slots=True)
class Gate:
    """What one tick of one campaign dials with."""

    campaign: Campaign
    pack: RulePack
    dialer: str  # this dialer's name, on every attempt it writes
    dial: Callable[[bool], DialContext]  # the context, given whether a line is free
    lines: LinePicker


async def admit(pool: asyncpg.Pool, gate: Gate, now: datetime, limit: int) -> list[Admitted]:
    """Lease up to `limit` cases and write an attempt for each that may be called."""
    admitted: list[Admitted] = []
    async with pool.acquire() as conn, conn.transaction():
        case_ids = await lease(conn, gate.campaign, now, limit)
        phones = await phones_of(conn, case_ids, now) if case_ids else {}
        for case_id in case_ids:
            if not gate.lines.available():
                break  # the rest stay unleased: no refusal is written for a busy site
            result = await _admit_case(conn, gate, phones[case_id], now)
            if result is not None:
                admitted.append(result)
    return admitted


async def _admit_case(
    conn: Conn, gate: Gate, phones: list[PhoneFacts], now: datetime
) -> Admitted | None:
    for facts in phones:
        who = facts.candidate
        if not _worth_trying(gate, facts, now):
            continue
        if not await lock_contact(conn, who):
            return None
        decision = await decide(conn, who, gate.pack, now, gate.dial(gate.lines.available()))
        if decision.allowed:
            return await _write_attempt(conn, gate, who, decision, now)
        await write_refusal(conn, gate.campaign.id, who, decision, now)
    return None


def _worth_trying(gate: Gate, facts: PhoneFacts, now: datetime) -> bool:
    party = facts.candidate.party
    held = facts.held_off_until is not None and facts.held_off_until > now
    return not facts.invalid and not held and party in gate.campaign.settings.parties


async def lock_contact(conn: Conn, who: Candidate) -> bool:
    """Both locks or neither (a transaction lock stays until commit, so a failed
    second attempt leaves the first held: harmless, the case is skipped)."""
    got = await conn.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('callcase.debtor:' || $1, 0))"
        " AND pg_try_advisory_xact_lock(hashtextextended('callcase.number:' || $2, 0))"
        " AND NOT EXISTS (SELECT 1 FROM attempts WHERE debtor_id = $3 AND ended_at IS NULL)",
        str(who.debtor_id), who.number, who.debtor_id,
    )
    return bool(got)


async def decide(
    conn: Conn, who: Candidate, pack: RulePack, now: datetime, dial: DialContext
) -> Decision:
    return check(who, await history(conn, who, pack, now), pack, now, dial=dial)


async def _write_attempt(
    conn: Conn, gate: Gate, who: Candidate, decision: Decision, now: datetime
) -> Admitted:
    line = gate.lines.take()
    attempt_id = await conn.fetchval(
        "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
        " work_line, dialer, placed_at, decision, pack, pack_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        gate.campaign.id, who.case_id, who.debtor_id, who.phone_id, who.number,
        str(who.party), line, gate.dialer, now, json.dumps(decision.as_json()),
        decision.pack, decision.pack_version,
    )
    return Admitted(attempt_id, who, decision, line)


async def write_refusal(
    conn: Conn, campaign_id: int | None, who: Candidate, decision: Decision, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO refusals (campaign_id, case_id, phone_id, at, reasons,"
        " next_permitted_at, decision) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        campaign_id, who.case_id, who.phone_id, now, [str(c) for c in decision.codes],
        decision.next_permitted_at, json.dumps(decision.as_json()),
    )
    await conn.execute(
        "INSERT INTO phone_holdoff (phone_id, until) VALUES ($1, $2)"
        " ON CONFLICT (phone_id) DO UPDATE SET until = EXCLUDED.until",
        who.phone_id, holdoff_until(decision.next_permitted_at, now),
    )
