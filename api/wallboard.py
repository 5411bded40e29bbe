"""What supervisors watch: every live agent with the time in their state, the queues'
live figures and each campaign's figures of the day, and a campaign's day interval by
interval (the wallboard's chart).

Agents and queues come from routing's live state (Redis), with the agents' names
and durable status times and the queues' names from PostgreSQL. The time in state
is known when this process saw the state start (`EventFeed.state_since`) and for a
wrap-up (it started when the call ended); otherwise it is null. A queue's
``oldest_waiting_since`` is when the call waiting longest was enqueued (null when
none waits): the longest wait is the time since.

A campaign's figures of the day count its attempts placed since midnight in its
client's time zone (`CallCounts`): ``attempts`` placed, ``finished`` (ended with a
result), ``answers`` (live answers: connected, abandoned or hung up before an agent
came), ``connected`` (an agent talked to the person), ``abandoned`` (no agent in
time) and ``right_party_contacts`` (connected calls with a right-party action code
filed on them), with ``answer_rate`` = answers / finished (the dialer's pacing
measure) and ``abandon_rate`` = abandoned / (connected + abandoned) as the dialer
counts it against the cap; a rate is null while its denominator is 0. Campaigns that
are running or placed a call today are listed, with their ``max_abandon_rate``.

The day of a campaign (`campaign_day`) is the same figures for each interval of
`step` from the first interval with an attempt today to the interval holding now,
each with the abandon rate of the day up to its end (``abandon_rate_to_date``, the
figure the cap is held against); interval bounds are local times in the client's
zone. The interval arithmetic is pure (`day_points`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from api.desk import agent_json
from api.event_feed import EventFeed
from cases.store import Db
from routing.fields import LiveAgent
from routing.live import Live, QueueFigures
from routing.state import AgentState

STEPS = (timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60))


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


@dataclass(frozen=True, slots=True)
class CallCounts:
    """A campaign's calls over some time; pure."""

    attempts: int = 0
    finished: int = 0
    answers: int = 0
    connected: int = 0
    abandoned: int = 0
    right_party_contacts: int = 0

    @classmethod
    def of(cls, row: Mapping[str, int] | asyncpg.Record) -> CallCounts:
        return cls(**{f.name: int(row[f.name]) for f in fields(cls)})

    def plus(self, other: CallCounts) -> CallCounts:
        return CallCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def answer_rate(self) -> float | None:
        return _rate(self.answers, self.finished)

    @property
    def abandon_rate(self) -> float | None:
        return _rate(self.abandoned, self.abandoned + self.connected)

    def as_json(self) -> dict[str, object]:
        return {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "answer_rate": self.answer_rate,
            "abandon_rate": self.abandon_rate,
        }


def day_start(now: datetime, zone: ZoneInfo) -> datetime:
    """Local midnight of `now`'s day in `zone`, in UTC (intervals are counted from it
    in elapsed time, not on the wall clock, so a clock change is no gap or overlap)."""
    return datetime.combine(now.astimezone(zone).date(), time(0), zone).astimezone(UTC)


