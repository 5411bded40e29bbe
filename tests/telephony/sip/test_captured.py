"""Messages as sipp, baresip, pyVoIP, Asterisk and FreeSWITCH write them."""

from __future__ import annotations

import re

import pytest

from telephony.sip.digest import Challenge, Credentials, authorize
from telephony.sip.message import SipMessage, SipRequest, SipResponse, build_response
from telephony.sip.sdp import PCMA, PCMU, Direction, SessionDescription, answer, negotiate
from tests.telephony.sip.data import load, names

CAPTURED = [name for name in names() if not name.startswith("rfc4475_")]


def test_there_are_captured_fixtures_from_each_peer() -> None:
    peers = {name.partition("_")[0] for name in CAPTURED}
    assert peers == {"sipp", "baresip", "pyvoip", "asterisk", "freeswitch"}


@pytest.mark.parametrize("name", CAPTURED)
def test_captured_messages_round_trip_byte_for_byte(name: str) -> None:
    data = load(name)
    message = SipMessage.parse(data)
    # sipp and pjsip pad Content-Length; we write one space.
    assert bytes(message) == re.sub(rb"Content-Length: +", b"Content-Length: ", data)
    assert SipMessage.parse(bytes(message)) == message


@pytest.mark.parametrize(
    ("name", "status", "reason"),
    [
        ("sipp_uas_100_trying", 100, "Trying"),
        ("sipp_uas_180_ringing", 180, "Ringing"),
        ("asterisk_183_session_progress", 183, "Session Progress"),
        ("sipp_uas_200_ok", 200, "OK"),
        ("asterisk_401_register", 401, "Unauthorized"),
        ("freeswitch_486_busy", 486, "Busy Here"),
        ("freeswitch_603_decline", 603, "Decline"),
    ],
)
def test_response_status_lines(name: str, status: int, reason: str) -> None:
    response = SipResponse.parse(load(name))
    assert (response.status, response.reason) == (status, reason)


def test_sipp_call_flow_shares_dialog_identifiers() -> None:
    invite = SipRequest.parse(load("sipp_uac_invite"))
    ok = SipResponse.parse(load("sipp_uas_200_ok"))
    ack = SipRequest.parse(load("sipp_uac_ack"))
    bye = SipRequest.parse(load("sipp_uac_bye"))
    assert invite.call_id == ok.call_id == ack.call_id == bye.call_id == "1-4077@127.0.0.1"
    assert invite.via.branch == ok.via.branch == "z9hG4bK-4077-1-0"
    assert ok.to.tag == ack.to.tag == bye.to.tag == "4102SIPpTag011"
    assert (ack.cseq.number, bye.cseq.number, bye.cseq.method) == (1, 2, "BYE")
    assert invite.contact is not None and invite.contact.uri.port == 5061


def test_our_responses_to_the_sipp_invite_match_what_sipp_expects() -> None:
    invite = SipRequest.parse(load("sipp_uac_invite"))
    trying = build_response(invite, 100)
    assert bytes(trying) == load("sipp_uas_100_trying")
    ringing = build_response(
        invite, 180, to_tag="4102SIPpTag011",
        headers=[("Contact", "<sip:127.0.0.1:5060;transport=UDP>")],
    )  # fmt: skip
    assert bytes(ringing) == load("sipp_uas_180_ringing")


def test_baresip_offer_negotiates_to_pcmu_with_its_event_type() -> None:
    invite = SipRequest.parse(load("baresip_invite"))
    assert invite.via.params.items[-1] == ("rport", None)
    assert invite.headers.get_all("Supported") == ["replaces", "norefersub", "100rel"]
    offer = SessionDescription.parse(invite.body)
    session = negotiate(offer, (PCMU, PCMA))
    assert (session.address, session.port, session.codec) == ("192.0.2.20", 10002, PCMU)
    assert session.telephone_event is not None
    assert (session.telephone_event.payload_type, session.telephone_event.fmtp) == (101, "0-15")
    reply = answer(offer, "192.0.2.40", 20000, session_id=1)
    assert reply.media[0].formats == ("0", "101")


def test_asterisk_early_media_answer() -> None:
    progress = SipResponse.parse(load("asterisk_183_session_progress"))
    assert progress.to.tag == "8a0e2f3c-1b4d-4c6e-9f0a-6d2e4b7c1a9f"
    assert progress.via.received == "192.0.2.20" and progress.via.rport == 5060
    session = negotiate(SessionDescription.parse(progress.body))
    assert (session.port, session.codec.name, session.ptime) == (14572, "PCMU", 20)
    assert session.direction is Direction.SENDRECV


def test_freeswitch_rejections_carry_a_q850_reason() -> None:
    busy = SipResponse.parse(load("freeswitch_486_busy"))
    assert busy.headers.get_all("Reason") == ['Q.850;cause=17;text="USER_BUSY"']
    assert busy.headers.get_all("Allow-Events") == ["talk", "hold", "conference", "refer"]
    decline = SipResponse.parse(load("freeswitch_603_decline"))
    assert decline.headers.get("Reason") == 'Q.850;cause=21;text="CALL_REJECTED"'


def test_pyvoip_register_and_asterisk_registration_flow() -> None:
    register = SipRequest.parse(load("pyvoip_register"))
    assert (register.expires, register.headers.get("User-Agent")) == (120, "pyVoIP 1.6.8")
    instance = register.contacts[0].params.get("+sip.instance")
    assert instance == "<urn:uuid:6b1f5a2e-3c4d-4e5f-8a9b-0c1d2e3f4a5b>"
    unauthorized = SipResponse.parse(load("asterisk_401_register"))
    value = unauthorized.headers.get("WWW-Authenticate")
    assert value is not None
    challenge = Challenge.parse(value)
    assert (challenge.realm, challenge.algorithm, challenge.qop) == ("asterisk", "MD5", ("auth",))
    ok = SipResponse.parse(load("asterisk_200_register"))
    assert ok.contact is not None and (ok.contact.expires, ok.expires) == (119, 120)


def test_pyvoip_answers_the_challenge_without_qop() -> None:
    sent = SipRequest.parse(load("pyvoip_register_auth"))
    value = sent.headers.get("Authorization")
    assert value is not None
    credentials = Credentials.parse(value)
    assert (credentials.username, credentials.qop, credentials.nc) == ("1002", None, None)
    challenge = Challenge.parse(load_header("asterisk_401_register", "WWW-Authenticate"))
    ours = authorize(
        Challenge(challenge.realm, challenge.nonce, challenge.algorithm),
        method="REGISTER", uri=credentials.uri, username="1002", password="secret-1002",
    )  # fmt: skip
    assert ours.response == credentials.response


def test_baresip_credentials_with_qop_auth_are_reproduced() -> None:
    credentials = Credentials.parse(load_header("baresip_register_auth", "Authorization"))
    assert (credentials.qop, credentials.nc, credentials.opaque) == (
        "auth", "00000001", "2e6d3c1b0a9f8e7d",
    )  # fmt: skip
    challenge = Challenge.parse(load_header("asterisk_401_register", "WWW-Authenticate"))
    ours = authorize(
        challenge, method="REGISTER", uri="sip:192.0.2.10", username="alice",
        password="wonderland", cnonce=credentials.cnonce,
    )  # fmt: skip
    assert ours.response == credentials.response
    assert Credentials.parse(str(ours)) == ours


def load_header(fixture: str, name: str) -> str:
    value = SipMessage.parse(load(fixture)).headers.get(name)
    assert value is not None
    return value
