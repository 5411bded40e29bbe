"""A running campaign finishes by itself once no case in it may ever be called."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

import asyncpg

from dialer.calls import CallDeps
from dialer.campaign import Command, RunState
from dialer.candidates import any_left
from dialer.loop import CampaignLive, Dialer, within_leg_limit
from dialer.store import command_campaign, get_campaign
from tests.dialer.records import T0, Phone, make_campaign, make_case, make_client


async def test_anything_left_follows_statuses_phones_and_filters(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800138000"), dpd=45)
    campaign = await make_campaign(pool, client, case_filter={"buckets": ["M2"]})
    assert await any_left(pool, campaign)
    other = await make_campaign(pool, client, case_filter={"buckets": ["M4"]})
    assert not await any_left(pool, other)  # nothing in its buckets
    await pool.execute("INSERT INTO case_holds (case_id, reason, placed_at)"
                       " VALUES ($1, 'dispute', $2)", made.case_id, T0)
    assert await any_left(pool, campaign)  # a hold may be lifted
    await pool.execute("UPDATE phones SET do_not_call = true WHERE case_id = $1", made.case_id)
    assert not await any_left(pool, campaign)
    await pool.execute("UPDATE phones SET do_not_call = false, validity = 'invalid'"
                       " WHERE case_id = $1", made.case_id)
    assert not await any_left(pool, campaign)
    await pool.execute("UPDATE phones SET validity = 'valid' WHERE case_id = $1", made.case_id)
    await pool.execute("UPDATE cases SET status = 'paid' WHERE id = $1", made.case_id)
    assert not await any_left(pool, campaign)


async def test_the_loop_finishes_a_campaign_with_nothing_left(pool: asyncpg.Pool) -> None:
    client = await make_client(pool)
    made = await make_case(pool, client, Phone("+8613800138000"))
    campaign = await make_campaign(pool, client)
    await command_campaign(pool, campaign.id, Command.START, now=T0)
    now = [0.0]
    deps = cast(CallDeps, SimpleNamespace(pool=pool, clock=lambda: T0))  # no calls here
    dialer = Dialer(deps, name="d1", monotonic=lambda: now[0])
    live = dialer.live.setdefault(campaign.id, CampaignLive())
    await dialer._finish_if_done(campaign, live)
    assert (await get_campaign(pool, campaign.id)).state is RunState.RUNNING
    await pool.execute("UPDATE cases SET status = 'closed' WHERE id = $1", made.case_id)
    now[0] = 30.0
    await dialer._finish_if_done(campaign, live)  # checked a minute apart at most
    assert (await get_campaign(pool, campaign.id)).state is RunState.RUNNING
    now[0] = 61.0
    await dialer._finish_if_done(campaign, live)
    assert (await get_campaign(pool, campaign.id)).state is RunState.FINISHED


def test_the_loop_places_only_the_calls_the_leg_limit_leaves_room_for() -> None:
    """A call needs the debtor's leg and the agent's: at the service's call-leg limit
    the loop places nothing, rather than attempts that fail at once."""
    assert within_leg_limit(5, None) == 5  # no limit
    assert within_leg_limit(5, 100) == 5
    assert within_leg_limit(5, 7) == 3
    assert within_leg_limit(5, 1) == 0
    assert within_leg_limit(5, 0) == 0
