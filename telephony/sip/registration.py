"""Registering with a registrar or trunk as a client (RFC 3261 §10.2), kept fresh.

:func:`register` sends REGISTER, answers a 401/407 with the login (the next CSeq, same
Call-ID), follows a 423 to the registrar's Min-Expires once, and starts a refresh
task that registers again before the granted expiry runs out (60 s before, or halfway
for short grants); a failed refresh is retried every 30 s at most. The expiry granted
is our Contact's ``expires`` in the 200, else its Expires header, else what we asked.
:meth:`Registration.close` stops refreshing and unregisters (Expires: 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass, field

from telephony.sip.headers import NameAddr, SipUri, lenient_delta, new_tag
from telephony.sip.login import Login, retry_with_credentials
from telephony.sip.message import SipRequest, SipResponse, build_request
from telephony.sip.transport import Address, SipEndpoint, TransactionTimeout

logger = logging.getLogger(__name__)


class RegistrationFailed(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"REGISTER failed: {status} {reason}")
        self.status, self.reason = status, reason


@dataclass(eq=False)
class Registration:
    endpoint: SipEndpoint
    registrar: SipUri  # the Request-URI: the registrar's domain
    destination: Address
    aor: SipUri  # whose binding: To and From
    contact: NameAddr
    login: Login | None = None
    expires: int = 3600
    granted: int = 0
    call_id: str = field(default_factory=lambda: secrets.token_hex(10))
    from_tag: str = field(default_factory=new_tag)
    cseq: int = 0
    _task: asyncio.Task[None] | None = None

    async def register(self, expires: int | None = None) -> SipResponse:
        """One REGISTER exchange (with the auth and 423 retries); the final response."""
        request = self._request(self.expires if expires is None else expires)
        response = await self.endpoint.request(request, self.destination)
        for _ in range(3):
            retry = self._retry(request, response)
            if retry is None:
                break
            request = retry
            response = await self.endpoint.request(request, self.destination)
        if response.status == 200:
            self.granted = _granted(response, self.contact, request)
        return response

    def _retry(self, request: SipRequest, response: SipResponse) -> SipRequest | None:
        if response.status == 423 and "Min-Expires" in response.headers:
            self.expires = lenient_delta(response.headers.get("Min-Expires")) or self.expires
            return self._request(self.expires)
        if self.login is None or response.status not in (401, 407):
            return None
        retry = retry_with_credentials(request, response, self.login, self.endpoint.new_via())
        if retry is not None:
            self.cseq = retry.cseq.number
        return retry

    def _request(self, expires: int) -> SipRequest:
        self.cseq += 1
        return build_request(
            "REGISTER", self.registrar, via=self.endpoint.new_via(),
            from_=NameAddr(self.aor).with_tag(self.from_tag), to=NameAddr(self.aor),
            call_id=self.call_id, cseq=self.cseq,
            headers=[("Contact", str(self.contact)), ("Expires", str(expires))],
        )  # fmt: skip

    def keep_fresh(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._refresh(), name=f"register {self.aor}")

    async def _refresh(self) -> None:
        delay = _refresh_delay(self.granted)
        while True:
            await asyncio.sleep(delay)
            try:
                response = await self.register()
                delay = _refresh_delay(self.granted) if response.status == 200 else 30.0
            except TransactionTimeout:
                delay = 30.0
            except Exception:  # the refresh task's boundary: log, retry later
                logger.exception("refreshing the registration of %s failed", self.aor)
                delay = 30.0
            if delay == 30.0:
                logger.warning("registration of %s not refreshed; retrying", self.aor)

    def stop(self) -> None:
        """Stop refreshing (the binding then lapses at the registrar)."""
        if self._task is not None:
            self._task.cancel()

    async def close(self, *, unregister: bool = True) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if unregister and self.granted:
            with contextlib.suppress(TransactionTimeout):
                await self.register(expires=0)
            self.granted = 0


def _refresh_delay(granted: int) -> float:
    return float(max(1, granted - min(60, granted // 2)))


def _granted(response: SipResponse, contact: NameAddr, request: SipRequest) -> int:
    for bound in response.contacts:
        if bound.uri == contact.uri and bound.expires is not None:
            return bound.expires
    return response.expires or lenient_delta(request.headers.get("Expires")) or 0


async def register(
    endpoint: SipEndpoint,
    registrar: SipUri,
    *,
    user: str,
    login: Login | None = None,
    expires: int = 3600,
    destination: Address,
    contact_user: str | None = None,
) -> Registration:
    """Register ``user`` at ``registrar`` (our endpoint as Contact) and keep it fresh;
    :class:`RegistrationFailed` unless the registrar answers 200."""
    aor = SipUri("sip", user, registrar.host, registrar.port)
    contact = endpoint.contact(contact_user or user)
    registration = Registration(endpoint, registrar, destination, aor, contact, login, expires)
    response = await registration.register()
    if response.status != 200:
        raise RegistrationFailed(response.status, response.reason)
    registration.keep_fresh()
    return registration
