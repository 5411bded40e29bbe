"""Requests and responses for the transaction and dialog tests, plus a virtual clock
that executes a pure transaction's effects."""

from __future__ import annotations

from dataclasses import dataclass, field

from telephony.sip.headers import NameAddr, Params, SipUri, Via, new_branch, new_tag
from telephony.sip.message import SipMessage, SipRequest, SipResponse, build_request, build_response
from telephony.sip.transaction import (
    Deliver,
    Effect,
    Ending,
    Send,
    StartTimer,
    StopTimer,
    Terminated,
    Timer,
    TimerFired,
    Transaction,
)

ALICE = NameAddr(SipUri("sip", "alice", "127.0.0.1", 5060))
BOB = NameAddr(SipUri("sip", "bob", "127.0.0.2", 5062))


def via(branch: str | None = None, host: str = "127.0.0.1", port: int = 5060) -> Via:
    return Via("UDP", host, port, Params((("branch", branch or new_branch()), ("rport", None))))


def request(method: str = "INVITE", *, cseq: int = 1, body: bytes = b"") -> SipRequest:
    return build_request(
        method, BOB.uri, via=via(), from_=ALICE.with_tag(new_tag()), to=BOB,
        call_id=new_tag() + "@127.0.0.1", cseq=cseq,
        headers=[("Contact", str(ALICE))], body=body,
    )  # fmt: skip


def response(to: SipRequest, status: int, *, tag: str = "bobtag", body: bytes = b"") -> SipResponse:
    headers = [("Contact", str(BOB))] if status < 300 else []
    return build_response(to, status, to_tag=tag, headers=headers, body=body)


@dataclass
class VirtualClock:
    """Runs a transaction against a virtual clock, recording what it sends and when."""

    txn: Transaction
    now: float = 0.0
    due: dict[Timer, float] = field(default_factory=dict)
    sent: list[tuple[float, SipMessage]] = field(default_factory=list)
    delivered: list[SipResponse] = field(default_factory=list)
    ended: tuple[float, Ending] | None = None

    def start(self) -> VirtualClock:
        self.apply(self.txn.start())
        return self

    def apply(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Send):
                self.sent.append((self.now, effect.message))
            elif isinstance(effect, StartTimer):
                self.due[effect.timer] = self.now + effect.delay
            elif isinstance(effect, StopTimer):
                self.due.pop(effect.timer, None)
            elif isinstance(effect, Deliver):
                self.delivered.append(effect.response)
            elif isinstance(effect, Terminated):
                self.ended = (self.now, effect.reason)
                self.due.clear()

    def run(self, until: float = 1000.0) -> None:
        """Fire timers in time order up to ``until`` or the end of the transaction."""
        while self.due and self.ended is None:
            timer = min(self.due, key=lambda t: (self.due[t], t))
            if self.due[timer] > until:
                break
            self.now = self.due.pop(timer)
            self.apply(self.txn.handle(TimerFired(timer)))
        self.now = max(self.now, until) if self.ended is None else self.now

    def send_times(self, method_or_status: str | int) -> list[float]:
        return [t for t, m in self.sent if _label(m) == method_or_status]


def _label(message: SipMessage) -> str | int:
    if isinstance(message, SipResponse):
        return message.status
    assert isinstance(message, SipRequest)
    return message.method
