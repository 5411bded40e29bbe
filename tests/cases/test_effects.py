"""The effect of every seeded action code, as a pure function."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cases.domain import ActionCode, CaseStatus
from cases.effects import ActionFields, CaseEffect, parse_fields, plan_effect
from cases.errors import Conflict, InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai


def code(name: str, **over: object) -> ActionCode:
    base: dict[str, object] = dict(
        code=name, category="contact", label_en=name, label_zh=name, connected=True,
        right_party=True, required_fields=(), status_after=None, retry_after_hours=None,
        hold_reason=None, creates_promise=False, invalidates_phone=False, field_visit=False,
        notify_client=None,
    )
    base.update(over)
    return ActionCode(**base)  # type: ignore[arg-type]


PTP = code("PTP", required_fields=("amount", "due_date"), status_after=CaseStatus.PROMISED,
           creates_promise=True)
DSP = code("DSP", category="dispute", required_fields=("statement",),
           status_after=CaseStatus.ON_HOLD, hold_reason="dispute", notify_client="dispute")
NA = code("NA", category="no_contact", connected=False, right_party=False,
          retry_after_hours=4)
WN = code("WN", category="no_contact", right_party=False, invalidates_phone=True,
          retry_after_hours=0)


NO_FIELDS = ActionFields()


def plan(c: ActionCode, fields: ActionFields = NO_FIELDS,
         status: CaseStatus = CaseStatus.OPEN, others: int = 1) -> CaseEffect:
    return plan_effect(c, fields, status=status, now=NOW, zone=SHANGHAI,
                       other_reachable_phones=others)


def test_promise_due_in_days_sets_a_reminder_the_day_before() -> None:
    effect = plan(PTP, ActionFields(amount=Decimal("1500.00"), due_date=date(2026, 12, 5)))
    assert effect.status is CaseStatus.PROMISED
    assert effect.promise == (Decimal("1500.00"), date(2026, 12, 5))
    assert effect.next_action_at == datetime(2026, 12, 4, 10, 0, tzinfo=SHANGHAI)


@pytest.mark.parametrize("due", [date(2026, 11, 29), date(2026, 11, 30)])
def test_promise_due_today_or_tomorrow_checks_the_day_after_due(due: date) -> None:
    effect = plan(PTP, ActionFields(amount=Decimal("1500.00"), due_date=due))
    assert effect.next_action_at == datetime.combine(
        due + timedelta(days=1), time(10, 0), tzinfo=SHANGHAI)


def test_promise_without_amount_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        plan(PTP, ActionFields(due_date=date(2026, 12, 5)))
    assert caught.value.details == {"amount": "required"}


def test_dispute_holds_and_sticks() -> None:
    effect = plan(DSP, ActionFields(statement="I never had this card"))
    assert (effect.status, effect.hold_reason, effect.next_action_at) == (
        CaseStatus.ON_HOLD, "dispute", None)
    assert effect.notify_client == "dispute"
    later = plan(NA, status=CaseStatus.ON_HOLD)
    assert later.status is CaseStatus.ON_HOLD


def test_no_answer_keeps_status_and_retries() -> None:
    effect = plan(NA, status=CaseStatus.IN_PROGRESS)
    assert effect.status is CaseStatus.IN_PROGRESS
    assert effect.next_action_at == NOW + timedelta(hours=4)


def test_wrong_number_on_last_number_means_lost_contact() -> None:
    assert plan(WN, others=2).status is CaseStatus.IN_PROGRESS
    lost = plan(WN, others=0)
    assert lost.status is CaseStatus.LOST_CONTACT
    assert lost.field_visit_reason is not None
    assert lost.invalidate_phone


@pytest.mark.parametrize("status", [CaseStatus.PAID, CaseStatus.CLOSED])
def test_closed_cases_take_no_actions(status: CaseStatus) -> None:
    with pytest.raises(Conflict):
        plan(NA, status=status)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1e3"}, "amount"),
        ({"due_date": "2026-11-28"}, "due_date"),  # yesterday in Shanghai
        ({"due_date": "2027-06-01"}, "due_date"),  # beyond 90 days
        ({"due_date": "tomorrow"}, "due_date"),
        ({"callback_at": "2026-11-29T10:00:00+08:00"}, "callback_at"),  # an hour ago
        ({"statement": "   "}, "statement"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_fields_are_named(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_fields(raw, now=NOW, zone=SHANGHAI)
    assert field in caught.value.details


def test_good_fields() -> None:
    fields = parse_fields(
        {"amount": "1,234.50", "due_date": "2026-11-29", "callback_at": "2026-11-30T09:30:00",
         "note": " ok "}, now=NOW, zone=SHANGHAI,
    )
    assert fields.amount == Decimal("1234.50")
    assert fields.due_date == date(2026, 11, 29)
    assert fields.callback_at == datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)
    assert fields.note == "ok"
