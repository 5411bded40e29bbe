"""What the compliance engine is asked and what it answers (pure values).

A `Candidate` is one (case, phone) the dialer has leased, with every fact about the
callee the rules need. Safety flags have no defaults: a fact the store forgets to
fill is a type error, not a permitted call. `ContactHistory` holds the earlier
attempts that matter (see `dialer.compliance.engine` for which ones the caller must
supply). `DialContext` says how the dialer would place the call and what the
campaign and the site can offer right now. A `Decision` is the answer, stored with
the attempt: allowed or not, every reason, the earliest time a retry could pass,
and a summary of the inputs (built when the decision is first stored or read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from cases.domain import Party
from dialer.compliance.windows import DailyWindow


class HoldReason(StrEnum):
    """Why a case is on hold (no contact at all); the values of case_holds.reason."""

    DISPUTE = "dispute"
    FRAUD = "fraud"
    DECEASED = "deceased"
    LEGAL = "legal"
    CEASE = "cease"
    BANK_REQUEST = "bank_request"


class Consent(StrEnum):
    """The callee's consent to calls on this number."""

    GIVEN = "given"  # on record: the application, the contract, or later
    UNKNOWN = "unknown"  # nothing on record either way
    REVOKED = "revoked"  # the callee withdrew it for this number


class Outcome(StrEnum):
    """How an earlier attempt ended, as far as the rules care."""

    CONVERSATION = "conversation"  # a live right party talked with an agent
    CONNECTED = "connected"  # a live person answered: not the right party, or hung up
    ABANDONED = "abandoned"  # a live person answered and no agent came within 2 s
    VOICEMAIL = "voicemail"  # a message was left on a machine
    MACHINE = "machine"  # an AMD machine verdict, hung up without a message
    UNANSWERED = "unanswered"  # rang out or was rejected
    BUSY = "busy"
    FAILED = "failed"  # network failure, unreachable: never connected


# A live person picked up (cn-bank counts these as connected calls).
LIVE_ANSWERS = frozenset({Outcome.CONVERSATION, Outcome.CONNECTED, Outcome.ABANDONED})
# Calls Regulation F counts as placed: all but those that never connected.
REGF_COUNTED = frozenset(Outcome) - {Outcome.BUSY, Outcome.FAILED}
# A machine answered: the Ofcom same-day rule applies.
MACHINE_VERDICTS = frozenset({Outcome.MACHINE, Outcome.VOICEMAIL})
# A third party was communicated with (live or by message).
COMMUNICATIONS = frozenset({Outcome.CONVERSATION, Outcome.CONNECTED, Outcome.VOICEMAIL})


class ReasonCode(StrEnum):
    """Stable codes of refusals, stored with each decision."""

    HOLD_DISPUTE = "hold.dispute"
    HOLD_FRAUD = "hold.fraud"
    HOLD_DECEASED = "hold.deceased"
    HOLD_LEGAL = "hold.legal"
    HOLD_CEASE = "hold.cease"
    HOLD_BANK_REQUEST = "hold.bank_request"
    DATA_INVALID_NUMBER = "data.invalid_number"
    DNC_NUMBER = "dnc.number"
    CEASE_REQUESTED = "cease.requested"
    CEASE_ATTORNEY = "cease.attorney"
    CONSENT_REVOKED = "consent.revoked"
    CONSENT_MISSING = "consent.missing"
    DATA_UNKNOWN_PARTY = "data.unknown_party"
    PARTY_NOT_ALLOWED = "party.not_allowed"
    THIRD_PARTY_NOT_LOST = "third_party.not_lost"
    REGF_THIRD_PARTY_ONCE = "regf.third_party_once"
    RING_TOO_SHORT = "ring.too_short"
    DATA_UNKNOWN_TIME_ZONE = "data.unknown_time_zone"
    DATA_INVALID_TIME_ZONE = "data.invalid_time_zone"
    DATA_UNKNOWN_HOLIDAYS = "data.unknown_holidays"
    WINDOW_AGREED_FORBIDDEN = "window.agreed_forbidden"
    WINDOW_HOLIDAY = "window.holiday"
    WINDOW_OUTSIDE = "window.outside"
    CAP_CONNECTED_DAILY = "cap.connected_daily"
    CAP_UNANSWERED_DAILY = "cap.unanswered_daily"
    REGF_7IN7 = "regf.7in7"
    REGF_AFTER_CONVERSATION = "regf.after_conversation"
    OFCOM_AFTER_ABANDON_72H = "ofcom.after_abandon_72h"
    OFCOM_AFTER_AMD_SAME_DAY = "ofcom.after_amd_same_day"
    ABANDON_CAP = "abandon.cap"
    RESOURCE_NO_WORK_LINE = "resource.no_work_line"
    RESOURCE_NO_RECORDING = "resource.no_recording"


