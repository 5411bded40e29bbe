"""Answering 401/407 as a client (pure), checked against our own verifier."""

from __future__ import annotations

from telephony.sip.digest import Challenge, Credentials, Verdict, make_challenge, verify
from telephony.sip.login import Login, challenge_in, retry_with_credentials
from telephony.sip.message import SipRequest, SipResponse, build_response
from tests.telephony.sip.builders import request, via

SECRET = b"k" * 32
NOW = 1_700_000_000.0
LOGIN = Login("trunk", "s3cret")


def challenged(status: int, challenge: Challenge) -> tuple[SipRequest, SipResponse]:
    invite = request("INVITE", cseq=4, body=b"v=0\r\n")
    header = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return invite, build_response(invite, status, to_tag="t", headers=[(header, str(challenge))])


def test_a_401_is_answered_with_authorization_the_next_cseq_and_a_new_branch() -> None:
    challenge = make_challenge("trunk.example", SECRET, NOW)
    invite, response = challenged(401, challenge)
    retry = retry_with_credentials(invite, response, LOGIN, via())
    assert retry is not None
    assert (retry.cseq.number, retry.cseq.method) == (5, "INVITE")
    assert retry.via.branch != invite.via.branch
    assert retry.headers.items[0][0] == "Via" and retry.call_id == invite.call_id
    assert retry.from_ == invite.from_ and retry.body == invite.body
    credentials = Credentials.parse(retry.headers.get("Authorization") or "")
    verdict = verify(
        credentials, method="INVITE", realm="trunk.example", secret=SECRET, now=NOW,
        password="s3cret", uri=str(retry.uri),
    )  # fmt: skip
    assert verdict is Verdict.VALID


def test_a_407_is_answered_with_proxy_authorization() -> None:
    invite, response = challenged(407, make_challenge("proxy", SECRET, NOW))
    retry = retry_with_credentials(invite, response, LOGIN, via())
    assert retry is not None and "Proxy-Authorization" in retry.headers
    assert "Authorization" not in retry.headers


def test_the_same_nonce_twice_means_a_wrong_password_and_no_loop() -> None:
    challenge = make_challenge("trunk.example", SECRET, NOW)
    invite, response = challenged(401, challenge)
    retry = retry_with_credentials(invite, response, LOGIN, via())
    assert retry is not None
    again = build_response(retry, 401, to_tag="t", headers=[("WWW-Authenticate", str(challenge))])
    assert retry_with_credentials(retry, again, LOGIN, via()) is None
    stale = make_challenge("trunk.example", SECRET, NOW, stale=True)
    stale = Challenge(stale.realm, challenge.nonce, stale.algorithm, stale.qop, None, True)
    renewed = build_response(retry, 401, to_tag="t", headers=[("WWW-Authenticate", str(stale))])
    assert retry_with_credentials(retry, renewed, LOGIN, via()) is not None


def test_no_usable_challenge_means_no_retry() -> None:
    invite = request("INVITE")
    for headers in ([], [("WWW-Authenticate", 'Basic realm="x"')]):
        response = build_response(invite, 401, to_tag="t", headers=headers)
        assert challenge_in(response) is None
        assert retry_with_credentials(invite, response, LOGIN, via()) is None
    assert challenge_in(build_response(invite, 403, to_tag="t")) is None


def test_the_password_stays_out_of_repr() -> None:
    assert "s3cret" not in repr(LOGIN)
