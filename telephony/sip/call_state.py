"""The life of a call we place, as a table (RFC 3261 §9.1, §13.2.2, §15).

Pure. The UA feeds the call what happened (a response to the INVITE, the user's
cancel or hang-up, the peer's BYE, the end of our BYE) and executes the actions the
table gives, in order. Rules it encodes:

* CANCEL only after a provisional response (§9.1): a cancel asked for earlier waits
  in CANCEL_PENDING for the first 1xx (or the final response, which settles it).
* After CANCEL the INVITE ends with 487, reported as the cancel's cause (no answer at
  the ring timeout, or cancelled). If a 2xx crosses the CANCEL, the call is ACKed and
  hung up with BYE (§15), and still reported cancelled (``status`` 200 tells).
  Without any final response 64*T1 after the CANCEL the call is given up.
* Every 2xx copy is ACKed, even after the call ended: the peer resends its 2xx until
  it hears the ACK, and our INVITE transaction passes copies up for 64*T1.
* A 401/407 we can answer (the shell decides: credentials, new nonce) re-sends the
  INVITE with credentials; other finals end the call with an outcome by status.
* cancel() after the answer and bye() before it are no-ops here: whoever calls them
  watches the events (a ring timeout racing the 200 must not drop the answered call).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CallState(StrEnum):
    CALLING = "calling"  # INVITE sent, nothing heard
    PROCEEDING = "proceeding"  # a 1xx heard: CANCEL allowed
    CANCEL_PENDING = "cancel pending"  # cancel asked for before any 1xx
    CANCELLING = "cancelling"  # CANCEL sent, waiting for the INVITE's final response
    ANSWERED = "answered"
    ENDING = "ending"  # our BYE sent
    CANCEL_RACE = "cancel race"  # 2xx crossed our CANCEL: BYE sent
    ENDED = "ended"


class CallInput(StrEnum):
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"
    FAILURE = "3xx-6xx"
    CHALLENGE = "401/407 we can answer"
    TIMEOUT = "no response"  # timer B, or a transport error
    CANCEL = "cancel"
    GIVE_UP = "no final response after CANCEL"
    HANGUP = "hang up"
    REMOTE_BYE = "remote BYE"
    BYE_DONE = "our BYE answered or timed out"


class CallAction(StrEnum):
    REPORT_PROGRESS = "report progress"  # trying, ringing or early media
    REPORT_ANSWERED = "report answered"
    REPORT_FINAL = "report final"  # busy, rejected, failed... by status
    REPORT_FAILED = "report failed"
    REPORT_CANCELLED = "report cancelled"  # with the cancel's cause
    REPORT_HUNG_UP = "report hung up"
    REPORT_ENDED = "report ended"
    ACK = "ack the 2xx"
    SEND_CANCEL = "send CANCEL"
    SEND_BYE = "send BYE"
    RETRY_WITH_CREDENTIALS = "retry with credentials"


@dataclass(frozen=True, slots=True)
class CallStep:
    next: CallState
    actions: tuple[CallAction, ...] = ()


S, IN, A = CallState, CallInput, CallAction
_CANCEL = (A.SEND_CANCEL,)
_RACE = (A.ACK, A.SEND_BYE)

TRANSITIONS: dict[tuple[CallState, CallInput], CallStep] = {
    (S.CALLING, IN.PROVISIONAL): CallStep(S.PROCEEDING, (A.REPORT_PROGRESS,)),
    (S.CALLING, IN.SUCCESS): CallStep(S.ANSWERED, (A.ACK, A.REPORT_ANSWERED)),
    (S.CALLING, IN.FAILURE): CallStep(S.ENDED, (A.REPORT_FINAL,)),
    (S.CALLING, IN.CHALLENGE): CallStep(S.CALLING, (A.RETRY_WITH_CREDENTIALS,)),
    (S.CALLING, IN.TIMEOUT): CallStep(S.ENDED, (A.REPORT_FAILED,)),
    (S.CALLING, IN.CANCEL): CallStep(S.CANCEL_PENDING),
    (S.CALLING, IN.HANGUP): CallStep(S.CALLING),
    (S.PROCEEDING, IN.PROVISIONAL): CallStep(S.PROCEEDING, (A.REPORT_PROGRESS,)),
    (S.PROCEEDING, IN.SUCCESS): CallStep(S.ANSWERED, (A.ACK, A.REPORT_ANSWERED)),
    (S.PROCEEDING, IN.FAILURE): CallStep(S.ENDED, (A.REPORT_FINAL,)),
    (S.PROCEEDING, IN.CHALLENGE): CallStep(S.CALLING, (A.RETRY_WITH_CREDENTIALS,)),
    (S.PROCEEDING, IN.TIMEOUT): CallStep(S.ENDED, (A.REPORT_FAILED,)),
    (S.PROCEEDING, IN.CANCEL): CallStep(S.CANCELLING, _CANCEL),
    (S.PROCEEDING, IN.HANGUP): CallStep(S.PROCEEDING),
    (S.CANCEL_PENDING, IN.PROVISIONAL): CallStep(S.CANCELLING, _CANCEL),
    (S.CANCEL_PENDING, IN.SUCCESS): CallStep(S.CANCEL_RACE, _RACE),
    (S.CANCEL_PENDING, IN.FAILURE): CallStep(S.ENDED, (A.REPORT_FINAL,)),
    (S.CANCEL_PENDING, IN.CHALLENGE): CallStep(S.ENDED, (A.REPORT_CANCELLED,)),
    (S.CANCEL_PENDING, IN.TIMEOUT): CallStep(S.ENDED, (A.REPORT_FAILED,)),
    (S.CANCEL_PENDING, IN.CANCEL): CallStep(S.CANCEL_PENDING),
    (S.CANCEL_PENDING, IN.HANGUP): CallStep(S.CANCEL_PENDING),
    (S.CANCELLING, IN.PROVISIONAL): CallStep(S.CANCELLING),
    (S.CANCELLING, IN.SUCCESS): CallStep(S.CANCEL_RACE, _RACE),
    (S.CANCELLING, IN.FAILURE): CallStep(S.ENDED, (A.REPORT_CANCELLED,)),
    (S.CANCELLING, IN.CHALLENGE): CallStep(S.ENDED, (A.REPORT_CANCELLED,)),
    (S.CANCELLING, IN.TIMEOUT): CallStep(S.ENDED, (A.REPORT_CANCELLED,)),
    (S.CANCELLING, IN.GIVE_UP): CallStep(S.ENDED, (A.REPORT_CANCELLED,)),
    (S.CANCELLING, IN.CANCEL): CallStep(S.CANCELLING),
    (S.CANCELLING, IN.HANGUP): CallStep(S.CANCELLING),
    (S.ANSWERED, IN.SUCCESS): CallStep(S.ANSWERED, (A.ACK,)),
    (S.ANSWERED, IN.CANCEL): CallStep(S.ANSWERED),
    (S.ANSWERED, IN.HANGUP): CallStep(S.ENDING, (A.SEND_BYE,)),
    (S.ANSWERED, IN.REMOTE_BYE): CallStep(S.ENDED, (A.REPORT_HUNG_UP,)),
    (S.ENDING, IN.SUCCESS): CallStep(S.ENDING, (A.ACK,)),
    (S.ENDING, IN.BYE_DONE): CallStep(S.ENDED, (A.REPORT_ENDED,)),
    (S.ENDING, IN.REMOTE_BYE): CallStep(S.ENDING),
    (S.CANCEL_RACE, IN.SUCCESS): CallStep(S.CANCEL_RACE, (A.ACK,)),
    (S.CANCEL_RACE, IN.BYE_DONE): CallStep(S.ENDED, (A.REPORT_CANCELLED,)),
    (S.CANCEL_RACE, IN.REMOTE_BYE): CallStep(S.CANCEL_RACE),
    (S.ENDED, IN.SUCCESS): CallStep(S.ENDED, (A.ACK,)),
    **{(s, i): CallStep(s) for s in (S.ENDING, S.CANCEL_RACE) for i in (IN.CANCEL, IN.HANGUP)},
    **{(s, IN.GIVE_UP): CallStep(s) for s in S if s is not S.CANCELLING},
    **{(S.ENDED, i): CallStep(S.ENDED) for i in IN if i is not IN.SUCCESS},
    **{(s, i): CallStep(s) for s in (S.ENDING, S.CANCEL_RACE)
       for i in (IN.PROVISIONAL, IN.FAILURE, IN.TIMEOUT, IN.CHALLENGE)},
}  # fmt: skip


class CallError(RuntimeError):
    """The call was fed an input its state does not take: our bug."""


def step(state: CallState, event: CallInput) -> CallStep:
    found = TRANSITIONS.get((state, event))
    if found is None:
        raise CallError(f"a call in state {state} cannot take {event}")
    return found


class Outcome(StrEnum):
    """What the call-control layer hears: progress, then exactly one final outcome."""

    TRYING = "trying"
    RINGING = "ringing"
    EARLY_MEDIA = "early_media"
    ANSWERED = "answered"
    BUSY = "busy"
    REJECTED = "rejected"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"
    HUNG_UP = "hung_up"  # the peer sent BYE
    ENDED = "ended"  # we sent BYE
    MEDIA_TIMEOUT = "media_timeout"  # we sent BYE: no RTP from the far end (RTP timeout)

    @property
    def final(self) -> bool:
        return self not in (Outcome.TRYING, Outcome.RINGING, Outcome.EARLY_MEDIA, Outcome.ANSWERED)


def progress_of(status: int, has_sdp: bool) -> Outcome:
    """100 is trying; another 1xx with SDP is early media; without, ringing."""
    if status == 100:
        return Outcome.TRYING
    return Outcome.EARLY_MEDIA if has_sdp else Outcome.RINGING


def final_of(status: int) -> Outcome:
    """The outcome of a 3xx-6xx final response: 486/600 busy, 408 no answer (what
    gateways send when the far end rings out), 5xx failed, the rest rejected."""
    if status in (486, 600):
        return Outcome.BUSY
    if status == 408:
        return Outcome.NO_ANSWER
    if 500 <= status < 600:
        return Outcome.FAILED
    return Outcome.REJECTED