class Note(StrEnum):
    """Advisories for the agent's script; they never refuse a call."""

    THIRD_PARTY_LOCATE_ONLY = "third_party.locate_only"  # locate the debtor, never reveal the debt
    VOICEMAIL_LIMITED_CONTENT = "voicemail.limited_content"  # Reg F 1006.2(j) message only


def require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    case_id: int
    debtor_id: int
    phone_id: int
    number: str  # E.164
    party: Party | None  # who owns the number; None: unknown, no call
    time_zones: tuple[str, ...]  # IANA names; several when address and number disagree
    holds: frozenset[HoldReason]  # unreleased holds on the case
    do_not_call: bool  # the number is on a do-not-call list
    cease_requested: bool  # the debtor asked (in writing) to stop contact
    attorney_represented: bool  # the debtor is known to have an attorney for the debt
    consent: Consent
    lost_contact: bool  # lost-contact determination made (for third-party calls)
    no_holiday_calls: bool  # the client forbids calls on public holidays
    holidays: frozenset[date] | None  # local public holidays; None: calendar unknown
    agreed_window: DailyWindow | None = None  # hours the debtor agreed to, if any


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One earlier call: who it was about, which number, and how it ended."""

    at: datetime  # when it was placed (aware)
    case_id: int
    debtor_id: int
    number: str
    party: Party
    campaign_id: int | None  # None: another agency or a manual call
    outcome: Outcome
    attempt_id: int | None = None

    def __post_init__(self) -> None:
        require_aware(self.at, "an attempt's time")


@dataclass(frozen=True, slots=True)
class ContactHistory:
    attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignState:
    """The campaign's calls over the pack's abandon period: abandoned ones and live
    answers that reached an agent; the rate is abandoned / (abandoned + live)."""

    abandoned: int
    live: int

    def __post_init__(self) -> None:
        if self.abandoned < 0 or self.live < 0:
            raise ValueError(f"call counts cannot be negative: {self!r}")


@dataclass(frozen=True, slots=True)
class Resources:
    work_line: bool  # a registered work line is free to place the call
    recording: bool  # the recorder can record this call from answer to hangup


@dataclass(frozen=True, slots=True, kw_only=True)
class DialContext:
    """How the dialer would place the call, and the live state it would meet."""

    campaign_id: int
    ring_timeout: timedelta
    agent_guaranteed: bool  # preview/progressive: an agent is reserved before dialing
    campaign: CampaignState
    resources: Resources


class Reason:
    """One refusal. `retry_at` is the earliest instant this reason alone could stop
    refusing; None when no time lifts it (a hold, a flag, missing data).

    A value like the frozen dataclasses around it (read-only fields, equality,
    hash, the same repr), written out by hand because building a frozen dataclass
    costs three times as much and refusals are built for most decisions."""

    __slots__ = ("_code", "_detail", "_retry_at")

    def __init__(self, code: ReasonCode, detail: str, retry_at: datetime | None) -> None:
        self._code = code
        self._detail = detail
        self._retry_at = retry_at

    @property
    def code(self) -> ReasonCode:
        return self._code

    @property
    def detail(self) -> str:
        return self._detail

    @property
    def retry_at(self) -> datetime | None:
        return self._retry_at

    def _fields(self) -> tuple[ReasonCode, str, datetime | None]:
        return self._code, self._detail, self._retry_at

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Reason):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return f"Reason(code={self._code!r}, detail={self._detail!r}, retry_at={self._retry_at!r})"

    def as_json(self) -> dict[str, object]:
        retry = self._retry_at
        return {
            "code": str(self._code),
            "detail": self._detail,
            "retry_at": None if retry is None else iso(retry),
        }


class Inputs(Protocol):
    """What a decision's inputs summary is built from when it is first read."""

    def summary(self) -> dict[str, object]: ...


