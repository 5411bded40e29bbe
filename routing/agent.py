"""One agent as the router sees it: the person's status, the system's state and the
counters mod_callcenter keeps (no_answer_count, ready_at, last call end), as a value.

Pure. `apply(agent, event, now)` takes a status request (`routing.status`) or a call
event (`routing.state`) and returns the next agent and the effects for the shell, in
order. `now` is aware UTC, always passed in. Rules on top of the two tables:

* Only an ``available`` agent whose ready_at has passed can be reserved
  (`AgentNotReadyError` otherwise: the router tries the next agent). So while the
  agent holds a call (any state but ``idle``) their status is ``available``.
* A status request made while the agent holds a call does not interrupt the call and
  does not change the status yet: it is checked against the table, kept as
  ``pending`` (the latest wins, `BecomeAvailable` withdraws it) and applied in the
  same step that returns the agent to ``idle``, after the wrap-up. A break asked for
  during a call starts when the call's work is done; a logout likewise waits, because
  the person must still file the call's action code. Applying it in the step that
  enters ``idle`` means there is no moment at which an idle, available agent with a
  break pending could be offered a call.
* A no-answer sets ready_at = now + no_answer_delay and counts; at max_no_answer
  no-answers in a row (0: never) the agent is put on break with reason
  "max_no_answer" and the count starts again. An answer resets the count; a
  decline neither counts nor breaks the run: it sets ready_at = now + reject_delay.
* After a call the agent wraps up for wrap_up_time (zero if the code was filed
  during the talk) unless they say they are done first.
* An event about a call the agent does not hold raises `StaleEventError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from routing import state as st
from routing import status as su
from routing.state import Action, AgentState, StateEffect, StateEvent
from routing.status import AgentStatus, StatusEffect, StatusEvent

MAX_NO_ANSWER_REASON = "max_no_answer"


@dataclass(frozen=True, slots=True)
class AgentTimers:
    """Per-agent timing, named as mod_callcenter names its agent parameters."""

    wrap_up_time: timedelta = timedelta(seconds=30)
    no_answer_delay: timedelta = timedelta(seconds=30)
    max_no_answer: int = 3  # no-answers in a row before a break; 0: never
    reject_delay: timedelta = timedelta(seconds=90)

    def __post_init__(self) -> None:
        delays = (self.wrap_up_time, self.no_answer_delay, self.reject_delay)
        if min(delays) < timedelta(0) or self.max_no_answer < 0:
            raise ValueError(f"agent timers must not be negative: {self!r}")


PendingRequest = su.LogOut | su.GoOnBreak | su.StartAfterCallWork


@dataclass(frozen=True, slots=True)
class Agent:
    agent_id: str
    timers: AgentTimers = AgentTimers()
    status: AgentStatus = AgentStatus.LOGGED_OUT
    break_reason: str | None = None
    state: AgentState = AgentState.IDLE
    call_id: str | None = None  # the call held in any state but idle
    code_filed: bool = False  # the held call's action code is filed
    pending: PendingRequest | None = None  # status asked for during the held call
    no_answer_count: int = 0
    ready_at: datetime | None = None  # not offered a call before this
    last_call_ended_at: datetime | None = None  # for longest idle; None: no call yet

    def is_ready(self, now: datetime) -> bool:
        return self.ready_at is None or self.ready_at <= now


@dataclass(frozen=True, slots=True)
class RequestDeferred:
    """Tell the agent's screen the status they asked for waits for the call's end
    (None: the earlier request was withdrawn)."""

    request: PendingRequest | None


Event = StatusEvent | StateEvent
Effect = StatusEffect | StateEffect | RequestDeferred


@dataclass(frozen=True, slots=True)
class AgentStep:
    agent: Agent
    effects: tuple[Effect, ...] = ()


def apply(agent: Agent, event: Event, now: datetime) -> AgentStep:
    """The agent after `event` at `now`, with the effects for the shell to execute.

    Raises `routing.status.StatusError` for a refused request and
    `routing.state.AgentStateError` (or its subclasses) for a call event that does
    not fit; the agent is unchanged then."""
    if now.tzinfo is None or now.utcoffset() != timedelta(0):
        raise ValueError(f"now must be aware UTC, got {now!r}")
    if isinstance(event, su.STATUS_EVENTS):
        return _request(agent, event)
    return _happen(agent, event, now)


# Status requests.


def _request(agent: Agent, event: StatusEvent) -> AgentStep:
    if agent.state is AgentState.IDLE:
        return _change_status(agent, event)
    if isinstance(event, su.BecomeAvailable):
        return AgentStep(replace(agent, pending=None), (RequestDeferred(None),))
    su.step(agent.status, event)  # refuse now what could not be applied later
    assert not isinstance(event, su.LogIn)  # refused above: the agent is available
    return AgentStep(replace(agent, pending=event), (RequestDeferred(event),))


def _change_status(agent: Agent, event: StatusEvent) -> AgentStep:
    found = su.step(agent.status, event)
    changed = replace(agent, status=found.status, break_reason=found.reason)
    return AgentStep(changed, found.effects)


# Call events.


def _happen(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    _check_call(agent, event, now)
    found = st.step(agent.state, event)
    moved = replace(agent, state=found.next)
    changed = found.next is not agent.state
    result = AgentStep(moved, (st.StateChanged(found.next, event.call_id),) if changed else ())
    for action in found.actions:
        result = _chain(result, _ACTIONS[action](result.agent, event, now))
    if found.next is AgentState.IDLE:
        result = _chain(result, _back_to_idle(result.agent))
    return result


def _check_call(agent: Agent, event: StateEvent, now: datetime) -> None:
    if isinstance(event, st.Reserve):
        if agent.status is not AgentStatus.AVAILABLE or not agent.is_ready(now):
            raise st.AgentNotReadyError(
                f"agent {agent.agent_id} is {agent.status}, ready at {agent.ready_at}"
            )
    elif event.call_id != agent.call_id:
        raise st.StaleEventError(
            f"agent {agent.agent_id} holds call {agent.call_id}, not {event.call_id}"
        )


def _chain(first: AgentStep, then: AgentStep) -> AgentStep:
    return AgentStep(then.agent, first.effects + then.effects)


def _back_to_idle(agent: Agent) -> AgentStep:
    idle = replace(agent, call_id=None, code_filed=False, pending=None)
    if agent.pending is None:
        return AgentStep(idle)
    return _change_status(idle, agent.pending)


_Handler = Callable[[Agent, StateEvent, datetime], AgentStep]


def _hold_call(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    return AgentStep(replace(agent, call_id=event.call_id, code_filed=False))


def _reset_no_answer(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    return AgentStep(replace(agent, no_answer_count=0))


def _count_no_answer(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    ready_at = now + agent.timers.no_answer_delay
    count = agent.no_answer_count + 1
    delayed = AgentStep(
        replace(agent, no_answer_count=count, ready_at=ready_at), (st.SetReadyAt(ready_at),)
    )
    if agent.timers.max_no_answer == 0 or count < agent.timers.max_no_answer:
        return delayed
    benched = _change_status(
        replace(delayed.agent, no_answer_count=0), su.GoOnBreak(MAX_NO_ANSWER_REASON)
    )
    return _chain(delayed, benched)


def _delay_reject(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    ready_at = now + agent.timers.reject_delay
    return AgentStep(replace(agent, ready_at=ready_at), (st.SetReadyAt(ready_at),))


def _file_code(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    return AgentStep(replace(agent, code_filed=True))


def _start_wrap_up(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    at = now if agent.code_filed else now + agent.timers.wrap_up_time
    return AgentStep(replace(agent, last_call_ended_at=now), (st.StartTimer(event.call_id, at),))


def _cancel_wrap_up(agent: Agent, event: StateEvent, now: datetime) -> AgentStep:
    return AgentStep(agent, (st.CancelTimer(event.call_id),))


_ACTIONS: dict[Action, _Handler] = {
    Action.HOLD_CALL: _hold_call,
    Action.RESET_NO_ANSWER: _reset_no_answer,
    Action.COUNT_NO_ANSWER: _count_no_answer,
    Action.DELAY_REJECT: _delay_reject,
    Action.FILE_CODE: _file_code,
    Action.START_WRAP_UP: _start_wrap_up,
    Action.CANCEL_WRAP_UP: _cancel_wrap_up,
}
