"""The bank's reserved decisions as pure rules: what an approval request must say,
the life of a request, and whether an approval lets an action code be filed.

Terms per kind (a term not of the kind is refused): ``fee_waiver`` and
``interest_waiver``: ``waived_amount`` (at most the balance); ``settlement``:
``settle_amount`` (below the balance) and ``due_date``, the day it is paid by at the
latest; ``restructuring``: ``instalments`` (2 to 36), ``instalment_amount`` (at most the
balance) and ``due_date``, the first instalment's; ``collateral``, ``litigation``:
``description`` and an optional ``amount``. Every request gives a ``reason``. Amounts
are more than 0 with at most 2 decimals; a ``due_date`` lies between the debtor's today
and 90 days ahead (a promise can be filed for it). Every problem is reported at once
(`InvalidInput` ``approval.invalid``, one detail per field).

States (:data:`TRANSITIONS`; anything else raises `ApprovalStateError`, a 409):
``requested`` waits for the bank, which approves or rejects it; the requester or a
supervisor may withdraw it; undecided, it expires `DECISION_DAYS` after it was filed.
``approved`` is the bank's written authorization, valid `VALID_DAYS` from the
decision: one action uses it, or it expires. ``rejected``, ``withdrawn``, ``used`` and
``expired`` are final. An open request past its ``expires_at`` counts as expired at
once (`effective_status`), before the periodic job writes it down.

Using an approval (`check_use`): a code whose ``needs_approval`` names a kind is filed
only with the ``approval_id`` of a request of the same case and kind, approved, not
expired, not used, whose terms the action keeps: a settlement's promise is the settled
amount, due no later than approved; an instalment plan's promise is the first
instalment, its amount and day; any other kind's amount, when the action gives one, is
the approved one. A code that needs no approval takes no ``approval_id``. Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from cases.domain import ActionCode
from cases.effects import MAX_PROMISE_DAYS, ActionFields
from cases.errors import Conflict, Forbidden, InvalidInput

DECISION_DAYS = 30
VALID_DAYS = 30
MAX_TEXT = 4000
_AMOUNT = re.compile(r"^\d{1,16}(\.\d{1,2})?$")


class ApprovalKind(StrEnum):
    FEE_WAIVER = "fee_waiver"
    INTEREST_WAIVER = "interest_waiver"
    SETTLEMENT = "settlement"
    RESTRUCTURING = "restructuring"
    COLLATERAL = "collateral"
    LITIGATION = "litigation"


class ApprovalStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    USED = "used"
    EXPIRED = "expired"


K = ApprovalKind
TERM_FIELDS = ("waived_amount", "settle_amount", "instalments", "instalment_amount",
               "due_date", "description", "amount")
REQUIRED: dict[ApprovalKind, tuple[str, ...]] = {
    K.FEE_WAIVER: ("waived_amount",), K.INTEREST_WAIVER: ("waived_amount",),
    K.SETTLEMENT: ("settle_amount", "due_date"),
    K.RESTRUCTURING: ("instalments", "instalment_amount", "due_date"),
    K.COLLATERAL: ("description",), K.LITIGATION: ("description",),
}
OPTIONAL: dict[ApprovalKind, tuple[str, ...]] = {K.COLLATERAL: ("amount",),
                                                 K.LITIGATION: ("amount",)}


@dataclass(frozen=True, slots=True)
class Terms:
    """What the bank is asked to authorize; only the kind's own terms are set."""

    kind: ApprovalKind
    waived_amount: Decimal | None = None
    settle_amount: Decimal | None = None
    instalments: int | None = None
    instalment_amount: Decimal | None = None
    due_date: date | None = None
    description: str | None = None
    amount: Decimal | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": str(self.kind)}
        for name in TERM_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value if isinstance(value, int | str) else str(value)
        return out


@dataclass(frozen=True, slots=True)
class NewRequest:
    terms: Terms
    reason: str


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One request as stored; `expires_at` is the decision deadline, then the approval's."""

    id: int
    case_id: int
    client_id: int
    terms: Terms
    balance: Decimal
    reason: str
    status: ApprovalStatus
    requested_by: int
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None
    decision_note: str | None
    withdrawn_by: int | None
    withdrawn_at: datetime | None
    expires_at: datetime
    used_by_action_id: int | None
    used_at: datetime | None


def parse_request(raw: Mapping[str, object], *, balance: Decimal, today: date) -> NewRequest:
    """The request a body describes, for a case of `balance` on the debtor's `today`."""
    problems: dict[str, str] = {}
    reason = _field(problems, "reason", raw.get("reason"), _parse_text)
    kind_raw = raw.get("kind")
    if not isinstance(kind_raw, str) or kind_raw not in set(ApprovalKind):  # {}: unhashable
        problems["kind"] = "must be one of " + ", ".join(ApprovalKind)
        raise InvalidInput("approval.invalid", "the request is invalid", problems)
    kind = ApprovalKind(str(kind_raw))
    values = _terms(problems, kind, raw, today)
    problems.update(_balance_problems(values, balance))
    if problems or reason is None:
        raise InvalidInput("approval.invalid", "the request is invalid", problems)
    return NewRequest(Terms(kind, **values), reason)  # type: ignore[arg-type]


