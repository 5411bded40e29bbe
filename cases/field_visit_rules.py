"""Field visits: the state machine, what a request must carry, who may act (pure).

A visit is requested when a case is lost-contact, then moves as this table says
(any other move raises :class:`IllegalTransition`):

    requested --plan-->     planned     a date, an address, two collectors
    planned   --plan-->     planned     re-planned before the visit
    planned   --result-->   visited     what the collectors found, and when
    visited   --result-->   visited     corrected before closing
    planned   --evidence--> planned     files taken on the visit
    visited   --evidence--> visited
    visited   --close-->    closed      final; only with its evidence
    requested --cancel-->   cancelled   final; a supervisor's decision, with a reason
    planned   --cancel-->   cancelled

"Its evidence", the rule for closing: at least one **photo** (proof the collectors
were at the address) and at least one **recording** or one signed **report** (what
was said: a recording, or the report signed on site where the debtor refused to
be recorded). A result is always there once visited.

Collectors: exactly two distinct active users, agents or supervisors; only they
record the result and attach evidence. Supervisors and admins plan and cancel;
collectors, supervisors and admins close. An agent sees only the visits they are
collectors of; a client's auditor only its client's; out of scope is not found.

Evidence files: the declared content type must be on the allow-list and fit the
kind (a photo is a JPEG or PNG; a recording WAV or MP3; a report a PDF, or a photo
of the signed paper), the first bytes must be of that type, the size at most the
limit; the file name is kept for people (directories stripped), never used as a
path.

QA sample: each month, per client, ``ceil(30% x closed visits)`` of the visits
closed that month (the client's calendar month), drawn at random: each visit's
rank is the SHA-256 of the seed, month, client and visit, lowest first, so a draw
is reproducible, and drawing again adds only what a larger month now needs
(never removes a pick, never re-draws).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from cases.access import scope_for
from cases.domain import Role, User
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound


class VisitStatus(StrEnum):
    REQUESTED = "requested"
    PLANNED = "planned"
    VISITED = "visited"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class VisitResult(StrEnum):
    MET_DEBTOR = "met_debtor"
    NOT_HOME = "not_home"
    MOVED = "moved"
    ADDRESS_INVALID = "address_invalid"
    REFUSED = "refused"
    PROMISE = "promise"
    OTHER = "other"


class EvidenceKind(StrEnum):
    PHOTO = "photo"
    RECORDING = "recording"
    REPORT = "report"


OPEN = frozenset({VisitStatus.REQUESTED, VisitStatus.PLANNED, VisitStatus.VISITED})
PLANNERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
COLLECTOR_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})
MAX_PLAN_DAYS = 60


@dataclass(frozen=True, slots=True)
class Plan:
    planned_for: date
    address: str | None  # None: the debtor's address on file
    collectors: tuple[int, int]


@dataclass(frozen=True, slots=True)
class RecordResult:
    result: VisitResult
    notes: str | None
    visited_at: datetime


@dataclass(frozen=True, slots=True)
class AttachEvidence:
    kind: EvidenceKind


@dataclass(frozen=True, slots=True)
class Close:
    evidence: frozenset[EvidenceKind]  # the kinds the visit has


@dataclass(frozen=True, slots=True)
class Cancel:
    reason: str


Event = Plan | RecordResult | AttachEvidence | Close | Cancel

TRANSITIONS: dict[tuple[VisitStatus, type[Event]], VisitStatus] = {
    (VisitStatus.REQUESTED, Plan): VisitStatus.PLANNED,
    (VisitStatus.PLANNED, Plan): VisitStatus.PLANNED,
    (VisitStatus.PLANNED, RecordResult): VisitStatus.VISITED,
    (VisitStatus.VISITED, RecordResult): VisitStatus.VISITED,
    (VisitStatus.PLANNED, AttachEvidence): VisitStatus.PLANNED,
    (VisitStatus.VISITED, AttachEvidence): VisitStatus.VISITED,
    (VisitStatus.VISITED, Close): VisitStatus.CLOSED,
    (VisitStatus.REQUESTED, Cancel): VisitStatus.CANCELLED,
    (VisitStatus.PLANNED, Cancel): VisitStatus.CANCELLED,
}
_VERBS = {Plan: "plan", RecordResult: "record the result of", AttachEvidence:
          "attach evidence to", Close: "close", Cancel: "cancel"}


class IllegalTransition(Conflict):
    """The event is not allowed in the visit's state."""


def step(status: VisitStatus, event: Event) -> VisitStatus:
    """The state after `event`; raises when the table has no such move or a close
    lacks its evidence."""
    after = TRANSITIONS.get((status, type(event)))
    if after is None:
        raise IllegalTransition("field_visit.illegal_transition",
                                f"cannot {_VERBS[type(event)]} a visit that is {status}",
                                {"status": str(status), "event": type(event).__name__})
    if isinstance(event, Close):
        missing = missing_evidence(event.evidence)
        if missing:
            raise Conflict("field_visit.evidence_missing",
                           "a visit closes only with its evidence: " + "; ".join(missing),
                           {"missing": list(missing)})
    return after


