"""The user agent core (asyncio): places and answers calls, routes requests, registers.

One :class:`UserAgent` owns one :class:`~telephony.sip.transport.SipEndpoint` and is
its :class:`~telephony.sip.transport.Core`. API for call control::

    ua = await UserAgent.open("127.0.0.1", 5060, registrar=registrar)
    call = ua.invite("sip:+8613800000000@192.0.2.7", offer, from_uri="sip:line1@...",
                     ring_timeout=30, credentials=Login("trunk", "secret"))
    async for event in call.events(): ...      # trying, ringing, early_media, answered,
    call.remote_sdp; await call.reinvite(sdp)  # then one of busy, rejected, failed,
    await call.bye(); call.cancel()            # no_answer, cancelled, hung_up, ended

Routing of new requests: REGISTER to the registrar (405 without one), CANCEL to the
pending INVITE it names (200, then 487 for the INVITE; 481 if none), requests with a
To tag to their dialog (481 if unknown), an INVITE to ``on_invite`` (480 without
one; 503 with Retry-After while ``admit()`` says the service is full, or while the
source is flooding: ``flood``, :mod:`telephony.sip.flood`), OPTIONS 200
whatever the Request-URI (scanners learn nothing from it), other methods 405. ACKs for
2xx go to their dialog. Nothing here resolves DNS: targets are IP literals or come
with a ``destination``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from telephony.sip.call import Call
from telephony.sip.dialog import ALLOW, DialogKey, request_key
from telephony.sip.flood import FloodGuard
from telephony.sip.headers import NameAddr, SipUri, new_tag
from telephony.sip.incoming import IncomingCall
from telephony.sip.login import Login
from telephony.sip.message import SipRequest, SipResponse, build_request, build_response
from telephony.sip.outgoing import OutgoingCall
from telephony.sip.registrar import Registrar
from telephony.sip.registration import Registration, register
from telephony.sip.transaction import DEFAULT_TIMING, Ending, Timing, TransactionKey, server_key
from telephony.sip.transport import Address, ServerTransaction, SipEndpoint, address_of

__all__ = ["Login", "OutgoingCall", "Registration", "UserAgent", "register"]
logger = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # told to callers while the service is at capacity
InviteHandler = Callable[[IncomingCall], Awaitable[None]]


class UserAgent:
    def __init__(
        self,
        *,
        user: str = "callcase",
        registrar: Registrar | None = None,
        on_invite: InviteHandler | None = None,
    ) -> None:
        self.user, self.registrar, self.on_invite = user, registrar, on_invite
        self.admit: Callable[[], bool] = lambda: True  # False: new INVITEs get 503
        self.flood: FloodGuard | None = None  # per source: INVITEs over its rate get 503
        self.calls: dict[DialogKey, Call] = {}
        self.offered: dict[TransactionKey, IncomingCall] = {}
        self._endpoint: SipEndpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.registrations: list[Registration] = []

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        user: str = "callcase",
        registrar: Registrar | None = None,
        on_invite: InviteHandler | None = None,
        timing: Timing = DEFAULT_TIMING,
    ) -> UserAgent:
        ua = cls(user=user, registrar=registrar, on_invite=on_invite)
        ua._endpoint = await SipEndpoint.open(host, port, core=ua, timing=timing, gate=registrar)
        return ua

    @property
    def endpoint(self) -> SipEndpoint:
        if self._endpoint is None:
            raise RuntimeError("the user agent is not open")
        return self._endpoint

    def close(self) -> None:
        for registration in self.registrations:
            registration.stop()
        for task in self._tasks:
            task.cancel()
        self.endpoint.close()

    def new_call_id(self) -> str:
        return f"{secrets.token_hex(12)}@{self.endpoint.address[0]}"

    def invite(
        self,
        target: SipUri | str,
        sdp_offer: bytes,
        *,
        from_uri: SipUri | str,
        ring_timeout: float = 180.0,
        credentials: Login | None = None,
        destination: Address | None = None,
        display_name: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        call_id: str | None = None,
    ) -> OutgoingCall:
        """Place a call with our SDP offer; progress and outcome come as events.
        ``destination`` defaults to the target's host and port (an IP literal);
        ``call_id`` one made with `new_call_id` (when it must be known beforehand)."""
        uri = SipUri.parse(target) if isinstance(target, str) else target
        caller = SipUri.parse(from_uri) if isinstance(from_uri, str) else from_uri
        endpoint = self.endpoint
        request = build_request(
            "INVITE", uri, via=endpoint.new_via(),
            from_=NameAddr(caller, display_name).with_tag(new_tag()), to=NameAddr(uri),
            call_id=call_id or self.new_call_id(), cseq=1,
            headers=[("Contact", str(endpoint.contact(self.user))), ("Allow", ALLOW),
                     ("Content-Type", "application/sdp"), *headers],
            body=sdp_offer,
        )  # fmt: skip
        call = OutgoingCall(
            self, request, destination or address_of(uri), ring_timeout=ring_timeout,
            login=credentials,
        )  # fmt: skip
        call.start()
        return call

    async def register(
        self,
        registrar: SipUri | str,
        *,
        user: str,
        login: Login | None = None,
        expires: int = 3600,
        destination: Address | None = None,
    ) -> Registration:
        """Register ``user`` with a registrar or trunk and keep the binding fresh."""
        uri = SipUri.parse(registrar) if isinstance(registrar, str) else registrar
        registration = await register(
            self.endpoint, uri, user=user, login=login, expires=expires,
            destination=destination or address_of(uri),
        )  # fmt: skip
        self.registrations.append(registration)
        return registration

    # CallHost -----------------------------------------------------------------------

    def attach(self, call: Call) -> None:
        if call.dialog is not None:
            self.calls[call.dialog.key] = call

    def detach(self, call: Call) -> None:
        if call.dialog is not None and self.calls.get(call.dialog.key) is call:
            del self.calls[call.dialog.key]

    # Core ---------------------------------------------------------------------------

    def request_received(self, txn: ServerTransaction) -> None:
        request = txn.request
        if request.method == "REGISTER":
            self._register(txn)
        elif request.method == "CANCEL":
            self._cancel(txn)
        elif request.to.tag is not None:
            call = self.calls.get(request_key(request))
            if call is None:
                txn.reply(481, to_tag=new_tag())
            else:
                call.on_request(txn)
        elif request.method == "INVITE":
            self._offer(txn)
        elif request.method == "OPTIONS":
            txn.reply(
                200, headers=[("Allow", ALLOW), ("Accept", "application/sdp")], to_tag=new_tag()
            )
        else:
            status = 481 if request.method == "BYE" else 405
            txn.reply(status, headers=[("Allow", ALLOW)], to_tag=new_tag())

    def ack_received(self, ack: SipRequest, source: Address) -> None:
        call = self.calls.get(request_key(ack))
        if call is not None:
            call.on_ack(ack)
        else:
            logger.debug("ACK for no dialog from %s:%s: %s", *source, ack.call_id)

    def stray_response(self, response: SipResponse, source: Address) -> None:
        logger.debug("response for no transaction from %s:%s: %s", *source, response.status)

    def _register(self, txn: ServerTransaction) -> None:
        if self.registrar is None:
            txn.reply(405, headers=[("Allow", ALLOW)], to_tag=new_tag())
        else:
            self._spawn(self._answer_register(self.registrar, txn))

    async def _answer_register(self, registrar: Registrar, txn: ServerTransaction) -> None:
        try:
            response = await registrar.handle(txn.request, txn.source)
        except Exception:  # a task boundary: our bug; answer 500 and carry on
            logger.exception("REGISTER from %s:%s failed", *txn.source)
            response = build_response(txn.request, 500, to_tag=new_tag())
        if response is None:
            self.endpoint.forget(txn)
        else:
            txn.respond(response)

    def _cancel(self, txn: ServerTransaction) -> None:
        offered = self.offered.get(server_key(txn.request, "INVITE"))
        if offered is None:
            txn.reply(481, to_tag=new_tag())
            return
        txn.reply(200, to_tag=offered.local_tag)
        offered.caller_cancelled()

    def _offer(self, txn: ServerTransaction) -> None:
        if self.flood is not None and not self._within_rate(txn.source[0]):
            txn.reply(503, headers=[("Retry-After", str(RETRY_AFTER_S))], to_tag=new_tag())
            return
        if not self.admit():  # at capacity: come back later, the calls up keep running
            txn.reply(503, headers=[("Retry-After", str(RETRY_AFTER_S))], to_tag=new_tag())
            return
        handler = self.on_invite
        if handler is None:
            txn.reply(480, to_tag=new_tag())
            return
        offered = IncomingCall(self, txn, user=self.user)
        self.offered[txn.key] = offered

        def forget(_: Ending) -> None:
            self.offered.pop(txn.key, None)

        txn.on_end = forget
        self._spawn(self._run_handler(handler, offered))

    def _within_rate(self, host: str) -> bool:
        flood, now = self.flood, time.monotonic()
        assert flood is not None
        was = flood.flooding(host, now)
        admitted = flood.admit(host, now)
        if not admitted and not was:
            logger.warning("INVITEs from %s over %g a second: answered 503 until it slows "
                           "down for %g s", host, flood.rate, flood.hold)
        return admitted

    async def _run_handler(self, handler: InviteHandler, offered: IncomingCall) -> None:
        try:
            await handler(offered)
        except Exception:  # a task boundary: the handler's bug
            logger.exception("on_invite failed for call %s", offered.request.call_id)
            offered.reject(500)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
