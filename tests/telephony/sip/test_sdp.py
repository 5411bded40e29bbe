from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.sip.sdp import (
    PCMA,
    PCMU,
    TELEPHONE_EVENT,
    Codec,
    Connection,
    Direction,
    Media,
    SdpNegotiationError,
    SdpParseError,
    SessionDescription,
    answer,
    negotiate,
    offer,
)


def sdp(*media: str, session: str = "c=IN IP4 192.0.2.7\r\n") -> bytes:
    head = "v=0\r\no=- 100 200 IN IP4 192.0.2.7\r\ns=-\r\n" + session + "t=0 0\r\n"
    return (head + "".join(media)).encode()


AUDIO = (
    "m=audio 40000 RTP/AVP 8 0 96 101\r\n"
    "a=rtpmap:96 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\na=ptime:30\r\n"
)


def test_parse_offer() -> None:
    description = SessionDescription.parse(sdp(AUDIO))
    assert description.origin.session_id == "100"
    assert description.connection == Connection("192.0.2.7")
    media = description.media[0]
    assert (media.kind, media.port, media.proto, media.formats) == (
        "audio", 40000, "RTP/AVP", ("8", "0", "96", "101"),
    )  # fmt: skip
    assert media.codecs == (
        PCMA, PCMU, Codec("opus", 48000, 96), Codec("telephone-event", 8000, 101, "0-15"),
    )  # fmt: skip
    assert (media.ptime, media.direction, description.direction(media)) == (
        30, None, Direction.SENDRECV,
    )  # fmt: skip


def test_round_trip_keeps_every_line_in_rfc_order() -> None:
    text = (
        "v=0\r\no=- 1 2 IN IP6 ::1\r\ns=call\r\ni=info\r\nu=http://x\r\ne=a@b\r\np=+1\r\n"
        "c=IN IP6 ::1\r\nb=AS:64\r\nt=0 0\r\nr=7d 1h 0 25h\r\nz=0 -1h\r\nk=prompt\r\n"
        "a=recvonly\r\nm=audio 0/2 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 0.0.0.0\r\nb=TIAS:1\r\n"
        "k=clear:x\r\na=rtcp-mux\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    )
    description = SessionDescription.parse(text.replace("\r\n", "\n"))
    assert bytes(description) == text.replace("0/2", "0").encode()
    assert SessionDescription.parse(bytes(description)) == description
    assert description.direction(description.media[0]) is Direction.RECVONLY
    assert description.media[1].codecs == ()


def test_lenient_about_blank_lines_and_missing_session_name_and_timing() -> None:
    description = SessionDescription.parse(b"v=0\n\no=- 1 1 IN IP4 h\nm=audio 1 RTP/AVP 0\n\n")
    assert (description.session_name, description.timing) == ("-", ())
    assert bytes(description) == b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\n"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "does not start with v=0"),
        (b"v=1\r\n", "does not start with v=0"),
        (b"v=0\r\no=a b\r\n", "o= needs six fields"),
        (b"v=0\r\nv=0\r\no=- 1 1 IN IP4 h\r\n", "unknown or misplaced SDP line type 'v'"),
        (sdp("m =video 1 RTP/AVP 31\r\n"), "SDP line 6 is not 'x=value'"),
        (sdp("x=unknown\r\n"), "unknown or misplaced SDP line type 'x'"),
        (sdp("m=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 h\r\n"), "misplaced SDP line type 'o'"),
        (sdp("m=audio 70000 RTP/AVP 0\r\n"), "m= port is not a number up to 65535"),
        (sdp("m=audio RTP/AVP\r\n"), "m= needs media, port and protocol"),
        (sdp("m=audio 1 RTP/AVP 0\r\nc=IN IP4\r\n"), "c= is not 'nettype addrtype address'"),
        (sdp("m=audio 1 RTP/AVP 0\r\nc=IN IP4 a\r\nc=IN IP4 b\r\n"), "more than one c= line"),
        (sdp("a=:x\r\n"), "a= attribute name is not a token"),
        (sdp(session="c=IN IP4 a\r\nc=IN IP4 b\r\n"), "at most one s= and session c="),
        (b"v=0\r\no=- 1 1 IN IP4 \xff\r\n", "SDP is not UTF-8 at offset 20"),
    ],
)
def test_malformed_sdp(data: bytes, error: str) -> None:
    with pytest.raises(SdpParseError, match=re.escape(error)):
        SessionDescription.parse(data)


def test_negotiate_picks_the_first_common_codec_in_the_remote_order() -> None:
    session = negotiate(SessionDescription.parse(sdp(AUDIO)))
    assert (session.address, session.port, session.codec, session.ptime) == (
        "192.0.2.7", 40000, PCMA, 30,
    )  # fmt: skip
    assert session.telephone_event == Codec("telephone-event", 8000, 101, "0-15")
    assert negotiate(SessionDescription.parse(sdp(AUDIO)), (PCMU,)).codec == PCMU


