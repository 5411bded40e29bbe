"""When a case is lost-contact after failed calls (pure).

The rule pack lets the dialer call other contacts (relatives, employer) only to
locate a debtor who is lost: every debtor number invalid (an action code decides
that, :mod:`cases.effects`), or 3 consecutive failed attempts, decided here.

Rules:
- only attempts to the debtor's and guarantor's numbers count, taken in the order
  they were placed;
- a *failed* attempt is one where no person was reached: busy, no answer,
  rejected, failed (network), an answering machine, a voicemail left;
- a person answering breaks the run: connected, hung up (answered, then hung up
  before an agent came), abandoned (answered, no agent in time);
- an interrupted attempt (the dialer stopped mid-call) counts neither way: it
  neither adds to the run nor breaks it;
- 3 failed attempts in a row make the case lost-contact, unless it is on hold,
  in legal review, paid, closed or already lost-contact (nothing changes then);
- a lost-contact case gets one field-visit request; none when one is still open.

The caller passes only the attempts after the last lost-contact determination
of the case, so a case found again needs 3 fresh failures to be lost again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cases.domain import CaseStatus, Party
from dialer.campaign import AttemptResult

LOST_AFTER = 3
COUNTED_PARTIES = frozenset({Party.DEBTOR, Party.GUARANTOR})
FAILED = frozenset({
    AttemptResult.BUSY, AttemptResult.NO_ANSWER, AttemptResult.REJECTED,
    AttemptResult.FAILED, AttemptResult.MACHINE, AttemptResult.VOICEMAIL,
})
PERSON_ANSWERED = frozenset({
    AttemptResult.CONNECTED, AttemptResult.HUNG_UP, AttemptResult.ABANDONED,
})
NEUTRAL = frozenset({AttemptResult.INTERRUPTED})
# A case in one of these is left as it is: a hold or legal review is lifted only by
# the bank, a paid or closed case is done, a lost one is lost already.
UNCHANGED = frozenset({
    CaseStatus.ON_HOLD, CaseStatus.LEGAL, CaseStatus.PAID, CaseStatus.CLOSED,
    CaseStatus.LOST_CONTACT,
})


@dataclass(frozen=True, slots=True)
class EndedAttempt:
    """An ended attempt as this rule sees it."""

    attempt_id: int
    party: Party
    result: AttemptResult


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do to the case: mark it lost-contact, and request a field visit."""

    mark_lost: bool
    request_visit: bool
    attempt_ids: tuple[int, ...]  # the failed run that decided it
    reason: str | None


NOTHING = Decision(False, False, (), None)


def may_decide(attempt: EndedAttempt) -> bool:
    """Whether ending `attempt` can make a case lost (only a counted failure can)."""
    return attempt.party in COUNTED_PARTIES and attempt.result in FAILED


def failed_run(attempts: Iterable[EndedAttempt]) -> tuple[EndedAttempt, ...]:
    """The failed attempts at the end of `attempts` (in placed order) with no person
    answering between them; interrupted attempts and other contacts are skipped."""
    run: list[EndedAttempt] = []
    for attempt in attempts:
        if attempt.party not in COUNTED_PARTIES or attempt.result in NEUTRAL:
            continue
        if attempt.result in PERSON_ANSWERED:
            run.clear()
        elif attempt.result in FAILED:
            run.append(attempt)
    return tuple(run)


def decide(
    attempts: Iterable[EndedAttempt], *, status: CaseStatus, on_hold: bool, open_visit: bool
) -> Decision:
    """The decision for a case in `status` whose counted attempts are `attempts`."""
    run = failed_run(attempts)
    if len(run) < LOST_AFTER or on_hold or status in UNCHANGED:
        return NOTHING
    results = ", ".join(str(a.result) for a in run[-LOST_AFTER:])
    reason = (f"lost contact: {len(run)} consecutive failed attempts to the debtor's and"
              f" guarantor's numbers ({results})")
    return Decision(True, not open_visit, tuple(a.attempt_id for a in run), reason)
