"""The status table (pure): what the person may ask for from each status."""

from __future__ import annotations

import pytest

from routing.status import (
    TRANSITIONS,
    AgentStatus,
    BecomeAvailable,
    GoOnBreak,
    JoinQueues,
    LeaveQueues,
    LogIn,
    LogOut,
    StartAfterCallWork,
    StatusChanged,
    StatusError,
    StatusEvent,
    step,
)

S = AgentStatus
EVENTS: list[StatusEvent] = [
    LogIn(), LogOut(), BecomeAvailable(), GoOnBreak("lunch"), StartAfterCallWork(),
]  # fmt: skip

# The rules, written out independently of the module's table.
LEGAL: dict[tuple[AgentStatus, type[StatusEvent]], AgentStatus] = {
    (S.LOGGED_OUT, LogIn): S.AVAILABLE,
    (S.AVAILABLE, LogOut): S.LOGGED_OUT,
    (S.AVAILABLE, GoOnBreak): S.ON_BREAK,
    (S.AVAILABLE, StartAfterCallWork): S.AFTER_CALL_WORK,
    (S.ON_BREAK, LogOut): S.LOGGED_OUT,
    (S.ON_BREAK, BecomeAvailable): S.AVAILABLE,
    (S.ON_BREAK, GoOnBreak): S.ON_BREAK,
    (S.ON_BREAK, StartAfterCallWork): S.AFTER_CALL_WORK,
    (S.AFTER_CALL_WORK, LogOut): S.LOGGED_OUT,
    (S.AFTER_CALL_WORK, BecomeAvailable): S.AVAILABLE,
    (S.AFTER_CALL_WORK, GoOnBreak): S.ON_BREAK,
}
ILLEGAL = [(s, e) for s in S for e in EVENTS if (s, type(e)) not in LEGAL]


def test_the_table_is_exactly_the_rules() -> None:
    assert TRANSITIONS == LEGAL


@pytest.mark.parametrize(
    ("status", "event"), [(s, e) for s in S for e in EVENTS if (s, type(e)) in LEGAL]
)
def test_every_legal_request_reports_the_new_status(
    status: AgentStatus, event: StatusEvent
) -> None:
    found = step(status, event)
    assert found.status is LEGAL[status, type(event)]
    assert StatusChanged(found.status, found.reason) in found.effects


@pytest.mark.parametrize(("status", "event"), ILLEGAL)
def test_every_other_request_is_refused_as_a_conflict(
    status: AgentStatus, event: StatusEvent
) -> None:
    with pytest.raises(StatusError) as refused:
        step(status, event)
    assert refused.value.error_id == "agent_status_conflict"
    assert refused.value.details["status"] == status


def test_a_refusal_says_what_was_asked_from_what() -> None:
    with pytest.raises(StatusError, match="logged_out cannot go on break"):
        step(S.LOGGED_OUT, GoOnBreak("lunch"))


def test_login_joins_the_queues_and_logout_leaves_them_first() -> None:
    assert step(S.LOGGED_OUT, LogIn()).effects == (StatusChanged(S.AVAILABLE), JoinQueues())
    assert step(S.ON_BREAK, LogOut()).effects == (LeaveQueues(), StatusChanged(S.LOGGED_OUT))


def test_a_break_carries_its_reason_and_a_second_break_changes_it() -> None:
    assert step(S.AVAILABLE, GoOnBreak("lunch")).reason == "lunch"
    again = step(S.ON_BREAK, GoOnBreak("training"))
    assert (again.status, again.effects) == (S.ON_BREAK, (StatusChanged(S.ON_BREAK, "training"),))
    assert step(S.ON_BREAK, BecomeAvailable()).reason is None


def test_a_break_needs_a_reason() -> None:
    with pytest.raises(ValueError, match="reason"):
        GoOnBreak("  ")
