from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.sip.digest import (
    Challenge,
    Credentials,
    Verdict,
    authorize,
    ha1,
    make_challenge,
    make_nonce,
    nonce_age,
    verify,
)
from telephony.sip.headers import SipParseError

RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", '
    'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
SECRET = b"0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000.0


def test_rfc2617_example() -> None:
    challenge = Challenge.parse(RFC2617_CHALLENGE)
    assert challenge.qop == ("auth", "auth-int")
    credentials = authorize(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa",
        password="Circle Of Life", cnonce="0a4f113b",
    )  # fmt: skip
    assert credentials.response == "6629fae49393a05397450978507c4ef1"
    assert str(credentials) == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, qop=auth, nc=00000001, '
        'cnonce="0a4f113b", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    assert Credentials.parse(str(credentials)) == credentials


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_examples(algorithm: str, response: str) -> None:
    credentials = authorize(
        Challenge.parse(RFC7616_CHALLENGE.format(algorithm)), method="GET",
        uri="/dir/index.html", username="Mufasa", password="Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )  # fmt: skip
    assert (credentials.response, credentials.algorithm) == (response, algorithm)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def test_without_qop_the_rfc2069_formula_is_used() -> None:
    credentials = authorize(
        Challenge("asterisk", "abc"), method="REGISTER", uri="sip:pbx", username="u", password="p"
    )
    assert credentials.response == md5(f"{md5('u:asterisk:p')}:abc:{md5('REGISTER:sip:pbx')}")
    assert (credentials.qop, credentials.nc, credentials.cnonce) == (None, None, None)
    assert "qop" not in str(credentials)


def sip_round_trip(
    algorithm: str = "MD5", qop: str = "auth", password: str = "s3cret", body: bytes = b""
) -> Credentials:
    challenge = make_challenge("callcase", SECRET, NOW, algorithm=algorithm)
    challenge = Challenge.parse(str(replace(challenge, qop=(qop,))))
    credentials = authorize(
        challenge, method="INVITE", uri="sip:+15550199@pbx.example.com", username="agent7",
        password=password, nc=3, body=body,
    )  # fmt: skip
    return Credentials.parse(str(credentials))


def server(
    credentials: Credentials,
    *,
    now: float = NOW,
    realm: str = "callcase",
    method: str = "INVITE",
    password: str | None = "s3cret",
    stored_ha1: str | None = None,
    uri: str | None = None,
    body: bytes = b"",
) -> Verdict:
    return verify(
        credentials, method=method, realm=realm, secret=SECRET, now=now, password=password,
        stored_ha1=stored_ha1, uri=uri, body=body,
    )  # fmt: skip


@pytest.mark.parametrize("algorithm", ["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
@pytest.mark.parametrize("qop", ["auth", "auth-int"])
def test_client_to_server_round_trip(algorithm: str, qop: str) -> None:
    credentials = sip_round_trip(algorithm, qop, body=b"v=0\r\n")
    assert (credentials.nc, credentials.qop) == ("00000003", qop)
    assert server(credentials, now=NOW + 10, body=b"v=0\r\n") is Verdict.VALID
    stored = ha1(algorithm, "agent7", "callcase", "s3cret")
    assert server(credentials, password=None, stored_ha1=stored, body=b"v=0\r\n") is Verdict.VALID
    assert server(credentials, password="wrong", body=b"v=0\r\n") is Verdict.INVALID
    if qop == "auth-int":
        assert server(credentials, body=b"v=1\r\n") is Verdict.INVALID


def test_server_rejects_what_it_should() -> None:
    credentials = sip_round_trip()
    assert server(credentials) is Verdict.VALID
    assert server(credentials, now=NOW + 301) is Verdict.STALE
    assert server(credentials, now=NOW - 61) is Verdict.STALE
    assert server(credentials, realm="other") is Verdict.INVALID
    assert server(credentials, uri="sip:someone-else@pbx.example.com") is Verdict.INVALID
    assert server(credentials, uri="sip:+15550199@pbx.example.com") is Verdict.VALID
    assert server(credentials, method="BYE") is Verdict.INVALID
    upper = replace(credentials, response=credentials.response.upper())
    assert server(upper) is Verdict.VALID
    sha_only = ("SHA-256", "SHA-256-sess")
    assert verify(
        credentials, method="INVITE", realm="callcase", secret=SECRET, now=NOW,
        password="s3cret", algorithms=sha_only,
    ) is Verdict.INVALID  # fmt: skip
    sha = sip_round_trip("SHA-256")
    assert verify(
        sha, method="INVITE", realm="callcase", secret=SECRET, now=NOW,
        password="s3cret", algorithms=sha_only,
    ) is Verdict.VALID  # fmt: skip
    with pytest.raises(ValueError, match="password or a stored HA1"):
        server(credentials, password=None)


def test_forged_or_foreign_nonces_are_invalid() -> None:
    nonce = make_nonce(SECRET, NOW, salt="abc")
    assert nonce.startswith(f"{int(NOW):x}.abc.")
    assert nonce_age(nonce, SECRET, NOW + 5) == 5
    assert nonce_age(nonce, b"another secret", NOW) is None
    assert nonce_age(nonce[:-1] + ("0" if nonce[-1] != "0" else "1"), SECRET, NOW) is None
    for foreign in ("", "dcd98b7102dd2f0e8b11d0f600bfb0c093", "1/2", "..", "zz.y.x", "é.é.é"):
        assert nonce_age(foreign, SECRET, NOW) is None
    forged = replace(sip_round_trip(), nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093")
    assert server(forged) is Verdict.INVALID


def test_challenge_text() -> None:
    challenge = make_challenge("callcase", SECRET, NOW, stale=True)
    text = str(challenge)
    assert re.fullmatch(
        r'Digest realm="callcase", nonce="[0-9a-f]+\.[0-9a-f]+\.[0-9a-f]{32}", algorithm=MD5, '
        r'qop="auth", stale=true',
        text,
    )
    assert Challenge.parse(text) == challenge
    expected = 'Digest realm="r", nonce="n", algorithm=MD5, opaque="o"'
    assert str(Challenge("r", "n", opaque="o")) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("Basic dXNlcjpwYXNz", "unsupported authentication scheme 'Basic'"),
        ("", "unsupported authentication scheme ''"),
        ('Digest nonce="n"', "digest parameters missing: realm"),
        ('Digest realm="r", nonce="n", algorithm=SHA-512', "unsupported digest algorithm"),
        ('Digest realm="r", realm="s", nonce="n"', "digest parameter realm given twice"),
        ('Digest realm="unterminated, nonce="n"', "bad digest parameter"),
        ("Digest realm", "bad digest parameter"),
    ],
)
def test_bad_challenges(value: str, error: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(error)):
        Challenge.parse(value)


def test_bad_credentials_and_unsupported_qop() -> None:
    with pytest.raises(SipParseError, match="qop given without nc and cnonce"):
        Credentials.parse('Digest username="u",realm="r",nonce="n",uri="u",response="x",qop=auth')
    challenge = Challenge("r", "n", qop=("auth-conf",))
    with pytest.raises(SipParseError, match="no supported qop"):
        authorize(challenge, method="X", uri="u", username="u", password="p")


def test_parameters_are_case_insensitive_and_tolerate_extra_commas() -> None:
    challenge = Challenge.parse('digest  REALM="r",,  Nonce=abc , ALGORITHM=md5-sess,stale=TRUE')
    assert challenge == Challenge("r", "abc", "MD5-SESS", stale=True)


@given(st.text(max_size=120))
def test_arbitrary_header_values_raise_only_sip_parse_error(text: str) -> None:
    for parse in (Challenge.parse, Credentials.parse):
        for value in (text, "Digest " + text):
            with contextlib.suppress(SipParseError):
                parse(value)