class Decision:
    """`next_permitted_at`: `checked_at` when allowed; otherwise the earliest instant
    at which the time-dependent rules pass with the same inputs, or None when a
    reason has no such time.

    `inputs`, the summary of the inputs stored with the decision, is built when it
    is first read (by `as_json`, when the dialer stores the decision) from the
    context the engine passes, and kept: every read returns the same dict. Callers
    may pass the dict itself instead. A value like the frozen
    dataclasses around it (read-only fields, equality over every field, the same
    repr, unhashable because `inputs` is a dict), written out by hand because a
    frozen dataclass of eight fields costs three times as much to build and one is
    built per decision."""

    __slots__ = ("_allowed", "_checked_at", "_inputs", "_next_permitted_at", "_notes", "_pack",
                 "_pack_version", "_reasons")  # fmt: skip

    def __init__(
        self,
        allowed: bool,
        pack: str,
        pack_version: str,
        reasons: tuple[Reason, ...],
        notes: tuple[Note, ...],
        next_permitted_at: datetime | None,
        checked_at: datetime,
        inputs: dict[str, object] | Inputs,
    ) -> None:
        self._allowed = allowed
        self._pack = pack
        self._pack_version = pack_version
        self._reasons = reasons
        self._notes = notes
        self._next_permitted_at = next_permitted_at
        self._checked_at = checked_at
        self._inputs = inputs

    @property
    def allowed(self) -> bool:
        return self._allowed

    @property
    def pack(self) -> str:
        return self._pack

    @property
    def pack_version(self) -> str:
        return self._pack_version

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return self._reasons

    @property
    def notes(self) -> tuple[Note, ...]:
        return self._notes

    @property
    def next_permitted_at(self) -> datetime | None:
        return self._next_permitted_at

    @property
    def checked_at(self) -> datetime:
        return self._checked_at

    @property
    def inputs(self) -> dict[str, object]:
        inputs = self._inputs
        if not isinstance(inputs, dict):
            inputs = self._inputs = inputs.summary()
        return inputs

    @property
    def codes(self) -> tuple[ReasonCode, ...]:
        return tuple(reason.code for reason in self._reasons)

    def _fields(self) -> tuple[object, ...]:
        return (
            self._allowed,
            self._pack,
            self._pack_version,
            self._reasons,
            self._notes,
            self._next_permitted_at,
            self._checked_at,
            self.inputs,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decision):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # inputs is a dict, as before

    def __repr__(self) -> str:
        return (
            f"Decision(allowed={self._allowed!r}, pack={self._pack!r},"
            f" pack_version={self._pack_version!r}, reasons={self._reasons!r},"
            f" notes={self._notes!r}, next_permitted_at={self._next_permitted_at!r},"
            f" checked_at={self._checked_at!r}, inputs={self.inputs!r})"
        )

    def as_json(self) -> dict[str, object]:
        permitted = self._next_permitted_at
        return {
            "allowed": self._allowed,
            "pack": self._pack,
            "pack_version": self._pack_version,
            "reasons": [reason.as_json() for reason in self._reasons],
            "notes": [str(note) for note in self._notes],
            "next_permitted_at": None if permitted is None else iso(permitted),
            "checked_at": iso(self._checked_at),
            "inputs": self.inputs,
        }


_LAST_ISO: tuple[datetime | None, str] = (None, "")


def iso(at: datetime) -> str:
    """`at.isoformat()`, remembered for the last instant object formatted: a
    decision names its `now` up to three times (checked, permitted, inputs) and a
    dialer's tick checks every candidate at the same `now`. By identity, not
    equality: equal instants in other zones are written differently."""
    global _LAST_ISO
    last = _LAST_ISO
    if last[0] is at:
        return last[1]
    text = at.isoformat()
    _LAST_ISO = (at, text)
    return text
