"""The flush plan: hand-overs and syncs spread over the ticks, never all at once."""

from __future__ import annotations

import math

import pytest

from recording.schedule import Cadence, FlushPlan


def test_cadence_from_seconds() -> None:
    assert Cadence.from_seconds(0.2, 1.0) == Cadence(10, 50)
    assert Cadence.from_seconds(0.2, 0.5) == Cadence(10, 30)  # sync rounded up to flushes
    assert Cadence.from_seconds(0.001, 0.001) == Cadence(1, 1)


@pytest.mark.parametrize(("flush", "sync"), [(0, 10), (10, 0), (10, 25)])
def test_bad_cadence(flush: int, sync: int) -> None:
    with pytest.raises(ValueError, match="dividing"):
        Cadence(flush, sync)


def test_next_flush_and_sync_follow_the_phase() -> None:
    cadence = Cadence(10, 50)
    assert cadence.next_flush(0, 3) == 7  # (7 + 3) % 10 == 0
    assert cadence.next_flush(7, 3) == 17  # strictly after
    assert cadence.next_sync(7, 3) == 47
    assert cadence.next_sync(47, 3) == 97


@pytest.mark.parametrize("count", [1, 7, 200, 1000])
def test_plan_spreads_flushes_and_syncs(count: int) -> None:
    cadence = Cadence(10, 50)
    plan = FlushPlan(cadence)
    phases = [plan.assign() for _ in range(count)]
    assert plan.recordings == count
    flushes = [plan.flushes_at(tick) for tick in range(cadence.sync_every)]
    syncs = [plan.syncs_at(tick) for tick in range(cadence.sync_every)]
    assert max(flushes) == math.ceil(count / cadence.flush_every)
    assert max(syncs) == math.ceil(count / cadence.sync_every)
    assert sum(syncs) == count and sum(flushes) == count * 5
    # the plan is what each recording will do
    for tick in range(100):
        doing = sum(1 for phase in phases if (tick + phase) % cadence.flush_every == 0)
        assert doing == plan.flushes_at(tick)


def test_released_phases_are_reused_so_the_spread_holds_with_churn() -> None:
    plan = FlushPlan(Cadence(10, 50))
    live = [plan.assign() for _ in range(100)]
    for round_ in range(20):
        for phase in live[round_ % 3 :: 3]:
            plan.release(phase)
        live = [p for i, p in enumerate(live) if i % 3 != round_ % 3]
        live += [plan.assign() for _ in range(100 - len(live))]
        assert max(plan.flushes_at(t) for t in range(50)) == 10
        assert max(plan.syncs_at(t) for t in range(50)) == 2
    assert plan.recordings == 100


def test_release_of_an_unassigned_phase_is_an_error() -> None:
    plan = FlushPlan(Cadence(10, 50))
    with pytest.raises(ValueError, match="phase 3 is not assigned"):
        plan.release(3)
