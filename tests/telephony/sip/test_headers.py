from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.sip.headers import (
    CSeq,
    NameAddr,
    Params,
    SipParseError,
    SipUri,
    Via,
    new_branch,
    new_tag,
    quote,
    split_outside,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sip:example.com", SipUri(host="example.com")),
        ("SIP:Alice@AtLanTa.CoM:5060", SipUri("sip", "Alice", "AtLanTa.CoM", 5060)),
        ("sips:bob:secret@192.0.2.4;transport=tls", SipUri(
            "sips", "bob", "192.0.2.4", None, "secret", Params((("transport", "tls"),)))),
        ("sip:[2001:db8::1]:5061;lr", SipUri(
            host="[2001:db8::1]", port=5061, params=Params((("lr", None),)))),
        ("sip:+15550100@gw.example.net;user=phone?Subject=hi&Priority=urgent", SipUri(
            user="+15550100", host="gw.example.net", params=Params((("user", "phone"),)),
            headers=(("Subject", "hi"), ("Priority", "urgent")))),
        ("tel:+1-201-555-0123;phone-context=example.com", SipUri(
            "tel", "+1-201-555-0123", params=Params((("phone-context", "example.com"),)))),
        ("urn:service:sos", SipUri("urn", "service:sos")),
    ],
)  # fmt: skip
def test_uri_parse_and_str(text: str, expected: SipUri) -> None:
    uri = SipUri.parse(text)
    assert uri == expected
    assert SipUri.parse(str(uri)) == uri


def test_uri_properties() -> None:
    uri = SipUri.parse("sip:a@h;Transport=TCP")
    assert (uri.is_sip, uri.transport) == (True, "TCP")
    assert str(SipUri(host="2001:db8::1")) == "sip:[2001:db8::1]"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("example.com", "no valid scheme"),
        ("1sip:example.com", "no valid scheme"),
        ("sip:", "URI is empty"),
        ("sip:a b@h", "has a space"),
        ('sip:a"@h', "has a space, control or <>"),
        ("sip:caf\u00e9@h", "has a space, control or <>"),
        ("sip:@h", "empty user part"),
        ("sip:h:99999", "port '99999' exceeds 65535"),
        ("sip:h:5060x", "bad host or port"),
        ("sip:[::1", "bad host or port"),
        ("sip:h;", "empty parameter name or value"),
        ("sip:h;=x", "empty parameter name or value"),
        ("sip:h;x=", "empty parameter name or value"),
        ("sip:h?x", "URI header is not name=value"),
        ("tel:", "URI is empty"),
        ("urn:;x", "nothing after the scheme"),
    ],
)
def test_bad_uris(text: str, error: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(error)):
        SipUri.parse(text)


@pytest.mark.parametrize(
    ("text", "display", "uri", "params"),
    [
        ('"A \\"B\\" \\\\C" <sip:a@h>;tag=1', 'A "B" \\C', "sip:a@h", (("tag", "1"),)),
        ("Two  Tokens<sip:a@h>", "Two Tokens", "sip:a@h", ()),
        ("<sip:a@h;lr>", None, "sip:a@h;lr", ()),
        ("sip:a@h ; tag = 9 ; q=0.5", None, "sip:a@h", (("tag", "9"), ("q", "0.5"))),
        ('<sip:a@h>;+sip.instance="<urn:uuid:1;2>";reg-id=1', None, "sip:a@h",
         (("+sip.instance", '"<urn:uuid:1;2>"'), ("reg-id", "1"))),
        ('sip:a@h;x="q;uoted"', None, "sip:a@h", (("x", '"q;uoted"'),)),
    ],
)  # fmt: skip
def test_name_addr(
    text: str, display: str | None, uri: str, params: tuple[tuple[str, str | None], ...]
) -> None:
    value = NameAddr.parse(text)
    assert (value.display_name, str(value.uri), value.params.items) == (display, uri, params)
    assert NameAddr.parse(str(value)) == value


def test_name_addr_tag_expires_and_quoted_parameter_values() -> None:
    contact = NameAddr.parse('<sip:a@h>;expires=3600;+sip.instance="<urn:uuid:x>"')
    assert (contact.expires, contact.tag) == (3600, None)
    assert contact.params.get("+SIP.INSTANCE") == "<urn:uuid:x>"
    assert contact.with_tag("t").with_tag("u").params.items[-1] == ("tag", "u")
    assert NameAddr.parse("<sip:a@h>;expires=99999999999").expires is None
    assert NameAddr.parse("<sip:a@h>;expires=soon").expires is None


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('"unterminated <sip:a@h>', "unterminated quoted display name"),
        ('"Name" sip:a@h', "expected '<' after the display name"),
        ("<sip:a@h", "'<' without '>'"),
        ("<sip:a@h> junk", "expected ';' before 'junk'"),
        ("<sip:a@h>;;tag=1", "bad parameter name ''"),
        ("<sip:a@h>;tag=", "bad value '' for parameter tag"),
        ("<sip:a@h>;tag=a b", "bad value 'a b' for parameter tag"),
        ('<sip:a@h>;x="open', "bad value"),
        ("Doe, John <sip:a@h>", "display name needs quotes"),
        ("< sip:a@h >", "URI has no valid scheme"),
    ],
)
def test_bad_name_addr(text: str, error: str) -> None:
    with pytest.raises(SipParseError, match=re.escape(error)):
        NameAddr.parse(text)


