"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 3261 §22.4).

Pure: time and secrets are passed in. Client side: ``Challenge.parse`` reads a
WWW-Authenticate or Proxy-Authenticate value and ``authorize`` answers it with
``Credentials``, whose ``str()`` is the Authorization value. Server side:
``make_challenge`` issues a nonce ``<hex time>.<salt>.<HMAC>`` that ``verify`` checks
without storage, then checks the response against a password or a stored HA1, both
with constant-time comparisons. Stateless nonces cannot catch a replay within
``max_age`` (nonce counts are not tracked), so keep it short.

Algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess; qop ``auth``, ``auth-int`` or none
(RFC 2069 style). Malformed or unsupported header values raise :class:`SipParseError`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import StrEnum

from telephony.sip.headers import SipParseError, excerpt, quote, unquote

_HASHES = {"MD5": "md5", "MD5-SESS": "md5", "SHA-256": "sha256", "SHA-256-SESS": "sha256"}
_PARAM = re.compile(
    r'[ \t,]*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)[ \t]*=[ \t]*("(?:[^"\\]|\\.)*"|[^\s,"]*)[ \t]*(?:,|\Z)',
    re.DOTALL,
)
_SCHEME = re.compile(r"\s*(\S*)\s*(.*)", re.DOTALL)
_CLOCK_SKEW = 60.0


class Verdict(StrEnum):
    """Outcome of :func:`verify`: STALE means right password, expired nonce (re-challenge
    with ``stale=true``); INVALID means answer 401/403 again."""

    VALID = "valid"
    STALE = "stale"
    INVALID = "invalid"


def _params(value: str) -> dict[str, str]:
    split = _SCHEME.fullmatch(value)
    scheme, rest = split.groups() if split else ("", "")
    if scheme.lower() != "digest":
        raise SipParseError(f"unsupported authentication scheme {excerpt(scheme)}")
    params: dict[str, str] = {}
    pos, rest = 0, rest.strip(" \t,")
    while pos < len(rest):
        found = _PARAM.match(rest, pos)
        if found is None:
            raise SipParseError(f"bad digest parameter at {excerpt(rest[pos:])}")
        name, raw = found.group(1).lower(), found.group(2)
        if name in params:
            raise SipParseError(f"digest parameter {name} given twice")
        params[name] = unquote(raw) if raw[:1] == '"' else raw
        pos = found.end()
    return params


def _require(params: dict[str, str], *names: str) -> list[str]:
    missing = [name for name in names if name not in params]
    if missing:
        raise SipParseError(f"digest parameters missing: {', '.join(missing)}")
    return [params[name] for name in names]


def _algorithm(params: dict[str, str]) -> str:
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in _HASHES:
        raise SipParseError(f"unsupported digest algorithm {excerpt(algorithm)}")
    return algorithm


