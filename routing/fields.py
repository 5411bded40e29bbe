"""The live agent as Redis keeps it: `LiveAgent`, and its hash fields as a
parse/serialize pair (`LiveAgent.parse(fields)`, `live.fields()`).

Pure. A live agent is the routing core's `Agent` plus what the live state needs
around it: the softphone's registration, the agent's queues and skills (to place it
in the queues' ready sets, `routing.placement`), the wrap-up timer's deadline (so a
rebuild can tell an overdue wrap-up) and who asked for a deferred status change (so
the status history names them when it applies). Times are integer microseconds
since the Unix epoch (aware UTC back); the reservation script compares ``ready_at``
with its own ``now`` in the same unit.

Two fields are the scripts' own and not part of the value: ``version`` (bumped by
every write, the check-and-set that makes a stale writer fail) is read into
`LiveAgent.version` but never written from here, and ``placed`` (the ready sets the
agent is in) is only read by the scripts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from routing import status as su
from routing.agent import Agent, AgentStep, AgentTimers, PendingRequest, RequestDeferred
from routing.eligibility import AgentView, Queue
from routing.roster import ChangedBy, Changer
from routing.state import AgentState, CancelTimer, StartTimer
from routing.status import AgentStatus

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class LiveRecordError(ValueError):
    """A live agent hash that does not parse (missing or malformed field)."""


@dataclass(frozen=True, slots=True)
class LiveAgent:
    agent: Agent
    extension: str
    registered: bool = False
    queues: frozenset[str] = frozenset()  # routing ids of the agent's queues
    skills: Mapping[str, int] = field(default_factory=dict)
    wrap_up_until: datetime | None = None  # the wrap-up timer's deadline
    pending_by: Changer | None = None  # who asked for agent.pending
    version: int = 0

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id

    @property
    def view(self) -> AgentView:
        return AgentView(self.agent, self.registered, self.queues, self.skills)

    def after(self, step: AgentStep, by: Changer | None = None) -> LiveAgent:
        """This record once `step` is done: its agent, the wrap-up deadline its timer
        effects set or cancel, and `by` as the asker of a request it deferred."""
        until, pending_by = self.wrap_up_until, self.pending_by
        for effect in step.effects:
            if isinstance(effect, StartTimer):
                until = effect.at
            elif isinstance(effect, CancelTimer):
                until = None
            elif isinstance(effect, RequestDeferred):
                pending_by = by if effect.request is not None else None
        agent = step.agent
        if agent.state is AgentState.IDLE:
            until = None
        return replace(
            self, agent=agent, wrap_up_until=until,
            pending_by=pending_by if agent.pending is not None else None,
        )  # fmt: skip

    def fields(self) -> dict[str, str]:
        agent, timers = self.agent, self.agent.timers
        return {
            "agent_id": agent.agent_id, "extension": self.extension,
            "status": agent.status, "reason": agent.break_reason or "",
            "state": agent.state, "call_id": agent.call_id or "",
            "code_filed": _flag(agent.code_filed), "pending": _request(agent.pending),
            "pending_by": _changer(self.pending_by),
            "no_answer_count": str(agent.no_answer_count),
            "ready_at": _micros(agent.ready_at),
            "last_call_end": _micros(agent.last_call_ended_at),
            "wrap_up_until": _micros(self.wrap_up_until),
            "registered": _flag(self.registered), "queues": " ".join(sorted(self.queues)),
            "skills": json.dumps(dict(sorted(self.skills.items()))),
            "wrap_up_time": _span(timers.wrap_up_time),
            "no_answer_delay": _span(timers.no_answer_delay),
            "max_no_answer": str(timers.max_no_answer),
            "reject_delay": _span(timers.reject_delay),
        }  # fmt: skip

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> LiveAgent:
        """The live agent in a hash read from Redis; `LiveRecordError` if it is not one."""
        try:
            return _parse(fields)
        except (KeyError, ValueError, TypeError) as exc:
            who = fields.get("agent_id", "?")
            raise LiveRecordError(f"live agent {who}: bad hash ({exc!r})") from exc


def _parse(f: Mapping[str, str]) -> LiveAgent:
    timers = AgentTimers(
        wrap_up_time=_duration(f["wrap_up_time"]),
        no_answer_delay=_duration(f["no_answer_delay"]),
        max_no_answer=int(f["max_no_answer"]),
        reject_delay=_duration(f["reject_delay"]),
    )
    agent = Agent(
        agent_id=f["agent_id"], timers=timers, status=AgentStatus(f["status"]),
        break_reason=f["reason"] or None, state=AgentState(f["state"]),
        call_id=f["call_id"] or None, code_filed=f["code_filed"] == "1",
        pending=_parse_request(f["pending"]), no_answer_count=int(f["no_answer_count"]),
        ready_at=_time(f["ready_at"]), last_call_ended_at=_time(f["last_call_end"]),
    )
    skills = {str(k): int(v) for k, v in json.loads(f["skills"]).items()}
    return LiveAgent(
        agent, f["extension"], f["registered"] == "1", frozenset(f["queues"].split()),
        skills, _time(f["wrap_up_until"]), _parse_changer(f["pending_by"]), int(f["version"]),
    )  # fmt: skip


def _flag(value: bool) -> str:
    return "1" if value else "0"


def _micros(at: datetime | None) -> str:
    return "" if at is None else str((at - _EPOCH) // _MICROSECOND)


def micros(at: datetime) -> int:
    """Aware `at` as integer microseconds since the Unix epoch (the scripts' time)."""
    return (at - _EPOCH) // _MICROSECOND


def _time(text: str) -> datetime | None:
    return None if text == "" else _EPOCH + int(text) * _MICROSECOND


def _span(span: timedelta) -> str:
    return str(span // _MICROSECOND)


def _duration(text: str) -> timedelta:
    return int(text) * _MICROSECOND


_REQUESTS: dict[type[PendingRequest], str] = {
    su.LogOut: "log_out", su.StartAfterCallWork: "after_call_work", su.GoOnBreak: "on_break",
}


def _request(request: PendingRequest | None) -> str:
    if request is None:
        return ""
    name = _REQUESTS[type(request)]
    return f"{name}:{request.reason}" if isinstance(request, su.GoOnBreak) else name


def _parse_request(text: str) -> PendingRequest | None:
    name, _, reason = text.partition(":")
    if text == "":
        return None
    if name == "on_break":
        return su.GoOnBreak(reason)
    if name == "log_out":
        return su.LogOut()
    if name == "after_call_work":
        return su.StartAfterCallWork()
    raise ValueError(f"unknown pending request {text!r}")


def _changer(by: Changer | None) -> str:
    if by is None:
        return ""
    return f"{by.source}:{'' if by.user_id is None else by.user_id}"


def _parse_changer(text: str) -> Changer | None:
    if text == "":
        return None
    source, _, user_id = text.partition(":")
    return Changer(ChangedBy(source), int(user_id) if user_id else None)


# Queue definitions (the `queues` hash) and the supervisors' agent event.


def queue_definition(queue: Queue, name: str, campaign_id: int | None) -> str:
    return json.dumps({
        "queue_id": queue.queue_id, "name": name, "campaign_id": campaign_id,
        "strategy": queue.strategy, "required_skills": dict(queue.required_skills),
    })  # fmt: skip


def parse_queue(text: str) -> Queue:
    data = json.loads(text)
    skills = {str(k): int(v) for k, v in data["required_skills"].items()}
    return Queue(str(data["queue_id"]), str(data["strategy"]), skills)


def agent_event(live: LiveAgent, at: datetime) -> str:
    """The supervisors' JSON for the agent as it is now."""
    agent = live.agent
    return json.dumps({
        "kind": "agent", "agent_id": agent.agent_id, "status": agent.status,
        "reason": agent.break_reason, "state": agent.state, "call_id": agent.call_id,
        "registered": live.registered, "at": at.isoformat(),
    })  # fmt: skip
