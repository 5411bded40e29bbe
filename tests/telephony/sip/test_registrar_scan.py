"""What a SIPVicious-style scan (svmap/svwar: OPTIONS, REGISTER, INVITE to extension
after extension) learns from our endpoint: nothing that tells existing extensions
(1001, 1002) from missing ones."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from telephony.sip.lockout import Lockout
from telephony.sip.message import SipRequest, SipResponse
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.transaction import ack_for
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK

EXTENSIONS = [f"{n}" for n in range(1000, 1010)]
_RANDOM = re.compile(r"(tag=|nonce=\"|branch=|Call-ID: )[^;,\"\r\n]+")


class Scanner(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.inbox.put_nowait(data)


@pytest.fixture
async def target() -> AsyncIterator[tuple[UserAgent, Scanner, asyncio.DatagramTransport]]:
    passwords = Passwords({"1001": "a-Long-pw", "1002": "b-Long-pw"}, "callcase")
    # A scanner is blocked after 5 failures (test_registrar_handle); here it may go on.
    registrar = Registrar(passwords, lockout=Lockout(threshold=1000))
    ua = await UserAgent.open(LOOPBACK, 0, registrar=registrar)
    transport, scanner = await asyncio.get_running_loop().create_datagram_endpoint(
        Scanner, local_addr=(LOOPBACK, 0)
    )
    yield ua, scanner, transport
    transport.close()
    ua.close()


def probe(method: str, extension: str, port: int, n: int, authorization: str = "") -> bytes:
    uri = f"sip:{extension}@{LOOPBACK}"
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bK-sv-{n}\r\n"
        f"Max-Forwards: 70\r\nFrom: <{uri}>;tag=sv{n}\r\nTo: <{uri}>\r\n"
        f"Call-ID: sv-{n}\r\nCSeq: 1 {method}\r\nContact: <sip:{extension}@{LOOPBACK}:{port}>\r\n"
        f"User-Agent: friendly-scanner\r\n{auth}Content-Length: 0\r\n\r\n"
    ).encode()


def shape(data: bytes, extension: str) -> str:
    """The response with its random parts and the probed extension blanked out."""
    return _RANDOM.sub(r"\1*", data.decode()).replace(extension, "EXT")


@pytest.mark.parametrize(
    ("method", "authorization", "expected"),
    [
        ("OPTIONS", "", ["200"]),
        ("REGISTER", "", ["401"]),
        ("REGISTER", 'Digest username="{ext}", realm="callcase", nonce="x.y.z", '
                     'uri="sip:127.0.0.1", response="0123456789abcdef0123456789abcdef"', ["403"]),
        ("INVITE", "", ["100", "480"]),
    ],
)  # fmt: skip
async def test_a_scan_sees_the_same_answer_for_every_extension(
    target: tuple[UserAgent, Scanner, asyncio.DatagramTransport],
    method: str,
    authorization: str,
    expected: list[str],
) -> None:
    ua, scanner, transport = target
    port = transport.get_extra_info("sockname")[1]
    shapes = set()
    for n, extension in enumerate(EXTENSIONS):
        request = probe(method, extension, port, n, authorization.format(ext=extension))
        transport.sendto(request, ua.endpoint.address)
        answers = []
        async with asyncio.timeout(2):
            for _ in expected:
                answers.append(await scanner.inbox.get())
        final = SipResponse.parse(answers[-1])
        if method == "INVITE":  # stop the 480 being resent
            transport.sendto(bytes(ack_for(SipRequest.parse(request), final)), ua.endpoint.address)
        assert [a[8:11].decode() for a in answers] == expected
        shapes.add(tuple(shape(a, extension) for a in answers))
    assert len(shapes) == 1, shapes


async def test_a_full_service_answers_invites_503_with_retry_after(
    target: tuple[UserAgent, Scanner, asyncio.DatagramTransport],
) -> None:
    ua, scanner, transport = target
    ua.admit = lambda: False
    port = transport.get_extra_info("sockname")[1]
    request = probe("INVITE", EXTENSIONS[0], port, 0, "")
    transport.sendto(request, ua.endpoint.address)
    async with asyncio.timeout(2):
        answers = [await scanner.inbox.get(), await scanner.inbox.get()]
    final = SipResponse.parse(answers[-1])
    transport.sendto(bytes(ack_for(SipRequest.parse(request), final)), ua.endpoint.address)
    assert [a[8:11].decode() for a in answers] == ["100", "503"]
    assert final.headers.get("Retry-After") == "5"
