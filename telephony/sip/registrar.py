"""The registrar for agent softphones (RFC 3261 §10.3) with digest authentication.

:meth:`Registrar.handle` answers one REGISTER (the user agent routes them here):

1. No Authorization: 401 with a fresh stateless nonce (:func:`digest.make_challenge`).
   Every extension, existing or not, gets this same answer.
2. Credentials whose username is not the To user, that do not parse, or that fail
   :func:`digest.verify` against the stored HA1 get 403 Forbidden. An unknown
   extension is verified against a random decoy HA1, so it costs the same hashing and
   gets the same 403 as a wrong password: a SIPVicious-style scan (svwar, svcrack)
   sees nothing that tells existing extensions from missing ones. A right answer on
   an expired nonce gets a new 401 with ``stale=true`` (not a failure).
3. Each failure counts against the source address in a :class:`Lockout`: 5 within
   5 minutes block it for 15 minutes. The registrar is also the endpoint's
   :class:`~telephony.sip.transport.Gate`: a blocked source's datagrams are dropped
   unanswered before they are parsed (no 403, no challenge: nothing to learn, nothing
   to spend). Failures are logged with address and extension.
4. Authenticated: Contact ``*`` with Expires 0 removes the binding; otherwise the
   first Contact replaces the extension's binding with the expiry granted by
   :class:`ExpiryPolicy` (423 with Min-Expires when too brief, 0 removes). The 200
   lists the binding with its ``expires``. No Contact: a query, answered likewise.

Credentials come through :class:`CredentialStore` (``ha1_for(extension)``, the MD5
H(extension:realm:password)), so PostgreSQL can stand behind it; :class:`Passwords`
is the in-memory one. A store that cannot answer now (its database is away) raises
:class:`CredentialsUnavailable`, and the phone gets 503 with Retry-After: no failure
is counted against it, and it is told when to try again rather than to try at once.
Time comes from an injected clock (aware UTC).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

from telephony.sip.bindings import Address, Binding, Bindings, ExpiryPolicy, expiry_of
from telephony.sip.digest import Credentials, Verdict, ha1, make_challenge, verify
from telephony.sip.headers import SipParseError, new_tag
from telephony.sip.lockout import Lockout
from telephony.sip.message import SipRequest, SipResponse, build_response

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]


RETRY_AFTER_S = 10  # what a phone is told when the credential store is away


class CredentialsUnavailable(Exception):
    """The credential store cannot answer now (its database is away)."""


class CredentialStore(Protocol):
    async def ha1_for(self, extension: str) -> str | None:
        """MD5(extension:realm:password) in hex, or None if there is no such extension."""
        ...


class Passwords:
    """Credentials from a mapping of extension to password (tests, demos)."""

    def __init__(self, passwords: Mapping[str, str], realm: str) -> None:
        self._ha1 = {ext: ha1("MD5", ext, realm, pw) for ext, pw in passwords.items()}

    async def ha1_for(self, extension: str) -> str | None:
        return self._ha1.get(extension)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Registrar:
    def __init__(
        self,
        credentials: CredentialStore,
        *,
        realm: str = "callcase",
        expiry: ExpiryPolicy | None = None,
        lockout: Lockout | None = None,
        clock: Clock = _utc_now,
        secret: bytes | None = None,
        nonce_max_age: float = 300.0,
    ) -> None:
        self.credentials, self.realm, self.clock = credentials, realm, clock
        self.expiry = expiry or ExpiryPolicy()
        self.lockout = lockout or Lockout()
        self.bindings = Bindings()
        self.nonce_max_age = nonce_max_age
        self.on_binding: Callable[[str, Binding | None], None] | None = None
        self.on_failure: Callable[[str, str], None] | None = None
        self._secret = secret or secrets.token_bytes(32)
        self._decoy = secrets.token_hex(16)

    def lookup(self, extension: str) -> Binding | None:
        """Where to reach ``extension`` now, or None (never registered or expired)."""
        return self.bindings.lookup(extension, self.clock())

    def admits(self, host: str) -> bool:
        """The endpoint's gate: False for a source blocked after failed logins."""
        return not self.lockout.is_blocked(host, self.clock())

    async def handle(self, request: SipRequest, source: Address) -> SipResponse | None:
        """Our answer to a REGISTER from ``source``; None to drop it unanswered."""
        now = self.clock()
        if self.lockout.is_blocked(source[0], now):
            return None
        value = request.headers.get("Authorization")
        if value is None:
            return self._challenge(request, now)
        extension = request.to.uri.user or ""
        try:
            credentials = Credentials.parse(value)
        except SipParseError:
            return self._failed(request, source, extension, now)
        try:
            stored = await self.credentials.ha1_for(credentials.username)
        except CredentialsUnavailable as error:
            logger.warning("REGISTER from %s:%s for %s: credentials unavailable (%s); 503",
                           *source, extension, error)  # fmt: skip
            return build_response(request, 503, to_tag=new_tag(),
                                  headers=[("Retry-After", str(RETRY_AFTER_S))])
        if credentials.username != extension:
            stored = None
        verdict = verify(
            credentials, method="REGISTER", realm=self.realm, secret=self._secret,
            now=now.timestamp(), stored_ha1=stored or self._decoy,
            max_age=self.nonce_max_age, algorithms=("MD5",),
        )  # fmt: skip
        if stored is None or verdict is Verdict.INVALID:
            return self._failed(request, source, extension, now)
        if verdict is Verdict.STALE:
            return self._challenge(request, now, stale=True)
        return self._bind(request, source, extension, now)

    def _challenge(self, request: SipRequest, now: datetime, stale: bool = False) -> SipResponse:
        challenge = make_challenge(self.realm, self._secret, now.timestamp(), stale=stale)
        headers = [("WWW-Authenticate", str(challenge))]
        return build_response(request, 401, to_tag=new_tag(), headers=headers)

    def _failed(
        self, request: SipRequest, source: Address, extension: str, now: datetime
    ) -> SipResponse:
        blocked = self.lockout.record_failure(source[0], now)
        logger.info(
            "REGISTER for %r from %s:%s refused%s",
            extension, *source, "; source blocked" if blocked else "",
        )  # fmt: skip
        if self.on_failure is not None:
            self.on_failure(source[0], extension)
        return build_response(request, 403, to_tag=new_tag())

    def _bind(
        self, request: SipRequest, source: Address, extension: str, now: datetime
    ) -> SipResponse:
        if request.headers.get("Contact") == "*":
            return self._unbind(request, extension) if request.expires == 0 else _bad(request)
        contact = request.contact
        if contact is None:
            return self._bound(request, self.bindings.lookup(extension, now), now)
        granted = self.expiry.grant(
            contact.expires if contact.expires is not None else request.expires
        )
        if granted is None:
            headers = [("Min-Expires", str(self.expiry.minimum))]
            return build_response(request, 423, to_tag=new_tag(), headers=headers)
        if not self.bindings.in_order(extension, request.call_id, request.cseq.number):
            return build_response(request, 500, "Out Of Order CSeq", to_tag=new_tag())
        if granted == 0:
            return self._unbind(request, extension)
        binding = Binding(
            extension, contact.uri, source, expiry_of(granted, now), request.call_id,
            request.cseq.number, request.headers.get("User-Agent"),
        )  # fmt: skip
        self.bindings.put(binding)
        logger.info("extension %s bound to %s from %s:%s", extension, contact.uri, *source)
        if self.on_binding is not None:
            self.on_binding(extension, binding)
        return self._bound(request, binding, now)

    def _unbind(self, request: SipRequest, extension: str) -> SipResponse:
        if self.bindings.remove(extension) is not None:
            logger.info("extension %s unregistered", extension)
            if self.on_binding is not None:
                self.on_binding(extension, None)
        return build_response(request, 200, to_tag=new_tag())

    def _bound(self, request: SipRequest, binding: Binding | None, now: datetime) -> SipResponse:
        headers = []
        if binding is not None:
            expires = binding.seconds_left(now)
            headers = [
                ("Contact", f"<{binding.contact}>;expires={expires}"),
                ("Expires", str(expires)),
            ]
        return build_response(request, 200, to_tag=new_tag(), headers=headers)

    def expire(self) -> list[str]:
        """Drop expired bindings (call now and then); their extensions."""
        gone = self.bindings.expire(self.clock())
        for extension in gone:
            if self.on_binding is not None:
                self.on_binding(extension, None)
        return gone


def _bad(request: SipRequest) -> SipResponse:
    return build_response(request, 400, "Contact * needs Expires: 0", to_tag=new_tag())
