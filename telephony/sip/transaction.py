"""SIP transactions (RFC 3261 §17, RFC 6026) as four table-driven state machines.

Pure: no IO, no clock. A :class:`Transaction` takes events (a response or request
that arrived, a response the transaction user sends, a timer that fired, a transport
failure) and returns effects (:class:`Send`, :class:`StartTimer`, :class:`StopTimer`,
:class:`Deliver`, :class:`Terminated`) for the IO shell to execute in order.

Theory of operation (UDP; T1 = 0.5 s, T2 = 4 s, T4 = 5 s by default):

* Client INVITE: CALLING sends the request and retransmits it on timer A, which
  doubles without cap (0.5, 1, 2, 4, 8, 16 s); timer B (64*T1 = 32 s) gives up. A
  1xx moves to PROCEEDING (no more retransmissions, B stopped: ringing lasts as long
  as the user wants, the UA bounds it with CANCEL). A 3xx-6xx is ACKed here with the
  INVITE's branch (§17.1.1.3), delivered once, then COMPLETED re-ACKs retransmissions
  for timer D (32 s). A 2xx moves to ACCEPTED (RFC 6026) for timer M (64*T1) and every
  2xx copy is delivered: its ACK is the dialog's business (new branch, §13.2.2.4).
* Client non-INVITE: TRYING retransmits on timer E (T1 doubling, capped at T2), a
  1xx moves to PROCEEDING (E every T2), timer F (64*T1) gives up, a final response is
  delivered and COMPLETED absorbs copies for timer K (T4).
* Server INVITE: PROCEEDING resends the latest provisional to a retransmitted INVITE.
  A 3xx-6xx from the TU moves to COMPLETED, resent on timer G (T1 doubling to T2)
  until the ACK (CONFIRMED, absorbing ACKs for timer I = T4) or timer H (64*T1, the
  ACK never came). A 2xx moves to ACCEPTED, where this machine also does the UA
  core's 2xx retransmission (§13.3.1.4: same G/H schedule) until the dialog hands it
  the ACK (a new branch, so the shell routes it here by dialog, not by key).
* Server non-INVITE: TRYING absorbs retransmissions until the TU answers; a final
  response moves to COMPLETED, resent for each retransmission during timer J (64*T1).

The tables are in :mod:`telephony.sip.transaction_tables`: ``TRANSITIONS[machine]
[(state, input)]`` is the next state and the actions in order. An input a table does
not list is a local bug and raises :class:`TransactionError`; network oddities (late
1xx, copies) are listed as absorbed. ``Terminated`` ends a transaction: the shell
cancels its remaining timers and forgets it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from telephony.sip.headers import Via
from telephony.sip.message import Headers, SipMessage, SipRequest, SipResponse
from telephony.sip.transaction_tables import (
    INITIAL,
    RETRANSMIT,
    TRANSITIONS,
    Action,
    Do,
    Input,
    Machine,
    Start,
    State,
    Stop,
    Timer,
)

__all__ = ["TRANSITIONS", "Input", "Machine", "State", "Timer"]


class TransactionError(RuntimeError):
    """A transaction was fed an input its state does not take: our bug, not the peer's."""


class Ending(StrEnum):
    """Why a transaction terminated."""

    DONE = "done"
    TIMEOUT = "timeout"  # B or F: no final response
    NO_ACK = "no ack"  # H: our final response was never acknowledged
    TRANSPORT = "transport"


@dataclass(frozen=True, slots=True)
class Timing:
    """Timer values (§17.1.1.1, table 4). Tests shorten ``t1`` to make B/F/H quick."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    d: float = 32.0

    def initial(self, timer: Timer) -> float:
        if timer in (Timer.A, Timer.E, Timer.G):
            return self.t1
        if timer in (Timer.I, Timer.K):
            return self.t4
        return self.d if timer is Timer.D else 64 * self.t1

    def backed_off(self, timer: Timer, interval: float) -> float:
        """The next retransmission interval: A doubles, E and G double up to T2."""
        return 2 * interval if timer is Timer.A else min(2 * interval, self.t2)


DEFAULT_TIMING = Timing()


# Events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """Client: a response matching this transaction arrived."""

    response: SipResponse


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """Server: a retransmission of the request, or an ACK, arrived."""

    request: SipRequest


@dataclass(frozen=True, slots=True)
class ResponseSent:
    """Server: the transaction user answers with ``response``."""

    response: SipResponse


@dataclass(frozen=True, slots=True)
class TimerFired:
    timer: Timer


@dataclass(frozen=True, slots=True)
class TransportFailed:
    reason: str


Event = ResponseReceived | RequestReceived | ResponseSent | TimerFired | TransportFailed

# Effects ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    message: SipMessage


@dataclass(frozen=True, slots=True)
class StartTimer:
    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class StopTimer:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Deliver:
    """Client: hand ``response`` to the transaction user."""

    response: SipResponse


@dataclass(frozen=True, slots=True)
class Terminated:
    reason: Ending


Effect = Send | StartTimer | StopTimer | Deliver | Terminated

_ENDINGS = {
    Timer.B: Ending.TIMEOUT,
    Timer.F: Ending.TIMEOUT,
    Timer.H: Ending.NO_ACK,
    Input.TRANSPORT_ERROR: Ending.TRANSPORT,
}


def input_of(event: Event) -> Input | Timer:
    """The table column for ``event``: a response's class, a request, ACK, timer, error."""
    if isinstance(event, ResponseReceived | ResponseSent):
        status = event.response.status
        return (
            Input.PROVISIONAL if status < 200 else Input.SUCCESS if status < 300 else Input.FAILURE
        )
    if isinstance(event, RequestReceived):
        return Input.ACK if event.request.method == "ACK" else Input.REQUEST
    if isinstance(event, TimerFired):
        return event.timer
    return Input.TRANSPORT_ERROR


