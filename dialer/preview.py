"""Preview dialing: an agent asks for the next case of their preview campaign, reads
it, then dials it (`POST /agent/dial`) or asks for the next one.

The next case is the campaign's lease (`dialer.candidates.lease_query`: its filters,
its order, the cases the dialer would skip skipped, `FOR UPDATE SKIP LOCKED` so two
agents asking at once get different cases), narrowed to cases assigned to the agent
or to nobody and not previewed by anyone in the last half hour. An unassigned case
becomes the agent's (it is in their portfolio from then on, and only they see it
among the agents). The check runs when the agent dials, not here: time passes
while the agent reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases.store import Db
from dialer import store
from dialer.campaign import Campaign
from dialer.candidates import lease_query

_CAMPAIGNS = """
SELECT c.id FROM campaigns c
JOIN queue_members m ON m.queue_id = c.queue_id AND m.agent_id = $1
WHERE c.state = 'running' AND c.mode = 'preview' AND ($2::bigint IS NULL OR c.id = $2)
ORDER BY c.id
"""


@dataclass(frozen=True, slots=True)
class Preview:
    campaign: Campaign
    case_id: int


async def preview_campaigns(db: Db, agent_id: int, campaign_id: int | None = None
                            ) -> list[Campaign]:
    ids = [r["id"] for r in await db.fetch(_CAMPAIGNS, agent_id, campaign_id)]
    return [await store.get_campaign(db, i) for i in ids]


async def next_case(pool: asyncpg.Pool, agent_id: int, now: datetime,
                    campaign_id: int | None = None) -> Preview | None:
    """The agent's next case to read, from the first of their running preview
    campaigns that has one; None when none has."""
    for campaign in await preview_campaigns(pool, agent_id, campaign_id):
        query, args = lease_query(campaign, now, 1, for_agent=agent_id)
        async with pool.acquire() as conn, conn.transaction():
            case_id = await conn.fetchval(query, *args)
            if case_id is None:
                continue
            await conn.execute(
                "UPDATE cases SET assigned_agent_id = $2, assigned_at = $3"
                " WHERE id = $1 AND assigned_agent_id IS NULL", case_id, agent_id, now)
            await conn.execute(
                "INSERT INTO previews (campaign_id, case_id, agent_id, at)"
                " VALUES ($1, $2, $3, $4)", campaign.id, case_id, agent_id, now)
        return Preview(campaign, case_id)
    return None
