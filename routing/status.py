"""Agent status: what the person has chosen, as a table (FreeSWITCH mod_callcenter's
*status*, as opposed to the *state* the system drives, in `routing.state`).

Pure. The agent API feeds the person's requests; the table says which status follows
and the step lists the effects the shell executes (write the live status to Redis,
tell the agent's screen and the supervisors, add or drop the agent from the queues).

Statuses and the rules between them:

* ``logged_out``: no session. Only `LogIn` is accepted; it makes the agent
  ``available`` and joins their queues.
* ``available``: the person is ready to take calls. Whether a call is actually
  offered also needs the state (idle), ready_at, a registered softphone, queue and
  skills: `routing.eligibility`.
* ``on_break``: not taking calls, with a reason ("lunch", "training", or
  "max_no_answer" when the system benched an agent who let calls ring out). Going on
  break again while on break only changes the reason.
* ``after_call_work``: the person needs more time after a call than the automatic
  wrap-up gives (notes, a callback to schedule); open-ended, ended by the person.
  Distinct from the ``wrap_up`` *state*, which the system times with wrap_up_time.
* Every logged-in status can log out (leaving the queues) or switch to any other
  logged-in status; asking for the status one already has is refused, except
  `GoOnBreak`, which re-states the reason.

A refused request is the person's mistake (a stale screen, a double click), not ours:
it raises `StatusError`, a `Conflict` with a stable error id the API answers 409 to.
What happens to requests made during a call is decided in `routing.agent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from cases.errors import Conflict


class AgentStatus(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    ON_BREAK = "on_break"
    AFTER_CALL_WORK = "after_call_work"


# Requests, from the person through the agent API (or from the system's own rules).


@dataclass(frozen=True, slots=True)
class LogIn:
    """Start a session: available, in the agent's queues."""


@dataclass(frozen=True, slots=True)
class LogOut:
    """End the session: out of the queues."""


@dataclass(frozen=True, slots=True)
class BecomeAvailable:
    """Ready for calls again (after a break or after-call work)."""


@dataclass(frozen=True, slots=True)
class GoOnBreak:
    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ValueError("a break needs a reason")


@dataclass(frozen=True, slots=True)
class StartAfterCallWork:
    """Stay out of rotation to finish the work a call left."""


StatusEvent = LogIn | LogOut | BecomeAvailable | GoOnBreak | StartAfterCallWork
STATUS_EVENTS = (LogIn, LogOut, BecomeAvailable, GoOnBreak, StartAfterCallWork)


# Effects, for the shell.


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """Store the live status and tell the agent's screen and the supervisors."""

    status: AgentStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class JoinQueues:
    """Add the agent to the live member sets of their queues."""


@dataclass(frozen=True, slots=True)
class LeaveQueues:
    """Drop the agent from the live member sets of their queues."""


StatusEffect = StatusChanged | JoinQueues | LeaveQueues

S = AgentStatus
_LOGGED_IN = (S.AVAILABLE, S.ON_BREAK, S.AFTER_CALL_WORK)

TRANSITIONS: dict[tuple[AgentStatus, type[StatusEvent]], AgentStatus] = {
    (S.LOGGED_OUT, LogIn): S.AVAILABLE,
    (S.AVAILABLE, GoOnBreak): S.ON_BREAK,
    (S.AVAILABLE, StartAfterCallWork): S.AFTER_CALL_WORK,
    (S.ON_BREAK, BecomeAvailable): S.AVAILABLE,
    (S.ON_BREAK, GoOnBreak): S.ON_BREAK,
    (S.ON_BREAK, StartAfterCallWork): S.AFTER_CALL_WORK,
    (S.AFTER_CALL_WORK, BecomeAvailable): S.AVAILABLE,
    (S.AFTER_CALL_WORK, GoOnBreak): S.ON_BREAK,
    **{(s, LogOut): S.LOGGED_OUT for s in _LOGGED_IN},
}


class StatusError(Conflict):
    """The person asked for a status change their current status does not allow."""


@dataclass(frozen=True, slots=True)
class StatusStep:
    status: AgentStatus
    reason: str | None  # the break's reason when on break, else None
    effects: tuple[StatusEffect, ...]


def step(status: AgentStatus, event: StatusEvent) -> StatusStep:
    """The status after `event` and what the shell must do; raises `StatusError`."""
    found = TRANSITIONS.get((status, type(event)))
    if found is None:
        raise StatusError(
            "agent_status_conflict",
            f"an agent who is {status} cannot {_describe(event)}",
            {"status": str(status), "request": _describe(event)},
        )
    reason = event.reason if isinstance(event, GoOnBreak) else None
    effects: tuple[StatusEffect, ...] = (StatusChanged(found, reason),)
    if isinstance(event, LogIn):
        effects += (JoinQueues(),)
    elif isinstance(event, LogOut):
        effects = (LeaveQueues(), *effects)
    return StatusStep(found, reason, effects)


_DESCRIPTIONS: dict[type[StatusEvent], str] = {
    LogIn: "log in",
    LogOut: "log out",
    BecomeAvailable: "become available",
    GoOnBreak: "go on break",
    StartAfterCallWork: "start after-call work",
}


def _describe(event: StatusEvent) -> str:
    return _DESCRIPTIONS[type(event)]
