"""Why a case may or may not be called, asked without dialling.

For every phone of the case (every party, not only a campaign's), the compliance
decision at a given time with the same inputs the dialer would use: the facts on
record, the contact history up to that time, and a campaign's abandon counts when
one is named. What only the running dialer knows (a free work line, a working
recorder) is taken as available and said so in the answer. Also the case's
standing against the rule pack's contact floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cases.domain import mask
from cases.errors import NotFound
from cases.store import Db
from dialer.campaign import Campaign
from dialer.candidates import PhoneFacts, abandon_counts, case_attempts, history, phones_of
from dialer.compliance import (
    AbandonPeriod,
    CadenceStatus,
    CampaignState,
    ContactHistory,
    Decision,
    DialContext,
    Resources,
    RulePack,
    cadence_status,
    check,
    pack_named,
)

DEFAULT_RING = timedelta(seconds=25)
LIVE_NOTE = "work line and recorder taken as available: only the running dialer knows them"


@dataclass(frozen=True, slots=True)
class PhoneAnswer:
    facts: PhoneFacts
    decision: Decision

    def as_json(self) -> dict[str, object]:
        who = self.facts.candidate
        return {
            "phone_id": who.phone_id, "number": mask(who.number),
            "party": None if who.party is None else str(who.party),
            "marked_invalid": self.facts.invalid,
            "held_off_until": _iso(self.facts.held_off_until),
            "decision": self.decision.as_json(),
        }


@dataclass(frozen=True, slots=True)
class Dialability:
    case_id: int
    account_no: str
    at: datetime
    pack: RulePack
    phones: tuple[PhoneAnswer, ...]
    cadence: CadenceStatus | None

    def as_json(self) -> dict[str, object]:
        return {
            "case_id": self.case_id, "account_no": self.account_no, "at": self.at.isoformat(),
            "pack": self.pack.name, "pack_version": self.pack.version, "note": LIVE_NOTE,
            "phones": [phone.as_json() for phone in self.phones],
            "cadence": None if self.cadence is None else _cadence_json(self.cadence),
        }


async def dialability(
    db: Db, case_id: int, at: datetime, campaign: Campaign | None = None
) -> Dialability:
    case = await db.fetchrow(
        "SELECT c.account_no, c.assigned_at, cl.rule_pack FROM cases c"
        " JOIN clients cl ON cl.id = c.client_id WHERE c.id = $1", case_id)
    if case is None:
        raise NotFound("case.not_found", f"no case {case_id}")
    pack = pack_named(campaign.settings.rule_pack if campaign else case["rule_pack"])
    dial = await _context(db, campaign, pack, at)
    answers = []
    for facts in (await phones_of(db, [case_id], at))[case_id]:
        seen = await _history_until(db, facts, pack, at)
        answers.append(PhoneAnswer(facts, check(facts.candidate, seen, pack, at, dial=dial)))
    return Dialability(case_id, case["account_no"], at, pack, tuple(answers),
                       await _cadence(db, case_id, case["assigned_at"], pack, at, answers))


async def _history_until(db: Db, facts: PhoneFacts, pack: RulePack, at: datetime
                         ) -> ContactHistory:
    seen = await history(db, facts.candidate, pack, at)
    return ContactHistory(tuple(a for a in seen.attempts if a.at <= at))


async def _context(db: Db, campaign: Campaign | None, pack: RulePack, at: datetime
                   ) -> DialContext:
    if campaign is None:
        state = CampaignState(0, 0)
        ring, campaign_id = DEFAULT_RING, 0
    else:
        since = at - timedelta(days=30 if pack.abandon_period is
                               AbandonPeriod.ROLLING_30_DAYS else 1)
        state = CampaignState(*await abandon_counts(db, campaign.id, since))
        ring, campaign_id = campaign.settings.ring_timeout, campaign.id
    return DialContext(campaign_id=campaign_id, ring_timeout=ring, agent_guaranteed=False,
                       campaign=state, resources=Resources(work_line=True, recording=True))


async def _cadence(
    db: Db, case_id: int, assigned_at: datetime | None, pack: RulePack, at: datetime,
    answers: list[PhoneAnswer],
) -> CadenceStatus | None:
    if pack.cadence is None or assigned_at is None:
        return None
    since = await case_attempts(db, case_id, assigned_at, at)
    latest = min((a.decision for a in answers), key=_permitted_order, default=None)
    return cadence_status(pack.cadence, case_id, assigned_at, since, at, latest)


def _permitted_order(decision: Decision) -> datetime:
    if decision.allowed:
        return decision.checked_at
    return decision.next_permitted_at or datetime.max.replace(tzinfo=decision.checked_at.tzinfo)


def _cadence_json(status: CadenceStatus) -> dict[str, object]:
    return {
        "phase": str(status.phase), "attempts": status.attempts, "needed": status.needed,
        "due_by": _iso(status.due_by), "behind": status.behind,
        "failure_report_due": status.failure_report_due,
        "ceiling_conflict": status.ceiling_conflict,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