@dataclass(slots=True)
class Transaction:
    """One transaction: its machine, its request, its state and the last response."""

    machine: Machine
    request: SipRequest
    timing: Timing = DEFAULT_TIMING
    state: State = field(init=False)
    response: SipResponse | None = field(default=None, init=False)
    interval: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self.state = INITIAL[self.machine].next

    @classmethod
    def client(cls, request: SipRequest, timing: Timing = DEFAULT_TIMING) -> Transaction:
        invite = request.method == "INVITE"
        return cls(Machine.CLIENT_INVITE if invite else Machine.CLIENT_NON_INVITE, request, timing)

    @classmethod
    def server(cls, request: SipRequest, timing: Timing = DEFAULT_TIMING) -> Transaction:
        invite = request.method == "INVITE"
        return cls(Machine.SERVER_INVITE if invite else Machine.SERVER_NON_INVITE, request, timing)

    def start(self) -> list[Effect]:
        """The effects of creating the transaction (a client sends its request)."""
        return self._run(INITIAL[self.machine].actions, None)

    def handle(self, event: Event) -> list[Effect]:
        column = input_of(event)
        step = TRANSITIONS[self.machine].get((self.state, column))
        if step is None:
            raise TransactionError(f"{self.machine} transaction in {self.state} got {column}")
        if isinstance(event, ResponseSent):
            self.response = event.response
        effects = self._run(step.actions, event)
        self.state = step.next
        if step.next is State.TERMINATED:
            effects.append(Terminated(_ENDINGS.get(column, Ending.DONE)))
        return effects

    def _run(self, actions: tuple[Action, ...], event: Event | None) -> list[Effect]:
        effects = (self._effect(action, event) for action in actions)
        return [effect for effect in effects if effect is not None]

    def _effect(self, action: Action, event: Event | None) -> Effect | None:
        if isinstance(action, Start):
            if action.timer is RETRANSMIT.get(self.machine):
                self.interval = self.timing.initial(action.timer)
            return StartTimer(action.timer, self.timing.initial(action.timer))
        if isinstance(action, Stop):
            return StopTimer(action.timer)
        return self._do(action, event)

    def _do(self, action: Do, event: Event | None) -> Effect | None:
        if action is Do.SEND_REQUEST:
            return Send(self.request)
        if action is Do.SEND_ACK and isinstance(event, ResponseReceived):
            return Send(ack_for(self.request, event.response))
        if action is Do.SEND_RESPONSE:
            return None if self.response is None else Send(self.response)
        if action is Do.DELIVER and isinstance(event, ResponseReceived):
            return Deliver(event.response)
        if action is Do.BACK_OFF:
            timer = RETRANSMIT[self.machine]
            self.interval = self.timing.backed_off(timer, self.interval)
            return StartTimer(timer, self.interval)
        if action is Do.SLOW_DOWN:
            self.interval = self.timing.t2
            return None
        if action is Do.TERMINATE:
            return None
        raise TransactionError(f"{action} does not apply to {event!r}")


def ack_for(invite: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK a client INVITE transaction sends for a 3xx-6xx (§17.1.1.3): the INVITE's
    Request-URI, top Via (same branch), From, Call-ID, CSeq number and Route; the
    response's To (with its tag)."""
    items = [
        ("Via", invite.headers.get_all("Via")[0]),
        ("Max-Forwards", "70"),
        ("From", invite.headers.get("From") or ""),
        ("To", response.headers.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.number} ACK"),
        *(("Route", route) for route in invite.headers.get_all("Route")),
    ]
    return SipRequest("ACK", invite.uri, Headers(tuple(items)))


TransactionKey = tuple[str, str, int, str]


def _key(via: Via, method: str, fallback: str) -> TransactionKey:
    branch = via.transaction_branch or fallback
    return (branch, via.host.lower(), via.port or 5060, "INVITE" if method == "ACK" else method)


def client_key(message: SipRequest | SipResponse) -> TransactionKey:
    """Branch, sent-by and method (§17.1.3): of our request, or of a response to it."""
    method = message.method if isinstance(message, SipRequest) else message.cseq.method
    return _key(message.via, method, f"no-branch:{message.via.branch}")


def server_key(request: SipRequest, method: str | None = None) -> TransactionKey:
    """Branch, sent-by and method (§17.2.3); an ACK keys as its INVITE, and ``method``
    overrides (a CANCEL looks up ``server_key(cancel, "INVITE")``). A request without
    an RFC 3261 branch keys by Call-ID, From tag, CSeq number and branch (§17.2.3's
    RFC 2543 rules, less the To tag an ACK adds)."""
    fallback = f"2543:{request.call_id}:{request.from_.tag}:{request.cseq.number}"
    return _key(request.via, method or request.method, f"{fallback}:{request.via.branch}")
