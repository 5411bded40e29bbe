"""Client-side digest authentication (RFC 3261 §22.2, §22.3): answering 401 and 407.

Pure. :func:`retry_with_credentials` turns a request that was challenged into the
request to send next: same Call-ID, From tag and To, the next CSeq number, a new
branch (``via`` from the caller) and an Authorization or Proxy-Authorization value
computed by :func:`telephony.sip.digest.authorize`. It returns ``None`` when the
challenge cannot be answered, or when the same nonce was already answered and not
declared stale (the password is wrong: retrying again would loop).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from telephony.sip.digest import Challenge, Credentials, authorize
from telephony.sip.headers import SipParseError, Via
from telephony.sip.message import Headers, SipRequest, SipResponse

_HEADERS = {
    401: ("WWW-Authenticate", "Authorization"),
    407: ("Proxy-Authenticate", "Proxy-Authorization"),
}


@dataclass(frozen=True, slots=True)
class Login:
    """A username and password for a trunk or a registrar; the password stays out of
    ``repr`` and logs."""

    username: str
    password: str = field(repr=False)


def challenge_in(response: SipResponse) -> tuple[str, Challenge] | None:
    """The header to answer with and the first Digest challenge of a 401 or 407."""
    names = _HEADERS.get(response.status)
    if names is None:
        return None
    for value in response.headers.get_all(names[0]):
        try:
            return names[1], Challenge.parse(value)
        except SipParseError:
            continue
    return None


def retry_with_credentials(
    request: SipRequest, response: SipResponse, login: Login, via: Via
) -> SipRequest | None:
    """``request`` again, answering the challenge in ``response``; see the module doc."""
    found = challenge_in(response)
    if found is None:
        return None
    header, challenge = found
    previous = request.headers.get(header)
    if previous is not None and not challenge.stale and _nonce(previous) == challenge.nonce:
        return None
    try:
        credentials = authorize(
            challenge, method=request.method, uri=str(request.uri),
            username=login.username, password=login.password, body=request.body,
        )  # fmt: skip
    except SipParseError:
        return None
    changes = {
        "via": str(via),
        "cseq": f"{request.cseq.number + 1} {request.method}",
        header.lower(): str(credentials),
    }
    items = [(name, changes.pop(name.lower(), value)) for name, value in request.headers.items]
    items += [(name, value) for name, value in changes.items() if name == header.lower()]
    headers = Headers(tuple((header if n == header.lower() else n, v) for n, v in items))
    return SipRequest(request.method, request.uri, headers, request.body)


def _nonce(value: str) -> str | None:
    try:
        return Credentials.parse(value).nonce
    except SipParseError:
        return None
