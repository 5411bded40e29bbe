"""The agent value (pure): the two tables together with the counters and timers."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from routing.agent import MAX_NO_ANSWER_REASON, Agent, AgentTimers, RequestDeferred, apply
from routing.state import (
    AgentNotReadyError,
    AgentState,
    Answered,
    CallEnded,
    CancelTimer,
    NoAnswer,
    Offer,
    Rejected,
    Release,
    Reserve,
    SetReadyAt,
    StaleEventError,
    StartTimer,
    StateChanged,
    WrapUpDone,
    WrapUpTimeout,
)
from routing.status import (
    AgentStatus,
    BecomeAvailable,
    GoOnBreak,
    LeaveQueues,
    LogIn,
    LogOut,
    StartAfterCallWork,
    StatusChanged,
    StatusError,
    StatusEvent,
)
from tests.routing.build import NOW, TIMERS, available, later, ringing, run, talking, wrapping_up


def ring_out(agent: Agent, call_id: str, at: datetime) -> Agent:
    return run(agent, Reserve(call_id), Offer(call_id), NoAnswer(call_id), at=at)[0]


def test_a_no_answer_delays_the_agent_by_no_answer_delay() -> None:
    agent, effects = run(ringing("c1"), NoAnswer("c1"))
    assert (agent.state, agent.call_id, agent.no_answer_count) == (AgentState.IDLE, None, 1)
    assert agent.ready_at == NOW + TIMERS.no_answer_delay
    assert effects == [
        StateChanged(AgentState.IDLE, "c1"), SetReadyAt(NOW + TIMERS.no_answer_delay),
    ]  # fmt: skip
    with pytest.raises(AgentNotReadyError):
        apply(agent, Reserve("c2"), later(14))
    assert apply(agent, Reserve("c2"), later(15)).agent.state is AgentState.RESERVED


def test_a_decline_delays_by_reject_delay_and_does_not_count_as_no_answer() -> None:
    agent, effects = run(ringing("c1"), Rejected("c1"))
    assert agent.ready_at == NOW + TIMERS.reject_delay
    assert SetReadyAt(NOW + TIMERS.reject_delay) in effects
    assert agent.no_answer_count == 0


def test_a_call_withdrawn_before_the_answer_costs_the_agent_nothing() -> None:
    for agent in (run(available(), Reserve("c1"))[0], ringing("c1")):
        released = apply(agent, Release("c1"), NOW).agent
        assert (released.state, released.ready_at, released.no_answer_count) == (
            AgentState.IDLE, None, 0,
        )  # fmt: skip


def test_max_no_answer_in_a_row_puts_the_agent_on_break() -> None:
    agent = available()
    for n in range(2):
        agent = ring_out(agent, f"c{n}", later(60 * n))
    assert agent.status is AgentStatus.AVAILABLE
    agent, effects = run(agent, Reserve("c2"), Offer("c2"), NoAnswer("c2"), at=later(120))
    assert (agent.status, agent.break_reason) == (AgentStatus.ON_BREAK, MAX_NO_ANSWER_REASON)
    assert effects[-1] == StatusChanged(AgentStatus.ON_BREAK, MAX_NO_ANSWER_REASON)
    assert agent.no_answer_count == 0  # back from the break, a fresh count
    with pytest.raises(AgentNotReadyError):
        apply(agent, Reserve("c3"), later(3600))


def test_an_answer_breaks_the_run_of_no_answers() -> None:
    agent = ring_out(ring_out(available(), "c1", NOW), "c2", later(60))
    agent = run(talking("c3", agent, later(120)), CallEnded("c3"), WrapUpDone("c3"))[0]
    assert agent.no_answer_count == 0
    agent = ring_out(ring_out(agent, "c4", later(180)), "c5", later(240))
    assert agent.status is AgentStatus.AVAILABLE


def test_max_no_answer_zero_never_benches() -> None:
    agent = available(timers=AgentTimers(max_no_answer=0))
    for n in range(10):
        agent = ring_out(agent, f"c{n}", later(60 * n))
    assert (agent.status, agent.no_answer_count) == (AgentStatus.AVAILABLE, 10)


def test_after_the_call_wrap_up_lasts_wrap_up_time() -> None:
    agent, effects = run(talking("c1"), CallEnded("c1"))
    assert (agent.state, agent.last_call_ended_at) == (AgentState.WRAP_UP, NOW)
    assert effects == [
        StateChanged(AgentState.WRAP_UP, "c1"), StartTimer("c1", NOW + TIMERS.wrap_up_time),
    ]  # fmt: skip
    agent, effects = run(agent, WrapUpTimeout("c1"), at=later(20))
    assert (agent.state, agent.call_id) == (AgentState.IDLE, None)
    assert agent.status is AgentStatus.AVAILABLE
    assert effects == [StateChanged(AgentState.IDLE, "c1")]


def test_filing_the_code_in_wrap_up_ends_it_early_and_a_late_timer_is_stale() -> None:
    agent, effects = run(wrapping_up("c1"), WrapUpDone("c1"), at=later(5))
    assert agent.state is AgentState.IDLE
    assert effects == [StateChanged(AgentState.IDLE, "c1"), CancelTimer("c1")]
    with pytest.raises(StaleEventError):
        apply(agent, WrapUpTimeout("c1"), later(20))


def test_a_code_filed_during_the_talk_makes_the_wrap_up_timer_zero() -> None:
    agent, effects = run(talking("c1"), WrapUpDone("c1"), CallEnded("c1"), at=later(90))
    assert StartTimer("c1", later(90)) in effects
    assert apply(agent, WrapUpTimeout("c1"), later(90)).agent.state is AgentState.IDLE


def test_events_about_another_call_are_stale() -> None:
    with pytest.raises(StaleEventError, match="holds call c1, not c9"):
        apply(talking("c1"), CallEnded("c9"), NOW)
    with pytest.raises(StaleEventError):
        apply(available(), Answered("c1"), NOW)


def test_a_break_asked_for_during_a_call_starts_after_the_wrap_up() -> None:
    agent, effects = run(talking("c1"), GoOnBreak("lunch"))
    assert (agent.status, agent.state) == (AgentStatus.AVAILABLE, AgentState.TALKING)
    assert effects == [RequestDeferred(GoOnBreak("lunch"))]
    agent = run(agent, CallEnded("c1"))[0]
    assert agent.status is AgentStatus.AVAILABLE
    agent, effects = run(agent, WrapUpTimeout("c1"), at=later(20))
    assert (agent.status, agent.break_reason, agent.state, agent.pending) == (
        AgentStatus.ON_BREAK, "lunch", AgentState.IDLE, None,
    )  # fmt: skip
    assert effects == [
        StateChanged(AgentState.IDLE, "c1"), StatusChanged(AgentStatus.ON_BREAK, "lunch"),
    ]  # fmt: skip


def test_a_logout_during_a_call_waits_for_the_wrap_up() -> None:
    agent = run(talking("c1"), LogOut(), CallEnded("c1"))[0]
    assert agent.status is AgentStatus.AVAILABLE
    agent, effects = run(agent, WrapUpDone("c1"))
    assert agent.status is AgentStatus.LOGGED_OUT
    assert effects[-2:] == [LeaveQueues(), StatusChanged(AgentStatus.LOGGED_OUT)]


def test_the_latest_request_during_a_call_wins_and_available_withdraws_it() -> None:
    agent = run(ringing("c1"), LogOut(), StartAfterCallWork())[0]
    assert agent.pending == StartAfterCallWork()
    agent, effects = run(agent, BecomeAvailable())
    assert (agent.pending, effects) == (None, [RequestDeferred(None)])
    assert run(agent, NoAnswer("c1"))[0].status is AgentStatus.AVAILABLE


def test_a_request_impossible_after_the_call_is_refused_during_it() -> None:
    with pytest.raises(StatusError):
        apply(talking("c1"), LogIn(), NOW)


def test_benched_at_max_no_answer_with_a_logout_pending_ends_logged_out() -> None:
    agent = available(timers=AgentTimers(max_no_answer=1))
    agent, effects = run(agent, Reserve("c1"), Offer("c1"), LogOut(), NoAnswer("c1"))
    assert agent.status is AgentStatus.LOGGED_OUT
    assert StatusChanged(AgentStatus.ON_BREAK, MAX_NO_ANSWER_REASON) in effects


@pytest.mark.parametrize("request_", [GoOnBreak("lunch"), StartAfterCallWork(), LogOut()])
def test_only_an_available_agent_can_be_reserved(request_: StatusEvent) -> None:
    agent = run(available(), request_)[0]
    with pytest.raises(AgentNotReadyError, match=f"is {agent.status}"):
        apply(agent, Reserve("c1"), NOW)


def test_time_must_be_aware_utc() -> None:
    with pytest.raises(ValueError, match="aware UTC"):
        apply(available(), Reserve("c1"), NOW.replace(tzinfo=None))


def test_timers_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        AgentTimers(no_answer_delay=timedelta(seconds=-1))
    with pytest.raises(ValueError, match="negative"):
        AgentTimers(max_no_answer=-1)
