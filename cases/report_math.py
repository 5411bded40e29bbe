"""The month-end reports' arithmetic (pure): months, rates, rows, CSV, complaints.

A report covers one calendar month in each client's own time zone, from 00:00 on
the 1st to 00:00 on the 1st of the next month (local wall time, so a month across a
daylight-saving change is 1 hour shorter or longer). Its rows are groups (client,
batch, campaign or agent) of counts; every rate is derived here from those counts:

- a rate is numerator / denominator as a ``Decimal`` rounded half up to 4 places
  (2 places for attempts per case), and ``None`` when the denominator is 0 (no
  calls is not a 0% contact rate);
- money is summed exactly (``Decimal``) and written as a string.

The figures and what each counts are in :data:`DEFINITIONS`, which every JSON
report carries. CSV is UTF-8 with a byte-order mark (Excel then reads Chinese
names correctly), CRLF line ends, and is safe from formula injection: a cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed
with ``'`` so a spreadsheet shows it as text instead of running it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from cases.errors import InvalidInput

RATE_PLACES = 4
PER_CASE_PLACES = 2
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class GroupBy(StrEnum):
    CLIENT = "client"
    BATCH = "batch"
    CAMPAIGN = "campaign"
    AGENT = "agent"


DEFINITIONS: dict[str, str] = {
    "month": "the calendar month in each client's time zone (local 00:00 on the 1st to "
             "local 00:00 on the 1st of the next month)",
    "accounts": "cases in the month: placed with the agency (the bank received date of the "
                "case's first batch) before the month ended and not already paid or closed "
                "before it began; by campaign: the cases the campaign called in the month",
    "amount_assigned": "the sum of those cases' balances (the balance of the bank's latest "
                       "batch for each case; no balance history is kept)",
    "amount_recovered": "payments reported by the bank with a payment time in the month on "
                        "those cases",
    "recovery_rate": "amount_recovered / amount_assigned",
    "attempts": "calls placed in the month on the group's cases (by campaign: the "
                "campaign's calls); attempts_per_case = attempts / accounts",
    "calls": "calls placed in the month attributed by the call: by client and batch the "
             "same as attempts, by campaign the campaign's, by agent those the agent was "
             "on (calls no agent took, e.g. unanswered predictive calls, are the no-agent "
             "row's); a campaign's calls are its client's",
    "connected": "calls placed in the month that reached a live person and were bridged "
                 "to an agent (result connected); by agent: the agent on the call",
    "right_party_contact_rate": "right-party contacts / connected calls, where a right-party "
                                "contact is a connected call with an action code marked "
                                "right_party filed on it, whenever it was filed (contacts "
                                "per conversation, the collections convention; the counts "
                                "allow other denominators)",
    "ptp_rate": "promises to pay / right-party contacts; a promise to pay is a connected "
                "call with a promise-creating action code filed on it, whenever it was filed",
    "ptp_kept_rate": "kept / (kept + broken) of the promises on the group's cases that "
                     "fell due in the month (due date in the month); pending and "
                     "cancelled promises are not counted",
    "floor_adherence": "floor_met / floor_due: cases of a rule pack with a contact floor "
                       "(cn-bank: 3 attempts within 7 days of assignment, 5 within 22) "
                       "that have a floor deadline in the month and no hold at it; met when "
                       "at each such deadline the case had the attempts since assignment "
                       "or a right-party contact before it (a call placed before it with a "
                       "right-party code filed on it)",
    "abandon_rate": "abandoned / (abandoned + connected) calls in the month, the rule packs' "
                    "formula; abandoned calls have no agent (by agent: the no-agent row)",
    "compliance_rate": "compliant_accounts / accounts, the bank's definition: an account "
                       "is non-compliant in the month when it had a QA auto-fail (the "
                       "case's QA compliance mark for the month is false), a compliance "
                       "refusal override, or a complaint received in the month. The "
                       "dialer's compliance check fails closed and has no override, so "
                       "refusal_overrides is 0 by construction",
    "qa_coverage": "qa_sampled_rate = calls sampled for QA / recorded calls of agents in "
                   "the month; qa_reviewed_rate = sampled calls reviewed / sampled calls",
    "attribution": "recovery, accounts, promises kept and compliance go to the case's "
                   "group (client, first batch, currently assigned agent); calls, contacts, "
                   "promises to pay, abandons and QA go to the call's campaign and agent. "
                   "By campaign a case called by two campaigns counts in both",
    "rates": "rounded half up to 4 places (attempts per case to 2); null when the "
             "denominator is 0",
}


def parse_month(text: str) -> date:
    """`YYYY-MM` as the first day of that month."""
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidInput("report.bad_month", "month must be YYYY-MM (e.g. 2026-11)",
                           {"month": text})
    return date(int(match.group(1)), int(match.group(2)), 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The month [start, end) as aware UTC instants: local midnights in `zone`."""
    start = datetime.combine(month.replace(day=1), time(0), zone)
    end = datetime.combine(next_month(month), time(0), zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def rate(numerator: int | Decimal, denominator: int | Decimal,
         places: int = RATE_PLACES) -> Decimal | None:
    """numerator / denominator rounded half up to `places`; None for a zero denominator."""
    if denominator == 0:
        return None
    exact = Decimal(numerator) / Decimal(denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Counts:
    """What a report counts for one group; the rates are derived (:func:`figures`)."""

    accounts: int = 0
    amount_assigned: Decimal = Decimal(0)
    amount_recovered: Decimal = Decimal(0)
    attempts: int = 0  # on the group's cases
    calls: int = 0  # attributed to the group by the call (its campaign, its agent)
    connected: int = 0
    right_party_contacts: int = 0
    promises_to_pay: int = 0
    abandoned: int = 0
    promises_due: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    floor_due: int = 0
    floor_met: int = 0
    qa_failed_accounts: int = 0
    complaint_accounts: int = 0
    compliant_accounts: int = 0
    recorded_calls: int = 0
    sampled_calls: int = 0
    reviewed_calls: int = 0

    def add(self, values: Mapping[str, object]) -> Counts:
        """These counts plus `values` (names of fields; other keys are ignored)."""
        changes: dict[str, Any] = {}
        for f in fields(self):
            value = values.get(f.name)
            if value is not None:
                current = getattr(self, f.name)  # counts stay whole, money exact
                whole = isinstance(current, int)
                changes[f.name] = current + (int(Decimal(str(value))) if whole else value)
        return replace(self, **changes)


COUNT_NAMES = tuple(f.name for f in fields(Counts))


def figures(c: Counts) -> dict[str, object]:
    """The counts with every rate of the report, in column order."""
    return {
        "accounts": c.accounts, "amount_assigned": c.amount_assigned,
        "amount_recovered": c.amount_recovered,
        "recovery_rate": rate(c.amount_recovered, c.amount_assigned),
        "attempts": c.attempts,
        "attempts_per_case": rate(c.attempts, c.accounts, PER_CASE_PLACES),
        "calls": c.calls, "connected": c.connected,
        "right_party_contacts": c.right_party_contacts,
        "right_party_contact_rate": rate(c.right_party_contacts, c.connected),
        "promises_to_pay": c.promises_to_pay,
        "ptp_rate": rate(c.promises_to_pay, c.right_party_contacts),
        "promises_due": c.promises_due, "promises_kept": c.promises_kept,
        "promises_broken": c.promises_broken,
        "ptp_kept_rate": rate(c.promises_kept, c.promises_kept + c.promises_broken),
        "floor_due": c.floor_due, "floor_met": c.floor_met,
        "floor_adherence": rate(c.floor_met, c.floor_due),
        "abandoned": c.abandoned, "abandon_rate": rate(c.abandoned, c.abandoned + c.connected),
        "qa_failed_accounts": c.qa_failed_accounts,
        "complaint_accounts": c.complaint_accounts, "refusal_overrides": 0,
        "compliant_accounts": c.compliant_accounts,
        "compliance_rate": rate(c.compliant_accounts, c.accounts),
        "recorded_calls": c.recorded_calls, "sampled_calls": c.sampled_calls,
        "reviewed_calls": c.reviewed_calls,
        "qa_sampled_rate": rate(c.sampled_calls, c.recorded_calls),
        "qa_reviewed_rate": rate(c.reviewed_calls, c.sampled_calls),
    }


GROUP_COLUMNS = ("month", "by", "group_id", "group_name", "client_id")
COLUMNS = GROUP_COLUMNS + tuple(figures(Counts()))


def merge(*parts: Mapping[int, Counts | Mapping[str, object]]) -> dict[int, Counts]:
    """Counts per group key from several partial results (missing parts count 0)."""
    total: dict[int, Counts] = {}
    for part in parts:
        for key, value in part.items():
            values = value if isinstance(value, Mapping) else _as_dict(value)
            total[key] = total.get(key, Counts()).add(values)
    return total


def _as_dict(c: Counts) -> dict[str, object]:
    return {name: getattr(c, name) for name in COUNT_NAMES}


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """One agent's month for the agent evaluation: the cases assigned to the agent."""

    agent_id: int
    amount_assigned: Decimal
    amount_recovered: Decimal
    accounts: int
    compliant_accounts: int

    @property
    def recovery_rate(self) -> Decimal | None:
        return rate(self.amount_recovered, self.amount_assigned)

    @property
    def compliance_rate(self) -> Decimal | None:
        return rate(self.compliant_accounts, self.accounts)


MONEY_COLUMNS = frozenset({"amount_assigned", "amount_recovered"})
_CENTS = Decimal("0.01")


def cell_value(column: str, value: object) -> object:
    """A row's value as it is shown: money to the cent, a month as YYYY-MM."""
    if column in MONEY_COLUMNS and isinstance(value, Decimal):
        return value.quantize(_CENTS)
    if isinstance(value, date):
        return value.strftime("%Y-%m")
    return value


def json_row(row: Mapping[str, object]) -> dict[str, object]:
    """A row in JSON: money as an exact string, a rate as a number."""
    shown = {name: cell_value(name, value) for name, value in row.items()}
    return {name: str(value) if name in MONEY_COLUMNS else
            float(value) if isinstance(value, Decimal) else value
            for name, value in shown.items()}


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> bytes:
    """`rows` as CSV under a header of `columns`: UTF-8 with BOM, CRLF, formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(cell_value(name, row.get(name))) for name in columns])
    return out.getvalue().encode("utf-8-sig")


NO_GROUP = "(none)"  # cases without an agent, calls without a campaign or agent


@dataclass(frozen=True, slots=True)
class ReportRow:
    group_id: int | None  # None: the cases or calls of no agent / no campaign
    group_name: str
    client_id: int | None  # None for an agent row over several clients
    counts: Counts


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: date
    by: GroupBy
    client_id: int | None  # None: every client
    rows: tuple[ReportRow, ...]

    def table(self) -> list[dict[str, object]]:
        """One flat dict per row, in :data:`COLUMNS` order."""
        return [{"month": self.month, "by": str(self.by), "group_id": r.group_id,
                 "group_name": r.group_name, "client_id": r.client_id, **figures(r.counts)}
                for r in self.rows]

    def as_json(self) -> dict[str, object]:
        return {"month": self.month.strftime("%Y-%m"), "by": str(self.by),
                "client_id": self.client_id, "definitions": DEFINITIONS,
                "rows": [json_row(row) for row in self.table()]}

    def as_csv(self) -> bytes:
        return to_csv(COLUMNS, self.table())


def report_rows(totals: Mapping[int, Counts], names: Mapping[int, tuple[str, int | None]],
                client_id: int | None) -> tuple[ReportRow, ...]:
    """Rows for the group keys of `totals` by key, no group (key 0) last, with their
    names and clients (`client_id`, the report's, when a group has none of its own)."""
    rows = []
    for key in sorted(totals, key=lambda k: (k == 0, k)):
        name, own = names.get(key, (NO_GROUP if key == 0 else str(key), None))
        rows.append(ReportRow(key or None, name, client_id if own is None else own,
                              totals[key]))
    return tuple(rows)


class ComplaintChannel(StrEnum):
    """How a complaint reached the agency."""

    PHONE = "phone"
    LETTER = "letter"
    EMAIL = "email"
    IN_PERSON = "in_person"
    BANK = "bank"  # forwarded by the client
    REGULATOR = "regulator"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class NewComplaint:
    received_at: datetime
    channel: ComplaintChannel
    summary: str


@dataclass(frozen=True, slots=True)
class Complaint:
    id: int
    case_id: int
    client_id: int
    received_at: datetime
    channel: ComplaintChannel
    summary: str
    recorded_by: int
    recorded_at: datetime

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "case_id": self.case_id, "client_id": self.client_id,
                "received_at": self.received_at.isoformat(), "channel": str(self.channel),
                "summary": self.summary, "recorded_by": self.recorded_by,
                "recorded_at": self.recorded_at.isoformat()}
