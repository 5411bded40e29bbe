"""The contact floor of cn-bank (pure): how many attempts a case still needs, by when.

Rules (the bank's service plan, `packs.Cadence`): after assignment, 3 attempts
within 7 days; once 3 attempts have failed a failure report is due; then at least
2 more attempts within the following 15 days, i.e. by assignment + 22 days. Every
placed call on the case counts as an attempt, whatever its number or outcome. A
conversation with the right party since assignment meets the floor: the case is
then worked by its action codes, not by the floor.

A floor never overrides a ceiling. `ceiling_conflict` tells supervisors that the
floor cannot be met in time because the compliance engine refuses the case's next
call until after the deadline (or indefinitely, e.g. a hold): the dialer still
obeys the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dialer.compliance.model import ContactHistory, Decision, Outcome, require_aware
from dialer.compliance.packs import Cadence


class CadencePhase(StrEnum):
    FIRST = "first"  # working towards the first attempts
    MORE = "more"  # failure report due; working towards the further attempts
    MET = "met"  # every attempt the floor asks for was made
    CONTACTED = "contacted"  # a conversation with the right party since assignment


@dataclass(frozen=True, slots=True)
class CadenceStatus:
    phase: CadencePhase
    attempts: int  # placed since assignment
    needed: int  # more attempts the current phase asks for
    due_by: datetime | None  # the current phase's deadline; None when nothing is due
    behind: bool  # the deadline passed with attempts still needed
    failure_report_due: bool  # the first attempts all failed
    ceiling_conflict: bool  # the engine refuses calls until after the deadline


def cadence_status(
    cadence: Cadence,
    case_id: int,
    assigned_at: datetime,
    history: ContactHistory,
    now: datetime,
    latest: Decision | None = None,
) -> CadenceStatus:
    """Where case `case_id`, assigned at `assigned_at`, stands against `cadence` at
    `now`; `latest` is the engine's most recent decision for the case, if any."""
    require_aware(assigned_at, "assigned_at")
    require_aware(now, "now")
    mine = [a for a in history.attempts if a.case_id == case_id and a.at >= assigned_at]
    count = len(mine)
    if any(a.outcome is Outcome.CONVERSATION for a in mine):
        return CadenceStatus(CadencePhase.CONTACTED, count, 0, None, False, False, False)
    first_due = assigned_at + cadence.first_period
    total = cadence.first_attempts + cadence.more_attempts
    if count >= total:
        return CadenceStatus(CadencePhase.MET, count, 0, None, False, True, False)
    if count < cadence.first_attempts:
        phase, needed, due = CadencePhase.FIRST, cadence.first_attempts - count, first_due
    else:
        phase, needed, due = CadencePhase.MORE, total - count, first_due + cadence.more_period
    return CadenceStatus(
        phase=phase,
        attempts=count,
        needed=needed,
        due_by=due,
        behind=now > due,
        failure_report_due=phase is CadencePhase.MORE,
        ceiling_conflict=_conflict(latest, due),
    )


def _conflict(latest: Decision | None, due: datetime) -> bool:
    if latest is None or latest.allowed:
        return False
    return latest.next_permitted_at is None or latest.next_permitted_at > due
