"""SIP dialogs (RFC 3261 §12, §13.2.2.4, §14, §15, §9.1): state and in-dialog requests.

Pure. A dialog is created from an INVITE and its 2xx, on either side
(:meth:`Dialog.as_uac`, :meth:`Dialog.as_uas`). It is identified by Call-ID, local tag
and remote tag (:attr:`Dialog.key`; :func:`request_key` and :func:`response_key` give
the same triple for an incoming message). Early dialogs are not kept: nothing here is
sent before the 2xx but the CANCEL, which :func:`cancel_for` builds from the INVITE.

Requests we send (:meth:`Dialog.request`) go to the remote target (the peer's Contact,
refreshed by re-INVITEs) through the route set (Record-Route, reversed for the UAC;
a strict router first gets the old RFC 2543 treatment, §12.2.1.1). Every request but
ACK and CANCEL takes the next local CSeq; the ACK for a 2xx reuses its INVITE's number
with a new branch and the To tag the 2xx carried, as does every later request: a peer
that does not recognise its own tag in the ACK keeps resending the 2xx.

Requests the peer sends (:meth:`Dialog.answer`): a CSeq below the last one is out of
order (500); BYE ends the dialog (200), OPTIONS gets 200 with Allow, a re-INVITE gets
200 with the SDP answer the caller supplies (488 without one) and refreshes the remote
target; other methods get 501. ACK is absorbed (no response).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from telephony.sip.headers import NameAddr, SipUri, Via
from telephony.sip.message import Headers, SipRequest, SipResponse, build_request, build_response

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
DialogKey = tuple[str, str, str]
_TARGET_REFRESH = frozenset(("INVITE", "UPDATE"))


def request_key(request: SipRequest) -> DialogKey:
    """The dialog of a request the peer sent us: Call-ID, To tag (ours), From tag."""
    return (request.call_id, request.to.tag or "", request.from_.tag or "")


def response_key(response: SipResponse) -> DialogKey:
    """The dialog a response to our request belongs to: Call-ID, From tag, To tag."""
    return (response.call_id, response.from_.tag or "", response.to.tag or "")


@dataclass(slots=True)
class Dialog:
    """A confirmed dialog; mutable: CSeq numbers, remote target and ``ended`` change."""

    call_id: str
    local: NameAddr  # our From (UAC) or To (UAS), with our tag
    remote: NameAddr  # the peer's, with its tag
    remote_target: SipUri
    route_set: tuple[NameAddr, ...]
    local_contact: NameAddr
    local_seq: int
    remote_seq: int | None = None
    ended: bool = False

    @property
    def key(self) -> DialogKey:
        return (self.call_id, self.local.tag or "", self.remote.tag or "")

    @classmethod
    def as_uac(cls, invite: SipRequest, response: SipResponse) -> Dialog:
        """The dialog our INVITE's 2xx creates (§12.1.2)."""
        contact = response.contact
        return cls(
            call_id=invite.call_id,
            local=invite.from_,
            remote=response.to,
            remote_target=contact.uri if contact else invite.uri,
            route_set=tuple(reversed(response.record_routes)),
            local_contact=invite.contact or invite.from_,
            local_seq=invite.cseq.number,
        )

    @classmethod
    def as_uas(cls, invite: SipRequest, local_tag: str, local_contact: NameAddr) -> Dialog:
        """The dialog our 2xx to ``invite`` creates (§12.1.1)."""
        contact = invite.contact
        return cls(
            call_id=invite.call_id,
            local=invite.to.with_tag(local_tag),
            remote=invite.from_,
            remote_target=contact.uri if contact else invite.from_.uri,
            route_set=invite.record_routes,
            local_contact=local_contact,
            local_seq=0,
            remote_seq=invite.cseq.number,
        )

    @property
    def next_hop(self) -> SipUri:
        """Where in-dialog requests go: the first route, else the remote target."""
        return self.route_set[0].uri if self.route_set else self.remote_target

    def request(
        self,
        method: str,
        via: Via,
        *,
        body: bytes = b"",
        content_type: str = "application/sdp",
        headers: Iterable[tuple[str, str]] = (),
    ) -> SipRequest:
        """An in-dialog request (§12.2.1.1); all but ACK and CANCEL take the next CSeq."""
        if method not in ("ACK", "CANCEL"):
            self.local_seq += 1
        return self._request(method, via, self.local_seq, body, content_type, headers)

    def ack(self, via: Via, invite_seq: int, body: bytes = b"") -> SipRequest:
        """The ACK for a 2xx to our INVITE number ``invite_seq`` (§13.2.2.4): a new
        transaction (``via`` carries a fresh branch), the 2xx's To tag."""
        return self._request("ACK", via, invite_seq, body, "application/sdp", ())

    def _request(
        self,
        method: str,
        via: Via,
        cseq: int,
        body: bytes,
        content_type: str,
        headers: Iterable[tuple[str, str]],
    ) -> SipRequest:
        uri, routes = self._target()
        extra = [("Route", str(route)) for route in routes]
        if method in _TARGET_REFRESH:
            extra.append(("Contact", str(self.local_contact)))
        if body:
            extra.append(("Content-Type", content_type))
        return build_request(
            method, uri, via=via, from_=self.local, to=self.remote, call_id=self.call_id,
            cseq=cseq, headers=[*extra, *headers], body=body,
        )  # fmt: skip

    def _target(self) -> tuple[SipUri, tuple[NameAddr, ...]]:
        if not self.route_set or "lr" in self.route_set[0].uri.params:
            return self.remote_target, self.route_set
        strict = self.route_set[0].uri
        return replace(strict, headers=()), (*self.route_set[1:], NameAddr(self.remote_target))

    def refresh(self, message: SipRequest | SipResponse) -> None:
        """Take a new remote target from a re-INVITE or its 2xx (§12.2.1.2, §12.2.2)."""
        contact = message.contact
        if contact is not None:
            self.remote_target = contact.uri

    def answer(self, request: SipRequest, sdp: bytes | None = None) -> SipResponse | None:
        """Our response to an in-dialog request from the peer (§12.2.2); ``sdp`` is the
        answer to a re-INVITE's offer (or our offer when it came without one)."""
        if request.method == "ACK":
            return None
        number = request.cseq.number
        if request.method != "CANCEL":
            if self.remote_seq is not None and number < self.remote_seq:
                return self.response(request, 500, reason="Out Of Order CSeq")
            self.remote_seq = number
        if request.method == "BYE":
            self.ended = True
            return self.response(request, 200)
        if request.method == "OPTIONS":
            return self.response(request, 200, headers=[("Accept", "application/sdp")])
        if request.method != "INVITE":
            return self.response(request, 501)
        if sdp is None:
            return self.response(request, 488)
        self.refresh(request)
        return self.response(request, 200, body=sdp)

    def response(
        self,
        request: SipRequest,
        status: int,
        *,
        reason: str | None = None,
        body: bytes = b"",
        headers: Iterable[tuple[str, str]] = (),
    ) -> SipResponse:
        """A response in this dialog: our tag, our Contact and Allow on 2xx, SDP body."""
        extra = list(headers)
        if 200 <= status < 300 and request.method in ("INVITE", "OPTIONS"):
            extra += [("Contact", str(self.local_contact)), ("Allow", ALLOW)]
        if status in (405, 501):
            extra.append(("Allow", ALLOW))
        if body:
            extra.append(("Content-Type", "application/sdp"))
        return build_response(
            request, status, reason, to_tag=self.local.tag, headers=extra, body=body
        )


def cancel_for(invite: SipRequest) -> SipRequest:
    """The CANCEL for a pending INVITE (§9.1): its Request-URI, top Via (same branch),
    From, To (no tag), Call-ID, CSeq number and Route."""
    items = [
        ("Via", invite.headers.get_all("Via")[0]),
        ("Max-Forwards", "70"),
        ("From", invite.headers.get("From") or ""),
        ("To", invite.headers.get("To") or ""),
        ("Call-ID", invite.call_id),
        ("CSeq", f"{invite.cseq.number} CANCEL"),
        *(("Route", route) for route in invite.headers.get_all("Route")),
    ]
    return SipRequest("CANCEL", invite.uri, Headers(tuple(items)))
