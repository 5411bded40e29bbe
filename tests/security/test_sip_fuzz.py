"""Fuzzing the SIP and SDP parsers and the UDP endpoint with hostile input.

Structured mutations (:mod:`tests.security.mutations`) of the captured messages in
``tests/data/sip`` and random bytes. Whatever comes in, only :class:`SipParseError`
or :class:`SdpParseError` escapes, and a message that parses can be taken through
everything the endpoint does with it (typed views, received/rport stamping,
transaction keys, responses) without raising, and is answered at the host it came
from. 64 KiB messages, the most one UDP datagram holds, are refused or parsed in
memory proportional to their size. A real endpoint survives a burst of malformed
datagrams.

The budget suits CI (a few seconds); ``CALLCASE_FUZZ_EXAMPLES`` raises it for a long
session (docs/security.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telephony.sip.addressing import reply_address, stamped
from telephony.sip.headers import SipParseError, new_tag
from telephony.sip.lockout import Lockout
from telephony.sip.message import REASONS, SipMessage, SipRequest, SipResponse, build_response
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.sdp import SdpNegotiationError, SdpParseError, SessionDescription, answer
from telephony.sip.transaction import DEFAULT_TIMING, Transaction, client_key, server_key
from telephony.sip.ua import UserAgent
from tests.security.mutations import (
    FIXTURES,
    MAX_DATAGRAM,
    SDP_BODIES,
    Seeded,
    mutate,
    mutated_sdp,
    mutated_sip,
    tampered_vias,
)
from tests.telephony.sip.peers import LOOPBACK

EXAMPLES = int(os.environ.get("CALLCASE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SOURCE = (LOOPBACK, 5060)


# Checks ---------------------------------------------------------------------------


def check_sip(data: bytes) -> None:
    """Parse ``data`` as the endpoint does; only SipParseError may escape parsing, and
    nothing may escape what the endpoint then does with the message."""
    try:
        message = SipMessage.parse(data)
    except SipParseError as err:
        if isinstance(err.framed, SipRequest):  # the endpoint answers these with 400/505
            reason = f"{REASONS.get(err.status, 'Bad Request')} ({err})"[:160]
            assert bytes(build_response(err.framed, err.status, reason))
        return
    views = (message.via, message.from_.tag, message.to.tag, message.call_id, message.cseq)
    assert views[0] is message.vias[0] and 0 <= message.cseq.number < 2**31
    _ = (message.max_forwards, message.expires, message.routes, message.record_routes)
    _ = [(contact.expires, contact.tag) for contact in message.contacts]
    _ = (message.via.transaction_branch, message.via.received, message.via.rport)
    assert SipMessage.parse(bytes(message)) == message
    if isinstance(message, SipRequest):
        handle_request(message)
    elif isinstance(message, SipResponse):
        client_key(message)
    if message.body.startswith(b"v=0"):
        check_sdp(message.body)


def handle_request(received: SipRequest) -> None:
    """What the UDP endpoint and the user agent do with a request that parsed, coming
    from elsewhere or from its own Via host: answers go back to the source host."""
    honest = (received.via.host, received.via.port or 5060)
    for source in (SOURCE, honest):
        request = stamped(received, source)
        assert reply_address(request.via)[0] == source[0], (request.via, source)
    assert SipRequest.parse(bytes(request)) == request
    server_key(request)
    Transaction.server(request, DEFAULT_TIMING)
    for status in (100, 200, 401, 480):
        response = build_response(request, status, to_tag=new_tag())
        assert SipResponse.parse(bytes(response)).status == status


def check_sdp(data: bytes) -> None:
    """Parse ``data`` as SDP and answer it; SdpParseError and, for a well-formed offer
    we cannot accept, SdpNegotiationError are the only exceptions."""
    try:
        sdp = SessionDescription.parse(data)
    except SdpParseError:
        return
    assert SessionDescription.parse(bytes(sdp)) == sdp
    _ = [(media.codecs, media.ptime, sdp.direction(media)) for media in sdp.media]
    try:
        ours = answer(sdp, LOOPBACK, 40000, session_id=1)
    except SdpNegotiationError:
        return
    assert SessionDescription.parse(bytes(ours)) == ours


def test_every_fixture_passes_the_checks() -> None:
    for data in FIXTURES:
        check_sip(data)
    assert len(SDP_BODIES) > 10


@FUZZ
@given(mutated_sip())
def test_mutated_messages(data: bytes) -> None:
    check_sip(data)


@FUZZ
@given(tampered_vias())
def test_requests_with_tampered_vias(data: bytes) -> None:
    check_sip(data)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data: bytes) -> None:
    check_sip(data)


@FUZZ
@given(
    st.sampled_from([b"INVITE sip:a@b SIP/2.0\r\n", b"SIP/2.0 200 OK\r\n"]), st.binary(max_size=512)
)
def test_random_bytes_after_a_start_line(start: bytes, tail: bytes) -> None:
    check_sip(start + tail)


@FUZZ
@given(mutated_sdp())
def test_mutated_session_descriptions(data: bytes) -> None:
    check_sdp(data)


@FUZZ
@given(st.binary(max_size=1024))
def test_random_session_descriptions(data: bytes) -> None:
    check_sdp(b"v=0\r\n" + data)


@pytest.mark.parametrize("received", ["192.0.2.66", "evil.example", '"192.0.2.66"'])
@pytest.mark.parametrize("rport", ["", ";rport", ";rport=5070"])
def test_a_peer_cannot_send_our_answers_to_another_host(received: str, rport: str) -> None:
    """Regression (found by test_requests_with_tampered_vias): a received parameter the
    peer wrote itself used to be kept when its Via host was its own address, so our
    answers (and their retransmissions) went to any host it named: a reflector."""
    data = (
        f"OPTIONS sip:1001@{LOOPBACK} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1;received={received}{rport}\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"
    ).encode()
    request = stamped(SipRequest.parse(data), ("198.51.100.7", 40000))
    assert request.via.received == "198.51.100.7"
    assert reply_address(request.via) == (
        "198.51.100.7",
        5070 if "=" in rport else 40000 if rport else 5060,
    )


# Size -----------------------------------------------------------------------------

HEAD = (
    b"OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:a@b>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
)
# fmt: off
SHAPES = {  # name: (header line start, repeated piece, line end)
    "folded lines": (b"To: <sip:a@b>\r\nSubject: a", b"\r\n x", b"\r\n"),
    "many headers": (b"To: <sip:a@b>\r\n", b"X-A: b\r\n", b""),
    "many Via headers": (b"To: <sip:a@b>\r\n", b"Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\n", b""),
    "a long Via list": (b"To: <sip:a@b>\r\nVia: SIP/2.0/UDP h", b",SIP/2.0/UDP h", b"\r\n"),
    "many Via parameters": (b"To: <sip:a@b>\r\nVia: SIP/2.0/UDP h", b";a=b", b"\r\n"),
    "a long Contact list": (b"To: <sip:a@b>\r\nContact: <sip:a@b>", b",<sip:a@b>", b"\r\n"),
    "many Route headers": (b"To: <sip:a@b>\r\n", b"Route: <sip:a@b;lr>\r\n", b""),
    "quoted display names": (b"To: <sip:a@b>\r\nContact: ", b'"a" <sip:a@b>,', b"x\r\n"),
    "unterminated quotes": (b"To: <sip:a@b>\r\nContact: ", b'"a', b"\r\n"),
    "escaped quotes": (b'To: <sip:a@b>\r\nContact: "', b'\\"', b"\r\n"),
    "open angle brackets": (b"To: <sip:a@b>\r\nContact: ", b"<", b"\r\n"),
    "URI parameters": (b"To: <sip:a@b", b";a", b">\r\n"),
    "a long host": (b"To: <sip:a@", b"a", b">\r\n"),
    "a long IPv6 host": (b"To: <sip:a@[", b"0", b"]>\r\n"),
    "display name tokens": (b"To: ", b"a ", b"<sip:a@b>\r\n"),
    "Content-Length digits": (b"To: <sip:a@b>\r\nContent-Length: ", b"9", b"\r\n"),
    "a long body": (b"To: <sip:a@b>\r\n\r\n", b"a", b""),
    "LF line ends": (b"To: <sip:a@b>\r\n", b"X: a\n", b""),
    "CRLFs before the start line": (b"", b"\r\n", b""),
}
# fmt: on


def shaped(start: bytes, piece: bytes, end: bytes) -> bytes:
    if start == b"":  # the repeats go before the start line
        tail = HEAD + b"To: <sip:a@b>\r\n\r\n"
        return piece * ((MAX_DATAGRAM - len(tail)) // len(piece)) + tail
    count = (MAX_DATAGRAM - len(HEAD) - len(start) - len(end) - 2) // len(piece)
    data = HEAD + start + piece * count + end
    return data if b"\r\n\r\n" in start else data + b"\r\n"


@pytest.mark.parametrize("shape", SHAPES)
def test_a_64_kib_message_is_refused_or_parsed_in_bounded_memory(shape: str) -> None:
    """The whole datagram at once: memory stays within a small multiple of its size (a
    quadratic blow-up would take gigabytes). Time is bounded by the test's timeout."""
    data = shaped(*SHAPES[shape])
    assert MAX_DATAGRAM - 64 <= len(data) <= MAX_DATAGRAM
    tracemalloc.start()
    try:
        check_sip(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * len(data), f"{shape}: {peak} bytes at the peak"


@pytest.mark.parametrize(
    ("media", "piece"),
    [
        (b"", b"m=audio 4000 RTP/AVP 0\r\n"),
        (b"m=audio 4000 RTP/AVP 0\r\n", b"a=rtpmap:0 PCMU/8000\r\n"),
        (b"m=audio 4000 RTP/AVP 0\r\n", b"b=AS:64\r\n"),
        (b"m=audio 4000 RTP/AVP 0", b" 0"),
        (b"", b"\n"),
    ],
)
def test_a_64_kib_session_description_is_refused_or_parsed_in_bounded_memory(
    media: bytes, piece: bytes
) -> None:
    head = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    data = head + media + piece * ((MAX_DATAGRAM - len(head) - len(media)) // len(piece))
    assert SessionDescription.parse(data).media or piece == b"\n"  # it is valid SDP
    tracemalloc.start()
    try:
        check_sdp(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * len(data)


# The endpoint on a real socket ----------------------------------------------------


def malformed_burst(count: int, seed: int = 4475) -> list[bytes]:
    """``count`` datagrams that do not parse: mutated fixtures and random bytes."""
    chooser = Seeded(seed)
    found: list[bytes] = []
    while len(found) < count:
        if chooser.integer(0, 9) == 0:
            data = chooser.rng.randbytes(chooser.integer(1, 1500))
        else:
            data = mutate(chooser, chooser.choice(FIXTURES), chooser.integer(1, 3))
        try:
            SipMessage.parse(data)
        except SipParseError:
            if data.strip(b"\r\n"):  # not a keep-alive
                found.append(data)
    return found


def chunks(
    datagrams: list[bytes], budget: int = 64 * 1024, most: int = 16
) -> Iterator[list[bytes]]:
    """Groups small enough for the receiving socket's buffer (nothing dropped)."""
    chunk: list[bytes] = []
    for data in datagrams:
        if chunk and (sum(map(len, chunk)) + len(data) > budget or len(chunk) == most):
            yield chunk
            chunk = []
        chunk.append(data)
    if chunk:
        yield chunk


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.inbox.put_nowait(data)


def options(port: int, n: int) -> bytes:
    uri = f"sip:1001@{LOOPBACK}"
    return (
        f"OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bK-ok{n}\r\n"
        f"From: <{uri}>;tag=ok{n}\r\nTo: <{uri}>\r\nCall-ID: ok-{n}\r\nCSeq: 1 OPTIONS\r\n"
        f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def answered(peer: Peer, call_id: str) -> SipResponse:
    """Our OPTIONS' answer; the 400s for the malformed requests before it are skipped."""
    async with asyncio.timeout(5):
        while True:
            data = await peer.inbox.get()
            if f"Call-ID: {call_id}\r\n".encode() in data:
                return SipResponse.parse(data)


async def test_the_endpoint_survives_a_burst_of_malformed_datagrams(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """300 malformed datagrams (seeded: the same each run) sent in batches the socket
    buffer holds; after each batch a valid OPTIONS is answered 200. Every datagram is
    counted malformed, no exception reaches the loop and no error is logged."""
    burst = malformed_burst(300)
    registrar = Registrar(Passwords({"1001": "Vq7!rT2#kLp9@xWz"}, "callcase"), lockout=Lockout())
    ua = await UserAgent.open(LOOPBACK, 0, registrar=registrar)
    transport, peer = await asyncio.get_running_loop().create_datagram_endpoint(
        Peer, local_addr=(LOOPBACK, 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        for n, chunk in enumerate(chunks(burst)):
            for data in chunk:
                transport.sendto(data, ua.endpoint.address)
            transport.sendto(options(port, n), ua.endpoint.address)
            assert (await answered(peer, f"ok-{n}")).status == 200
        stats = ua.endpoint.stats
    finally:
        transport.close()
        ua.close()
    assert (stats.malformed, stats.errors, stats.gated) == (len(burst), 0, 0)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
