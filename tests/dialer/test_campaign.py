"""Campaign settings from a campaign manager's JSON, and the run-state table."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cases.domain import CaseStatus, Party
from cases.errors import InvalidInput
from dialer.campaign import (
    TRANSITIONS,
    AmdPolicy,
    AttemptResult,
    CampaignStateError,
    Command,
    RunState,
    next_state,
    parse_settings,
)
from dialer.pacing import DialMode

MINIMAL = {"name": "M2 cards", "work_lines": ["line1"]}


def bad_fields(**body: object) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_settings({**MINIMAL, **body}, client_pack="cn-bank")
    fields = caught.value.details["fields"]
    assert isinstance(fields, dict)
    return fields


def test_minimal_campaign_gets_the_safe_defaults() -> None:
    settings = parse_settings(MINIMAL, client_pack="us-regf")
    assert settings.mode is DialMode.PROGRESSIVE
    assert settings.rule_pack == "us-regf"
    assert settings.parties == {Party.DEBTOR, Party.GUARANTOR}
    assert settings.ring_timeout == timedelta(seconds=25)
    assert settings.amd_policy is AmdPolicy.HANG_UP
    assert settings.max_abandon_rate == Decimal("0.03")
    assert settings.retry_minutes[AttemptResult.BUSY] == 30
    assert CaseStatus.PAID not in settings.case_filter.statuses


def test_full_campaign() -> None:
    settings = parse_settings({
        **MINIMAL, "mode": "predictive", "rule_pack": "uk-ofcom", "queue_id": 4,
        "schedule": {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:30"},
        "case_filter": {"buckets": ["M2", "M3"], "products": ["credit_card"],
                        "balance_min": "500", "balance_max": 20000, "teams": ["east"]},
        "parties": ["debtor"], "ring_timeout_s": 30, "retry_policy": {"busy": 10},
        "amd_policy": "message", "max_abandon_rate": 0.02,
    }, client_pack="cn-bank")
    assert settings.case_filter.buckets == ("M2", "M3")
    assert settings.case_filter.balance_min == Decimal(500)
    assert settings.retry_minutes[AttemptResult.BUSY] == 10
    assert settings.retry_minutes[AttemptResult.NO_ANSWER] == 120
    assert settings.schedule.end == time(18, 30)


@pytest.mark.parametrize(("field", "value"), [
    ("ring_timeout_s", 14),
    ("ring_timeout_s", "20"),
    ("max_abandon_rate", 0.05),
    ("rule_pack", "lenient"),
    ("mode", "blast"),
    ("work_lines", []),
    ("parties", ["neighbour"]),
    ("parties", []),
    ("schedule", {"start": "21:00", "end": "08:00"}),
    ("schedule", {"days": [0]}),
    ("case_filter", {"buckets": ["M9"]}),
    ("case_filter", {"balance_min": 10, "balance_max": 5}),
    ("case_filter", {"colour": "red"}),
    ("retry_policy", {"busy": -1}),
    ("retry_policy", {"sunny": 5}),
    ("amd_policy", "guess"),
    ("queue_id", 0),
])
def test_bad_field_is_named(field: str, value: object) -> None:
    assert field in bad_fields(**{field: value})


def test_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_settings({"ring_timeout_s": 5, "mode": "x"}, client_pack="cn-bank")
    fields = caught.value.details["fields"]
    assert isinstance(fields, dict)
    assert set(fields) == {"name", "work_lines", "ring_timeout_s", "mode"}


@pytest.mark.parametrize(("state", "command"), list(TRANSITIONS))
def test_legal_moves(state: RunState, command: Command) -> None:
    assert next_state(state, command) is TRANSITIONS[(state, command)]


@pytest.mark.parametrize(("state", "command"), [
    (s, c) for s in RunState for c in Command if (s, c) not in TRANSITIONS])
def test_illegal_moves_raise(state: RunState, command: Command) -> None:
    with pytest.raises(CampaignStateError):
        next_state(state, command)


def test_stopped_and_finished_are_final() -> None:
    for final in (RunState.STOPPED, RunState.FINISHED):
        assert not any(state is final for state, _ in TRANSITIONS)


def test_schedule_is_in_the_clients_zone() -> None:
    settings = parse_settings({**MINIMAL, "schedule": {"days": [1], "start": "09:00",
                                                       "end": "18:00"}}, client_pack="cn-bank")
    shanghai = ZoneInfo("Asia/Shanghai")
    monday_9 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert settings.schedule.open_at(monday_9, shanghai)
    assert not settings.schedule.open_at(monday_9 - timedelta(seconds=1), shanghai)
    assert not settings.schedule.open_at(monday_9 + timedelta(days=1), shanghai)
