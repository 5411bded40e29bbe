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
`native` compiles the engine's modules with mypyc; the compiled ones are imported
instead while they match the sources (`COMPILED_ENGINE` says which run).
"""

from dialer.compliance import native as _native

_built = _native.usable_path()
if _built is not None:  # the compiled modules are found before the sources
    __path__.insert(0, _built)

from cases.domain import Party  # noqa: E402 (after the choice of modules)
from dialer.compliance import engine as _engine_module  # noqa: E402
from dialer.compliance.cadence import CadencePhase, CadenceStatus, cadence_status  # noqa: E402
from dialer.compliance.engine import check  # noqa: E402
from dialer.compliance.model import (  # noqa: E402
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
from dialer.compliance.packs import (  # noqa: E402
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
from dialer.compliance.windows import DailyWindow  # noqa: E402

# Whether the modules running are the compiled ones (`native`).
COMPILED_ENGINE = not _engine_module.__file__.endswith(".py")

__all__ = [
    "CN_BANK", "COMPILED_ENGINE", "DEFAULT_PACK", "PACKS", "UK_OFCOM", "US_REGF",
    "AbandonPeriod", "Attempt", "Cadence", "CadencePhase", "CadenceStatus", "CampaignState",
    "Candidate", "Consent", "ContactHistory", "DailyWindow", "Decision", "DialContext",
    "HoldReason", "Note", "Outcome", "Party", "Reason", "ReasonCode", "Resources", "RulePack",
    "cadence_status", "check", "pack_named",
]  # fmt: skip
