"""What a rebuild makes of one agent, from PostgreSQL's profile, what Redis still
had (if anything), the registrar's word and the calls known to be live.

Pure. The rules, in order:

* The person's status is PostgreSQL's (it is durable; the live copy may be ahead
  only when a write failed half-way). An agent holding a call stays ``available``
  while it does, with PostgreSQL's status pending for the call's end, as
  `routing.agent` would have kept a request made during the call.
* The system's state survives from Redis when Redis still has it (a restart, a
  change of queues). After a flush an agent telephony says is bridged to a live
  call is ``talking`` on it again; every other agent starts ``idle`` with no call.
  Timers, skills, queues and the extension always come from PostgreSQL, the
  registration from the registrar.
* No agent stays stuck on a call that is gone: a reservation or a ringing offer
  whose call is not live is released (`Release`, no penalty); a talk whose call is
  not live ends (`CallEnded`, the wrap-up starts now); a wrap-up past its deadline
  times out. A status change these steps apply (a request pending for the call's
  end) is returned for the shell to make durable.
* The version starts above any the agent had and above the current time in
  microseconds, so a writer holding a copy read before the rebuild fails its
  check-and-set even when Redis lost the old version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from routing import state as st
from routing import status as su
from routing.agent import Agent, PendingRequest, apply
from routing.fields import LiveAgent, micros
from routing.roster import SYSTEM, AgentProfile, Changer
from routing.state import AgentState
from routing.status import AgentStatus, StatusChanged


@dataclass(frozen=True, slots=True)
class Recovered:
    live: LiveAgent
    released: str | None = None  # the call the agent no longer holds
    status: StatusChanged | None = None  # a status change made here, to write durably
    by: Changer = SYSTEM  # who asked for that change


def recover(
    profile: AgentProfile,
    queues: frozenset[str],
    previous: LiveAgent | None,
    registered: bool,
    is_live: Callable[[str], bool],
    now: datetime,
    held_call: str | None = None,
) -> Recovered:
    """`held_call`: the call telephony has bridged to this agent's softphone, if any;
    it restores the talk when Redis lost the agent's state."""
    if previous is None and held_call is not None:
        talking = Agent(profile.agent_id, profile.timers, AgentStatus.AVAILABLE,
                        state=AgentState.TALKING, call_id=held_call)  # fmt: skip
        previous = LiveAgent(talking, profile.extension)
    version = max(previous.version + 1 if previous else 0, micros(now))
    agent = _agent(profile, previous)
    live = LiveAgent(
        agent=agent, extension=profile.extension, registered=registered, queues=queues,
        skills=dict(profile.skills), wrap_up_until=previous.wrap_up_until if previous else None,
        pending_by=_pending_by(agent, previous), version=version,
    )  # fmt: skip
    return _settle(live, is_live, now)


def _pending_by(agent: Agent, previous: LiveAgent | None) -> Changer | None:
    if agent.pending is None:
        return None
    if previous is not None and previous.agent.pending == agent.pending:
        return previous.pending_by or SYSTEM
    return SYSTEM


def _agent(profile: AgentProfile, previous: LiveAgent | None) -> Agent:
    timers, status, reason = profile.timers, profile.status, profile.status_reason
    if previous is None:
        return Agent(profile.agent_id, timers, status, reason)
    agent = previous.agent
    if agent.state is AgentState.IDLE:
        return replace(agent, timers=timers, status=status, break_reason=reason, pending=None)
    available = replace(agent, timers=timers, status=AgentStatus.AVAILABLE, break_reason=None)
    if status is AgentStatus.AVAILABLE:
        return available
    return replace(available, pending=_request(profile))


def _request(profile: AgentProfile) -> PendingRequest:
    if profile.status is AgentStatus.ON_BREAK:
        return su.GoOnBreak(profile.status_reason or "break")
    if profile.status is AgentStatus.AFTER_CALL_WORK:
        return su.StartAfterCallWork()
    return su.LogOut()


def _settle(live: LiveAgent, is_live: Callable[[str], bool], now: datetime) -> Recovered:
    agent = live.agent
    call = agent.call_id
    if agent.state is AgentState.IDLE or call is None:
        return Recovered(live)
    if agent.state is AgentState.WRAP_UP:
        if live.wrap_up_until is not None and live.wrap_up_until > now:
            return Recovered(live)
        return _step(live, st.WrapUpTimeout(call), None, now)
    if is_live(call):
        return Recovered(live)
    if agent.state is AgentState.TALKING:
        return _step(live, st.CallEnded(call), call, now)
    return _step(live, st.Release(call), call, now)


def _step(live: LiveAgent, event: st.StateEvent, released: str | None, now: datetime) -> Recovered:
    found = apply(live.agent, event, now)
    after = live.after(found)
    changed = [e for e in found.effects if isinstance(e, StatusChanged)]
    by = live.pending_by or SYSTEM
    return Recovered(after, released, changed[-1] if changed else None, by)


def correction(
    live: LiveAgent, held_call: str | None, is_live: Callable[[str], bool]
) -> tuple[st.StateEvent, ...]:
    """The events that bring an agent's live state back to what telephony says, when
    an event was lost while Redis was unreachable (its connections killed mid-call:
    the record survived, the write did not); () when the two agree. `held_call` is
    the call telephony has bridged to the agent's softphone, if any.

    * bridged to a call but reserved, ringing or idle: the talk is real
      (the missing Offer/Answered, or Reserve/Offer/Answered);
    * not bridged, holding a call that is gone: reserved or ringing is released,
      talking ends (the wrap-up starts);
    * anything else (an offer ringing on a live call, a wrap-up) is left alone."""
    agent = live.agent
    state, call = agent.state, agent.call_id
    if held_call is not None:
        if state is AgentState.IDLE:
            return (st.Reserve(held_call), st.Offer(held_call), st.Answered(held_call))
        if call != held_call:
            return ()
        if state is AgentState.RESERVED:
            return (st.Offer(held_call), st.Answered(held_call))
        if state is AgentState.RINGING:
            return (st.Answered(held_call),)
        return ()
    if call is None or state in (AgentState.IDLE, AgentState.WRAP_UP) or is_live(call):
        return ()
    if state is AgentState.TALKING:
        return (st.CallEnded(call),)
    return (st.Release(call),)
