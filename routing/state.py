"""Agent state: where the agent is in handling a call, as a table (FreeSWITCH
mod_callcenter's *state*, driven by the system; the person's choice is the *status*,
`routing.status`).

Pure. The router and call control feed what happened to the agent's call; the table
gives the next state and the actions to take. `routing.agent` carries the actions
out on the agent's counters (no_answer_count, ready_at, last_call_ended_at) with the
agent's timers and turns them into effects for the shell.

    idle --Reserve--> reserved --Offer--> ringing --Answered--> talking
      ^                  |                   |                     | CallEnded
      |<----Release------+                   |                     v
      |<----NoAnswer / Rejected / Release----+                  wrap_up
      |<-------------------WrapUpDone / WrapUpTimeout--------------+

* ``reserved``: the router has claimed this agent for one answered call (only an
  available, ready agent can be claimed; `routing.agent` checks); the agent's
  softphone is not ringing yet. Claiming first is what stops two routers offering
  one agent two calls.
* ``ringing``: the softphone is being rung (the shell sends `Offer` once the INVITE
  is out). It ends in an answer; a ring-out or an unreachable phone (`NoAnswer`: a
  no-answer counts towards max_no_answer and delays the agent by no_answer_delay);
  a decline (`Rejected`: delays by reject_delay, does not count: the person was
  there); or the call going away on the debtor's side (`Release`: no penalty).
* ``talking``: bridged to the debtor. An answer resets the no-answer count. The
  person may file the call's action code already (`WrapUpDone` while talking).
* ``wrap_up``: after the hang-up the agent is kept out of rotation for wrap_up_time
  to file the action code. It ends at the earlier of the timer (`WrapUpTimeout`) and
  the person saying they are done (`WrapUpDone`, sent by the agent API when the
  code is filed); a code filed during the talk makes the timer zero. A person who
  needs longer chooses the ``after_call_work`` status.
* Entering ``idle`` drops the call; `routing.agent` then applies a status change the
  person asked for during the call.

Every event names its call, so a late event for a call the agent no longer holds (a
timer that fired as the person filed the code) is told apart from an impossible one.
An event the current state does not take raises `AgentStateError`: our bug, or a
stale event the shell should have dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class AgentState(StrEnum):
    IDLE = "idle"
    RESERVED = "reserved"
    RINGING = "ringing"
    TALKING = "talking"
    WRAP_UP = "wrap_up"


# Events, from the router, call control, the agent API and the wrap-up timer.


@dataclass(frozen=True, slots=True)
class Reserve:
    """The router claims the agent for this answered call."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Offer:
    """The agent's softphone is being rung."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Answered:
    call_id: str


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """Rang out, or the softphone could not be reached."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Rejected:
    """The person declined the call on the softphone."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Release:
    """The call went away before the agent answered (the debtor hung up, or the
    router withdrew the offer): no fault of the agent."""

    call_id: str


@dataclass(frozen=True, slots=True)
class CallEnded:
    """Either side hung up the bridged call."""

    call_id: str


@dataclass(frozen=True, slots=True)
class WrapUpDone:
    """The person is done with the call: its action code is filed (agent API)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class WrapUpTimeout:
    """The wrap-up timer started by `StartTimer` fired."""

    call_id: str


StateEvent = (
    Reserve | Offer | Answered | NoAnswer | Rejected | Release | CallEnded | WrapUpDone
    | WrapUpTimeout
)  # fmt: skip


class Action(StrEnum):
    """What a transition does besides changing state; `routing.agent` carries it out."""

    HOLD_CALL = "hold the call"
    RESET_NO_ANSWER = "reset no_answer_count"
    COUNT_NO_ANSWER = "count a no-answer, delay by no_answer_delay, bench at max_no_answer"
    DELAY_REJECT = "delay by reject_delay"
    FILE_CODE = "note the action code is filed"
    START_WRAP_UP = "note the call's end, start the wrap-up timer"
    CANCEL_WRAP_UP = "cancel the wrap-up timer"


# Effects, for the shell.


@dataclass(frozen=True, slots=True)
class StateChanged:
    """Store the live state; tell the agent's screen (a screen-pop when ringing) and
    the supervisors."""

    state: AgentState
    call_id: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Feed `WrapUpTimeout(call_id)` back at `at`."""

    call_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class CancelTimer:
    call_id: str


@dataclass(frozen=True, slots=True)
class SetReadyAt:
    """The agent may not be offered a call before `at`: run the queue again then."""

    at: datetime


StateEffect = StateChanged | StartTimer | CancelTimer | SetReadyAt


@dataclass(frozen=True, slots=True)
class StateStep:
    next: AgentState
    actions: tuple[Action, ...] = ()


St, A = AgentState, Action

TRANSITIONS: dict[tuple[AgentState, type[StateEvent]], StateStep] = {
    (St.IDLE, Reserve): StateStep(St.RESERVED, (A.HOLD_CALL,)),
    (St.RESERVED, Offer): StateStep(St.RINGING),
    (St.RESERVED, Release): StateStep(St.IDLE),
    (St.RINGING, Answered): StateStep(St.TALKING, (A.RESET_NO_ANSWER,)),
    (St.RINGING, NoAnswer): StateStep(St.IDLE, (A.COUNT_NO_ANSWER,)),
    (St.RINGING, Rejected): StateStep(St.IDLE, (A.DELAY_REJECT,)),
    (St.RINGING, Release): StateStep(St.IDLE),
    (St.TALKING, WrapUpDone): StateStep(St.TALKING, (A.FILE_CODE,)),
    (St.TALKING, CallEnded): StateStep(St.WRAP_UP, (A.START_WRAP_UP,)),
    (St.WRAP_UP, WrapUpDone): StateStep(St.IDLE, (A.CANCEL_WRAP_UP,)),
    (St.WRAP_UP, WrapUpTimeout): StateStep(St.IDLE),
}


class AgentStateError(RuntimeError):
    """The agent was fed an event its state does not take."""


class StaleEventError(AgentStateError):
    """The event is about a call the agent does not hold (any more): drop it."""


class AgentNotReadyError(AgentStateError):
    """The router tried to claim an agent who is not available or not ready yet."""


def step(state: AgentState, event: StateEvent) -> StateStep:
    found = TRANSITIONS.get((state, type(event)))
    if found is None:
        raise AgentStateError(
            f"an agent in state {state} cannot take {type(event).__name__} ({event.call_id})"
        )
    return found
