"""RFC 4475 torture messages: what we accept, what we reject, and why.

Every ``rfc4475_*`` fixture is either in ``REJECTED`` (parse raises SipParseError with
the given text and response status) or has its own test below asserting what the
upper layers will see.
"""

from __future__ import annotations

import pytest

from telephony.sip.digest import Credentials
from telephony.sip.headers import Params, SipParseError, SipUri
from telephony.sip.message import SipMessage, SipRequest, SipResponse, build_response
from telephony.sip.sdp import SessionDescription
from tests.telephony.sip.data import load, names


def request(name: str) -> SipRequest:
    return SipRequest.parse(load(f"rfc4475_{name}"))


REJECTED = {
    # §3.1.2: syntactically invalid; a UAS answers 400 (505 for the version).
    "badinv01": ("Via header: Via: bad parameter name ''", 400),
    "clerr": ("Content-Length 9999 but only 154 body bytes", 400),
    "ncl": ("Content-Length is not a decimal number: '-999'", 400),
    "scalar02": ("CSeq number '36893488147419103232' exceeds 2147483647", 400),
    "scalarlg": ("CSeq number '9292394834772304023312' exceeds 2147483647", 400),
    "quotbal": ("To header: unterminated quoted display name", 400),
    "ltgtruri": ("Request-URI: URI has no valid scheme: '<sip:user@example.com>'", 400),
    "lwsruri": ("request line is not 'METHOD URI SIP/2.0'", 400),
    "lwsstart": ("request line is not 'METHOD URI SIP/2.0'", 400),
    "trws": ("request line is not 'METHOD URI SIP/2.0'", 400),
    "escruri": ("Request-URI has headers", 400),
    "badaspec": ("To header: name-addr: URI has no valid scheme: ' sip:t.watson", 400),
    "baddn": ("From header: display name needs quotes: 'Bell, Alexander", 400),
    "badvers": ("unsupported version 'SIP/7.0'", 505),
    "mismatch01": ("CSeq method INVITE is not OPTIONS", 400),
    "mismatch02": ("CSeq method INVITE is not NEWMETHOD", 400),
    "bigcode": ("status code is not 100-699: '4294967301'", 400),
    # §3.3: well-formed but unusable; we reject at parse time.
    "insuf": ("missing From header", 400),
    "multi01": ("duplicate Max-Forwards header", 400),
    "mcl01": ("2 Content-Length headers", 400),
}
ACCEPTED = {
    "wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq",
    "semiuri", "transports", "mpart01", "unreason", "noreason", "baddate", "regbadct",
    "badbranch", "unkscm", "novelsc", "unksm2", "bext01", "invut", "regaut01", "bcast",
    "zeromf", "cparam01", "cparam02", "regescrt", "sdp01", "inv2543",
}  # fmt: skip


def test_every_torture_fixture_has_a_verdict() -> None:
    fixtures = {name.removeprefix("rfc4475_") for name in names("rfc4475_")}
    assert len(fixtures) == 49
    assert fixtures == set(REJECTED) | ACCEPTED
    assert not set(REJECTED) & ACCEPTED


@pytest.mark.parametrize(("name", "expected"), sorted(REJECTED.items()))
def test_invalid_messages_are_rejected(name: str, expected: tuple[str, int]) -> None:
    text, status = expected
    with pytest.raises(SipParseError) as caught:
        SipMessage.parse(load(f"rfc4475_{name}"))
    assert text in str(caught.value)
    assert caught.value.status == status


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_accepted_messages_round_trip(name: str) -> None:
    message = SipMessage.parse(load(f"rfc4475_{name}"))
    assert SipMessage.parse(bytes(message)) == message


@pytest.mark.parametrize("name", ["mismatch01", "mismatch02", "badaspec", "multi01"])
def test_header_errors_keep_the_framed_request_so_a_uas_can_answer(name: str) -> None:
    with pytest.raises(SipParseError) as caught:
        SipMessage.parse(load(f"rfc4475_{name}"))
    framed = caught.value.framed
    assert isinstance(framed, SipRequest)
    if name.startswith("mismatch"):
        response = build_response(framed, caught.value.status, to_tag="x1")
        assert (response.status, response.headers.get("CSeq")) == (400, "8 INVITE")