def day_points(
    slots: Mapping[int, CallCounts], start: datetime, step: timedelta, now: datetime, zone: ZoneInfo
) -> list[dict[str, object]]:
    """The intervals [start + n*step, start + (n+1)*step) from the first in `slots` to
    the one holding `now` (or the last in `slots`, if later), each with its counts,
    rates and the abandon rate of the day to its end; empty without any slot."""
    if not slots:
        return []
    start, now = start.astimezone(UTC), now.astimezone(UTC)
    last = max(max(slots), (now - start) // step)
    points, total = [], CallCounts()
    for n in range(min(slots), last + 1):
        counts = slots.get(n, CallCounts())
        total = total.plus(counts)
        points.append({
            "from": (start + n * step).astimezone(zone).isoformat(),
            "to": (start + (n + 1) * step).astimezone(zone).isoformat(),
            **counts.as_json(), "abandon_rate_to_date": total.abandon_rate,
        })  # fmt: skip
    return points


async def agents(db: Db, live: Live, feed: EventFeed, now: datetime) -> list[dict[str, object]]:
    rows = await db.fetch(
        "SELECT a.user_id, a.status_since, u.display_name FROM agents a"
        " JOIN users u ON u.id = a.user_id"
    )
    people = {str(r["user_id"]): r for r in rows}
    found = []
    for agent in await live.agents():
        since, person = state_since(agent, feed), people.get(agent.agent_id)
        found.append({
            **agent_json(agent),
            "name": None if person is None else person["display_name"],
            "status_since": None if person is None else _iso(person["status_since"]),
            "state_since": _iso(since),
            "seconds_in_state": None if since is None else (now - since).total_seconds(),
        })  # fmt: skip
    return found


def state_since(live: LiveAgent, feed: EventFeed) -> datetime | None:
    seen = feed.state_since(live.agent_id, str(live.agent.state))
    if seen is None and live.agent.state is AgentState.WRAP_UP:
        return live.agent.last_call_ended_at
    return seen


def _figures(figures: QueueFigures) -> dict[str, int]:
    return {
        "waiting": figures.waiting,
        "free": figures.free,
        "reserved": figures.reserved,
        "missed": figures.missed,
    }


async def queues(db: Db, live: Live) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for r in await db.fetch("SELECT id, name, campaign_id FROM queues ORDER BY id"):
        queue_id = str(r["id"])
        found[queue_id] = {
            "name": r["name"], "campaign_id": r["campaign_id"],
            **_figures(await live.figures(queue_id)),
            "oldest_waiting_since": _iso(await live.oldest_waiting(queue_id)),
        }  # fmt: skip
    return found


# One campaign's calls among `a` (attempts): the CallCounts columns. A right-party
# contact is read from the call's own flag (attempts.right_party, set when a code is
# filed on the call), else looked for among the actions of the call's case (indexed
# by case): calls from before the flag was kept, or coded without it.
_COUNTS = """
    count(*) AS attempts, count(a.ended_at) AS finished,
    count(*) FILTER (WHERE a.result IN ('connected', 'abandoned', 'hung_up')) AS answers,
    count(*) FILTER (WHERE a.result = 'connected') AS connected,
    count(*) FILTER (WHERE a.result = 'abandoned') AS abandoned,
    count(*) FILTER (WHERE a.result = 'connected' AND coalesce(a.right_party, EXISTS (
        SELECT 1 FROM actions x JOIN action_codes k ON k.code = x.code AND k.right_party
         WHERE x.case_id = a.case_id AND x.attempt_id = a.id))) AS right_party_contacts"""
_NO_JIT = "SET LOCAL jit = off"  # compiling costs these queries ~1 s, more than they take


async def _fetch(pool: asyncpg.Pool, sql: str, *args: object) -> list[asyncpg.Record]:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_NO_JIT)
        found: list[asyncpg.Record] = await conn.fetch(sql, *args)
    return found


_CAMPAIGNS_TODAY = f"""
SELECT c.id, c.name, c.state, c.max_abandon_rate, t.*
FROM campaigns c JOIN clients cl ON cl.id = c.client_id
CROSS JOIN LATERAL (
    SELECT {_COUNTS}
    FROM attempts a
    WHERE a.campaign_id = c.id
      AND a.placed_at >= date_trunc('day', $1::timestamptz AT TIME ZONE cl.time_zone)
                         AT TIME ZONE cl.time_zone
) t
WHERE c.state = 'running' OR t.attempts > 0
ORDER BY c.id
"""


async def campaigns(pool: asyncpg.Pool, now: datetime) -> dict[str, dict[str, object]]:
    return {
        str(r["id"]): {"name": r["name"], "state": r["state"],
                       "max_abandon_rate": float(r["max_abandon_rate"]),
                       **CallCounts.of(r).as_json()}
        for r in await _fetch(pool, _CAMPAIGNS_TODAY, now)
    }  # fmt: skip


_DAY = f"""
SELECT floor(extract(epoch FROM a.placed_at - $2::timestamptz) / $3)::int AS slot, {_COUNTS}
FROM attempts a
WHERE a.campaign_id = $1 AND a.placed_at >= $2 AND a.placed_at < $4
GROUP BY 1
"""


async def campaign_day(
    pool: asyncpg.Pool, campaign_id: int, zone: ZoneInfo, step: timedelta, now: datetime
) -> dict[str, object]:
    """The campaign's day so far, interval by interval (see the module's docstring)."""
    start = day_start(now, zone)
    local_day = start.astimezone(zone).date()
    end = datetime.combine(local_day + timedelta(days=1), time(0), zone)
    rows = await _fetch(pool, _DAY, campaign_id, start, step.total_seconds(), end)
    slots = {r["slot"]: CallCounts.of(r) for r in rows}
    return {
        "day": local_day.isoformat(),
        "time_zone": zone.key,
        "step_minutes": int(step.total_seconds()) // 60,
        "points": day_points(slots, start, step, now, zone),
    }


async def snapshot(
    db: asyncpg.Pool, live: Live, feed: EventFeed, now: datetime
) -> dict[str, object]:
    return {
        "kind": "snapshot", "at": now.isoformat(), "agents": await agents(db, live, feed, now),
        "queues": await queues(db, live), "campaigns": await campaigns(db, now),
    }  # fmt: skip
