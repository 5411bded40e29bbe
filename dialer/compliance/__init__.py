"""The dialer's compliance engine: pure rule packs and checks.

    decision = check(candidate, history, pack_named("cn-bank"), now, dial=dial)

`check` answers whether one (case, phone) may be called at `now` under a rule pack,
with every reason when not and the earliest time a retry could pass; the dialer
stores the decision (pack name and version, reasons, inputs) with the attempt.
`cadence_status` tells how a case stands against the pack's contact floor.
Nothing here reads the clock or does IO: `now` is always an argument, windows are
evaluated in the callee's `ZoneInfo`, and public holidays come from the caller.

Modules: `model` (inputs and decision), `packs` (the rules as versioned data),
`windows` (local calling windows), `context` (what one decision looks at),
`checks` and `counters` (one function per rule), `engine` (the order and the
decision), `summary` (the inputs stored with a decision), `cadence` (the floor).
"""

from cases.domain import Party
from dialer.compliance.cadence import CadencePhase, CadenceStatus, cadence_status
from dialer.compliance.engine import check
from dialer.compliance.model import (
    Attempt,
    CampaignState,
    Candidate,
    Consent,
    ContactHistory,
    Decision,
    DialContext,
    HoldReason,
    Note,
    Outcome,
    Reason,
    ReasonCode,
    Resources,
)
from dialer.compliance.packs import (
    CN_BANK,
    DEFAULT_PACK,
    PACKS,
    UK_OFCOM,
    US_REGF,
    AbandonPeriod,
    Cadence,
    RulePack,
    pack_named,
)
from dialer.compliance.windows import DailyWindow

__all__ = [
    "CN_BANK", "DEFAULT_PACK", "PACKS", "UK_OFCOM", "US_REGF",
    "AbandonPeriod", "Attempt", "Cadence", "CadencePhase", "CadenceStatus", "CampaignState",
    "Candidate", "Consent", "ContactHistory", "DailyWindow", "Decision", "DialContext",
    "HoldReason", "Note", "Outcome", "Party", "Reason", "ReasonCode", "Resources", "RulePack",
    "cadence_status", "check", "pack_named",
]  # fmt: skip
