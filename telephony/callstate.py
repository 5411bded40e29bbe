"""The life of one call leg, as a table.

Theory of operation. A leg starts `NEW`. Placing it sends an INVITE (`DIALING`)
and starts the ring timer. Provisional answers move it to `RINGING` (180) or
`EARLY_MEDIA` (183 with SDP: media flows before the answer, and `RINGING` after it
stays in early media). A 2xx makes it `ANSWERED`: media runs, taps start, the ring
timer stops. A final failure before the answer ends it as `BUSY` (486, 600),
`REJECTED` (603, 403, 404, 480 and other 4xx-6xx, with the status kept), `FAILED`
(Timer B, transport error, 5xx) or, when the ring timer fires first, `NO_ANSWER`
after a CANCEL; a local hang-up before the answer is `CANCELLED`. After the answer
the leg ends `ENDED` by either side's BYE, with who hung up as the cause.

Terminal states take no more events, except that a late 2xx after our CANCEL (the
race RFC 3261 section 9.1 allows) must still be acknowledged and released with a
BYE: the table answers that with `SendAckAndBye` instead of an illegal transition.
Transitions are pure: they return effects and the IO shell executes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LegState(StrEnum):
    NEW = "new"
    DIALING = "dialing"
    RINGING = "ringing"
    EARLY_MEDIA = "early_media"
    ANSWERED = "answered"
    CANCELLING = "cancelling"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ENDED = "ended"


TERMINAL = frozenset({LegState.BUSY, LegState.NO_ANSWER, LegState.REJECTED,
                      LegState.FAILED, LegState.CANCELLED, LegState.ENDED})


# Events --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Place:
    pass


@dataclass(frozen=True, slots=True)
class Provisional:
    status: int
    has_sdp: bool = False


@dataclass(frozen=True, slots=True)
class Answered:
    pass


@dataclass(frozen=True, slots=True)
class FinalFailure:
    status: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TransportFailure:
    reason: str


@dataclass(frozen=True, slots=True)
class RingTimeout:
    pass


@dataclass(frozen=True, slots=True)
class LocalHangup:
    pass


@dataclass(frozen=True, slots=True)
class RemoteHangup:
    pass


Event = (Place | Provisional | Answered | FinalFailure | TransportFailure | RingTimeout
         | LocalHangup | RemoteHangup)


# Effects -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SendInvite:
    pass


@dataclass(frozen=True, slots=True)
class SendCancel:
    pass


@dataclass(frozen=True, slots=True)
class SendBye:
    pass


@dataclass(frozen=True, slots=True)
class SendAckAndBye:
    """A 2xx arrived after the leg ended (CANCEL race): acknowledge, then release."""


@dataclass(frozen=True, slots=True)
class StartRingTimer:
    pass


@dataclass(frozen=True, slots=True)
class StopRingTimer:
    pass


@dataclass(frozen=True, slots=True)
class StartMedia:
    early: bool


@dataclass(frozen=True, slots=True)
class StopMedia:
    pass


@dataclass(frozen=True, slots=True)
class Finished:
    state: LegState
    cause: str


Effect = (SendInvite | SendCancel | SendBye | SendAckAndBye | StartRingTimer | StopRingTimer
          | StartMedia | StopMedia | Finished)


class IllegalTransition(RuntimeError):
    """Our bug: an event the table has no row for."""


_PRE_ANSWER = (LegState.DIALING, LegState.RINGING, LegState.EARLY_MEDIA)
_BUSY_CODES = frozenset({486, 600})
_FAILED_CODES = range(500, 600)

TRANSITIONS: dict[tuple[LegState, type], LegState] = {
    (LegState.NEW, Place): LegState.DIALING,
    **{(s, Answered): LegState.ANSWERED for s in _PRE_ANSWER},
    **{(s, RingTimeout): LegState.CANCELLING for s in _PRE_ANSWER},
    **{(s, LocalHangup): LegState.CANCELLING for s in _PRE_ANSWER},
    **{(s, TransportFailure): LegState.FAILED for s in (*_PRE_ANSWER, LegState.CANCELLING)},
    (LegState.ANSWERED, LocalHangup): LegState.ENDED,
    (LegState.ANSWERED, RemoteHangup): LegState.ENDED,
    (LegState.ANSWERED, TransportFailure): LegState.ENDED,
    (LegState.CANCELLING, Answered): LegState.CANCELLED,
    (LegState.CANCELLING, RingTimeout): LegState.CANCELLING,
    (LegState.CANCELLING, LocalHangup): LegState.CANCELLING,
}


@dataclass(frozen=True, slots=True)
class Leg:
    """The state of one leg; `transition` returns the next one and its effects."""

    state: LegState = LegState.NEW
    cancel_cause: str = ""

    def transition(self, event: Event) -> tuple[Leg, tuple[Effect, ...]]:
        if isinstance(event, Provisional) and self.state in (*_PRE_ANSWER, LegState.CANCELLING):
            return self._provisional(event)
        if isinstance(event, FinalFailure) and self.state in (*_PRE_ANSWER, LegState.CANCELLING):
            return self._final_failure(event)
        if self.state in TERMINAL:
            return self._after_end(event)
        target = TRANSITIONS.get((self.state, type(event)))
        if target is None:
            raise IllegalTransition(f"{type(event).__name__} in state {self.state}")
        return self._effects(event, target)

    def _provisional(self, event: Provisional) -> tuple[Leg, tuple[Effect, ...]]:
        if self.state is LegState.CANCELLING or event.status == 100:
            return self, ()
        if event.has_sdp or self.state is LegState.EARLY_MEDIA:
            started = () if self.state is LegState.EARLY_MEDIA else (StartMedia(early=True),)
            return Leg(LegState.EARLY_MEDIA), started
        return Leg(LegState.RINGING), ()

    def _final_failure(self, event: FinalFailure) -> tuple[Leg, tuple[Effect, ...]]:
        if self.state is LegState.CANCELLING:
            state, cause = self._cancel_outcome(), self.cancel_cause
        elif event.status in _BUSY_CODES:
            state, cause = LegState.BUSY, f"{event.status} {event.reason}".strip()
        elif event.status in _FAILED_CODES:
            state, cause = LegState.FAILED, f"{event.status} {event.reason}".strip()
        else:
            state, cause = LegState.REJECTED, f"{event.status} {event.reason}".strip()
        return Leg(state), (StopRingTimer(), StopMedia(), Finished(state, cause))

    def _cancel_outcome(self) -> LegState:
        return LegState.NO_ANSWER if self.cancel_cause == "ring_timeout" else LegState.CANCELLED

    def _after_end(self, event: Event) -> tuple[Leg, tuple[Effect, ...]]:
        if isinstance(event, Answered):
            return self, (SendAckAndBye(),)
        if isinstance(event, LocalHangup | RemoteHangup | RingTimeout | TransportFailure):
            return self, ()
        raise IllegalTransition(f"{type(event).__name__} after the leg ended ({self.state})")

    def _effects(self, event: Event, target: LegState) -> tuple[Leg, tuple[Effect, ...]]:
        if target is LegState.DIALING:
            return Leg(target), (SendInvite(), StartRingTimer())
        if target is LegState.CANCELLED:  # a 2xx crossed our CANCEL
            state = self._cancel_outcome()
            return Leg(state), (SendAckAndBye(), StopMedia(), Finished(state, self.cancel_cause))
        if target is LegState.ANSWERED:
            media = () if self.state is LegState.EARLY_MEDIA else (StartMedia(early=False),)
            return Leg(target), (StopRingTimer(), *media)
        if target is LegState.CANCELLING:
            if self.state is LegState.CANCELLING:
                return self, ()
            cause = "ring_timeout" if isinstance(event, RingTimeout) else "local_cancel"
            return Leg(target, cause), (StopRingTimer(), SendCancel())
        return self._ending(event, target)

    def _ending(self, event: Event, target: LegState) -> tuple[Leg, tuple[Effect, ...]]:
        if isinstance(event, TransportFailure):
            cause = f"transport: {event.reason}"
            bye: tuple[Effect, ...] = ()
        elif isinstance(event, LocalHangup):
            cause, bye = "local_hangup", (SendBye(),)
        else:
            cause, bye = "remote_hangup", ()
        return Leg(target), (StopRingTimer(), *bye, StopMedia(), Finished(target, cause))
