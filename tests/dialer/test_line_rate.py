"""A work line's new calls a second: the carrier's limit, kept by the dialer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import asyncpg

from dialer.calls import CallDeps
from dialer.campaign import Campaign, Command
from dialer.gate import Admitted
from dialer.line_rate import LineRates
from dialer.loop import Dialer
from dialer.store import command_campaign
from telephony.lines import WorkLine, WorkLines
from tests.dialer.records import T0, Phone, make_campaign, make_case, make_client


def test_a_line_without_a_limit_always_has_room() -> None:
    rates = LineRates()
    assert rates.room("line1", None, 0.0) is None
    rates.took("line1", None, 0.0)
    assert rates.room("line1", None, 0.0) is None


def test_a_second_s_worth_at_once_then_the_rate() -> None:
    rates = LineRates()
    assert rates.room("line1", 5, 0.0) == 5
    for _ in range(5):
        rates.took("line1", 5, 0.0)
    assert rates.room("line1", 5, 0.0) == 0
    assert rates.room("line1", 5, 0.19) == 0
    assert rates.room("line1", 5, 0.2) == 1  # one call every 1/5 s
    assert rates.room("line1", 5, 10.0) == 5  # never more than a second's worth


def test_under_one_call_a_second_a_call_waits_its_turn() -> None:
    rates = LineRates()
    assert rates.room("slow", 0.5, 0.0) == 1
    rates.took("slow", 0.5, 0.0)
    assert rates.room("slow", 0.5, 1.9) == 0
    assert rates.room("slow", 0.5, 2.0) == 1


def test_calls_placed_past_the_limit_are_paid_back_first() -> None:
    """An agent's own dial is placed whatever the bucket holds; the campaign's calls
    wait until the line is back under its limit."""
    rates = LineRates()
    for _ in range(3):
        rates.took("line1", 1, 0.0)
    assert rates.room("line1", 1, 1.0) == 0
    assert rates.room("line1", 1, 3.0) == 1


def test_each_line_has_its_own_bucket() -> None:
    rates = LineRates()
    rates.took("a", 1, 0.0)
    assert rates.room("a", 1, 0.0) == 0
    assert rates.room("b", 1, 0.0) == 1


class Counting(Dialer):
    """The loop as it is, with the calls it starts counted instead of placed."""

    started: list[Admitted]

    def _start(self, campaign: Campaign, admitted: Admitted, client: tuple[int, str]) -> None:
        self.started.append(admitted)
        self._take_line(admitted.work_line)


async def test_the_loop_places_no_more_than_the_line_s_calls_a_second_and_refuses_none(
    pool: asyncpg.Pool,
) -> None:
    client = await make_client(pool)
    for n in range(10):
        await make_case(pool, client, Phone(f"+86138001380{n:02d}"))
    campaign = await make_campaign(pool, client)
    await command_campaign(pool, campaign.id, Command.START, now=T0)
    line = WorkLine("line1", "127.0.0.1", 5060, "4008001234", max_channels=30,
                    calls_per_second=2)
    agents = SimpleNamespace(free=10, talking=(), wrapping_up=(), mean_wrap_up_s=0.0)

    async def capacity(queue_id: Any) -> Any:
        return agents

    now = [100.0]
    deps = cast(CallDeps, SimpleNamespace(
        pool=pool, clock=lambda: T0, recorder=SimpleNamespace(ready=lambda: (True, "")),
        router=SimpleNamespace(capacity=capacity),
        control=SimpleNamespace(lines=WorkLines((line,)), legs_free=lambda: None),
    ))
    dialer = Counting(deps, name="d1", monotonic=lambda: now[0])
    dialer.started = []
    assert len(await dialer.tick_campaign(campaign)) == 2  # ten agents free, two a second
    assert await dialer.tick_campaign(campaign) == []
    assert dialer.live[campaign.id].waiting_reason.endswith("calls-a-second limit")
    now[0] += 0.5
    assert len(await dialer.tick_campaign(campaign)) == 1
    now[0] += 1.0
    assert len(await dialer.tick_campaign(campaign)) == 2
    assert len(dialer.started) == 5
    assert await pool.fetchval("SELECT count(*) FROM attempts") == 5
    assert await pool.fetchval("SELECT count(*) FROM refusals") == 0  # nothing refused