def test_start_line_errors_have_no_framed_message() -> None:
    with pytest.raises(SipParseError) as caught:
        SipMessage.parse(load("rfc4475_lwsstart"))
    assert caught.value.framed is None


def test_wsinv_folding_compact_forms_and_lws() -> None:
    msg = request("wsinv")
    assert msg.method == "INVITE"
    assert str(msg.uri) == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert (msg.to.uri.user, msg.to.tag) == ("vivekg", "1918181833n")
    assert (msg.from_.display_name, msg.from_.tag) == ('J Rosenberg \\"', "98asjd8")
    assert (msg.max_forwards, msg.cseq.number, msg.cseq.method) == (68, 9, "INVITE")
    vias = [(v.transport, v.host, v.branch) for v in msg.vias]
    assert vias == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert msg.headers.get("Subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    contact = msg.contacts[0]
    assert contact.display_name == 'Quoted string ""'
    assert contact.params.items == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert msg.routes[0].uri.params.items == (
        ("lr", None), ("unknownwith", "value"), ("unknown-no-value", None),
    )  # fmt: skip
    assert len(msg.body) == 150


def test_intmeth_unusual_token_characters() -> None:
    msg = request("intmeth")
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~" == msg.cseq.method
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert msg.via.branch == "z9hG4bK-.!%66*_+`'~"
    assert msg.to.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.from_.display_name == "token1~` token2'+_ token3*%!.-"
    assert msg.from_.params.get("fromParam''~+*_!.-%") == "работающий"
    assert msg.from_.tag == "_token~1'+`*%!-."
    assert msg.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert msg.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_escapes_stay_escaped() -> None:
    msg = request("esc01")
    assert msg.uri.user == "sips%3Auser%40example.com"
    assert msg.to.uri.user == "%75se%72"
    assert msg.contacts[0].uri.params.items == (("%6C%72", None), ("n%61me", "v%61lue%25%34%31"))
    assert msg.headers.get("Content-Type") == "application/sdp"
    nulls = request("escnull")
    assert [c.uri.user for c in nulls.contacts] == ["%00", "%00%00"]


def test_percent_is_not_an_escape_in_methods_and_header_names() -> None:
    msg = request("esc02")
    assert msg.method == "RE%47IST%45R"
    assert [c.uri.user for c in msg.contacts] == ["alias1", "alias3"]
    assert msg.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert msg.to.display_name == "%Z%45"


def test_display_name_without_space_before_angle() -> None:
    assert request("lwsdisp").from_.display_name == "caller"


def test_long_values() -> None:
    msg = request("longreq")
    assert len(msg.vias) == 34
    assert msg.via.host == "sip33.example.com"
    assert msg.vias[-1].received == "192.0.2.5"
    assert msg.call_id == "longreq.one" + "really" * 20 + "longcallid"
    assert msg.from_.tag == "1" + "298" * 50 + "2424"


def test_extra_datagram_octets_are_ignored() -> None:
    msg = request("dblreq")
    assert (msg.method, msg.body) == ("REGISTER", b"")
    assert b"INVITE" not in bytes(msg)


def test_semicolon_in_user_part_and_folded_accept_list() -> None:
    msg = request("semiuri")
    assert (msg.uri.user, msg.uri.host, msg.uri.params) == (
        "user;par=u%40example.net", "example.com", Params(),
    )  # fmt: skip
    assert len(msg.headers.get_all("Accept")) == 6


def test_unknown_transports() -> None:
    assert [v.transport for v in request("transports").vias] == [
        "UDP", "SCTP", "TLS", "UNKNOWN", "TCP",
    ]  # fmt: skip


def test_binary_multipart_body_is_kept_byte_for_byte() -> None:
    msg = request("mpart01")
    assert len(msg.body) == 553
    assert msg.body.endswith(b"--7a9cbec02ceef655--\r\n")
    assert bytes(msg).endswith(msg.body)


def test_reason_phrases() -> None:
    unusual = SipResponse.parse(load("rfc4475_unreason"))
    assert unusual.status == 200
    assert unusual.reason.startswith("= 2**3 * 5**2 но сто девяносто девять")
    assert SipResponse.parse(load("rfc4475_noreason")).reason == ""


def test_bad_date_is_not_our_business() -> None:
    assert request("baddate").headers.get("Date") == "Fri, 01 Jan 2010 16:00:00 EST"


def test_contact_uri_with_headers_outside_angle_brackets_is_accepted() -> None:
    # RFC 4475 allows inferring the brackets when, as here, nothing is ambiguous.
    contact = request("regbadct").contacts[0]
    assert contact.uri.headers == (("Route", "%3Csip:sip.example.com%3E"),)


def test_bare_magic_cookie_branch_is_not_a_transaction_id() -> None:
    via = request("badbranch").via
    assert (via.branch, via.transaction_branch) == ("z9hG4bK", None)


def test_unknown_request_uri_schemes_parse_for_a_416() -> None:
    unknown = request("unkscm").uri
    assert (unknown.scheme, unknown.user, unknown.is_sip) == (
        "nobodyknowsthisscheme", "totallyopaquecontent", False,
    )  # fmt: skip
    novel = request("novelsc").uri
    assert (novel.scheme, novel.user) == ("soap.beep", "//192.0.2.103:3002")


def test_unknown_schemes_in_headers() -> None:
    msg = request("unksm2")
    assert msg.to.uri == SipUri("isbn", "2983792873")
    assert (msg.from_.uri.scheme, msg.from_.tag) == ("http", "3234233")
    assert msg.contacts[0].uri == SipUri("name", "John_Smith")


def test_require_unknown_extensions_and_unknown_content_type() -> None:
    assert request("bext01").headers.get_all("Require") == [
        "nothingSupportsThis", "nothingSupportsThisEither",
    ]  # fmt: skip
    invut = request("invut")
    assert (invut.headers.get("Content-Type"), len(invut.body)) == ("application/unknownformat", 40)


def test_unknown_authorization_scheme_fails_in_digest_not_in_the_parser() -> None:
    value = request("regaut01").headers.get("Authorization")
    assert value == "NoOneKnowsThisScheme opaque-data=here"
    with pytest.raises(SipParseError, match="unsupported authentication scheme"):
        Credentials.parse(value)


def test_broadcast_via_and_zero_max_forwards_parse() -> None:
    bcast = SipResponse.parse(load("rfc4475_bcast"))
    assert bcast.vias[1].host == "255.255.255.255"
    assert request("zeromf").max_forwards == 0


def test_contact_parameters_versus_uri_parameters() -> None:
    outside = request("cparam01").contacts[0]
    assert (outside.uri.params, outside.params) == (Params(), Params((("unknownparam", None),)))
    inside = request("cparam02").contacts[0]
    assert (inside.uri.params, inside.params) == (Params((("unknownparam", None),)), Params())
    escaped = request("regescrt").contacts[0]
    assert escaped.uri.headers == (("Route", "%3Csip:sip.example.com%3E"),)


def test_unacceptable_accept_still_parses_with_sdp() -> None:
    msg = request("sdp01")
    assert msg.headers.get("Accept") == "text/nobodyKnowsThis"
    assert SessionDescription.parse(msg.body).media[0].port == 49217


def test_rfc2543_invite_without_max_forwards_tag_branch_or_length() -> None:
    msg = request("inv2543")
    assert (msg.max_forwards, msg.from_.tag, msg.via.branch) == (None, None, None)
    assert msg.body.startswith(b"v=0\r\n")
    assert SessionDescription.parse(msg.body).media[0].formats == ("0",)
