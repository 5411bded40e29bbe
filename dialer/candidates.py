"""Which (case, phone) to call next, and every fact the compliance check needs.

`lease` picks a campaign's next cases in priority order with `FOR UPDATE SKIP
LOCKED`, so two dialers running the same campaign never take the same case. The
order: the case's priority (raised for promises due or broken), then days past due,
then balance, highest first; cases whose next action time has not come, cases on
hold, debtors with a call in progress and phones still held off after a refusal are
skipped in the query (the check would refuse them anyway; the check still runs on
every leased candidate and fails closed).

`phones_of` loads, for leased cases, each phone as a compliance `Candidate` in the
order the dialer tries them: debtor before guarantor before other contacts, a
number known valid before an unchecked one, mobile before home before work.
`history` loads the attempts the engine's docstring asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from cases.domain import Party
from cases.store import Db
from dialer.campaign import Campaign
from dialer.compliance import (
    Attempt,
    Candidate,
    Consent,
    ContactHistory,
    DailyWindow,
    HoldReason,
    Outcome,
    RulePack,
)
from dialer.locality import callee_zones, holiday_dates, years_around

_LEASE_HEAD = """
SELECT c.id FROM cases c
WHERE c.client_id = $1 AND c.status = ANY($2::text[])
  AND (c.next_action_at IS NULL OR c.next_action_at <= $3)
"""
_LEASE_TAIL = """
  AND NOT EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id AND h.released_at IS NULL)
  AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.debtor_id = c.debtor_id
       AND a.ended_at IS NULL)
  AND EXISTS (SELECT 1 FROM phones p LEFT JOIN phone_holdoff o ON o.phone_id = p.id
       WHERE p.case_id = c.id AND p.party = ANY($4::text[]) AND p.validity <> 'invalid'
         AND NOT p.do_not_call AND (o.until IS NULL OR o.until <= $3))
ORDER BY c.priority DESC, c.days_past_due DESC, c.balance DESC, c.id
LIMIT $5
FOR UPDATE OF c SKIP LOCKED
"""
# A case an agent previewed (and dialled or skipped) is not offered again this soon.
PREVIEW_COOLDOWN = timedelta(minutes=30)
# Days past due of each bucket (cases.bucket is generated from them): a bucket filter
# becomes ranges of the lease index's third column, which the scan can use.
BUCKET_DAYS = {"M0": (0, 0), "M1": (1, 30), "M2": (31, 60), "M3": (61, 90),
               "M4": (91, 120), "M5": (121, 150), "M6": (151, 180), "M6+": (181, None)}


def lease_query(campaign: Campaign, now: datetime, limit: int, *,
                for_agent: int | None = None) -> tuple[str, list[object]]:
    """The lease's SQL with only the filters the campaign sets (a filter written as
    `$n IS NULL OR ...` keeps PostgreSQL from using it in the index scan).

    `for_agent`: a preview for that agent: only cases assigned to them or to nobody,
    and none previewed in the last `PREVIEW_COOLDOWN` (by anyone)."""
    args: list[object] = [campaign.client_id, [str(s) for s in wanted_statuses(campaign)], now,
                          sorted(str(p) for p in campaign.settings.parties), limit]

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    where = _filters(campaign, arg)
    if for_agent is not None:
        where.append(f"(c.assigned_agent_id IS NULL OR c.assigned_agent_id = {arg(for_agent)})")
        where.append("NOT EXISTS (SELECT 1 FROM previews v WHERE v.case_id = c.id"
                     f" AND v.at > {arg(now - PREVIEW_COOLDOWN)})")
    extra = "".join(f"  AND {clause}\n" for clause in where)
    return _LEASE_HEAD + extra + _LEASE_TAIL, args


def wanted_statuses(campaign: Campaign) -> tuple[str, ...]:
    return tuple(str(s) for s in campaign.settings.case_filter.statuses)


def _filters(campaign: Campaign, arg: Callable[[object], str]) -> list[str]:
    """The campaign's case filter as SQL conditions on ``c`` (cases)."""
    wanted = campaign.settings.case_filter
    where = []
    if wanted.buckets:
        where.append("(" + " OR ".join(_days(low, high, arg) for low, high in
                                       _day_ranges(wanted.buckets)) + ")")
    if wanted.products:
        where.append(f"c.product = ANY({arg(list(wanted.products))}::text[])")
    if wanted.balance_min is not None:
        where.append(f"c.balance >= {arg(wanted.balance_min)}")
    if wanted.balance_max is not None:
        where.append(f"c.balance <= {arg(wanted.balance_max)}")
    if wanted.teams:
        where.append("EXISTS (SELECT 1 FROM users u WHERE u.id = c.assigned_agent_id"
                     f" AND u.team = ANY({arg(list(wanted.teams))}::text[]))")
    return where


