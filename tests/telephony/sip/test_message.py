from __future__ import annotations

import re

import pytest

from telephony.sip.headers import MAGIC_COOKIE, NameAddr, SipParseError, SipUri, Via, new_branch
from telephony.sip.message import (
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    build_request,
    build_response,
)

BASE = (
    "OPTIONS sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
    "From: <sip:alice@example.com>;tag=a1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: c1@192.0.2.1\r\n"
    "CSeq: 7 OPTIONS\r\n"
)


def message(extra: str = "", body: str = "", start: str = "") -> bytes:
    head = BASE if not start else start + BASE[BASE.index("\r\n") :]
    return (head + extra + "\r\n" + body).encode()


def test_compact_forms_become_long_names() -> None:
    data = (
        b"OPTIONS sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bKx\r\n"
        b"f: <sip:a@h>;tag=1\r\nt: <sip:b@h>\r\ni: id1\r\nCSeq: 1 OPTIONS\r\nm: <sip:a@h>\r\n"
        b"c: text/plain\r\ne: gzip\r\nk: timer\r\ns: hi\r\nl: 2\r\n\r\nok"
    )
    msg = SipRequest.parse(data)
    assert [name for name, _ in msg.headers.items] == [
        "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Type", "Content-Encoding",
        "Supported", "Subject",
    ]  # fmt: skip
    assert (msg.call_id, msg.body) == ("id1", b"ok")
    assert msg.headers.get("i") == msg.headers.get("CALL-ID") == "id1"


def test_names_are_case_insensitive_and_kept_as_received() -> None:
    msg = SipRequest.parse(message("x-CaSe: 1\r\nmax-forwards: 0070\r\n"))
    assert msg.headers.get("X-case") == "1"
    assert msg.max_forwards == 70
    assert ("x-CaSe", "1") in msg.headers.items
    assert "MAX-FORWARDS" in msg.headers and "Expires" not in msg.headers


def test_folded_lines_join_with_one_space() -> None:
    msg = SipRequest.parse(message("Subject:\r\n   first\r\n\t second  \r\n"))
    assert msg.headers.get("Subject") == "first second"


def test_blank_continuation_lines_add_nothing() -> None:
    msg = SipRequest.parse(message("Subject: a\r\n \r\nX-Empty:\r\n\t\r\n"))
    assert (msg.headers.get("Subject"), msg.headers.get("X-Empty")) == ("a", "")
    assert SipRequest.parse(bytes(msg)) == msg


def test_continuation_without_a_header_is_rejected() -> None:
    with pytest.raises(SipParseError, match="continuation line"):
        SipMessage.parse(b"OPTIONS sip:a@b SIP/2.0\r\n folded\r\n\r\n")


def test_get_all_splits_lists_outside_quotes_and_angle_brackets() -> None:
    msg = SipRequest.parse(
        message(
            'Contact: "Doe, John" <sip:j@h;x=1,2>;q=0.5, <sip:k@h>\r\n'
            "Allow: INVITE,ACK, BYE\r\nAllow: CANCEL\r\nSubject: a, b\r\n"
        )
    )
    assert msg.headers.get_all("Contact") == ['"Doe, John" <sip:j@h;x=1,2>;q=0.5', "<sip:k@h>"]
    assert [c.display_name for c in msg.contacts] == ["Doe, John", None]
    assert msg.headers.get_all("Allow") == ["INVITE", "ACK", "BYE", "CANCEL"]
    assert msg.headers.get("Allow") == "INVITE,ACK, BYE"
    assert msg.headers.get_all("Subject") == ["a, b"]


def test_missing_content_length_takes_the_rest_of_the_datagram() -> None:
    assert SipRequest.parse(message(body="hello")).body == b"hello"


def test_content_length_truncates_and_is_not_a_header() -> None:
    msg = SipRequest.parse(message("Content-Length: 3\r\n", body="abcdef"))
    assert msg.body == b"abc"
    assert "Content-Length" not in msg.headers
    assert bytes(msg).endswith(b"Content-Length: 3\r\n\r\nabc")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ("Content-Length: 9\r\n", "Content-Length 9 but only 5 body bytes"),
        ("Content-Length: 1\r\nl: 1\r\n", "2 Content-Length headers"),
        ("Content-Length: 1_0\r\n", "Content-Length is not a decimal number"),
        ("Content-Length: ١\r\n", "Content-Length is not a decimal number"),
        ("Content-Length: " + "9" * 5000 + "\r\n", "exceeds"),
    ],
)
def test_bad_content_length(extra: str, error: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(error)):
        SipMessage.parse(message(extra, body="hello"))


