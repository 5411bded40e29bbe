"""The four RFC 3261 §17 transaction state machines (with RFC 6026) as tables.

``TRANSITIONS[machine][(state, input)]`` is a :class:`Step`: the next state and the
actions to take, in order, read off the RFC's figures 5-8. A pair missing from a
table is an input that state does not take (:mod:`telephony.sip.transaction` raises).
Pure data; the theory of operation is in :mod:`telephony.sip.transaction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    CALLING = "calling"
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    ACCEPTED = "accepted"
    TERMINATED = "terminated"


class Input(StrEnum):
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"
    FAILURE = "3xx-6xx"
    REQUEST = "request"
    ACK = "ack"
    TRANSPORT_ERROR = "transport error"


class Timer(StrEnum):
    A = "A"
    B = "B"
    D = "D"
    E = "E"
    F = "F"
    G = "G"
    H = "H"
    I = "I"  # noqa: E741 - the RFC's name
    J = "J"
    K = "K"
    M = "M"


class Do(StrEnum):
    SEND_REQUEST = "send request"
    SEND_ACK = "send ack"
    SEND_RESPONSE = "send response"
    DELIVER = "deliver"
    BACK_OFF = "back off"  # retransmit timer again, at the next interval
    SLOW_DOWN = "slow down"  # retransmit interval becomes T2 from now on
    TERMINATE = "terminate"


@dataclass(frozen=True, slots=True)
class Start:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Stop:
    timer: Timer


Action = Do | Start | Stop


@dataclass(frozen=True, slots=True)
class Step:
    next: State
    actions: tuple[Action, ...] = ()


class Machine(StrEnum):
    CLIENT_INVITE = "client INVITE"
    CLIENT_NON_INVITE = "client non-INVITE"
    SERVER_INVITE = "server INVITE"
    SERVER_NON_INVITE = "server non-INVITE"


S, IN, D = State, Input, Do
Table = dict[tuple[State, Input | Timer], Step]
_END = Step(S.TERMINATED, (D.TERMINATE,))


def _absorb(state: State) -> Step:
    return Step(state)


def _ends(*states: State) -> Table:
    return {(state, IN.TRANSPORT_ERROR): _END for state in states}


_CLIENT_INVITE: Table = {
    (S.CALLING, Timer.A): Step(S.CALLING, (D.SEND_REQUEST, D.BACK_OFF)),
    (S.CALLING, Timer.B): _END,
    (S.CALLING, IN.PROVISIONAL): Step(S.PROCEEDING, (Stop(Timer.A), Stop(Timer.B), D.DELIVER)),
    (S.PROCEEDING, IN.PROVISIONAL): Step(S.PROCEEDING, (D.DELIVER,)),
    (S.CALLING, IN.SUCCESS): Step(
        S.ACCEPTED, (Stop(Timer.A), Stop(Timer.B), D.DELIVER, Start(Timer.M))
    ),
    (S.PROCEEDING, IN.SUCCESS): Step(S.ACCEPTED, (D.DELIVER, Start(Timer.M))),
    (S.CALLING, IN.FAILURE): Step(
        S.COMPLETED, (Stop(Timer.A), Stop(Timer.B), D.SEND_ACK, D.DELIVER, Start(Timer.D))
    ),
    (S.PROCEEDING, IN.FAILURE): Step(S.COMPLETED, (D.SEND_ACK, D.DELIVER, Start(Timer.D))),
    (S.COMPLETED, IN.FAILURE): Step(S.COMPLETED, (D.SEND_ACK,)),
    (S.COMPLETED, IN.PROVISIONAL): _absorb(S.COMPLETED),
    (S.COMPLETED, IN.SUCCESS): _absorb(S.COMPLETED),
    (S.COMPLETED, Timer.D): _END,
    (S.ACCEPTED, IN.SUCCESS): Step(S.ACCEPTED, (D.DELIVER,)),
    (S.ACCEPTED, IN.PROVISIONAL): _absorb(S.ACCEPTED),
    (S.ACCEPTED, IN.FAILURE): _absorb(S.ACCEPTED),
    (S.ACCEPTED, Timer.M): _END,
    **_ends(S.CALLING, S.PROCEEDING, S.COMPLETED, S.ACCEPTED),
}  # fmt: skip

_CLIENT_NON_INVITE: Table = {
    (S.TRYING, Timer.E): Step(S.TRYING, (D.SEND_REQUEST, D.BACK_OFF)),
    (S.PROCEEDING, Timer.E): Step(S.PROCEEDING, (D.SEND_REQUEST, D.BACK_OFF)),
    (S.TRYING, Timer.F): _END,
    (S.PROCEEDING, Timer.F): _END,
    (S.TRYING, IN.PROVISIONAL): Step(S.PROCEEDING, (D.SLOW_DOWN, D.DELIVER)),
    (S.PROCEEDING, IN.PROVISIONAL): Step(S.PROCEEDING, (D.DELIVER,)),
    **{
        (state, final): Step(
            S.COMPLETED, (Stop(Timer.E), Stop(Timer.F), D.DELIVER, Start(Timer.K))
        )
        for state in (S.TRYING, S.PROCEEDING)
        for final in (IN.SUCCESS, IN.FAILURE)
    },
    **{(S.COMPLETED, i): _absorb(S.COMPLETED) for i in (IN.PROVISIONAL, IN.SUCCESS, IN.FAILURE)},
    (S.COMPLETED, Timer.K): _END,
    **_ends(S.TRYING, S.PROCEEDING, S.COMPLETED),
}  # fmt: skip

_SERVER_INVITE: Table = {
    (S.PROCEEDING, IN.REQUEST): Step(S.PROCEEDING, (D.SEND_RESPONSE,)),
    (S.PROCEEDING, IN.ACK): _absorb(S.PROCEEDING),  # an ACK before any final: nonsense
    (S.PROCEEDING, IN.PROVISIONAL): Step(S.PROCEEDING, (D.SEND_RESPONSE,)),
    (S.PROCEEDING, IN.FAILURE): Step(
        S.COMPLETED, (D.SEND_RESPONSE, Start(Timer.G), Start(Timer.H))
    ),
    (S.PROCEEDING, IN.SUCCESS): Step(
        S.ACCEPTED, (D.SEND_RESPONSE, Start(Timer.G), Start(Timer.H))
    ),
    (S.COMPLETED, IN.REQUEST): Step(S.COMPLETED, (D.SEND_RESPONSE,)),
    (S.COMPLETED, Timer.G): Step(S.COMPLETED, (D.SEND_RESPONSE, D.BACK_OFF)),
    (S.COMPLETED, Timer.H): _END,
    (S.COMPLETED, IN.ACK): Step(S.CONFIRMED, (Stop(Timer.G), Stop(Timer.H), Start(Timer.I))),
    (S.ACCEPTED, IN.REQUEST): _absorb(S.ACCEPTED),
    (S.ACCEPTED, IN.SUCCESS): Step(S.ACCEPTED, (D.SEND_RESPONSE,)),
    (S.ACCEPTED, Timer.G): Step(S.ACCEPTED, (D.SEND_RESPONSE, D.BACK_OFF)),
    (S.ACCEPTED, Timer.H): _END,
    (S.ACCEPTED, IN.ACK): Step(S.CONFIRMED, (Stop(Timer.G), Stop(Timer.H), Start(Timer.I))),
    (S.CONFIRMED, IN.REQUEST): _absorb(S.CONFIRMED),
    (S.CONFIRMED, IN.ACK): _absorb(S.CONFIRMED),
    (S.CONFIRMED, Timer.I): _END,
    **_ends(S.PROCEEDING, S.COMPLETED, S.ACCEPTED, S.CONFIRMED),
}  # fmt: skip

_SERVER_NON_INVITE: Table = {
    (S.TRYING, IN.REQUEST): _absorb(S.TRYING),
    (S.TRYING, IN.PROVISIONAL): Step(S.PROCEEDING, (D.SEND_RESPONSE,)),
    (S.PROCEEDING, IN.PROVISIONAL): Step(S.PROCEEDING, (D.SEND_RESPONSE,)),
    (S.PROCEEDING, IN.REQUEST): Step(S.PROCEEDING, (D.SEND_RESPONSE,)),
    **{
        (state, final): Step(S.COMPLETED, (D.SEND_RESPONSE, Start(Timer.J)))
        for state in (S.TRYING, S.PROCEEDING)
        for final in (IN.SUCCESS, IN.FAILURE)
    },
    (S.COMPLETED, IN.REQUEST): Step(S.COMPLETED, (D.SEND_RESPONSE,)),
    (S.COMPLETED, Timer.J): _END,
    **_ends(S.TRYING, S.PROCEEDING, S.COMPLETED),
}  # fmt: skip

TRANSITIONS: dict[Machine, Table] = {
    Machine.CLIENT_INVITE: _CLIENT_INVITE,
    Machine.CLIENT_NON_INVITE: _CLIENT_NON_INVITE,
    Machine.SERVER_INVITE: _SERVER_INVITE,
    Machine.SERVER_NON_INVITE: _SERVER_NON_INVITE,
}
INITIAL: dict[Machine, Step] = {
    Machine.CLIENT_INVITE: Step(S.CALLING, (D.SEND_REQUEST, Start(Timer.A), Start(Timer.B))),
    Machine.CLIENT_NON_INVITE: Step(S.TRYING, (D.SEND_REQUEST, Start(Timer.E), Start(Timer.F))),
    Machine.SERVER_INVITE: Step(S.PROCEEDING),
    Machine.SERVER_NON_INVITE: Step(S.TRYING),
}
RETRANSMIT: dict[Machine, Timer] = {
    Machine.CLIENT_INVITE: Timer.A,
    Machine.CLIENT_NON_INVITE: Timer.E,
    Machine.SERVER_INVITE: Timer.G,
}