async def any_left(conn: Db, campaign: Campaign) -> bool:
    """Whether the campaign still has a case it could call some day: in its filter,
    in a status it calls, with a phone of its parties not invalid nor on the
    do-not-call list (a hold, a next action time or a refusal may lift later)."""
    args: list[object] = [campaign.client_id, list(wanted_statuses(campaign)),
                          sorted(str(p) for p in campaign.settings.parties)]

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    extra = "".join(f" AND {clause}" for clause in _filters(campaign, arg))
    found = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM cases c WHERE c.client_id = $1"
        " AND c.status = ANY($2::text[])" + extra +
        " AND EXISTS (SELECT 1 FROM phones p WHERE p.case_id = c.id"
        " AND p.party = ANY($3::text[]) AND p.validity <> 'invalid' AND NOT p.do_not_call))",
        *args)
    return bool(found)


def _day_ranges(buckets: tuple[str, ...]) -> list[tuple[int, int | None]]:
    """The buckets' day ranges, adjacent ones merged."""
    merged: list[tuple[int, int | None]] = []
    for low, high in sorted(BUCKET_DAYS[b] for b in buckets):
        last = merged[-1] if merged else None
        if last is not None and last[1] is not None and last[1] + 1 == low:
            merged[-1] = (last[0], high)
        else:
            merged.append((low, high))
    return merged


def _days(low: int, high: int | None, arg: Callable[[object], str]) -> str:
    if high is None:
        return f"c.days_past_due >= {arg(low)}"
    return f"c.days_past_due BETWEEN {arg(low)} AND {arg(high)}"


async def lease(conn: Db, campaign: Campaign, now: datetime, limit: int) -> list[int]:
    """The ids of up to `limit` cases to call next, locked until the transaction
    ends (call inside one)."""
    query, args = lease_query(campaign, now, limit)
    rows = await conn.fetch(query, *args)
    return [row["id"] for row in rows]


_PHONES = """
SELECT c.id AS case_id, c.debtor_id, c.status, p.id AS phone_id, p.e164, p.party,
       p.validity, p.consent, p.do_not_call, d.time_zone AS debtor_zone,
       d.cease_requested, d.attorney_represented, d.agreed_window_start,
       d.agreed_window_end, cl.time_zone AS client_zone, cl.default_region,
       cl.holiday_subdivision, cl.no_holiday_calls, o.until AS holdoff,
       ARRAY(SELECT h.reason FROM case_holds h
             WHERE h.case_id = c.id AND h.released_at IS NULL) AS holds,
       NOT EXISTS (SELECT 1 FROM phones q WHERE q.case_id = c.id AND q.party = 'debtor'
                   AND q.validity <> 'invalid') AS debtor_numbers_lost
FROM cases c JOIN debtors d ON d.id = c.debtor_id JOIN clients cl ON cl.id = c.client_id
JOIN phones p ON p.case_id = c.id LEFT JOIN phone_holdoff o ON o.phone_id = p.id
WHERE c.id = ANY($1::bigint[])
ORDER BY c.id,
  array_position(ARRAY['debtor','guarantor','relative','employer','other'], p.party),
  array_position(ARRAY['valid','unknown','invalid'], p.validity),
  array_position(ARRAY['mobile','home','work'], p.kind), p.id
"""


@dataclass(frozen=True, slots=True)
class PhoneFacts:
    """A phone of a leased case: the candidate, and what the query already knows
    keeps the dialer from trying it now."""

    candidate: Candidate
    invalid: bool
    held_off_until: datetime | None


async def phones_of(conn: Db, case_ids: list[int], now: datetime) -> dict[int, list[PhoneFacts]]:
    rows = await conn.fetch(_PHONES, case_ids)
    found: dict[int, list[PhoneFacts]] = {case_id: [] for case_id in case_ids}
    for row in rows:
        found[row["case_id"]].append(PhoneFacts(
            candidate=_candidate(row, now), invalid=row["validity"] == "invalid",
            held_off_until=row["holdoff"],
        ))
    return found


