"""A call offered to us (asyncio): an INVITE waiting for ring, answer or reject.

The user agent hands each new INVITE to its ``on_invite`` handler as an
:class:`IncomingCall`. The handler rings (180), answers with an SDP answer (200, which
the INVITE server transaction resends until the ACK; the returned
:class:`~telephony.sip.call.Call` is answered) or rejects with a status. A CANCEL from
the caller is answered by the UA; the INVITE then gets 487 here and :attr:`cancelled`
is set. Without a handler the UA answers 480.
"""

from __future__ import annotations

import asyncio

from telephony.sip.call import Call, CallHost
from telephony.sip.call_state import CallState
from telephony.sip.dialog import ALLOW, Dialog
from telephony.sip.headers import new_tag
from telephony.sip.message import SipResponse, build_response
from telephony.sip.transaction import State
from telephony.sip.transport import ServerTransaction


class IncomingCall:
    def __init__(self, host: CallHost, txn: ServerTransaction, *, user: str | None) -> None:
        self.host, self.txn, self.user = host, txn, user
        self.request = txn.request
        self.offer = txn.request.body
        self.local_tag = new_tag()
        self.cancelled = asyncio.Event()

    @property
    def pending(self) -> bool:
        """No final response yet: ring, answer or reject are still possible."""
        return self.txn.state is State.PROCEEDING and not self.cancelled.is_set()

    def ring(self) -> None:
        if self.pending:
            self.txn.respond(self._response(180))

    def reject(self, status: int = 486) -> None:
        if self.pending:
            self.txn.respond(self._response(status))

    def answer(self, sdp: bytes) -> Call:
        """Answer with ``sdp``; the answered call (its ACK is awaited in the background)."""
        if not self.pending:
            raise RuntimeError(f"call {self.request.call_id} is no longer pending")
        contact = self.host.endpoint.contact(self.user)
        dialog = Dialog.as_uas(self.request, self.local_tag, contact)
        call = Call(
            self.host, self.request.call_id, sdp, peer=self.txn.source, state=CallState.ANSWERED
        )
        call.accepted(dialog, self.txn)
        self.txn.respond(dialog.response(self.request, 200, body=sdp))
        return call

    def caller_cancelled(self) -> None:
        """The caller sent CANCEL (already answered 200 by the UA): 487 the INVITE."""
        if self.pending:
            self.txn.respond(self._response(487))
        self.cancelled.set()

    def _response(self, status: int) -> SipResponse:
        headers = [("Contact", str(self.host.endpoint.contact(self.user)))] if status < 300 else []
        if status in (405, 501):
            headers.append(("Allow", ALLOW))
        return build_response(self.request, status, to_tag=self.local_tag, headers=headers)
