"""The summary of a decision's inputs, stored with it as JSON-ready values (pure).

Built only when the decision is stored: `Decision.inputs` asks the decision's
`Context` for it on first read. The number is masked (the phone id names it);
instants are ISO 8601 in UTC, as the attempts table keeps them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from cases.domain import mask
from dialer.compliance.model import iso

if TYPE_CHECKING:
    from dialer.compliance.context import Context


def summarize(ctx: Context) -> dict[str, object]:
    """The decision's inputs: the callee's facts, the dialer's context and the
    earlier attempts the rules looked at."""
    who, dial = ctx.candidate, ctx.dial
    return {
        "now": iso(ctx.now),
        "case_id": who.case_id,
        "debtor_id": who.debtor_id,
        "phone_id": who.phone_id,
        "number": mask(who.number),
        "party": None if who.party is None else str(who.party),
        "time_zones": list(who.time_zones),
        "window": None if ctx.window is None else str(ctx.window),
        "agreed_window": None if who.agreed_window is None else str(who.agreed_window),
        "holds": sorted(map(str, who.holds)),
        "do_not_call": who.do_not_call,
        "cease_requested": who.cease_requested,
        "attorney_represented": who.attorney_represented,
        "consent": str(who.consent),
        "lost_contact": who.lost_contact,
        "no_holiday_calls": who.no_holiday_calls,
        "holidays": None if who.holidays is None else list(_dates_json(who.holidays)),
        "campaign_id": dial.campaign_id,
        "ring_timeout_s": dial.ring_timeout.total_seconds(),
        "agent_guaranteed": dial.agent_guaranteed,
        "campaign": {"abandoned": dial.campaign.abandoned, "live": dial.campaign.live},
        "resources": {"work_line": dial.resources.work_line, "recording": dial.resources.recording},
        "history": [
            {"id": a.attempt_id, "at": _utc_iso(a.at), "outcome": str(a.outcome)}
            for a in ctx.history.attempts
        ],
    }


def _utc_iso(at: datetime) -> str:
    """`at` in UTC, ISO 8601 (the store's attempts are in UTC already)."""
    return (at if at.tzinfo is UTC else at.astimezone(UTC)).isoformat()


@lru_cache(maxsize=64)
def _dates_json(days: frozenset[date]) -> tuple[str, ...]:
    """A holiday calendar as sorted ISO dates; cached, as a client's calendar is the
    same frozenset for every decision and has a hundred dates."""
    return tuple(sorted(day.isoformat() for day in days))