def _candidate(row: asyncpg.Record, now: datetime) -> Candidate:
    zone = row["client_zone"]
    local_day = now.astimezone(ZoneInfo(zone)).date()
    holidays = holiday_dates(row["default_region"], row["holiday_subdivision"],
                             years_around(local_day)) if row["no_holiday_calls"] else frozenset()
    start, end = row["agreed_window_start"], row["agreed_window_end"]
    return Candidate(
        case_id=row["case_id"], debtor_id=row["debtor_id"], phone_id=row["phone_id"],
        number=row["e164"], party=Party(row["party"]),
        time_zones=callee_zones(row["debtor_zone"], row["e164"], zone),
        holds=frozenset(HoldReason(h) for h in row["holds"]),
        do_not_call=row["do_not_call"], cease_requested=row["cease_requested"],
        attorney_represented=row["attorney_represented"], consent=Consent(row["consent"]),
        lost_contact=row["status"] == "lost_contact" or row["debtor_numbers_lost"],
        no_holiday_calls=row["no_holiday_calls"], holidays=holidays,
        agreed_window=None if start is None or start >= end else DailyWindow(start, end),
    )


# An attempt as the rules see it: right_party when its action code says so.
_ATTEMPT = """
SELECT a.id, a.placed_at, a.case_id, a.debtor_id, a.number, a.party, a.campaign_id,
       a.result, a.answered_at,
       EXISTS (SELECT 1 FROM actions x JOIN action_codes k ON k.code = x.code
               WHERE x.attempt_id = a.id AND k.right_party) AS right_party
FROM attempts a
"""
_HISTORY = _ATTEMPT + """
WHERE (a.debtor_id = $1 AND a.placed_at >= $3)
   OR (a.number = $2 AND a.placed_at >= $3)
   OR (a.number = $2 AND a.debtor_id = $1 AND $4)
ORDER BY a.placed_at
"""


async def history(
    conn: Db, candidate: Candidate, pack: RulePack, now: datetime
) -> ContactHistory:
    """Every attempt within the pack's look-back about the debtor or to the number;
    with a third-party contact limit, every attempt to the number about the debtor."""
    rows = await conn.fetch(
        _HISTORY, candidate.debtor_id, candidate.number, now - pack.history_lookback,
        pack.third_party_contacts is not None,
    )
    return ContactHistory(tuple(_attempt(row) for row in rows))


async def case_attempts(
    conn: Db, case_id: int, since: datetime, until: datetime
) -> ContactHistory:
    """The case's own attempts placed in [since, until] (for its contact floor)."""
    rows = await conn.fetch(_CASE_ATTEMPTS, case_id, since, until)
    return ContactHistory(tuple(_attempt(row) for row in rows))


_CASE_ATTEMPTS = _ATTEMPT + """
WHERE a.case_id = $1 AND a.placed_at BETWEEN $2 AND $3
ORDER BY a.placed_at
"""


def _attempt(row: asyncpg.Record) -> Attempt:
    return Attempt(
        at=row["placed_at"], case_id=row["case_id"], debtor_id=row["debtor_id"],
        number=row["number"], party=Party(row["party"]), campaign_id=row["campaign_id"],
        outcome=outcome_of(row["result"], row["answered_at"] is not None, row["right_party"]),
        attempt_id=row["id"],
    )


_OUTCOMES = {
    "busy": Outcome.BUSY, "no_answer": Outcome.UNANSWERED, "rejected": Outcome.UNANSWERED,
    "failed": Outcome.FAILED, "machine": Outcome.MACHINE, "voicemail": Outcome.VOICEMAIL,
    "abandoned": Outcome.ABANDONED, "hung_up": Outcome.CONNECTED,
}


def outcome_of(result: str | None, answered: bool, right_party: bool) -> Outcome:
    """What an attempt counts as for the rules. A call still in progress or
    interrupted counts as what it may have become: a live answer once answered."""
    if result == "connected":
        return Outcome.CONVERSATION if right_party else Outcome.CONNECTED
    if result in _OUTCOMES:
        return _OUTCOMES[result]
    return Outcome.CONNECTED if answered else Outcome.UNANSWERED


_CAMPAIGN_COUNTS = """
SELECT count(*) FILTER (WHERE result = 'abandoned') AS abandoned,
       count(*) FILTER (WHERE result = 'connected') AS live
FROM attempts WHERE campaign_id = $1 AND placed_at >= $2
"""


async def abandon_counts(conn: Db, campaign_id: int, since: datetime) -> tuple[int, int]:
    row = await conn.fetchrow(_CAMPAIGN_COUNTS, campaign_id, since)
    assert row is not None  # an aggregate always gives a row
    return row["abandoned"], row["live"]


def holdoff_until(next_permitted: datetime | None, now: datetime) -> datetime:
    """How long a refused phone is left alone: until the decision's next permitted
    time, or an hour when no time lifts the refusal (the facts may change)."""
    return next_permitted if next_permitted is not None else now + timedelta(hours=1)