def _terms(problems: dict[str, str], kind: ApprovalKind, raw: Mapping[str, object],
           today: date) -> dict[str, object]:
    allowed = REQUIRED[kind] + OPTIONAL.get(kind, ())
    for name in sorted(set(raw) - {"kind", "reason", *TERM_FIELDS}):
        problems[name] = "unknown field"
    values: dict[str, object] = {}
    for name in TERM_FIELDS:
        given = raw.get(name) not in (None, "")
        if given and name not in allowed:
            problems[name] = f"not a term of a {kind} request"
        elif not given and name in REQUIRED[kind]:
            problems[name] = "required"
        elif given:
            value = _field(problems, name, raw[name], _PARSERS[name], today)
            if value is not None:
                values[name] = value
    return values


def _field(problems: dict[str, str], name: str, value: object,
           parse: Callable[..., object], *args: object) -> object:
    try:
        return parse(value, *args)
    except ValueError as exc:
        problems[name] = str(exc)
        return None


def _balance_problems(values: Mapping[str, object], balance: Decimal) -> dict[str, str]:
    problems: dict[str, str] = {}
    settle = values.get("settle_amount")
    if isinstance(settle, Decimal) and settle >= balance:
        problems["settle_amount"] = f"must be below the balance of {balance}"
    for name in ("waived_amount", "instalment_amount"):
        amount = values.get(name)
        if isinstance(amount, Decimal) and amount > balance:
            problems[name] = f"must not exceed the balance of {balance}"
    return problems


def _parse_amount(value: object, today: date | None = None) -> Decimal:
    text = "" if isinstance(value, bool) else str(value).replace(",", "").strip()
    if not _AMOUNT.match(text):
        raise ValueError("must be a positive amount with at most 2 decimals, like 1500.00")
    amount = Decimal(text)
    if amount <= 0:
        raise ValueError("must be more than 0")
    return amount


def _parse_instalments(value: object, today: date | None = None) -> int:
    text = "" if isinstance(value, bool) else str(value).strip()
    if not text.isdigit() or not 2 <= int(text) <= 36:
        raise ValueError("must be a whole number from 2 to 36")
    return int(text)


def _parse_due_date(value: object, today: date) -> date:
    try:
        due = date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValueError("must be a date like 2026-12-31") from exc
    if due < today:
        raise ValueError("is in the past")
    if due > today + timedelta(days=MAX_PROMISE_DAYS):
        raise ValueError(f"is more than {MAX_PROMISE_DAYS} days ahead")
    return due


def _parse_text(value: object, today: date | None = None) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError("required")
    if len(text) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT} characters")
    return text


_PARSERS: dict[str, Callable[..., object]] = {
    "waived_amount": _parse_amount, "settle_amount": _parse_amount,
    "instalments": _parse_instalments, "instalment_amount": _parse_amount,
    "due_date": _parse_due_date, "description": _parse_text, "amount": _parse_amount,
}


# The life of a request.


@dataclass(frozen=True, slots=True)
class Approve:
    note: str | None = None  # the bank's comment, if any


@dataclass(frozen=True, slots=True)
class Reject:
    note: str  # why the bank refuses


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The requester (or a supervisor) takes back an undecided request."""


@dataclass(frozen=True, slots=True)
class Use:
    action_id: int  # the action filed under the approval


@dataclass(frozen=True, slots=True)
class Expire:
    """The decision deadline or the approval's validity ran out."""


ApprovalEvent = Approve | Reject | Withdraw | Use | Expire
APPROVAL_EVENTS = (Approve, Reject, Withdraw, Use, Expire)
_VERB = {Approve: "approved", Reject: "rejected", Withdraw: "withdrawn", Use: "used",
         Expire: "expired"}

S = ApprovalStatus
TRANSITIONS: dict[tuple[ApprovalStatus, type[ApprovalEvent]], ApprovalStatus] = {
    (S.REQUESTED, Approve): S.APPROVED,
    (S.REQUESTED, Reject): S.REJECTED,
    (S.REQUESTED, Withdraw): S.WITHDRAWN,
    (S.REQUESTED, Expire): S.EXPIRED,
    (S.APPROVED, Use): S.USED,
    (S.APPROVED, Expire): S.EXPIRED,
}
OPEN = frozenset({S.REQUESTED, S.APPROVED})


class ApprovalStateError(Conflict):
    """The request's status does not allow that step (decided twice, used twice...)."""


def step(status: ApprovalStatus, event: ApprovalEvent) -> ApprovalStatus:
    """The status after `event`; raises `ApprovalStateError` when the table has none."""
    found = TRANSITIONS.get((status, type(event)))
    if found is None:
        verb = _VERB[type(event)]
        article = "an" if status in (S.APPROVED, S.EXPIRED) else "a"
        raise ApprovalStateError(
            "approval.state", f"{article} {status} request cannot be {verb}",
            {"status": str(status), "step": verb},
        )
    return found


