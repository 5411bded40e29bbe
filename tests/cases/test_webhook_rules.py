"""Webhook signatures, the retry table and URL rules, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cases import webhook_rules as wr
from cases.errors import InvalidInput

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
SECRET = "whsec_0123456789abcdef"
BODY = b'{"kind":"dispute"}'


def headers(body: bytes = BODY, secret: str = SECRET) -> dict[str, str]:
    return wr.signed_headers(secret, delivery_id="d-1", event="dispute", body=body, now=NOW)


def test_signature_matches_an_independent_hmac() -> None:
    # printf '%s' '1795921200.{"kind":"dispute"}' | openssl dgst -sha256 -hmac <SECRET>
    expected = "a34fd3b4a66ae5fb896313bf24259340ae352e77a07ca0b9cf9049ab92f8c68e"
    got = headers()
    assert got["X-Callcase-Timestamp"] == "1795921200"
    assert got["X-Callcase-Signature"] == f"v1={expected}"
    assert got["X-Callcase-Delivery"] == "d-1"
    assert got["X-Callcase-Event"] == "dispute"
    assert got["Content-Type"] == "application/json; charset=utf-8"


def check(body: bytes, h: dict[str, str], *, secret: str = SECRET, late: float = 0) -> bool:
    return wr.verify(secret, body, h["X-Callcase-Timestamp"], h["X-Callcase-Signature"],
                     now=NOW.timestamp() + late)


def test_verify_accepts_the_signed_body() -> None:
    assert check(BODY, headers())
    assert check(BODY, headers(), late=wr.TOLERANCE_S)
    assert check(BODY, headers(), late=-wr.TOLERANCE_S)


@pytest.mark.parametrize("tamper", ["body", "secret", "stale", "future", "version", "garbage"])
def test_verify_refuses(tamper: str) -> None:
    h = headers()
    body, secret, late = BODY, SECRET, 0.0
    if tamper == "body":
        body = b'{"kind":"fraud"}'
    elif tamper == "secret":
        secret = "whsec_another_secret_value"
    elif tamper == "stale":
        late = wr.TOLERANCE_S + 1
    elif tamper == "future":
        late = -wr.TOLERANCE_S - 1
    elif tamper == "version":
        h["X-Callcase-Signature"] = h["X-Callcase-Signature"].replace("v1=", "v0=")
    else:
        h["X-Callcase-Timestamp"] = "yesterday"
    assert not check(body, h, secret=secret, late=late)


def test_any_of_several_signatures_is_enough() -> None:
    h = headers()
    h["X-Callcase-Signature"] = "v1=" + "0" * 64 + ", " + h["X-Callcase-Signature"]
    assert check(BODY, h)
    h["X-Callcase-Signature"] = "v1=" + "0" * 64 + ",v1=" + "f" * 64
    assert not check(BODY, h)


def test_body_is_stable_compact_and_keeps_chinese() -> None:
    body = wr.encode_body({"b": 1, "a": {"statement": "从未办过这张卡"}})
    assert body == '{"a":{"statement":"从未办过这张卡"},"b":1}'.encode()
    assert body == wr.encode_body({"a": {"statement": "从未办过这张卡"}, "b": 1})


def test_retry_schedule_backs_off_caps_and_gives_up() -> None:
    delays = [wr.retry_delay(n) for n in range(1, wr.MAX_ATTEMPTS + 1)]
    assert delays[:5] == [timedelta(seconds=10), timedelta(minutes=1), timedelta(minutes=5),
                          timedelta(minutes=30), timedelta(hours=2)]
    waits = [d for d in delays if d is not None]
    assert waits == sorted(waits)
    assert max(waits) == wr.MAX_DELAY
    assert delays[-1] is None
    assert len(waits) == wr.MAX_ATTEMPTS - 1
    with pytest.raises(ValueError):
        wr.retry_delay(0)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    assert wr.is_delivered(status)


@pytest.mark.parametrize("status", [100, 301, 302, 304, 400, 404, 410, 500, 503])
def test_anything_else_is_not(status: int) -> None:
    assert not wr.is_delivered(status)


@pytest.mark.parametrize("url", [
    "https://bank.example.com/callcase/hooks", "http://127.0.0.1:8443/h?x=1",
    "https://[::1]:9000/", "https://银行.example/钩子",
])
def test_good_urls(url: str) -> None:
    assert wr.check_url(url) == url


@pytest.mark.parametrize(("url", "says"), [
    ("ftp://bank.example.com/", "http://"),
    ("HTTPS://bank.example.com/", "http://"),
    ("javascript:alert(1)", "http://"),
    ("https:///path", "host"),
    ("https://user:pw@bank.example.com/", "credentials"),
    ("https://bank.example.com/#frag", "fragment"),
    ("https://bank.example.com/a b", "spaces"),
    ("https://bank.example.com:0/", "port"),
    ("https://bank.example.com:99999/", "valid URL"),
    ("https://[::1/", "valid URL"),
    ("", "at most"),
    ("https://x/" + "a" * 2000, "at most"),
    (42, "at most"),
])
def test_bad_urls(url: object, says: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        wr.check_url(url)
    assert caught.value.error_id == "webhook.url"
    assert says in caught.value.message


@pytest.mark.parametrize("secret", ["short", "x" * 201, "has a space in it!!", 1234567890123456,
                                    "tab\there-0123456789"])
def test_bad_secrets(secret: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        wr.check_secret(secret)
    assert caught.value.error_id == "webhook.secret"


def test_good_secret() -> None:
    assert wr.check_secret(SECRET) == SECRET
