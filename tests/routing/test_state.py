"""The state table (pure): which call events each state takes, and what they do."""

from __future__ import annotations

import pytest

from routing.state import (
    TRANSITIONS,
    Action,
    AgentState,
    AgentStateError,
    Answered,
    CallEnded,
    NoAnswer,
    Offer,
    Rejected,
    Release,
    Reserve,
    StateEvent,
    StateStep,
    WrapUpDone,
    WrapUpTimeout,
    step,
)

St, A = AgentState, Action
EVENTS: list[StateEvent] = [
    Reserve("c1"), Offer("c1"), Answered("c1"), NoAnswer("c1"), Rejected("c1"),
    Release("c1"), CallEnded("c1"), WrapUpDone("c1"), WrapUpTimeout("c1"),
]  # fmt: skip

# The rules, written out independently of the module's table.
LEGAL: dict[tuple[AgentState, type[StateEvent]], tuple[AgentState, tuple[Action, ...]]] = {
    (St.IDLE, Reserve): (St.RESERVED, (A.HOLD_CALL,)),
    (St.RESERVED, Offer): (St.RINGING, ()),
    (St.RESERVED, Release): (St.IDLE, ()),
    (St.RINGING, Answered): (St.TALKING, (A.RESET_NO_ANSWER,)),
    (St.RINGING, NoAnswer): (St.IDLE, (A.COUNT_NO_ANSWER,)),
    (St.RINGING, Rejected): (St.IDLE, (A.DELAY_REJECT,)),
    (St.RINGING, Release): (St.IDLE, ()),
    (St.TALKING, WrapUpDone): (St.TALKING, (A.FILE_CODE,)),
    (St.TALKING, CallEnded): (St.WRAP_UP, (A.START_WRAP_UP,)),
    (St.WRAP_UP, WrapUpDone): (St.IDLE, (A.CANCEL_WRAP_UP,)),
    (St.WRAP_UP, WrapUpTimeout): (St.IDLE, ()),
}


def test_the_table_is_exactly_the_rules() -> None:
    assert {key: StateStep(*value) for key, value in LEGAL.items()} == TRANSITIONS


@pytest.mark.parametrize(
    ("state", "event"), [(s, e) for s in St for e in EVENTS if (s, type(e)) in LEGAL]
)
def test_every_legal_event_moves_as_the_rules_say(state: AgentState, event: StateEvent) -> None:
    found = step(state, event)
    assert (found.next, found.actions) == LEGAL[state, type(event)]


@pytest.mark.parametrize(
    ("state", "event"), [(s, e) for s in St for e in EVENTS if (s, type(e)) not in LEGAL]
)
def test_every_other_event_raises(state: AgentState, event: StateEvent) -> None:
    with pytest.raises(AgentStateError, match=f"state {state} cannot take"):
        step(state, event)


def test_a_call_in_progress_cannot_be_claimed_or_hung_up_twice() -> None:
    for state in (St.RESERVED, St.RINGING, St.TALKING, St.WRAP_UP):
        with pytest.raises(AgentStateError):
            step(state, Reserve("c2"))
    with pytest.raises(AgentStateError):
        step(St.WRAP_UP, CallEnded("c1"))
