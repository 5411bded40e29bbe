"""Pushing notifications to the bank's webhook: body, signature, retries, URL (pure).

Each delivery is an HTTP POST of a JSON body (UTF-8, keys sorted) with:

- ``X-Callcase-Delivery``: the notification's delivery id, the same on every retry;
  a receiver that has already processed it answers 2xx and does nothing more;
- ``X-Callcase-Event``: the notification kind (``dispute``, ``fraud``,
  ``dispute_resolved``, ``payment_claim``, ...);
- ``X-Callcase-Timestamp``: Unix seconds when this try was sent (each retry is
  signed anew, so a receiver may refuse old timestamps as replays);
- ``X-Callcase-Signature``: ``v1=<hex>``, the HMAC-SHA256 of
  ``<timestamp>.<body>`` keyed with the client's webhook secret. Several values
  may be sent, comma-separated; any one matching is enough.

The receiver checks the signature over the raw body bytes with a constant-time
comparison and refuses a timestamp more than ``TOLERANCE_S`` seconds from its own
clock: :func:`verify` does exactly that with the standard library only, so a bank
may copy it.

Retries: a 2xx answer is delivered. Any other answer (redirects are never
followed), a timeout or a connection error is a failure. After the n-th failed try
the next comes ``RETRY_DELAYS[n-1]`` later (10 s, 1 min, 5 min, 30 min, 2 h, 6 h),
then every ``MAX_DELAY`` (12 h); after ``MAX_ATTEMPTS`` failed tries the
notification is dead: no more pushes, it stays in the feed for the bank to pull.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cases.errors import InvalidInput

SIGNATURE_VERSION = "v1"
TOLERANCE_S = 300
RETRY_DELAYS = (
    timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
    timedelta(minutes=30), timedelta(hours=2), timedelta(hours=6),
)
MAX_DELAY = timedelta(hours=12)
MAX_ATTEMPTS = 10
MAX_URL_LENGTH = 2000
SECRET_LENGTH = (16, 200)

DELIVERY_HEADER = "X-Callcase-Delivery"
EVENT_HEADER = "X-Callcase-Event"
TIMESTAMP_HEADER = "X-Callcase-Timestamp"
SIGNATURE_HEADER = "X-Callcase-Signature"


def encode_body(event: Mapping[str, object]) -> bytes:
    """The bytes sent and signed: compact JSON, keys sorted, non-ASCII kept."""
    return json.dumps(event, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``<timestamp>.<body>`` keyed with `secret`."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, *, delivery_id: str, event: str, body: bytes, now: datetime
) -> dict[str, str]:
    """The headers of one try sent at `now`."""
    timestamp = int(now.timestamp())
    return {
        "Content-Type": "application/json; charset=utf-8",
        DELIVERY_HEADER: delivery_id,
        EVENT_HEADER: event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: f"{SIGNATURE_VERSION}={sign(secret, timestamp, body)}",
    }


def verify(
    secret: str, body: bytes, timestamp: str, signature: str, *, now: float,
    tolerance: int = TOLERANCE_S,
) -> bool:
    """True when `signature` (the X-Callcase-Signature header) signs `body` at
    `timestamp` (the X-Callcase-Timestamp header) with `secret`, and `timestamp` is
    within `tolerance` seconds of `now` (Unix seconds, e.g. ``time.time()``)."""
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body)
    found = False
    for part in signature.split(","):
        version, _, value = part.strip().partition("=")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value, expected):
            found = True
    return found


def retry_delay(failed_attempts: int) -> timedelta | None:
    """How long after the `failed_attempts`-th failed try the next one comes; None
    when that was the last try (the notification is dead)."""
    if failed_attempts < 1:
        raise ValueError("failed_attempts counts from 1")
    if failed_attempts >= MAX_ATTEMPTS:
        return None
    if failed_attempts <= len(RETRY_DELAYS):
        return RETRY_DELAYS[failed_attempts - 1]
    return MAX_DELAY


def is_delivered(status: int) -> bool:
    return 200 <= status < 300


def check_url(url: object) -> str:
    """A webhook URL: http or https, a host, no credentials, no fragment, no spaces."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise InvalidInput("webhook.url", f"url must be an http(s) URL of at most "
                           f"{MAX_URL_LENGTH} characters")
    problem = _url_problem(url)
    if problem is not None:
        raise InvalidInput("webhook.url", f"url {problem}", {"url": url})
    return url


def _url_problem(url: str) -> str | None:
    if any(c.isspace() or not c.isprintable() for c in url):
        return "must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    if not url.startswith(("http://", "https://")):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if parts.fragment:
        return "must not have a #fragment"
    if port == 0:
        return "has an invalid port"
    return None


def check_secret(secret: object) -> str:
    low, high = SECRET_LENGTH
    if not isinstance(secret, str) or not low <= len(secret) <= high:
        raise InvalidInput("webhook.secret", f"secret must be {low}-{high} characters")
    if any(not c.isprintable() or c.isspace() for c in secret):
        raise InvalidInput("webhook.secret", "secret must be printable, without spaces")
    return secret
