"""What supervisors watch: every live agent with the time in their state, the queues'
live figures and each campaign's figures of the day.

Agents and queues come from routing's live state (Redis), with the agents' names
and durable status times and the queues' names from PostgreSQL. The time in state
is known when this process saw the state start (`EventFeed.state_since`) and for a
wrap-up (it started when the call ended); otherwise it is null.

A campaign's figures of the day count its attempts placed since midnight in its
client's time zone: ``attempts``, ``connected`` (an agent talked to the person),
``abandoned`` (no agent in time) and ``abandon_rate`` as the dialer counts it,
abandoned / (connected + abandoned), null before any live answer. Campaigns that
are running or placed a call today are listed.
"""

from __future__ import annotations

from datetime import datetime

from api.desk import agent_json
from api.event_feed import EventFeed
from cases.store import Db
from routing.fields import LiveAgent
from routing.live import Live, QueueFigures
from routing.state import AgentState


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def state_since(live: LiveAgent, feed: EventFeed) -> datetime | None:
    seen = feed.state_since(live.agent_id, str(live.agent.state))
    if seen is None and live.agent.state is AgentState.WRAP_UP:
        return live.agent.last_call_ended_at
    return seen


async def agents(db: Db, live: Live, feed: EventFeed, now: datetime) -> list[dict[str, object]]:
    rows = await db.fetch("SELECT a.user_id, a.status_since, u.display_name FROM agents a"
                          " JOIN users u ON u.id = a.user_id")
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


def _figures(figures: QueueFigures) -> dict[str, int]:
    return {"waiting": figures.waiting, "free": figures.free, "reserved": figures.reserved,
            "missed": figures.missed}


async def queues(db: Db, live: Live) -> dict[str, dict[str, object]]:
    rows = await db.fetch("SELECT id, name, campaign_id FROM queues ORDER BY id")
    return {
        str(r["id"]): {"name": r["name"], "campaign_id": r["campaign_id"],
                       **_figures(await live.figures(str(r["id"])))}
        for r in rows
    }  # fmt: skip


_CAMPAIGNS_TODAY = """
SELECT c.id, c.name, c.state, t.attempts, t.connected, t.abandoned
FROM campaigns c JOIN clients cl ON cl.id = c.client_id
CROSS JOIN LATERAL (
    SELECT count(*) AS attempts,
           count(*) FILTER (WHERE a.result = 'connected') AS connected,
           count(*) FILTER (WHERE a.result = 'abandoned') AS abandoned
    FROM attempts a
    WHERE a.campaign_id = c.id
      AND a.placed_at >= date_trunc('day', $1::timestamptz AT TIME ZONE cl.time_zone)
                         AT TIME ZONE cl.time_zone
) t
WHERE c.state = 'running' OR t.attempts > 0
ORDER BY c.id
"""


async def campaigns(db: Db, now: datetime) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for r in await db.fetch(_CAMPAIGNS_TODAY, now):
        live = r["connected"] + r["abandoned"]
        found[str(r["id"])] = {
            "name": r["name"], "state": r["state"], "attempts": r["attempts"],
            "connected": r["connected"], "abandoned": r["abandoned"],
            "abandon_rate": None if live == 0 else r["abandoned"] / live,
        }  # fmt: skip
    return found


async def snapshot(db: Db, live: Live, feed: EventFeed, now: datetime) -> dict[str, object]:
    return {
        "kind": "snapshot", "at": now.isoformat(), "agents": await agents(db, live, feed, now),
        "queues": await queues(db, live), "campaigns": await campaigns(db, now),
    }  # fmt: skip