def test_leading_crlf_is_skipped() -> None:
    assert SipRequest.parse(b"\r\n\r\n" + message()).method == "OPTIONS"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n", "no empty line after the header block"),
        (message()[:-2], "no empty line after the header block"),
        (message("Subject: a\nb\r\n"), "line 7 has a bare CR or LF"),
        (message("Subject: a\rb\r\n"), "line 7 has a bare CR or LF"),
        (message("Subject: caf\xe9\r\n").replace(b"\xc3\xa9", b"\xe9"), "not UTF-8 at offset"),
        (message("No colon here\r\n"), "line 7 is not 'Name: value'"),
        (message("Bad Name: x\r\n"), "header name is not a token: 'Bad Name'"),
        (message("Max-Forwards: 256\r\n"), "Max-Forwards '256' exceeds 255"),
        (message("Max-Forwards: 1\r\nMax-Forwards: 1\r\n"), "duplicate Max-Forwards header"),
        (message("Call-ID: c2\r\n"), "duplicate Call-ID header"),
        (message("Route: <sip:p1;lr>, garbage\r\n"), "Route header: name-addr"),
        (message("Contact: <sip:a@h\r\n"), "Contact header: '<' without '>'"),
    ],
)
def test_malformed_messages(data: bytes, error: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(error)):
        SipMessage.parse(data)


def test_non_utf8_body_is_fine() -> None:
    assert SipRequest.parse(message(body="x") + b"\xff\xfe").body == b"x\xff\xfe"


@pytest.mark.parametrize(
    ("start", "error", "status"),
    [
        ("OPTIONS sip:bob@example.com SIP/3.0", "unsupported version 'SIP/3.0'", 505),
        ("OPTIONS sip:bob@example.com HTTP/1.1", "bad SIP version 'HTTP/1.1'", 400),
        ("OPTIONS sip:bob@example.com", "request line is not", 400),
        ("OPT IONS sip:bob@example.com SIP/2.0", "request line is not", 400),
        ("OPT{IONS sip:bob@example.com SIP/2.0", "method is not a token", 400),
        ("OPTIONS sip:@example.com SIP/2.0", "Request-URI: URI has an empty user part", 400),
        ("SIP/2.0 99 Low", "status code is not 100-699: '99'", 400),
        ("SIP/2.0 700 High", "status code is not 100-699: '700'", 400),
        ("SIP/2.0  200 OK", "status code is not 100-699: ''", 400),
        ("SIP/2.0 2OO OK", "status code is not 100-699: '2OO'", 400),
    ],
)
def test_bad_start_lines(start: str, error: str, status: int) -> None:
    with pytest.raises(SipParseError, match=re.escape(error)) as caught:
        SipMessage.parse(message(start=start))
    assert caught.value.status == status


def test_response_without_reason_phrase_and_lowercase_version() -> None:
    response = SipResponse.parse(message(start="sip/2.0 200"))
    assert (response.status, response.reason) == (200, "")
    assert bytes(response).startswith(b"SIP/2.0 200 \r\n")


def test_parse_on_a_subclass_checks_the_kind() -> None:
    with pytest.raises(SipParseError, match="expected a SipResponse, got a SipRequest"):
        SipResponse.parse(message())


def test_typed_views() -> None:
    msg = SipRequest.parse(message("Contact: <sip:a@192.0.2.1>;expires=60\r\nExpires: 99x\r\n"))
    assert msg.via == Via("UDP", "192.0.2.1", 5060, msg.via.params)
    assert msg.via.transaction_branch == "z9hG4bKabc"
    assert (msg.from_.tag, msg.to.tag, str(msg.cseq)) == ("a1", None, "7 OPTIONS")
    assert msg.call_id == "c1@192.0.2.1"
    assert msg.contact is not None and msg.contact.expires == 60
    assert (msg.max_forwards, msg.expires, msg.routes, msg.record_routes) == (None, None, (), ())


