"""Domain values of the system of record: clients, staff, cases, phones, actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CAMPAIGN_MANAGER = "campaign_manager"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    QA = "qa"
    CLIENT_AUDITOR = "client_auditor"


class CaseStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    PROMISED = "promised"
    ON_HOLD = "on_hold"
    LOST_CONTACT = "lost_contact"
    LEGAL = "legal"
    PAID = "paid"
    CLOSED = "closed"


class Party(StrEnum):
    DEBTOR = "debtor"
    GUARANTOR = "guarantor"
    RELATIVE = "relative"
    EMPLOYER = "employer"
    OTHER = "other"


class PhoneValidity(StrEnum):
    UNKNOWN = "unknown"
    VALID = "valid"
    INVALID = "invalid"


class NationalId:
    """A national ID number that shows only its last 4 characters when printed.

    `str()`, `repr()` and f-strings give the masked form, so an ID cannot reach a
    log line or a response by accident; `reveal()` is the one explicit way out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def masked(self) -> str:
        return mask(self._value)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"NationalId({self.masked!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NationalId) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def mask(value: str, visible: int = 4) -> str:
    """`****1234`: the last `visible` characters of `value`, the rest starred."""
    if len(value) <= visible:
        return "*" * len(value)
    return "*" * (len(value) - visible) + value[-visible:]


@dataclass(frozen=True, slots=True)
class Client:
    id: int
    code: str
    name: str
    time_zone: str
    default_region: str
    rule_pack: str
    retention_years: int


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    client_id: int | None
    team: str | None
    pii_clearance: bool
    active: bool


@dataclass(frozen=True, slots=True)
class Phone:
    id: int
    case_id: int
    e164: str
    party: Party
    kind: str
    name: str | None
    relation: str | None
    validity: PhoneValidity


@dataclass(frozen=True, slots=True)
class CaseSummary:
    id: int
    client_id: int
    account_no: str
    debtor_name: str
    product: str
    currency: str
    balance: Decimal
    days_past_due: int
    bucket: str
    status: CaseStatus
    assigned_agent_id: int | None
    next_action_at: datetime | None
    on_hold: bool


@dataclass(frozen=True, slots=True)
class Hold:
    id: int
    reason: str
    placed_at: datetime
    note: str | None


@dataclass(frozen=True, slots=True)
class Promise:
    id: int
    amount: Decimal
    due_date: date
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CaseDetail:
    summary: CaseSummary
    debtor_id: int
    debtor_id_no: NationalId
    account_type: str
    principal: Decimal | None
    last_payment_date: date | None
    last_payment_amount: Decimal | None
    address: str | None
    city: str | None
    time_zone: str | None
    employer: str | None
    note: str | None
    priority: int
    holds: tuple[Hold, ...]
    promises: tuple[Promise, ...]


@dataclass(frozen=True, slots=True)
class ActionCode:
    """One entry of the action-code catalogue and the effect it has on a case."""

    code: str
    category: str
    label_en: str
    label_zh: str
    connected: bool
    right_party: bool
    required_fields: tuple[str, ...]
    status_after: CaseStatus | None
    retry_after_hours: int | None
    hold_reason: str | None
    creates_promise: bool
    invalidates_phone: bool
    field_visit: bool
    notify_client: str | None
    needs_approval: str | None = None  # kind of approved request filing it needs, if any


@dataclass(frozen=True, slots=True)
class Action:
    id: int
    case_id: int
    code: str
    user_id: int | None
    phone_id: int | None
    note: str | None
    fields: dict[str, str]
    effect: dict[str, object]
    created_at: datetime
