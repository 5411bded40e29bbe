"""A call we place (asyncio): INVITE, progress, answer, CANCEL, ring timeout, auth.

:class:`OutgoingCall` is the INVITE side of :class:`~telephony.sip.call.Call`. Its
INVITE client transaction reports each response; the call classifies it (1xx, 2xx,
a challenge it can answer, another final) and feeds the table in
:mod:`telephony.sip.call_state`. The ring timeout given by the caller cancels the
call and reports ``no_answer``; :meth:`OutgoingCall.cancel` reports ``cancelled``.
A 2xx is ACKed by the dialog (new branch, the 2xx's To tag) and the same ACK is resent
for every copy of the 2xx. A 2xx from another fork (a different To tag) is ACKed and
hung up at once (§13.2.2.4).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import ClassVar

from telephony.sip.call import Call, CallEvent, CallHost
from telephony.sip.call_state import (
    CallAction,
    CallInput,
    CallState,
    Outcome,
    final_of,
    progress_of,
)
from telephony.sip.dialog import Dialog, cancel_for, response_key
from telephony.sip.login import Login, retry_with_credentials
from telephony.sip.message import SipRequest, SipResponse
from telephony.sip.transaction import Ending
from telephony.sip.transport import Address

logger = logging.getLogger(__name__)
_UNANSWERED = (CallState.CALLING, CallState.PROCEEDING)


class OutgoingCall(Call):
    def __init__(
        self,
        host: CallHost,
        invite: SipRequest,
        destination: Address,
        *,
        ring_timeout: float,
        login: Login | None = None,
    ) -> None:
        super().__init__(host, invite.call_id, invite.body, peer=destination, login=login)
        self.invite = invite
        self.ring_timeout = ring_timeout
        self._cause = Outcome.CANCELLED
        self._retry_invite: SipRequest | None = None
        self._ack: SipRequest | None = None
        self._timers: list[asyncio.TimerHandle] = []

    ACTIONS: ClassVar[dict[CallAction, str]] = {
        **Call.ACTIONS,
        CallAction.REPORT_PROGRESS: "_report_progress",
        CallAction.REPORT_ANSWERED: "_report_answered",
        CallAction.REPORT_FINAL: "_report_final",
        CallAction.REPORT_FAILED: "_report_failed",
        CallAction.REPORT_CANCELLED: "_report_cancelled",
        CallAction.ACK: "_send_ack",
        CallAction.SEND_CANCEL: "_send_cancel",
        CallAction.RETRY_WITH_CREDENTIALS: "_send_retry",
    }

    def start(self) -> None:
        self._send_invite(self.invite)
        self._later(self.ring_timeout, self._ring_timeout)

    def cancel(self) -> None:
        """Give up calling (CANCEL once a provisional came); reports ``cancelled``."""
        if self.state in _UNANSWERED:
            self._cause = Outcome.CANCELLED
        self._feed(CallInput.CANCEL)

    async def bye(self) -> CallEvent:
        """Hang up: BYE if answered, else CANCEL; the final event."""
        if self.state in (*_UNANSWERED, CallState.CANCEL_PENDING, CallState.CANCELLING):
            self.cancel()
            return await self.finished()
        return await super().bye()

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        self._timers.append(loop.call_later(delay, self._guarded, callback))

    def _guarded(self, callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:  # a loop callback boundary
            logger.exception("call %s: timer callback failed", self.call_id)

    def _ring_timeout(self) -> None:
        if self.state in _UNANSWERED:
            self._cause = Outcome.NO_ANSWER
        self._feed(CallInput.CANCEL)

    def _closed(self) -> None:
        for timer in self._timers:
            timer.cancel()
        super()._closed()

    # Responses to the INVITE ---------------------------------------------------------

    def _send_invite(self, invite: SipRequest) -> None:
        branch = invite.via.branch

        def listen(item: SipResponse | Ending) -> None:
            if self.invite.via.branch == branch:
                self._invite_event(item)

        self.endpoint.send_request(invite, self.peer, listen)

    def _invite_event(self, item: SipResponse | Ending) -> None:
        if isinstance(item, Ending):
            if item in (Ending.TIMEOUT, Ending.TRANSPORT):
                self._feed(CallInput.TIMEOUT, why=f"no response ({item})")
            return
        if item.status < 200:
            self._feed(CallInput.PROVISIONAL, item)
        elif item.status < 300:
            self._feed(CallInput.SUCCESS, item)
        elif self._can_retry(item):
            self._feed(CallInput.CHALLENGE, item)
        else:
            self._feed(CallInput.FAILURE, item)

    def _can_retry(self, response: SipResponse) -> bool:
        if self.login is None or response.status not in (401, 407):
            return False
        via = self.endpoint.new_via()
        self._retry_invite = retry_with_credentials(self.invite, response, self.login, via)
        return self._retry_invite is not None

    def _send_retry(self, _response: SipResponse | None, _why: str) -> None:
        assert self._retry_invite is not None
        self.invite, self._retry_invite = self._retry_invite, None
        self._send_invite(self.invite)

    def _send_ack(self, response: SipResponse | None, _why: str) -> None:
        assert response is not None
        if self.dialog is None:
            self.dialog = Dialog.as_uac(self.invite, response)
            self.host.attach(self)
        if response_key(response) != self.dialog.key:
            self._drop_fork(response)
            return
        self.remote_sdp = response.body or self.remote_sdp
        if self._ack is None:
            self._ack = self.dialog.ack(self.endpoint.new_via(), self.invite.cseq.number)
        self.endpoint.send(self._ack, self._next_hop())

    def _drop_fork(self, response: SipResponse) -> None:
        fork = Dialog.as_uac(self.invite, response)
        logger.info("call %s: hanging up a second fork (tag %s)", self.call_id, fork.remote.tag)
        self.endpoint.send(fork.ack(self.endpoint.new_via(), self.invite.cseq.number), self.peer)
        bye = fork.request("BYE", self.endpoint.new_via())
        self.endpoint.send_request(bye, self.peer, lambda _: None)

    def _send_cancel(self, _response: SipResponse | None, _why: str) -> None:
        self.endpoint.send_request(cancel_for(self.invite), self.peer, lambda _: None)
        self._later(64 * self.endpoint.timing.t1, lambda: self._feed(CallInput.GIVE_UP))

    # Reports ------------------------------------------------------------------------

    def _report_progress(self, response: SipResponse | None, _why: str) -> None:
        assert response is not None
        sdp = response.body or None
        self.remote_sdp = sdp or self.remote_sdp
        self._report(
            progress_of(response.status, sdp is not None), response.status, response.reason, sdp
        )

    def _report_answered(self, response: SipResponse | None, _why: str) -> None:
        assert response is not None
        self._report(Outcome.ANSWERED, response.status, response.reason, self.remote_sdp)

    def _report_final(self, response: SipResponse | None, _why: str) -> None:
        assert response is not None
        self._report(final_of(response.status), response.status, response.reason)

    def _report_failed(self, _response: SipResponse | None, why: str) -> None:
        self._report(Outcome.FAILED, None, why)

    def _report_cancelled(self, response: SipResponse | None, _why: str) -> None:
        status = response.status if response else 200 if self.dialog else None
        reason = "answered as we cancelled; hung up" if status == 200 else "cancelled"
        self._report(self._cause, status, reason)