def _hash(algorithm: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.new(_HASHES[algorithm.upper()], data, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Challenge:
    """A Digest challenge (WWW-Authenticate / Proxy-Authenticate value)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @classmethod
    def parse(cls, value: str) -> Challenge:
        params = _params(value)
        realm, nonce = _require(params, "realm", "nonce")
        qop = tuple(q.strip() for q in params.get("qop", "").split(",") if q.strip())
        stale = params.get("stale", "").lower() == "true"
        return cls(realm, nonce, _algorithm(params), qop, params.get("opaque"), stale)

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}", f"nonce={quote(self.nonce)}"]
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Digest credentials (Authorization / Proxy-Authorization value)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    @classmethod
    def parse(cls, value: str) -> Credentials:
        params = _params(value)
        username, realm, nonce, uri, response = _require(
            params, "username", "realm", "nonce", "uri", "response"
        )
        qop, nc, cnonce = params.get("qop"), params.get("nc"), params.get("cnonce")
        if qop is not None and (nc is None or cnonce is None):
            raise SipParseError("digest qop given without nc and cnonce")
        algorithm, opaque = _algorithm(params), params.get("opaque")
        return cls(username, realm, nonce, uri, response, algorithm, qop, nc, cnonce, opaque)

    def __str__(self) -> str:
        quoted = ("username", "realm", "nonce", "uri", "response")
        parts = [f"{name}={quote(getattr(self, name))}" for name in quoted]
        parts.append(f"algorithm={self.algorithm}")
        if self.qop is not None:
            parts += [f"qop={self.qop}", f"nc={self.nc}", f"cnonce={quote(self.cnonce or '')}"]
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        return "Digest " + ", ".join(parts)


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """H(username:realm:password), what a server may store instead of the password."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def _response(credentials: Credentials, secret_ha1: str, method: str, body: bytes) -> str:
    algorithm, nonce = credentials.algorithm, credentials.nonce
    if algorithm.upper().endswith("-SESS"):
        secret_ha1 = _hash(algorithm, f"{secret_ha1}:{nonce}:{credentials.cnonce}")
    a2 = f"{method}:{credentials.uri}"
    if credentials.qop == "auth-int":
        a2 += ":" + _hash(algorithm, body)
    if credentials.qop is None:
        return _hash(algorithm, f"{secret_ha1}:{nonce}:{_hash(algorithm, a2)}")
    tail = f"{credentials.nc}:{credentials.cnonce}:{credentials.qop}:{_hash(algorithm, a2)}"
    return _hash(algorithm, f"{secret_ha1}:{nonce}:{tail}")


def authorize(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> Credentials:
    """Answer ``challenge`` for a ``method`` request to ``uri`` (qop auth preferred)."""
    qop = next((q for q in ("auth", "auth-int") if q in challenge.qop), None)
    if challenge.qop and qop is None:
        raise SipParseError(f"no supported qop in {challenge.qop!r}")
    unsigned = Credentials(
        username,
        challenge.realm,
        challenge.nonce,
        uri,
        "",
        challenge.algorithm,
        qop,
        f"{nc:08x}" if qop else None,
        (cnonce or secrets.token_hex(8)) if qop else None,
        challenge.opaque,
    )
    key = ha1(challenge.algorithm, username, challenge.realm, password)
    return replace(unsigned, response=_response(unsigned, key, method, body))


def make_nonce(secret: bytes, now: float, salt: str | None = None) -> str:
    """``<hex seconds>.<salt>.<HMAC-SHA256>``: checkable later without storage."""
    stamp = f"{int(now):x}.{salt or secrets.token_hex(6)}"
    return f"{stamp}.{hmac.new(secret, stamp.encode(), 'sha256').hexdigest()[:32]}"


def nonce_age(nonce: str, secret: bytes, now: float) -> float | None:
    """Seconds since ``make_nonce`` issued ``nonce``; ``None`` if forged or malformed."""
    stamp, _, mac = nonce.rpartition(".")
    expected = hmac.new(secret, stamp.encode(), "sha256").hexdigest()[:32]
    seconds = stamp.partition(".")[0]
    if not hmac.compare_digest(mac.encode(), expected.encode()) or not seconds:
        return None
    return now - int(seconds, 16)


def make_challenge(
    realm: str, secret: bytes, now: float, *, algorithm: str = "MD5", stale: bool = False
) -> Challenge:
    """A challenge with a fresh signed nonce and ``qop="auth"``."""
    return Challenge(realm, make_nonce(secret, now), algorithm, ("auth",), None, stale)


def verify(
    credentials: Credentials,
    *,
    method: str,
    realm: str,
    secret: bytes,
    now: float,
    password: str | None = None,
    stored_ha1: str | None = None,
    uri: str | None = None,
    max_age: float = 300.0,
    body: bytes = b"",
    algorithms: Collection[str] = tuple(_HASHES),
) -> Verdict:
    """Check credentials against ``password`` or ``stored_ha1`` and our own nonce.

    ``uri``, when given, must equal the credentials' uri (the Request-URI, RFC 2617
    §3.2.2.5); ``algorithms`` limits what the client may pick (no MD5 downgrade).
    Credentials without qop (RFC 2069 style, as pyVoIP sends) are accepted. A right
    response on a nonce older than ``max_age`` is STALE.
    """
    age = nonce_age(credentials.nonce, secret, now)
    wrong_uri = uri is not None and uri != credentials.uri
    allowed = credentials.algorithm.upper() in {name.upper() for name in algorithms}
    if credentials.realm != realm or age is None or wrong_uri or not allowed:
        return Verdict.INVALID
    if stored_ha1 is None:
        if password is None:
            raise ValueError("verify needs a password or a stored HA1")
        stored_ha1 = ha1(credentials.algorithm, credentials.username, realm, password)
    expected = _response(credentials, stored_ha1, method, body)
    if not hmac.compare_digest(expected.encode(), credentials.response.lower().encode()):
        return Verdict.INVALID
    return Verdict.STALE if not -_CLOCK_SKEW <= age <= max_age else Verdict.VALID
