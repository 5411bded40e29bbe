"""What filing an action code does to a case: a pure function of the code, the
fields the agent entered, the case and the clock.

Rules:
- the code's required fields must all be present and well-formed
  (`amount` > 0 with at most 2 decimals, `due_date` not in the past in the
  debtor's zone and at most 90 days ahead, `callback_at` in the future,
  `statement` and `note` non-empty, `approval_id` the number of a request);
- a case on hold or in legal review keeps that status: only the bank's
  resolution lifts a hold, so a later contact code cannot clear it;
- a closed or paid case accepts no more actions;
- the next action time comes from the code: a fixed retry delay, the agreed
  callback time, or for a promise the first call of its schedule
  (`cases.promise_rules.first_call_after_promise`): a reminder at 10:00
  debtor-local on the day before it falls due when that is 2 or more days
  ahead, else the follow-up at 10:00 on the day after it falls due;
  a code that places a hold clears it (the dialer never calls a held case);
- a wrong number invalidates that phone; when no debtor or guarantor number
  is left, the case is lost-contact and a field visit is requested.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from cases.domain import ActionCode, CaseStatus
from cases.errors import Conflict, InvalidInput
from cases.promise_rules import CALL_TIME, first_call_after_promise

KNOWN_FIELDS = ("amount", "due_date", "callback_at", "statement", "note", "approval_id")
MAX_PROMISE_DAYS = 90
_AMOUNT = re.compile(r"^\d{1,16}(\.\d{1,2})?$")
_STICKY = frozenset({CaseStatus.ON_HOLD, CaseStatus.LEGAL})
_FINAL = frozenset({CaseStatus.PAID, CaseStatus.CLOSED})
PROMISE_CHECK_TIME = CALL_TIME


@dataclass(frozen=True, slots=True)
class ActionFields:
    amount: Decimal | None = None
    due_date: date | None = None
    callback_at: datetime | None = None
    statement: str | None = None
    note: str | None = None
    approval_id: int | None = None

    def as_json(self) -> dict[str, str]:
        return {name: _json_value(getattr(self, name)) for name in KNOWN_FIELDS
                if getattr(self, name) is not None}


@dataclass(frozen=True, slots=True)
class CaseEffect:
    status: CaseStatus
    next_action_at: datetime | None
    hold_reason: str | None
    promise: tuple[Decimal, date] | None
    invalidate_phone: bool
    field_visit_reason: str | None
    notify_client: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "status": str(self.status),
            "next_action_at": _json_value(self.next_action_at),
            "hold_reason": self.hold_reason,
            "promise": None if self.promise is None
            else {"amount": str(self.promise[0]), "due_date": self.promise[1].isoformat()},
            "invalidate_phone": self.invalidate_phone,
            "field_visit_reason": self.field_visit_reason,
            "notify_client": self.notify_client,
        }


def _json_value(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value) if value is not None else ""


def parse_fields(raw: dict[str, object], *, now: datetime, zone: ZoneInfo) -> ActionFields:
    """Check the fields an agent sent; every problem is reported at once."""
    unknown = sorted(set(raw) - set(KNOWN_FIELDS))
    problems: dict[str, str] = {name: "unknown field" for name in unknown}
    values: dict[str, object] = {}
    for name in KNOWN_FIELDS:
        if raw.get(name) in (None, ""):
            continue
        try:
            values[name] = _PARSERS[name](raw[name], now, zone)
        except ValueError as exc:
            problems[name] = str(exc)
    if problems:
        raise InvalidInput("action.invalid_fields", "some fields are invalid", problems)
    return ActionFields(**values)  # type: ignore[arg-type]


def _parse_amount(value: object, now: datetime, zone: ZoneInfo) -> Decimal:
    text = str(value).replace(",", "").strip()
    if not _AMOUNT.match(text):
        raise ValueError("must be a positive amount with at most 2 decimals, like 1500.00")
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern rules it out
        raise ValueError("not a number") from exc
    if amount <= 0:
        raise ValueError("must be more than 0")
    return amount


def _parse_due_date(value: object, now: datetime, zone: ZoneInfo) -> date:
    try:
        due = date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError("must be a date like 2026-12-31") from exc
    today = now.astimezone(zone).date()
    if due < today:
        raise ValueError("is in the past")
    if due > today + timedelta(days=MAX_PROMISE_DAYS):
        raise ValueError(f"is more than {MAX_PROMISE_DAYS} days ahead")
    return due


def _parse_callback_at(value: object, now: datetime, zone: ZoneInfo) -> datetime:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError("must be a time like 2026-12-01T10:30:00+08:00") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    if when <= now:
        raise ValueError("is in the past")
    return when


def _parse_text(value: object, now: datetime, zone: ZoneInfo) -> str:
    text = str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    if len(text) > 4000:
        raise ValueError("is longer than 4000 characters")
    return text


def _parse_approval_id(value: object, now: datetime, zone: ZoneInfo) -> int:
    text = str(value).strip()
    if not text.isdigit() or int(text) <= 0:
        raise ValueError("must be the number of an approved request, like 42")
    return int(text)


_PARSERS = {
    "amount": _parse_amount,
    "due_date": _parse_due_date,
    "callback_at": _parse_callback_at,
    "statement": _parse_text,
    "note": _parse_text,
    "approval_id": _parse_approval_id,
}


def plan_effect(
    code: ActionCode,
    fields: ActionFields,
    *,
    status: CaseStatus,
    now: datetime,
    zone: ZoneInfo,
    other_reachable_phones: int,
) -> CaseEffect:
    """The effect of filing `code` on a case now in `status`.

    `other_reachable_phones` counts the debtor and guarantor numbers of the case,
    other than the one this action is about, that are not known to be invalid.
    """
    if status in _FINAL:
        raise Conflict("action.case_closed", f"the case is {status}: no more actions")
    missing = [name for name in code.required_fields if getattr(fields, name, None) is None]
    if missing:
        raise InvalidInput(
            "action.missing_fields",
            f"{code.code} needs: {', '.join(missing)}",
            {name: "required" for name in missing},
        )
    lost = code.invalidates_phone and other_reachable_phones == 0
    field_visit = "lost contact: field visit requested by agent" if code.field_visit else None
    if lost:
        field_visit = "lost contact: every debtor and guarantor number is invalid"
    return CaseEffect(
        status=_next_status(code, status, lost),
        next_action_at=_next_action(code, fields, now, zone),
        hold_reason=code.hold_reason,
        promise=(fields.amount, fields.due_date)
        if code.creates_promise and fields.amount and fields.due_date else None,
        invalidate_phone=code.invalidates_phone,
        field_visit_reason=field_visit,
        notify_client=code.notify_client,
    )


def _next_status(code: ActionCode, status: CaseStatus, lost: bool) -> CaseStatus:
    if code.hold_reason is not None and code.status_after is not None:
        return code.status_after
    if status in _STICKY:
        return status
    if lost:
        return CaseStatus.LOST_CONTACT
    return code.status_after or (CaseStatus.IN_PROGRESS if code.connected else status)


def _next_action(
    code: ActionCode, fields: ActionFields, now: datetime, zone: ZoneInfo
) -> datetime | None:
    if code.hold_reason is not None:
        return None
    if fields.callback_at is not None and "callback_at" in code.required_fields:
        return fields.callback_at
    if code.creates_promise and fields.due_date is not None:
        return first_call_after_promise(fields.due_date, now, zone)
    if code.retry_after_hours is not None:
        return now + timedelta(hours=code.retry_after_hours)
    return None
