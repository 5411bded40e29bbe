"""Who the agents and queues are, as PostgreSQL holds them: the durable half of
routing, which the live state in Redis is rebuilt from.

Pure values. Ids are PostgreSQL's bigints here; the routing core (`routing.agent`,
`routing.eligibility`) names agents and queues by strings, so each value says what
its id is there (`agent_id`, `queue_id`). The SIP HA1 never leaves `routing.store`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from routing.agent import AgentTimers
from routing.eligibility import Queue
from routing.status import AgentStatus


class ChangedBy(StrEnum):
    """Who changed an agent's status."""

    SELF = "self"  # the agent, from their screen
    SUPERVISOR = "supervisor"
    SYSTEM = "system"  # max_no_answer, a rebuild


@dataclass(frozen=True, slots=True)
class Changer:
    source: ChangedBy
    user_id: int | None = None  # None exactly when the system made the change

    def __post_init__(self) -> None:
        if (self.source is ChangedBy.SYSTEM) != (self.user_id is None):
            raise ValueError(f"a change by {self.source} has a user id exactly when not system")


SYSTEM = Changer(ChangedBy.SYSTEM)


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One line of the agent's status history."""

    user_id: int
    from_status: AgentStatus
    to_status: AgentStatus
    reason: str | None
    by: Changer
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentProfile:
    user_id: int
    extension: str
    timers: AgentTimers = field(default_factory=AgentTimers)
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> level 1..10
    status: AgentStatus = AgentStatus.LOGGED_OUT
    status_reason: str | None = None
    status_since: datetime | None = None

    @property
    def agent_id(self) -> str:
        return str(self.user_id)


@dataclass(frozen=True, slots=True)
class QueueProfile:
    id: int
    name: str
    strategy: str = "longest_idle"
    campaign_id: int | None = None  # the dialer's campaign; no foreign key
    required_skills: Mapping[str, int] = field(default_factory=dict)

    @property
    def queue(self) -> Queue:
        return Queue(str(self.id), self.strategy, dict(self.required_skills))


@dataclass(frozen=True, slots=True)
class Member:
    queue_id: int
    user_id: int
    level: int = 1  # mod_callcenter tier level (kept, not used by the strategies yet)
    position: int = 1


@dataclass(frozen=True, slots=True)
class Roster:
    agents: tuple[AgentProfile, ...] = ()
    queues: tuple[QueueProfile, ...] = ()
    members: tuple[Member, ...] = ()

    def memberships(self) -> dict[int, frozenset[str]]:
        """Every agent's queues, by user id (agents in no queue included)."""
        found: dict[int, set[str]] = {a.user_id: set() for a in self.agents}
        for member in self.members:
            found.setdefault(member.user_id, set()).add(str(member.queue_id))
        return {user_id: frozenset(ids) for user_id, ids in found.items()}
