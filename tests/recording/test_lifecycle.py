"""States of a catalogued recording, its retention date and when it may be deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from recording.lifecycle import (
    TRANSITIONS,
    CatalogState,
    IllegalTransition,
    check_transition,
    may_delete,
    retention_until,
)

S = CatalogState


@pytest.mark.parametrize(("current", "new"), sorted(TRANSITIONS))
def test_allowed_transitions(current: CatalogState, new: CatalogState) -> None:
    check_transition(current, new)


ILLEGAL = [(c, n) for c in S for n in S if (c, n) not in TRANSITIONS]


@pytest.mark.parametrize(("current", "new"), ILLEGAL)
def test_every_other_transition_raises(current: CatalogState, new: CatalogState) -> None:
    with pytest.raises(IllegalTransition, match=f"a {current} recording cannot become {new}"):
        check_transition(current, new)


def test_deleted_is_final_and_nothing_goes_back_to_recording() -> None:
    assert not any(c is S.DELETED for c, _ in TRANSITIONS)
    assert not any(n is S.RECORDING for _, n in TRANSITIONS)


def test_retention_is_counted_in_calendar_years_on_the_utc_date() -> None:
    started = datetime(2026, 1, 1, 7, 30, tzinfo=timezone(timedelta(hours=8)))  # 2025-12-31Z
    assert retention_until(started, 5) == datetime(2030, 12, 31, 23, 30, tzinfo=UTC)


def test_a_leap_day_call_is_kept_until_the_28th() -> None:
    leap = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert retention_until(leap, 3) == datetime(2031, 2, 28, 12, tzinfo=UTC)
    assert retention_until(leap, 4) == datetime(2032, 2, 29, 12, tzinfo=UTC)


def test_retention_needs_an_aware_start_and_a_year() -> None:
    with pytest.raises(ValueError, match="naive"):
        retention_until(datetime(2026, 1, 1), 5)
    with pytest.raises(ValueError, match="at least 1"):
        retention_until(datetime(2026, 1, 1, tzinfo=UTC), 0)


NOW = datetime(2031, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("state", "hold", "ends", "deletable"), [
    (S.FINISHED, False, NOW, True),
    (S.RECOVERED, False, NOW - timedelta(days=1), True),
    (S.FAILED, False, NOW, True),
    (S.FINISHED, False, NOW + timedelta(microseconds=1), False),  # not yet
    (S.FINISHED, True, NOW - timedelta(days=999), False),  # legal hold
    (S.DELETED, False, NOW, False),
    (S.RECORDING, False, NOW, False),
])
def test_may_delete(state: CatalogState, hold: bool, ends: datetime, deletable: bool) -> None:
    assert may_delete(state, hold, ends, NOW) is deletable
