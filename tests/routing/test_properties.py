"""Properties over any sequence of events (pure): whatever events arrive, in whatever
order and timing, a request is only ever refused as the person's mistake, a call
event only as a misfit, and routing's invariants hold after every step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing import state as sm
from routing import status as su
from routing.agent import Agent, AgentTimers, Event, apply
from routing.eligibility import AgentView, Queue, is_eligible
from routing.state import AgentState, AgentStateError
from routing.status import AgentStatus, StatusError
from tests.routing.build import NOW

REQUESTS: list[Event] = [
    su.LogIn(), su.LogOut(), su.BecomeAvailable(), su.StartAfterCallWork(),
    su.GoOnBreak("lunch"), su.GoOnBreak("training"),
]  # fmt: skip
CALL_EVENTS: tuple[Callable[[str], Event], ...] = (
    sm.Reserve, sm.Offer, sm.Answered, sm.NoAnswer, sm.Rejected, sm.Release, sm.CallEnded,
    sm.WrapUpDone, sm.WrapUpTimeout,
)  # fmt: skip
SECONDS = st.integers(0, 30).map(lambda s: timedelta(seconds=s))
TIMERS = st.builds(
    AgentTimers, wrap_up_time=SECONDS, no_answer_delay=SECONDS,
    max_no_answer=st.integers(0, 4), reject_delay=SECONDS,
)  # fmt: skip
QUEUE = Queue("cards")


def next_event(data: st.DataObject, agent: Agent) -> Event:
    """A request, or a call event: mostly one the agent's state takes, about the
    agent's own call; sometimes any event, about any call."""
    choice = data.draw(st.integers(0, 5))
    if choice == 0:
        return data.draw(st.sampled_from(REQUESTS))
    if choice == 1:
        return data.draw(st.sampled_from(CALL_EVENTS))(data.draw(st.sampled_from(["c1", "c2"])))
    taken = [kind for kind in CALL_EVENTS if (agent.state, kind) in sm.TRANSITIONS]
    return data.draw(st.sampled_from(taken))(agent.call_id or "c1")


def check(agent: Agent, view: AgentView, eligible: bool) -> None:
    assert not (eligible and agent.state is AgentState.TALKING)
    assert not (eligible and not view.registered)
    # A call is held exactly outside idle, and only by an available agent.
    assert (agent.call_id is None) is (agent.state is AgentState.IDLE)
    assert agent.state is AgentState.IDLE or agent.status is AgentStatus.AVAILABLE
    # A request deferred during a call never outlives it.
    assert agent.pending is None or agent.state is not AgentState.IDLE
    assert (agent.break_reason is not None) is (agent.status is AgentStatus.ON_BREAK)
    limit = agent.timers.max_no_answer
    assert limit == 0 or 0 <= agent.no_answer_count < limit


@settings(max_examples=200, deadline=None)
@given(TIMERS, st.data())
def test_any_sequence_of_events_keeps_the_invariants(
    timers: AgentTimers, data: st.DataObject
) -> None:
    agent = Agent("a1", timers)
    now = NOW
    for _ in range(data.draw(st.integers(1, 50))):
        now += data.draw(SECONDS)
        event = next_event(data, agent)
        refusal = StatusError if isinstance(event, su.STATUS_EVENTS) else AgentStateError
        try:
            agent = apply(agent, event, now).agent
        except refusal:
            continue
        view = AgentView(agent, data.draw(st.booleans()), frozenset({"cards"}))
        eligible = is_eligible(view, QUEUE, now)
        check(agent, view, eligible)
        if eligible:  # and what the predicate admits, the agent accepts
            assert apply(agent, sm.Reserve("c9"), now).agent.state is AgentState.RESERVED
