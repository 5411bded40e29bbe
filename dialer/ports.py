"""What the dialer needs from routing and recording, as protocols; `api` wires the
concrete objects (design.md: the four packages do not import each other)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from telephony.control import ControlledCall


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Who a call is about, for the recorder's metadata and the agent's screen-pop."""

    attempt_id: int
    campaign_id: int | None
    case_id: int
    client_id: int
    client_code: str
    phone_id: int
    party: str
    answered_at: datetime
    notes: tuple[str, ...]  # advisories for the script, e.g. third_party.locate_only


class Connected(Protocol):
    """An agent bridged to the debtor's call."""

    @property
    def agent_id(self) -> int: ...

    @property
    def leg(self) -> ControlledCall: ...

    @property
    def call_id(self) -> str:
        """The debtor's call the agent is bridged to."""


class Capacity(Protocol):
    """A queue's agents as pacing needs them."""

    @property
    def free(self) -> int:
        """Available, idle, ready, softphone registered."""

    @property
    def talking(self) -> tuple[float, ...]:
        """Per agent in talk: seconds since the bridge."""

    @property
    def wrapping_up(self) -> tuple[float, ...]:
        """Per agent in wrap-up: seconds since it began."""

    @property
    def mean_wrap_up_s(self) -> float: ...


class AgentRouter(Protocol):
    async def capacity(self, queue_id: int | None) -> Capacity:
        """The queue's agents right now."""

    async def connect(self, call: ControlledCall, queue_id: int | None, info: CallInfo,
                      deadline: float) -> Connected | None:
        """Reserve an agent, ring their softphone and bridge it to `call`; None when
        no agent answered within `deadline` seconds (the call is then abandoned)."""

    async def claim(self, agent_id: int, call_id: str, ring_s: float) -> Connected | str:
        """The agent dials themselves: reserve that agent for `call_id` and ring their
        softphone; the answered leg, or why not (busy, not registered, no answer)."""

    async def release(self, connected: Connected, *, ended_at: datetime) -> None:
        """The bridged call ended: hang up what is left and start the agent's wrap-up."""


class ActiveRecording(Protocol):
    def note_agent(self, agent_id: int) -> None:
        """The agent bridged to the call (for the recording's metadata)."""

    async def finish(self) -> object:
        """Finalise the file and register it with its checksum."""


class CallRecorder(Protocol):
    def ready(self) -> tuple[bool, str]:
        """Whether a call placed now could be recorded, and why not."""

    def begin(self, call: ControlledCall, info: CallInfo) -> ActiveRecording:
        """Record `call` from now (its answer) to its end, agent on channel 1."""
