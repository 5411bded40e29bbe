"""Campaigns: what a campaign dials, how, and its run state (pure).

A campaign belongs to one client and dials the cases its filter selects (status,
bucket, product, balance range, assigned team), only the parties it names (debtor
and guarantor by default), on its work lines, in its dialing mode, under a rule
pack. Its schedule is the agency's working hours in the client's time zone; the
rule pack's window in the debtor's local time applies on top of it, always.

Run states, as a table (illegal moves raise `CampaignStateError`):

    draft    --start-->  running
    running  --pause-->  paused      no new calls; calls in progress finish
    paused   --resume--> running
    running  --stop-->   stopped     final: no new calls, ever
    paused   --stop-->   stopped
    running  --finish--> finished    final: nothing left to dial (the loop decides)

`parse_settings` turns a campaign manager's JSON into `CampaignSettings`, reporting
every bad field at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from cases.domain import CaseStatus, Party
from cases.errors import Conflict, InvalidInput
from dialer.compliance.packs import PACKS
from dialer.pacing import DialMode


class RunState(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


class Command(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    FINISH = "finish"


TRANSITIONS: dict[tuple[RunState, Command], RunState] = {
    (RunState.DRAFT, Command.START): RunState.RUNNING,
    (RunState.RUNNING, Command.PAUSE): RunState.PAUSED,
    (RunState.PAUSED, Command.RESUME): RunState.RUNNING,
    (RunState.RUNNING, Command.STOP): RunState.STOPPED,
    (RunState.PAUSED, Command.STOP): RunState.STOPPED,
    (RunState.RUNNING, Command.FINISH): RunState.FINISHED,
}


class CampaignStateError(Conflict):
    pass


def next_state(state: RunState, command: Command) -> RunState:
    try:
        return TRANSITIONS[(state, command)]
    except KeyError:
        raise CampaignStateError(
            "campaign.bad_transition", f"cannot {command} a campaign that is {state}",
            {"state": str(state), "command": str(command)},
        ) from None


class AttemptResult(StrEnum):
    """How a placed call ended."""

    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    FAILED = "failed"
    MACHINE = "machine"  # an answering machine; hung up without a message
    VOICEMAIL = "voicemail"  # an answering machine; the limited-content message was left
    ABANDONED = "abandoned"  # a live person and no agent within 2 s
    HUNG_UP = "hung_up"  # answered, and the callee hung up before an agent came
    CONNECTED = "connected"  # a live person bridged to an agent
    INTERRUPTED = "interrupted"  # the dialer stopped mid-call; closed on restart


class AmdPolicy(StrEnum):
    OFF = "off"  # every answer is treated as a live person
    HANG_UP = "hang_up"
    MESSAGE = "message"  # leave the pack's limited-content message


DEFAULT_RETRY_MINUTES: dict[AttemptResult, int] = {
    AttemptResult.BUSY: 30,
    AttemptResult.NO_ANSWER: 120,
    AttemptResult.REJECTED: 240,
    AttemptResult.FAILED: 60,
    AttemptResult.MACHINE: 240,
    AttemptResult.VOICEMAIL: 1440,
    AttemptResult.ABANDONED: 4320,
    AttemptResult.HUNG_UP: 240,
    AttemptResult.INTERRUPTED: 60,
    AttemptResult.CONNECTED: 1440,  # unless the agent's action code sets the next time
}
BUCKETS = ("M0", "M1", "M2", "M3", "M4", "M5", "M6", "M6+")
MIN_RING = 15


@dataclass(frozen=True, slots=True)
class Schedule:
    """The agency's working days (ISO weekdays, 1 = Monday) and hours, in the
    client's time zone."""

    days: frozenset[int]
    start: time
    end: time

    def open_at(self, now: datetime, zone: ZoneInfo) -> bool:
        local = now.astimezone(zone)
        return local.isoweekday() in self.days and self.start <= local.time() < self.end

    def as_json(self) -> dict[str, object]:
        return {"days": sorted(self.days), "start": self.start.strftime("%H:%M"),
                "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True, slots=True)
class CaseFilter:
    statuses: tuple[CaseStatus, ...] = (CaseStatus.OPEN, CaseStatus.IN_PROGRESS,
                                        CaseStatus.PROMISED, CaseStatus.LOST_CONTACT)
    buckets: tuple[str, ...] = ()  # empty: every bucket
    products: tuple[str, ...] = ()
    balance_min: Decimal | None = None
    balance_max: Decimal | None = None
    teams: tuple[str, ...] = ()  # the assigned agent's team; empty: any or none

    def as_json(self) -> dict[str, object]:
        return {
            "statuses": [str(s) for s in self.statuses], "buckets": list(self.buckets),
            "products": list(self.products), "teams": list(self.teams),
            "balance_min": None if self.balance_min is None else str(self.balance_min),
            "balance_max": None if self.balance_max is None else str(self.balance_max),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignSettings:
    name: str
    mode: DialMode
    rule_pack: str
    work_lines: tuple[str, ...]
    schedule: Schedule
    case_filter: CaseFilter = field(default_factory=CaseFilter)
    parties: frozenset[Party] = frozenset({Party.DEBTOR, Party.GUARANTOR})
    queue_id: int | None = None
    ring_timeout: timedelta = timedelta(seconds=25)
    retry_minutes: dict[AttemptResult, int] = field(
        default_factory=lambda: dict(DEFAULT_RETRY_MINUTES))
    amd_policy: AmdPolicy = AmdPolicy.HANG_UP
    max_abandon_rate: Decimal = Decimal("0.03")


@dataclass(frozen=True, slots=True, kw_only=True)
class Campaign:
    id: int
    client_id: int
    state: RunState
    settings: CampaignSettings
    created_at: datetime
    updated_at: datetime

    def retry_after(self, result: AttemptResult) -> timedelta:
        return timedelta(minutes=self.settings.retry_minutes[result])


class _Errors:
    """Collects every bad field of one request."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def take(self, name: str, parse: Any, value: object, default: Any) -> Any:
        if value is None:
            return default
        try:
            return parse(value)
        except (ValueError, TypeError, KeyError, InvalidOperation) as error:
            self.fields[name] = str(error) or f"bad {name}"
            return default

    def raise_any(self) -> None:
        if self.fields:
            raise InvalidInput("campaign.invalid", "the campaign has invalid fields",
                               {"fields": self.fields})


def parse_settings(body: dict[str, Any], *, client_pack: str) -> CampaignSettings:
    """A campaign manager's JSON as settings; every bad field reported at once."""
    errors = _Errors()
    settings = CampaignSettings(
        name=errors.take("name", _name, body.get("name"), ""),
        mode=errors.take("mode", DialMode, body.get("mode"), DialMode.PROGRESSIVE),
        rule_pack=errors.take("rule_pack", _pack, body.get("rule_pack"), client_pack),
        work_lines=errors.take("work_lines", _lines, body.get("work_lines"), ()),
        schedule=errors.take("schedule", _schedule, body.get("schedule"), _DEFAULT_SCHEDULE),
        case_filter=errors.take("case_filter", _filter, body.get("case_filter"), CaseFilter()),
        parties=errors.take("parties", _parties, body.get("parties"),
                            frozenset({Party.DEBTOR, Party.GUARANTOR})),
        queue_id=errors.take("queue_id", _positive, body.get("queue_id"), None),
        ring_timeout=errors.take("ring_timeout_s", _ring, body.get("ring_timeout_s"),
                                 timedelta(seconds=25)),
        retry_minutes=errors.take("retry_policy", _retry, body.get("retry_policy"),
                                  dict(DEFAULT_RETRY_MINUTES)),
        amd_policy=errors.take("amd_policy", AmdPolicy, body.get("amd_policy"),
                               AmdPolicy.HANG_UP),
        max_abandon_rate=errors.take("max_abandon_rate", _rate, body.get("max_abandon_rate"),
                                     Decimal("0.03")),
    )
    if "name" not in body:
        errors.fields["name"] = "required"
    if "work_lines" not in body:
        errors.fields["work_lines"] = "required"
    errors.raise_any()
    return settings


_DEFAULT_SCHEDULE = Schedule(frozenset(range(1, 8)), time(8), time(21))


def _name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 200:
        raise ValueError("a name of 1 to 200 characters")
    return value.strip()


def _pack(value: object) -> str:
    if value not in PACKS:
        raise ValueError(f"unknown rule pack; one of {sorted(PACKS)}")
    return str(value)


def _lines(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("a non-empty list of work line names")
    return tuple(dict.fromkeys(value))


def _clock(value: object) -> time:
    if not isinstance(value, str):
        raise ValueError("a time HH:MM")
    return time.fromisoformat(value)


def _schedule(value: object) -> Schedule:
    if not isinstance(value, dict):
        raise ValueError("an object with days, start and end")
    days = value.get("days", list(range(1, 8)))
    if not isinstance(days, list) or not days or not all(d in range(1, 8) for d in days):
        raise ValueError("days: ISO weekdays 1 (Monday) to 7")
    start, end = _clock(value.get("start", "08:00")), _clock(value.get("end", "21:00"))
    if start >= end:
        raise ValueError("start must be before end")
    return Schedule(frozenset(days), start, end)


def _strings(value: object, allowed: tuple[str, ...] | None, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what}: a list of strings")
    bad = [v for v in value if allowed is not None and v not in allowed]
    if bad:
        raise ValueError(f"{what}: unknown {bad}; one of {list(allowed or ())}")
    return tuple(value)


def _money(value: object) -> Decimal | None:
    if value is None:
        return None
    amount = Decimal(str(value))
    if not amount.is_finite() or amount < 0:
        raise ValueError("a balance must be a non-negative amount")
    return amount


def _filter(value: object) -> CaseFilter:
    if not isinstance(value, dict):
        raise ValueError("an object")
    unknown = set(value) - {"statuses", "buckets", "products", "balance_min",
                            "balance_max", "teams"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    default = CaseFilter()
    statuses = value.get("statuses")
    low, high = _money(value.get("balance_min")), _money(value.get("balance_max"))
    if low is not None and high is not None and low > high:
        raise ValueError("balance_min is above balance_max")
    return CaseFilter(
        statuses=default.statuses if statuses is None else tuple(
            CaseStatus(s) for s in _strings(statuses, tuple(CaseStatus), "statuses")),
        buckets=_strings(value.get("buckets", []), BUCKETS, "buckets"),
        products=_strings(value.get("products", []), ("credit_card", "personal_loan"),
                          "products"),
        balance_min=low, balance_max=high,
        teams=_strings(value.get("teams", []), None, "teams"),
    )


def _parties(value: object) -> frozenset[Party]:
    names = _strings(value, tuple(Party), "parties")
    if not names:
        raise ValueError("at least one party")
    return frozenset(Party(name) for name in names)


def _positive(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError("a positive integer")
    return value


def _ring(value: object) -> timedelta:
    seconds = _positive(value)
    if not MIN_RING <= seconds <= 120:
        raise ValueError(f"a ring timeout of {MIN_RING} to 120 seconds")
    return timedelta(seconds=seconds)


def _retry(value: object) -> dict[AttemptResult, int]:
    if not isinstance(value, dict):
        raise ValueError("an object of result -> minutes")
    policy = dict(DEFAULT_RETRY_MINUTES)
    for key, minutes in value.items():
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
            raise ValueError(f"{key}: minutes must be a non-negative integer")
        policy[AttemptResult(key)] = minutes
    return policy


def _rate(value: object) -> Decimal:
    rate = Decimal(str(value))
    if not Decimal(0) <= rate <= Decimal("0.03"):
        raise ValueError("an abandon rate between 0 and 0.03 (the 3% cap)")
    return rate
