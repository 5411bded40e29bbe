"""A call's dialog-level half, shared by calls we place and calls we answer (asyncio).

A :class:`Call` runs the table of :mod:`telephony.sip.call_state` and executes its
actions on the endpoint: BYE (with credentials if the peer asks), the ACK for a 2xx,
re-INVITEs both ways, and the peer's in-dialog requests (BYE -> 200 and ``hung_up``,
re-INVITE -> 200 with our SDP answer, OPTIONS -> 200, the rest 501). The media side
is not here: the call takes and gives SDP bytes. Whoever owns the call reads
:meth:`Call.events` (progress, then exactly one final event) or awaits
:meth:`Call.finished`; :attr:`Call.on_remote_bye` is called when the peer hangs up.

A peer's re-INVITE is answered by :attr:`Call.answer_offer` (call control maps the
offer to our answer, or ``None`` for 488); without it, :func:`default_answer` answers
from our current SDP with the mirrored direction (the peer's hold gets recvonly).
While a re-INVITE of ours is pending, the peer's gets 491 (§14.2). Our 2xx to a
re-INVITE is resent until the ACK comes; without one in 64*T1 we hang up (§13.3.1.4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from telephony.sip.call_state import CallAction, CallInput, CallState, Outcome, step
from telephony.sip.dialog import Dialog
from telephony.sip.login import Login, retry_with_credentials
from telephony.sip.message import SipRequest, SipResponse
from telephony.sip.sdp import SdpNegotiationError, SdpParseError, SessionDescription, answer
from telephony.sip.transaction import Ending
from telephony.sip.transport import Address, ServerTransaction, SipEndpoint, address_of

logger = logging.getLogger(__name__)
Handler = Callable[[SipResponse | None, str], None]


class CallHost(Protocol):
    """What a call needs from its user agent: the endpoint and dialog routing."""

    @property
    def endpoint(self) -> SipEndpoint: ...
    def attach(self, call: Call) -> None: ...
    def detach(self, call: Call) -> None: ...


@dataclass(frozen=True, slots=True)
class CallEvent:
    outcome: Outcome
    status: int | None = None
    reason: str = ""
    sdp: bytes | None = None


class ReinviteFailed(Exception):
    """Our re-INVITE got no 2xx; the session is unchanged (491: try again later)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"re-INVITE failed: {status} {reason}")
        self.status, self.reason = status, reason


