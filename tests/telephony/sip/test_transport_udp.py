"""The UDP endpoint against raw datagrams on loopback: garbage, malformed requests,
responses routed by Via received/rport, and exceptions kept inside the endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from telephony.sip.call_state import Outcome
from telephony.sip.message import SipRequest, SipResponse
from telephony.sip.transport import Address, ServerTransaction, SipEndpoint
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK


class RawPeer(asyncio.DatagramProtocol):
    """A bare UDP socket: what it receives lands in a queue."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # 3.11's is no subclass

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.inbox.put_nowait(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def send(self, data: bytes, to: Address) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def response(self) -> SipResponse:
        async with asyncio.timeout(2):
            return SipResponse.parse(await self.inbox.get())


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    agent = await UserAgent.open(LOOPBACK, 0)
    yield agent
    agent.close()


@pytest.fixture
async def peer() -> AsyncIterator[RawPeer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(RawPeer, local_addr=(LOOPBACK, 0))
    yield protocol
    transport.close()


def options(
    port: int, *, via_host: str = LOOPBACK, rport: bool = True, cseq: str = "1 OPTIONS"
) -> bytes:
    via = f"SIP/2.0/UDP {via_host}:{port};branch=z9hG4bK{port}x{cseq[0]}" + (
        ";rport" if rport else ""
    )
    return (
        f"OPTIONS sip:1001@{LOOPBACK} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
        f"From: <sip:scan@{LOOPBACK}>;tag=a1\r\nTo: <sip:1001@{LOOPBACK}>\r\n"
        f"Call-ID: c-{port}-{cseq[0]}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


async def test_garbage_is_dropped_and_the_endpoint_carries_on(ua: UserAgent, peer: RawPeer) -> None:
    for junk in (
        b"x",
        b"\x00" * 300,
        b"hello world\r\n\r\n",
        bytes(range(256)) * 4,
        b"SIP/2.0 200",
    ):
        peer.send(junk, ua.endpoint.address)
    peer.send(options(peer.port), ua.endpoint.address)
    answer = await peer.response()
    assert answer.status == 200 and answer.cseq.method == "OPTIONS"
    assert ua.endpoint.stats.malformed == 5 and ua.endpoint.stats.errors == 0
    assert peer.inbox.empty()  # nothing but the OPTIONS was answered


async def test_a_request_with_a_bad_cseq_gets_400_with_the_reason(
    ua: UserAgent, peer: RawPeer
) -> None:
    peer.send(options(peer.port, cseq="1 INVITE"), ua.endpoint.address)
    bad = await peer.response()
    assert bad.status == 400 and "CSeq method INVITE is not OPTIONS" in bad.reason
    peer.send(options(peer.port, cseq="x1 OPTIONS"), ua.endpoint.address)
    async with asyncio.timeout(2):  # the CSeq is copied as received: unparseable to us too
        assert (await peer.inbox.get()).startswith(b"SIP/2.0 400 Bad Request (CSeq header: ")
    assert ua.endpoint.stats.malformed == 2


async def test_another_sip_version_is_dropped(ua: UserAgent, peer: RawPeer) -> None:
    # message.py frames no request whose start line is bad, the version included: no 505.
    peer.send(options(peer.port).replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), ua.endpoint.address)
    peer.send(options(peer.port, cseq="2 OPTIONS"), ua.endpoint.address)
    assert (await peer.response()).cseq.number == 2
    assert ua.endpoint.stats.malformed == 1 and peer.inbox.empty()


async def test_responses_follow_received_and_rport_not_the_via_host(
    ua: UserAgent, peer: RawPeer
) -> None:
    peer.send(options(40000, via_host="192.0.2.1"), ua.endpoint.address)  # a NAT'd phone
    answer = await peer.response()
    assert answer.via.received == LOOPBACK and answer.via.rport == peer.port
    assert answer.via.host == "192.0.2.1" and answer.via.branch == "z9hG4bK40000x1"


async def test_without_rport_responses_go_to_the_via_port(ua: UserAgent, peer: RawPeer) -> None:
    peer.send(options(peer.port, rport=False), ua.endpoint.address)
    answer = await peer.response()
    assert answer.via.rport is None and answer.via.received is None


async def test_a_retransmitted_request_gets_the_same_response_once_more(
    ua: UserAgent, peer: RawPeer
) -> None:
    request = options(peer.port)
    peer.send(request, ua.endpoint.address)
    first = await peer.response()
    peer.send(request, ua.endpoint.address)
    again = await peer.response()
    assert bytes(first) == bytes(again) and len(ua.endpoint.servers) == 1


class FlakyCore:
    """A core with a bug: the first request it sees raises."""

    def __init__(self) -> None:
        self.seen = 0

    def request_received(self, txn: ServerTransaction) -> None:
        self.seen += 1
        if self.seen == 1:
            raise KeyError("a bug in the core")
        txn.reply(200)

    def ack_received(self, ack: SipRequest, source: Address) -> None: ...
    def stray_response(self, response: SipResponse, source: Address) -> None: ...


async def test_an_exception_above_the_transport_is_counted_not_raised(peer: RawPeer) -> None:
    endpoint = await SipEndpoint.open(LOOPBACK, 0, core=FlakyCore())
    try:
        peer.send(options(peer.port, cseq="1 OPTIONS"), endpoint.address)
        peer.send(options(peer.port, cseq="2 OPTIONS"), endpoint.address)
        answer = await peer.response()
        assert answer.status == 200 and answer.cseq.number == 2
        assert endpoint.stats.errors == 1
    finally:
        endpoint.close()


async def test_a_closed_endpoint_ends_new_transactions_at_once() -> None:
    ua = await UserAgent.open(LOOPBACK, 0)
    ua.close()
    call = ua.invite(f"sip:x@{LOOPBACK}:9", b"v=0\r\n", from_uri=f"sip:q@{LOOPBACK}")
    async with asyncio.timeout(1):
        final = await call.finished()
    assert final.outcome is Outcome.FAILED and "transport" in final.reason