def missing_evidence(kinds: Iterable[EvidenceKind]) -> tuple[str, ...]:
    """What the visit still needs before it can close (empty: nothing)."""
    have = frozenset(kinds)
    photo = () if EvidenceKind.PHOTO in have else ("a photo",)
    said = () if have & {EvidenceKind.RECORDING, EvidenceKind.REPORT} else (
        "a recording or a signed report",)
    return photo + said


# --- who may see and do what ---------------------------------------------------------

def check_visible(user: User, client_id: int, collectors: tuple[int, int] | None) -> None:
    """NotFound for a visit outside the user's scope (its existence is not told)."""
    scope = scope_for(user)
    outside_client = scope.client_id is not None and scope.client_id != client_id
    outside_agent = scope.agent_id is not None and scope.agent_id not in (collectors or ())
    if outside_client or outside_agent:
        raise NotFound("field_visit.not_found", "no such field visit")


def check_collector(user: User, collectors: tuple[int, int] | None) -> None:
    if user.id not in (collectors or ()):
        raise Forbidden("field_visit.not_collector",
                        "only the visit's two collectors may do this")


def check_may_close(user: User, collectors: tuple[int, int] | None) -> None:
    if user.role not in PLANNERS:
        check_collector(user, collectors)


def check_collectors(users: Iterable[User]) -> None:
    """Both collectors must be active agents or supervisors (ids checked distinct)."""
    bad = {str(u.id): "not active" if not u.active else f"is {u.role}, not an agent or"
           " supervisor" for u in users if not u.active or u.role not in COLLECTOR_ROLES}
    if bad:
        raise InvalidInput("field_visit.bad_collectors",
                           "collectors must be active agents or supervisors", bad)


# --- what a request must carry -------------------------------------------------------

def _text(raw: Mapping[str, object], name: str, limit: int, problems: dict[str, str],
          *, required: bool) -> str | None:
    value = raw.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems[name] = "required"
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        problems[name] = f"must be text of at most {limit} characters"
        return None
    return value.strip()


def _collectors(value: object, problems: dict[str, str]) -> tuple[int, int]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        problems["collectors"] = "must be the ids of exactly two users"
        return (0, 0)
    if value[0] == value[1]:
        problems["collectors"] = "must be two different people"
    return (value[0], value[1])


def _planned_for(value: object, today: date, problems: dict[str, str]) -> date:
    try:
        day = date.fromisoformat(str(value))
    except ValueError:
        problems["planned_for"] = "must be a date like 2026-12-01"
        return today
    if day < today:
        problems["planned_for"] = "is in the past"
    elif day > today + timedelta(days=MAX_PLAN_DAYS):
        problems["planned_for"] = f"is more than {MAX_PLAN_DAYS} days ahead"
    return day


def parse_plan(raw: Mapping[str, object], *, today: date) -> Plan:
    """`{"planned_for", "address"?, "collectors": [id, id]}`; all problems at once.
    `today` is the debtor's local day."""
    problems: dict[str, str] = {}
    day = _planned_for(raw.get("planned_for"), today, problems)
    address = _text(raw, "address", 500, problems, required=False)
    collectors = _collectors(raw.get("collectors"), problems)
    if problems:
        raise InvalidInput("field_visit.invalid", "the plan is invalid", problems)
    return Plan(day, address, collectors)


def _visited_at(value: object, now: datetime, problems: dict[str, str]) -> datetime:
    if value is None:
        return now
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        when = None
    if when is None or when.utcoffset() is None:
        problems["visited_at"] = "must be a time with an offset, like 2026-12-01T10:30:00+08:00"
        return now
    if when > now:
        problems["visited_at"] = "is in the future"
    return when


def parse_result(raw: Mapping[str, object], *, now: datetime) -> RecordResult:
    """`{"result", "notes"?, "visited_at"?}` (notes required for `other`)."""
    problems: dict[str, str] = {}
    result = raw.get("result")
    if not isinstance(result, str) or result not in set(VisitResult):  # {}: unhashable
        problems["result"] = "must be one of " + ", ".join(VisitResult)
    notes = _text(raw, "notes", 4000, problems, required=result == VisitResult.OTHER)
    when = _visited_at(raw.get("visited_at"), now, problems)
    if problems:
        raise InvalidInput("field_visit.invalid", "the result is invalid", problems)
    return RecordResult(VisitResult(str(result)), notes, when)