def test_register_star_contact_reads_as_no_contacts() -> None:
    data = message("Contact: *\r\nExpires: 0\r\n").replace(b"OPTIONS", b"REGISTER")
    msg = SipRequest.parse(data)
    assert (msg.contacts, msg.contact, msg.expires) == ((), None, 0)


def test_headers_are_immutable_values() -> None:
    headers = Headers((("Via", "a"), ("v", "b"), ("X-One", "1")))
    assert headers.items[1] == ("Via", "b")
    assert headers.get_all("VIA") == ["a", "b"]
    updated = headers.set("via", "c").add("X-Two", 2)
    assert updated.items == (("X-One", "1"), ("via", "c"), ("X-Two", "2"))
    assert headers.get_all("Via") == ["a", "b"]
    with pytest.raises(ValueError, match="Content-Length"):
        headers.add("l", 0)
    with pytest.raises(ValueError, match="CR/LF"):
        headers.add("Subject", "a\r\nInjected: yes")


def test_serialisation_puts_content_length_last() -> None:
    msg = SipRequest.parse(message("Content-Type: text/plain\r\n", body="hi"))
    assert bytes(msg) == message("Content-Type: text/plain\r\nContent-Length: 2\r\n", body="hi")


def invite() -> SipRequest:
    return build_request(
        "INVITE",
        SipUri(user="+15550199", host="192.0.2.50"),
        via=Via("UDP", "192.0.2.40", 5060, Via("UDP", "h").params.set("branch", new_branch())),
        from_=NameAddr(SipUri(user="agent", host="192.0.2.40"), "Collections").with_tag("f1"),
        to=NameAddr(SipUri(user="+15550199", host="192.0.2.50")),
        call_id="call-1@192.0.2.40",
        cseq=1,
        headers=[("Contact", "<sip:agent@192.0.2.40:5060>"), ("Record-Route", "<sip:p;lr>")],
        body=b"v=0\r\n",
    )


def test_build_request_writes_rfc3261_headers_and_round_trips() -> None:
    request = invite()
    wire = bytes(request)
    assert wire.startswith(b"INVITE sip:+15550199@192.0.2.50 SIP/2.0\r\nVia: SIP/2.0/UDP ")
    assert b'\r\nFrom: "Collections" <sip:agent@192.0.2.40>;tag=f1\r\n' in wire
    assert b"\r\nMax-Forwards: 70\r\n" in wire
    assert wire.endswith(b"Content-Length: 5\r\n\r\nv=0\r\n")
    assert SipRequest.parse(wire) == request
    assert request.via.branch is not None and request.via.branch.startswith(MAGIC_COOKIE)


def test_build_request_refuses_what_rfc3261_forbids() -> None:
    good = invite()
    with pytest.raises(ValueError, match="From tag"):
        build_request(
            "INVITE", good.uri, via=good.via, from_=good.to, to=good.to, call_id="x", cseq=1
        )


def test_build_response_copies_the_transaction_headers() -> None:
    request = SipRequest.parse(bytes(invite()))
    ringing = build_response(request, 180, to_tag="t9")
    assert ringing.reason == "Ringing"
    for name in ("Via", "From", "Call-ID", "CSeq", "Record-Route"):
        assert ringing.headers.get_all(name) == request.headers.get_all(name)
    assert ringing.to.tag == "t9"
    assert SipResponse.parse(bytes(ringing)) == ringing
    trying = build_response(request, 100)
    assert (trying.to.tag, "Record-Route" in trying.headers) == (None, False)
    busy = build_response(request, 486, "Busy Here", to_tag="t9", headers=[("Retry-After", "60")])
    assert ("Record-Route" in busy.headers, busy.headers.get("Retry-After")) == (False, "60")


def test_build_response_keeps_an_existing_to_tag() -> None:
    tagged = message().replace(b"<sip:bob@example.com>\r\n", b"<sip:b@h>;tag=x\r\n")
    request = SipRequest.parse(tagged)
    assert build_response(request, 200, to_tag="other").to.tag == "x"
    with pytest.raises(ValueError, match="outside 100-699"):
        build_response(request, 99)
    with pytest.raises(ValueError, match="not a token"):
        build_response(request, 200, to_tag="a;b")