class Call:
    def __init__(
        self,
        host: CallHost,
        call_id: str,
        local_sdp: bytes,
        *,
        peer: Address,
        login: Login | None = None,
        state: CallState = CallState.CALLING,
    ) -> None:
        self.host, self.endpoint, self.call_id, self.peer = host, host.endpoint, call_id, peer
        self.state, self.login = state, login
        self.dialog: Dialog | None = None
        self.local_sdp = local_sdp
        self.remote_sdp: bytes | None = None
        self.on_remote_bye: Callable[[CallEvent], None] | None = None
        self.answer_offer: Callable[[bytes], bytes | None] | None = None
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._outcome: asyncio.Future[CallEvent] = asyncio.get_running_loop().create_future()
        self._reinviting = False
        self._awaiting_ack: ServerTransaction | None = None
        self._acked = asyncio.Event()
        self._bye_status: int | None = None

    # What each action of the table runs, by method name: a dict of bound methods on
    # the call would hold the call in a reference cycle, which only the cyclic garbage
    # collector frees (two per call, each with its events, futures and messages).
    ACTIONS: ClassVar[dict[CallAction, str]] = {
        CallAction.SEND_BYE: "_send_bye",
        CallAction.REPORT_ENDED: "_report_ended",
        CallAction.REPORT_HUNG_UP: "_report_hung_up",
    }

    @property
    def outcome(self) -> CallEvent | None:
        return self._outcome.result() if self._outcome.done() else None

    async def events(self) -> AsyncIterator[CallEvent]:
        """Progress events, then the final one, then the iterator ends."""
        while True:
            event = await self._events.get()
            yield event
            if event.outcome.final:
                return

    async def finished(self) -> CallEvent:
        return await asyncio.shield(self._outcome)

    async def bye(self) -> CallEvent:
        """Hang up an answered call (BYE) and wait for the final event."""
        self._feed(CallInput.HANGUP)
        return await self.finished()

    # The table ----------------------------------------------------------------------

    def _feed(self, event: CallInput, response: SipResponse | None = None, why: str = "") -> None:
        found, before = step(self.state, event), self.state
        if found.next is not before:
            logger.debug("call %s: %s + %s -> %s", self.call_id, before, event, found.next)
        self.state = found.next
        for action in found.actions:
            handler: Handler = getattr(self, self.ACTIONS[action])
            handler(response, why)
        if found.next is CallState.ENDED and before is not CallState.ENDED:
            self._closed()

    def _closed(self) -> None:
        self.host.detach(self)

    def _report(
        self, outcome: Outcome, status: int | None, reason: str, sdp: bytes | None = None
    ) -> CallEvent:
        event = CallEvent(outcome, status, reason, sdp)
        logger.info("call %s: %s %s %s", self.call_id, outcome, status or "", reason)
        self._events.put_nowait(event)
        if outcome.final and not self._outcome.done():
            self._outcome.set_result(event)
        return event

    def _report_ended(self, _response: SipResponse | None, _why: str) -> None:
        self._report(Outcome.ENDED, self._bye_status, "we hung up")

    def _report_hung_up(self, _response: SipResponse | None, why: str) -> None:
        event = self._report(Outcome.HUNG_UP, None, why or "the peer hung up")
        if self.on_remote_bye is not None:
            self.on_remote_bye(event)

    def _next_hop(self) -> Address:
        try:
            return address_of(self.dialog.next_hop) if self.dialog else self.peer
        except ValueError:
            return self.peer

    def _send_bye(self, _response: SipResponse | None, _why: str) -> None:
        assert self.dialog is not None
        self._bye(self.dialog.request("BYE", self.endpoint.new_via()))

    def _bye(self, bye: SipRequest) -> None:
        def listen(item: SipResponse | Ending) -> None:
            if isinstance(item, SipResponse) and item.status < 200:
                return
            retry = self._retry(bye, item)
            if retry is not None:
                self._bye(retry)
            elif self.state is not CallState.ENDED and self._bye_status is None:
                self._bye_status = item.status if isinstance(item, SipResponse) else 408
                self._feed(CallInput.BYE_DONE)

        self.endpoint.send_request(bye, self._next_hop(), listen)

    def _retry(self, request: SipRequest, item: SipResponse | Ending) -> SipRequest | None:
        """``request`` with credentials if ``item`` is a challenge we can answer."""
        if self.login is None or not isinstance(item, SipResponse) or item.status not in (401, 407):
            return None
        retry = retry_with_credentials(request, item, self.login, self.endpoint.new_via())
        if retry is not None and self.dialog is not None:
            self.dialog.local_seq = retry.cseq.number
        return retry

    # Requests from the peer ---------------------------------------------------------

    def on_request(self, txn: ServerTransaction) -> None:
        """An in-dialog request from the peer (the UA routed it here by dialog)."""
        request = txn.request
        if self.dialog is None:
            txn.reply(481)
        elif request.method == "INVITE":
            self._peer_reinvite(txn)
        else:
            response = self.dialog.answer(request)
            if response is not None:
                txn.respond(response)
            if request.method == "BYE" and response is not None and response.status == 200:
                self._feed(CallInput.REMOTE_BYE, why=request.headers.get("Reason") or "")

    def on_ack(self, ack: SipRequest) -> None:
        """The ACK for our 2xx (to an INVITE or re-INVITE from the peer)."""
        txn = self._awaiting_ack
        if txn is not None and ack.cseq.number == txn.request.cseq.number:
            txn.acknowledge(ack)
            self._awaiting_ack = None
            self._acked.set()

    def _peer_reinvite(self, txn: ServerTransaction) -> None:
        assert self.dialog is not None
        request = txn.request
        if self._reinviting or self._awaiting_ack is not None:
            txn.respond(self.dialog.response(request, 491))
            return
        sdp = self._answer_to(request.body)
        response = self.dialog.answer(request, sdp)
        assert response is not None
        if response.status == 200 and sdp is not None:
            self.remote_sdp, self.local_sdp = request.body or self.remote_sdp, sdp
            self.await_ack(txn)
        txn.respond(response)

    def accepted(self, dialog: Dialog, txn: ServerTransaction) -> None:
        """We are answering the peer's INVITE ``txn`` with a 2xx: the call is up."""
        self.dialog, self.remote_sdp = dialog, txn.request.body or None
        self.host.attach(self)
        self.await_ack(txn)
        self._report(Outcome.ANSWERED, 200, "OK", self.remote_sdp)

    def await_ack(self, txn: ServerTransaction) -> None:
        """Our 2xx to ``txn`` is resent until :meth:`on_ack`; no ACK: hang up."""
        self._awaiting_ack = txn
        self._acked.clear()
        previous = txn.on_end

        def ended(reason: Ending) -> None:
            if previous is not None:
                previous(reason)
            if self._awaiting_ack is txn:
                self._awaiting_ack = None
                self._acked.set()
            if reason is Ending.NO_ACK:
                logger.warning("call %s: no ACK for our 2xx, hanging up", self.call_id)
                self._feed(CallInput.HANGUP)

        txn.on_end = ended

    def _answer_to(self, offer: bytes) -> bytes | None:
        if not offer:
            return self.local_sdp  # an offerless re-INVITE: we offer in the 2xx
        if self.answer_offer is not None:
            return self.answer_offer(offer)
        return default_answer(self.local_sdp, offer)

    # Our re-INVITE ------------------------------------------------------------------

    async def reinvite(self, sdp: bytes) -> bytes:
        """Offer ``sdp`` in a re-INVITE (hold: a=sendonly; resume: sendrecv); the
        peer's answer. Raises :class:`ReinviteFailed` and leaves the session as it was.
        An INVITE of the peer's still waiting for its ACK is waited for (§14.1)."""
        if self._awaiting_ack is not None:
            await self._acked.wait()  # timer H bounds it
        if self.state is not CallState.ANSWERED or self.dialog is None:
            raise ReinviteFailed(0, f"the call is {self.state}")
        if self._reinviting:
            raise ReinviteFailed(491, "Request Pending")
        self._reinviting = True
        try:
            response = await self._invite_in_dialog(
                self.dialog.request("INVITE", self.endpoint.new_via(), body=sdp)
            )
        finally:
            self._reinviting = False
        if response.status >= 300:
            raise ReinviteFailed(response.status, response.reason)
        self.dialog.refresh(response)
        self.local_sdp = sdp
        self.remote_sdp = response.body or self.remote_sdp
        return response.body

    async def _invite_in_dialog(self, request: SipRequest) -> SipResponse:
        for _ in range(3):
            response = await self._final_response(request)
            retry = self._retry(request, response)
            if retry is None:
                return response
            request = retry
        return response

    async def _final_response(self, invite: SipRequest) -> SipResponse:
        done: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        assert self.dialog is not None
        ack = self.dialog.ack(self.endpoint.new_via(), invite.cseq.number)

        def listen(item: SipResponse | Ending) -> None:
            if isinstance(item, Ending):
                if not done.done():
                    done.set_exception(ReinviteFailed(408, f"no final response ({item})"))
            elif item.status >= 200:
                if 200 <= item.status < 300:
                    self.endpoint.send(ack, self._next_hop())  # each 2xx copy
                if not done.done():
                    done.set_result(item)

        self.endpoint.send_request(invite, self._next_hop(), listen)
        return await done


def default_answer(local_sdp: bytes, offer: bytes) -> bytes | None:
    """Our answer to a re-INVITE's offer from our current SDP (same address, port,
    session, next version), the direction mirrored; ``None`` (488) if unusable."""
    try:
        ours = SessionDescription.parse(local_sdp)
        theirs = SessionDescription.parse(offer)
        audio = next(m for m in ours.media if m.kind == "audio")
        connection = audio.connection or ours.connection
        version = int(ours.origin.version) + 1 if ours.origin.version.isdigit() else 2
        session = int(ours.origin.session_id) if ours.origin.session_id.isdigit() else 1
        if connection is None:
            return None
        return bytes(
            answer(theirs, connection.address, audio.port, session_id=session, version=version)
        )
    except (SdpParseError, SdpNegotiationError, StopIteration):
        return None