def test_negotiate_skips_streams_we_cannot_use() -> None:
    media = (
        "m=video 5000 RTP/AVP 31\r\n",
        "m=audio 0 RTP/AVP 0\r\n",
        "m=audio 5002 RTP/SAVP 0\r\n",
        "m=audio 5004 RTP/AVP 18\r\n",
        "m=audio 5006 RTP/AVP 97 0\r\nc=IN IP4 198.51.100.1\r\na=rtpmap:97 iLBC/8000\r\n",
    )
    session = negotiate(SessionDescription.parse(sdp(*media)))
    assert (session.media_index, session.address, session.port, session.codec) == (
        4, "198.51.100.1", 5006, PCMU,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("attribute", "session_attribute", "address", "ours"),
    [
        ("", "", "192.0.2.7", Direction.SENDRECV),
        ("a=sendonly\r\n", "", "192.0.2.7", Direction.RECVONLY),
        ("a=recvonly\r\n", "", "192.0.2.7", Direction.SENDONLY),
        ("a=inactive\r\n", "", "192.0.2.7", Direction.INACTIVE),
        ("", "a=sendonly\r\n", "192.0.2.7", Direction.RECVONLY),
        ("a=sendrecv\r\n", "a=inactive\r\n", "192.0.2.7", Direction.SENDRECV),
        ("", "", "0.0.0.0", Direction.RECVONLY),
        ("a=sendonly\r\n", "", "0.0.0.0", Direction.RECVONLY),
        ("a=recvonly\r\n", "", "0.0.0.0", Direction.INACTIVE),
    ],
)
def test_direction_is_mirrored(
    attribute: str, session_attribute: str, address: str, ours: Direction
) -> None:
    session = f"c=IN IP4 {address}\r\n{session_attribute}"
    remote = SessionDescription.parse(sdp("m=audio 1 RTP/AVP 0\r\n" + attribute, session=session))
    assert negotiate(remote).direction is ours


@pytest.mark.parametrize(
    "media",
    [
        "m=audio 1 RTP/AVP 18 9\r\n",
        "m=video 1 RTP/AVP 0\r\n",
        "m=audio 1 RTP/AVP 96\r\na=rtpmap:96 PCMU/16000\r\n",
        "m=audio 1 RTP/AVP 96\r\na=rtpmap:96 broken\r\n",
    ],
)
def test_no_common_codec_means_488(media: str) -> None:
    with pytest.raises(SdpNegotiationError, match="no RTP/AVP audio stream"):
        answer(SessionDescription.parse(sdp(media)), "192.0.2.1", 4000, session_id=1)


def test_missing_connection_address_is_not_negotiable() -> None:
    with pytest.raises(SdpNegotiationError):
        negotiate(SessionDescription.parse(sdp("m=audio 1 RTP/AVP 0\r\n", session="")))


def test_answer_mirrors_the_offer() -> None:
    remote = SessionDescription.parse(sdp("m=video 5000 RTP/AVP 31\r\n", AUDIO + "a=sendonly\r\n"))
    reply = answer(remote, "192.0.2.1", 4000, session_id=42, version=3)
    assert bytes(reply) == (
        b"v=0\r\no=- 42 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=video 0 RTP/AVP 31\r\n"
        b"m=audio 4000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=recvonly\r\n"
    )
    assert len(reply.media) == len(remote.media)
    plain = answer(remote, "2001:db8::1", 4000, session_id=1, telephone_event=False)
    assert plain.media[1].formats == ("8",)
    assert plain.connection == Connection("2001:db8::1", "IP6")


def test_our_offer_and_the_answer_to_it() -> None:
    ours = offer("192.0.2.1", 4000, session_id=7)
    assert bytes(ours) == (
        b"v=0\r\no=- 7 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=audio 4000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
        b"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    reply = answer(SessionDescription.parse(bytes(ours)), "192.0.2.2", 6000, session_id=9)
    session = negotiate(reply)
    assert (session.codec, session.telephone_event) == (PCMU, TELEPHONE_EVENT)
    assert (session.address, session.port, session.direction) == (
        "192.0.2.2", 6000, Direction.SENDRECV,
    )  # fmt: skip


def test_media_builds_directly() -> None:
    media = Media("audio", 1, "RTP/AVP", ("0",), attributes=(("ptime", "x"),))
    assert (media.ptime, media.attribute("ptime"), media.codecs) == (None, "x", (PCMU,))
    assert Media("audio", 1, "RTP/AVP", (), attributes=(("ptime", "9" * 5000),)).ptime is None


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_sdp_errors(data: bytes) -> None:
    with contextlib.suppress(SdpParseError, SdpNegotiationError):
        answer(SessionDescription.parse(data), "192.0.2.1", 4000, session_id=1)


@given(st.lists(st.sampled_from([*AUDIO.split("\r\n")[1:], "a=sendonly", "b=AS:1", "i=x"])))
def test_generated_bodies_round_trip(lines: list[str]) -> None:
    text = sdp(AUDIO.split("\r\n")[0] + "\r\n" + "".join(f"{line}\r\n" for line in lines if line))
    description = SessionDescription.parse(text)
    assert SessionDescription.parse(bytes(description)) == description
