"""The contact floor across a client's cases: which are behind, which are blocked.

For every assigned, open case of a client: its standing against the rule pack's
cadence (`dialer.compliance.cadence_status`) from the attempts placed since
assignment, and whether a ceiling blocks the floor: the latest refusal of the
case says no call is permitted before the floor's deadline (or at all, by time
alone). Supervisors see the conflict; the dialer still obeys the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases.domain import Party
from cases.store import Db
from dialer.compliance import CadencePhase, CadenceStatus, cadence_status, pack_named
from dialer.compliance.model import Attempt, ContactHistory, Decision, Outcome

_CASES = """
SELECT c.id, c.account_no, c.assigned_at, c.debtor_id, cl.rule_pack,
       coalesce(array_agg(a.placed_at ORDER BY a.placed_at)
                FILTER (WHERE a.id IS NOT NULL), '{}') AS placed,
       coalesce(bool_or(a.result = 'connected' AND EXISTS (
           SELECT 1 FROM actions x JOIN action_codes k ON k.code = x.code
           WHERE x.attempt_id = a.id AND k.right_party)), false) AS contacted,
       (SELECT r.next_permitted_at FROM refusals r WHERE r.case_id = c.id
        ORDER BY r.at DESC LIMIT 1) AS refused_until,
       (SELECT r.at FROM refusals r WHERE r.case_id = c.id
        ORDER BY r.at DESC LIMIT 1) AS refused_at
FROM cases c JOIN clients cl ON cl.id = c.client_id
LEFT JOIN attempts a ON a.case_id = c.id AND a.placed_at >= c.assigned_at
WHERE c.client_id = $1 AND c.assigned_at IS NOT NULL
  AND c.status IN ('open', 'in_progress', 'promised', 'lost_contact')
GROUP BY c.id, cl.rule_pack
ORDER BY c.id
"""


@dataclass(frozen=True, slots=True)
class Standing:
    case_id: int
    account_no: str
    status: CadenceStatus

    def as_json(self) -> dict[str, object]:
        s = self.status
        return {
            "case_id": self.case_id, "account_no": self.account_no, "phase": str(s.phase),
            "attempts": s.attempts, "needed": s.needed,
            "due_by": None if s.due_by is None else s.due_by.isoformat(),
            "behind": s.behind, "failure_report_due": s.failure_report_due,
            "ceiling_conflict": s.ceiling_conflict,
        }


async def floors(db: Db, client_id: int, now: datetime) -> list[Standing]:
    """Every assigned, open case of the client against its pack's contact floor
    (packs without a floor are left out)."""
    found = []
    for row in await db.fetch(_CASES, client_id):
        standing = _standing(row, now)
        if standing is not None:
            found.append(standing)
    return found


def _standing(row: asyncpg.Record, now: datetime) -> Standing | None:
    pack = pack_named(row["rule_pack"])
    if pack.cadence is None:
        return None
    contact = Outcome.CONVERSATION if row["contacted"] else Outcome.UNANSWERED
    history = ContactHistory(tuple(
        Attempt(at=at, case_id=row["id"], debtor_id=row["debtor_id"], number="",
                party=Party.DEBTOR, campaign_id=None,
                outcome=contact if n == 0 else Outcome.UNANSWERED)
        for n, at in enumerate(row["placed"])))
    status = cadence_status(pack.cadence, row["id"], row["assigned_at"], history, now,
                            _latest_refusal(row, pack.name, pack.version))
    return Standing(row["id"], row["account_no"], status)


def _latest_refusal(row: asyncpg.Record, pack: str, version: str) -> Decision | None:
    if row["refused_at"] is None:
        return None
    return Decision(allowed=False, pack=pack, pack_version=version, reasons=(), notes=(),
                    next_permitted_at=row["refused_until"], checked_at=row["refused_at"],
                    inputs={})


def summary(standings: list[Standing]) -> dict[str, int]:
    phases = {str(p): 0 for p in CadencePhase}
    for s in standings:
        phases[str(s.status.phase)] += 1
    return {**phases, "behind": sum(s.status.behind for s in standings),
            "ceiling_conflict": sum(s.status.ceiling_conflict for s in standings),
            "failure_report_due": sum(s.status.failure_report_due for s in standings)}
