"""Properties over any input: only SipParseError escapes, and parsed messages round-trip."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.sip.headers import NameAddr, Params, SipParseError, SipUri, Via
from telephony.sip.message import SipMessage, SipRequest, build_request, build_response
from telephony.sip.sdp import SdpParseError, SessionDescription
from tests.telephony.sip.data import load, names

FIXTURES = {name: load(name) for name in names()}
# fmt: off
PIECES = [
    b"\r\n", b"\r\n ", b" ", b"\t", b",", b";", b":", b'"', b"\\", b"<", b">", b"=", b"@",
    b"\x00", b"\xff", b"\xc3", b"%", b"SIP/2.0", b"Via: ", b"l: 9\r\n", b"\r\n\r\n",
]
# fmt: on


def check(data: bytes) -> None:
    """Parse, then touch every typed view and round-trip; only SipParseError may escape."""
    try:
        message = SipMessage.parse(data)
    except SipParseError:
        return
    assert message.via is message.vias[0]
    assert message.contact == (message.contacts[0] if message.contacts else None)
    assert 0 <= message.cseq.number < 2**31 and message.call_id
    assert message.from_.uri.scheme and message.to.uri.scheme
    assert message.max_forwards is None or 0 <= message.max_forwards <= 255
    assert message.expires is None or message.expires >= 0
    assert isinstance(message.routes + message.record_routes, tuple)
    assert SipMessage.parse(bytes(message)) == message
    with contextlib.suppress(SdpParseError):
        SessionDescription.parse(message.body)


def valid_fixtures() -> list[bytes]:
    found = []
    for data in FIXTURES.values():
        try:
            SipMessage.parse(data)
        except SipParseError:
            continue
        found.append(data)
    return found


VALID = valid_fixtures()


@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@given(st.binary(max_size=200).map(lambda tail: b"INVITE sip:a@b SIP/2.0\r\n" + tail))
def test_arbitrary_bytes_after_a_request_line(data: bytes) -> None:
    check(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(sorted(FIXTURES.values()))))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        size = draw(st.integers(1, 12))
        operation = draw(st.sampled_from(["insert", "delete", "replace", "duplicate", "cut"]))
        piece = draw(st.sampled_from(PIECES) | st.binary(min_size=1, max_size=3))
        if operation == "insert":
            data[at:at] = piece
        elif operation == "delete":
            del data[at : at + size]
        elif operation == "replace":
            data[at : at + len(piece)] = piece
        elif operation == "duplicate":
            data[at:at] = data[at : at + size]
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_fixtures(data: bytes) -> None:
    check(data)


def test_every_valid_fixture_round_trips() -> None:
    assert len(VALID) == 46
    for data in VALID:
        check(data)
        message = SipMessage.parse(data)
        assert SipMessage.parse(bytes(SipMessage.parse(bytes(message)))) == message


TEXT = st.text(st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]), max_size=20)
VALUE = TEXT.filter(lambda v: v == v.strip(" \t"))
TOKEN = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=10)
NAME = TOKEN.map(lambda token: "X-" + token)
URI = st.builds(SipUri, user=st.none() | TOKEN, host=st.sampled_from(["example.com", "192.0.2.1"]))


@given(
    method=TOKEN, uri=URI, display=st.none() | TEXT, tag=TOKEN, branch=TOKEN,
    call_id=TOKEN, cseq=st.integers(0, 2**31 - 1), extra=st.lists(st.tuples(NAME, VALUE)),
    body=st.binary(max_size=40),
)  # fmt: skip
def test_generated_requests_and_responses_round_trip(
    method: str, uri: SipUri, display: str | None, tag: str, branch: str, call_id: str,
    cseq: int, extra: list[tuple[str, str]], body: bytes,
) -> None:  # fmt: skip
    request = build_request(
        method, uri, via=Via("UDP", "192.0.2.9", 5060, Params((("branch", branch),))),
        from_=NameAddr(uri, display).with_tag(tag), to=NameAddr(uri), call_id=call_id,
        cseq=cseq, headers=extra, body=body,
    )  # fmt: skip
    assert SipRequest.parse(bytes(request)) == request
    for status in (100, 180, 200, 486):
        response = build_response(request, status, to_tag=tag, body=body)
        assert SipMessage.parse(bytes(response)) == response