def parse_decision(raw: Mapping[str, object]) -> Approve | Reject:
    """The bank's decision: ``approve`` (a note optional) or ``reject`` (a note required)."""
    problems: dict[str, str] = {}
    decision = raw.get("decision")
    if decision not in ("approve", "reject"):
        problems["decision"] = "must be approve or reject"
    note = raw.get("note")
    needed = note not in (None, "") or decision == "reject"
    text = _field(problems, "note", note, _parse_text) if needed else None
    for name in sorted(set(raw) - {"decision", "note"}):
        problems[name] = "unknown field"
    if problems:
        raise InvalidInput("approval.invalid_decision", "the decision is invalid", problems)
    return Approve(str(text) if text else None) if decision == "approve" else Reject(str(text))


def decision_deadline(requested_at: datetime) -> datetime:
    return requested_at + timedelta(days=DECISION_DAYS)


def valid_until(approved_at: datetime) -> datetime:
    return approved_at + timedelta(days=VALID_DAYS)


def effective_status(request: ApprovalRequest, now: datetime) -> ApprovalStatus:
    """The status, with an open request past its `expires_at` counted as expired."""
    if request.status in OPEN and now >= request.expires_at:
        return S.EXPIRED
    return request.status


# Using an approval.


def check_use(request: ApprovalRequest | None, *, case_id: int, code: ActionCode,
              fields: ActionFields, now: datetime) -> None:
    """Whether filing `code` with `fields` on case `case_id` now may use `request`
    (the one `fields.approval_id` names, None when there is none); raises if not."""
    kind = code.needs_approval
    if kind is None:
        if fields.approval_id is not None:
            raise InvalidInput("approval.not_needed",
                               f"{code.code} needs no approval: leave approval_id out")
        return
    if fields.approval_id is None:
        raise Forbidden("approval.required",
                        f"{code.code} needs the bank's approved {kind} request: give its"
                        " approval_id", {"approval_id": "required"})
    if request is None or request.case_id != case_id:
        raise Forbidden("approval.not_on_case",
                        f"there is no approval request {fields.approval_id} on this case")
    if request.terms.kind != kind:
        raise Forbidden("approval.kind", f"request {request.id} is a {request.terms.kind}"
                        f" request; {code.code} needs a {kind} request",
                        {"kind": str(request.terms.kind), "needed": kind})
    _check_usable(request, now)
    problems = _TERM_CHECKS[request.terms.kind](request.terms, fields)
    if problems:
        raise Conflict("approval.terms", "the action differs from the terms the bank"
                       " approved", problems)


def _check_usable(request: ApprovalRequest, now: datetime) -> None:
    status = effective_status(request, now)
    if status is S.EXPIRED:
        raise Conflict("approval.expired", f"approval {request.id} has expired",
                       {"expires_at": request.expires_at.isoformat()})
    if status is S.USED:
        raise Conflict("approval.used", f"approval {request.id} was used already",
                       {"action_id": request.used_by_action_id})
    if status is not S.APPROVED:
        raise Forbidden("approval.not_approved",
                        f"request {request.id} is {status}, not approved by the bank",
                        {"status": str(status)})


def _settlement_terms(terms: Terms, fields: ActionFields) -> dict[str, str]:
    problems = _same_amount(fields.amount, terms.settle_amount, "the settled amount")
    if fields.due_date is not None and terms.due_date and fields.due_date > terms.due_date:
        problems["due_date"] = f"the bank approved payment by {terms.due_date} at the latest"
    return problems


def _restructuring_terms(terms: Terms, fields: ActionFields) -> dict[str, str]:
    problems = _same_amount(fields.amount, terms.instalment_amount, "the first instalment")
    if fields.due_date is not None and fields.due_date != terms.due_date:
        problems["due_date"] = f"the first instalment falls due on {terms.due_date}"
    return problems


def _same_amount(given: Decimal | None, approved: Decimal | None,
                 what: str) -> dict[str, str]:
    if given is None or approved is None or given == approved:
        return {}
    return {"amount": f"{what} the bank approved is {approved}"}


_TERM_CHECKS: dict[ApprovalKind, Callable[[Terms, ActionFields], dict[str, str]]] = {
    K.SETTLEMENT: _settlement_terms,
    K.RESTRUCTURING: _restructuring_terms,
    K.FEE_WAIVER: lambda t, f: _same_amount(f.amount, t.waived_amount, "the waiver"),
    K.INTEREST_WAIVER: lambda t, f: _same_amount(f.amount, t.waived_amount, "the waiver"),
    K.COLLATERAL: lambda t, f: _same_amount(f.amount, t.amount, "the amount"),
    K.LITIGATION: lambda t, f: _same_amount(f.amount, t.amount, "the amount"),
}