def parse_cancel(raw: Mapping[str, object]) -> Cancel:
    problems: dict[str, str] = {}
    reason = _text(raw, "reason", 1000, problems, required=True)
    if problems or reason is None:
        raise InvalidInput("field_visit.invalid", "a cancellation needs a reason", problems)
    return Cancel(reason)


# --- evidence files --------------------------------------------------------------------

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "audio/wav": "wav",
              "audio/mpeg": "mp3", "application/pdf": "pdf"}
KIND_TYPES = {
    EvidenceKind.PHOTO: frozenset({"image/jpeg", "image/png"}),
    EvidenceKind.RECORDING: frozenset({"audio/wav", "audio/mpeg"}),
    EvidenceKind.REPORT: frozenset({"application/pdf", "image/jpeg", "image/png"}),
}
SNIFF_BYTES = 12
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Upload:
    kind: EvidenceKind
    file_name: str
    content_type: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.content_type]


def check_upload(kind: str | None, name: str | None, content_type: str,
                 size: int | None, max_bytes: int) -> Upload:
    """The upload a request declares; InvalidInput before a byte is stored."""
    if kind not in set(EvidenceKind):
        raise InvalidInput("field_visit.evidence_kind",
                           "kind must be one of " + ", ".join(EvidenceKind))
    evidence_kind = EvidenceKind(str(kind))
    if content_type not in KIND_TYPES[evidence_kind]:
        raise InvalidInput(
            "field_visit.evidence_type",
            f"a {kind} must be one of {', '.join(sorted(KIND_TYPES[evidence_kind]))}",
            {"content_type": content_type})
    if size is not None:
        check_size(size, max_bytes)
    base = re.split(r"[\\/]", (name or "").strip())[-1].strip()
    if not base or len(base) > 200 or _CONTROL.search(base) or base in (".", ".."):
        raise InvalidInput("field_visit.evidence_name",
                           "name must be a file name of 1-200 characters")
    return Upload(evidence_kind, base, content_type)


def check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InvalidInput("field_visit.evidence_too_large",
                           f"the file is larger than {max_bytes} bytes",
                           {"max_bytes": max_bytes})


def check_content(content_type: str, head: bytes, size: int) -> None:
    """The first bytes must be of the declared type (an empty file never is)."""
    if size == 0 or not _looks_like(content_type, head):
        raise InvalidInput("field_visit.evidence_content",
                           f"the file's bytes are not {content_type}",
                           {"content_type": content_type})


def _looks_like(content_type: str, head: bytes) -> bool:
    if content_type == "audio/mpeg":
        return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF
                                           and head[1] & 0xE0 == 0xE0)
    if content_type == "audio/wav":
        return head[:4] == b"RIFF" and head[8:12] == b"WAVE"
    magic = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n",
             "application/pdf": b"%PDF-"}
    return head.startswith(magic[content_type])


# --- the monthly QA sample -------------------------------------------------------------

FIELD_VISIT_SHARE = Fraction(30, 100)


def month_bounds(text: str) -> tuple[date, date]:
    """``YYYY-MM`` as its first day and the first day of the next month."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise InvalidInput("field_visit.bad_month", "month must be YYYY-MM", {"month": text})
    year, month = int(text[:4]), int(text[5:])
    try:
        return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    except ValueError:  # year 0, or 9999-12 (its next month is past date.max)
        raise InvalidInput("field_visit.bad_month", "no such month",
                           {"month": text}) from None


def quota(visits: int, share: Fraction = FIELD_VISIT_SHARE) -> int:
    """At least `share` of `visits`, rounded up (exact: no float)."""
    return math.ceil(visits * share)


def rank(seed: str, month: str, client_id: int, visit_id: int) -> str:
    return hashlib.sha256(f"{seed}:{month}:{client_id}:{visit_id}".encode()).hexdigest()


def draw(visit_ids: Iterable[int], sampled: Iterable[int], *, seed: str, month: str,
         client_id: int) -> list[int]:
    """The visits to add to a client's month sample (`sampled`: picked already) so it
    reaches its quota; the lowest ranks of those not yet picked."""
    visits = sorted(set(visit_ids))
    have = set(sampled) & set(visits)
    wanted = max(quota(len(visits)) - len(have), 0)
    rest = sorted((v for v in visits if v not in have),
                  key=lambda v: rank(seed, month, client_id, v))
    return sorted(rest[:wanted])


@dataclass(frozen=True, slots=True)
class SampleCoverage:
    client_id: int
    visits: int
    sampled: int

    @property
    def share(self) -> float:
        return self.sampled / self.visits if self.visits else 1.0

    @property
    def short(self) -> bool:
        return self.sampled < quota(self.visits)

    def as_json(self) -> dict[str, object]:
        return {"client_id": self.client_id, "visits": self.visits, "sampled": self.sampled,
                "share": round(self.share, 4), "required": quota(self.visits),
                "short": self.short}
