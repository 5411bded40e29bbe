"""The cn-bank contact floor (pure): 3 attempts within 7 days of assignment, then 2
more within the next 15 days; a conflict with a ceiling is shown, never overridden."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from dialer.compliance import (
    CN_BANK,
    CadencePhase,
    ContactHistory,
    Decision,
    HoldReason,
    Outcome,
    cadence_status,
)
from dialer.compliance.packs import Cadence
from tests.dialer.build import SHANGHAI, at, attempt, candidate, decide

ASSIGNED = at("2026-03-01 10:00", SHANGHAI)
FLOOR = Cadence(3, timedelta(days=7), 2, timedelta(days=15))


def test_cn_bank_has_the_floor_of_the_service_plan() -> None:
    assert CN_BANK.cadence == FLOOR


def attempts(count: int, outcome: Outcome = Outcome.UNANSWERED, **changes: Any) -> ContactHistory:
    who = candidate()
    return ContactHistory(tuple(
        attempt(ASSIGNED + timedelta(hours=2 + 20 * i), outcome, who, **changes)
        for i in range(count)
    ))  # fmt: skip


@pytest.mark.parametrize(
    ("made", "days_on", "phase", "needed", "due_days", "behind", "report"),
    [
        (0, 4, CadencePhase.FIRST, 3, 7, False, False),
        (2, 7, CadencePhase.FIRST, 1, 7, False, False),
        (2, 8, CadencePhase.FIRST, 1, 7, True, False),
        (3, 8, CadencePhase.MORE, 2, 22, False, True),
        (4, 23, CadencePhase.MORE, 1, 22, True, True),
        (5, 23, CadencePhase.MET, 0, None, False, True),
    ],
)
def test_the_floor_after_assignment(
    made: int,
    days_on: int,
    phase: CadencePhase,
    needed: int,
    due_days: int | None,
    behind: bool,
    report: bool,
) -> None:
    status = cadence_status(FLOOR, 1, ASSIGNED, attempts(made), ASSIGNED + timedelta(days=days_on))
    assert status.phase is phase
    assert (status.attempts, status.needed, status.behind) == (made, needed, behind)
    assert status.due_by == (None if due_days is None else ASSIGNED + timedelta(days=due_days))
    assert status.failure_report_due is report


def test_a_conversation_meets_the_floor() -> None:
    status = cadence_status(FLOOR, 1, ASSIGNED, attempts(1, Outcome.CONVERSATION),
                            ASSIGNED + timedelta(days=9))  # fmt: skip
    assert (status.phase, status.needed, status.behind) == (CadencePhase.CONTACTED, 0, False)


def test_only_this_cases_attempts_since_assignment_count() -> None:
    before = ContactHistory(tuple(
        attempt(ASSIGNED - timedelta(days=1), Outcome.UNANSWERED, candidate()) for _ in range(3)
    ))  # fmt: skip
    status = cadence_status(FLOOR, 1, ASSIGNED, before, ASSIGNED + timedelta(days=1))
    assert status.attempts == 0
    other = cadence_status(FLOOR, 1, ASSIGNED, attempts(3, case_id=2), ASSIGNED)
    assert other.attempts == 0


def refusal(until: datetime | None) -> Decision:
    who = candidate(holds=frozenset({HoldReason.DISPUTE}) if until is None else frozenset())
    now = until - timedelta(hours=1) if until is not None else ASSIGNED
    decision = decide(who, now)
    return Decision(False, "cn-bank", "2026.1", decision.reasons, (), until, now, {})


@pytest.mark.parametrize(
    ("latest", "conflict"),
    [
        (None, False),
        (refusal(None), True),  # a hold: the floor cannot be met
        (refusal(ASSIGNED + timedelta(days=8)), True),  # refused past the deadline
        (refusal(ASSIGNED + timedelta(days=2)), False),
        (decide(candidate(), ASSIGNED), False),  # allowed
    ],
)
def test_a_ceiling_that_keeps_the_floor_from_being_met_is_a_conflict(
    latest: Decision | None, conflict: bool
) -> None:
    status = cadence_status(FLOOR, 1, ASSIGNED, attempts(1), ASSIGNED + timedelta(days=1), latest)
    assert status.ceiling_conflict is conflict
    assert status.phase is CadencePhase.FIRST  # the floor is reported, the refusal stands