def test_via_parameters() -> None:
    via = Via.parse("SIP/2.0/udp 192.0.2.1:5060;branch=z9hG4bK74bf9;rport;received=192.0.2.9")
    assert (via.transport, via.host, via.port) == ("UDP", "192.0.2.1", 5060)
    assert via.protocol == "SIP/2.0"
    assert (via.branch, via.transaction_branch, via.received) == (
        "z9hG4bK74bf9", "z9hG4bK74bf9", "192.0.2.9",
    )  # fmt: skip
    assert ("rport" in via.params, via.rport) == (True, None)
    assert Via.parse("SIP/2.0/UDP h;rport=5062").rport == 5062
    assert Via.parse("SIP/2.0/UDP h;rport=" + "9" * 5000).rport is None
    assert Via.parse("SIP / 2.0 / TCP [2001:db8::9] : 5061").port == 5061
    assert str(Via.parse("SIP / 2.0 / TCP h ; branch = x")) == "SIP/2.0/TCP h;branch=x"


@pytest.mark.parametrize(
    "text",
    ["SIP/2.0 UDP h", "SIP/2.0/UDP", "SIP/2.0/UDP h:70000", "SIP/2.0/U{P h", "SIP/2.0/UDP h;;"],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


def test_cseq() -> None:
    assert CSeq.parse(" 0009   INVITE ") == CSeq(9, "INVITE")
    assert str(CSeq(2**31 - 1, "BYE")) == "2147483647 BYE"
    for bad in ("1", "x INVITE", "1 INVITE extra", "2147483648 BYE", "-1 BYE", "1 IN{VITE"):
        with pytest.raises(SipParseError):
            CSeq.parse(bad)


def test_params_and_quoting() -> None:
    params = Params((("Tag", "1"), ("lr", None)))
    assert (params.get("tag"), params.get("lr"), params.get("x")) == ("1", None, None)
    assert ("LR" in params, "x" in params, 3 in params) == (True, False, False)
    assert str(params.set("tag", "2")) == ";lr;tag=2"
    assert quote('say "hi"\\\x00') == '"say \\"hi\\"\\\\\\\x00"'
    with pytest.raises(ValueError, match="CR or LF"):
        quote("a\r\nb")


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a,b", ["a", "b"]),
        ('"x,y",<sip:a;b,c>,z', ['"x,y"', "<sip:a;b,c>", "z"]),
        ('"a\\",b",c', ['"a\\",b"', "c"]),
        ('"open,never closed', ['"open,never closed']),
        ("<open,never closed", ["<open,never closed"]),
    ],
)
def test_split_outside(text: str, parts: list[str]) -> None:
    assert split_outside(text, ",") == parts


def test_random_tags_and_branches() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", new_tag())
    branch = new_branch()
    assert Via("UDP", "h", params=Params((("branch", branch),))).transaction_branch == branch
    assert new_tag() != new_tag()


TOKEN = st.text("abcXYZ019-.!%*_+`'~", min_size=1, max_size=8)
HOST = st.one_of(
    st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
)
PARAMS = st.lists(st.tuples(TOKEN, st.none() | TOKEN), max_size=3).map(
    lambda items: Params(tuple(items))
)
URIS = st.builds(
    SipUri,
    scheme=st.sampled_from(["sip", "sips"]),
    user=st.none() | TOKEN,
    host=HOST,
    port=st.none() | st.integers(0, 65535),
    params=PARAMS,
)
DISPLAY = st.none() | st.text(st.characters(exclude_characters="\r\n"), max_size=12)


@given(URIS)
def test_any_sip_uri_round_trips(uri: SipUri) -> None:
    assert SipUri.parse(str(uri)) == uri


@given(st.builds(NameAddr, uri=URIS, display_name=DISPLAY, params=PARAMS))
def test_any_name_addr_round_trips(value: NameAddr) -> None:
    assert NameAddr.parse(str(value)) == value


@given(
    st.builds(Via, transport=st.sampled_from(["UDP", "TCP", "TLS"]), host=HOST,
              port=st.none() | st.integers(0, 65535), params=PARAMS)
)  # fmt: skip
def test_any_via_round_trips(via: Via) -> None:
    assert Via.parse(str(via)) == via


@given(st.text(max_size=80))
def test_value_parsers_raise_only_sip_parse_error(text: str) -> None:
    for parse in (SipUri.parse, NameAddr.parse, Via.parse, CSeq.parse):
        with contextlib.suppress(SipParseError):
            parse(text)
