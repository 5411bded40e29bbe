"""The real SIPVicious tools (PyPI ``sipvicious``) against our UserAgent and Registrar.

svmap finds a SIP device but no product or version; svwar cannot tell the existing
extensions from the missing ones, whatever method it scans with; svcrack with a
wordlist that lacks the password cracks nothing, and our Lockout drops its source
after five wrong passwords, so even the right password goes unanswered from there.

Every tool is bound to 127.0.0.1 (``-b``, ``-x``, ``-P 0`` for an ephemeral source
port) and aimed at our endpoint's ephemeral port on 127.0.0.1, nothing else. Without
the package installed the tests skip (``pip install sipvicious``).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest

from telephony.sip.digest import Verdict, authorize, make_challenge, verify
from telephony.sip.lockout import Lockout
from telephony.sip.message import SipRequest, SipResponse, build_response
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.registration import RegistrationFailed
from telephony.sip.sdp import offer
from telephony.sip.transaction import ack_for
from telephony.sip.transport import ServerTransaction
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK

REALM = "callcase"
SECRET = b"nonce-secret-of-the-sipvicious-tests"
PASSWORDS = {"1001": "Vq7!rT2#kLp9@xWz", "1002": "Hm4$eY8%nBc1^sQd", "1003": "Zu6&wJ3*gFt5(aRk"}
WORDLIST = ["1001", "password", "123456", "secret", "letmein", "qwerty", "1234", "admin"]
VERSION = importlib.metadata.version("callcase")
ROW = r"\|\s*127\.0\.0\.1:{port}\s*\|\s*(?P<agent>[^|]*?)\s*\|"
PRODUCT_HEADER = re.compile(r"^(Server|User-Agent):", re.I | re.M)


def tool(name: str) -> str:
    """The path of ``sipvicious_<name>`` (beside our interpreter, else on PATH)."""
    script = f"sipvicious_{name}"
    path = Path(sys.executable).parent / script
    found = str(path) if path.exists() else shutil.which(script)
    if found is None:
        pytest.skip(f"{script} not installed (pip install sipvicious)")
    return found


@dataclass
class Run:
    code: int
    output: str  # stdout and stderr together


async def run(script: str, port: int, *args: str, home: Path) -> Run:
    """Run a SIPVicious ``script`` bound to loopback against 127.0.0.1:``port``."""
    proc = await asyncio.create_subprocess_exec(
        script, "-b", LOOPBACK, "-x", LOOPBACK, "-P", "0", "-p", str(port), *args, LOOPBACK,
        cwd=home, env={**os.environ, "HOME": str(home)}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            output, _ = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return Run(cast(int, proc.returncode), output.decode(errors="replace"))


class WatchedRegistrar(Registrar):
    """A Registrar that reports every source its gate turns away."""

    def __init__(self) -> None:
        super().__init__(Passwords(PASSWORDS, REALM), realm=REALM, lockout=Lockout(), secret=SECRET)
        self.refused: asyncio.Queue[str] = asyncio.Queue()
        self.failures: list[tuple[str, str]] = []
        self.on_failure = lambda host, extension: self.failures.append((host, extension))

    def admits(self, host: str) -> bool:
        admitted = super().admits(host)
        if not admitted:
            self.refused.put_nowait(host)
        return admitted


class RecordingAgent(UserAgent):
    """A UserAgent that notes each new request: method and To user."""

    seen: list[tuple[str, str]]

    def request_received(self, txn: ServerTransaction) -> None:
        self.seen.append((txn.request.method, txn.request.to.uri.user or ""))
        super().request_received(txn)


@dataclass
class Target:
    ua: RecordingAgent
    registrar: WatchedRegistrar

    @property
    def port(self) -> int:
        return self.ua.endpoint.address[1]

    def probed(self, method: str) -> set[str]:
        return {user for seen, user in self.ua.seen if seen == method}


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    registrar = WatchedRegistrar()
    ua = await RecordingAgent.open(LOOPBACK, 0, registrar=registrar)
    assert isinstance(ua, RecordingAgent)
    ua.seen = []
    yield Target(ua, registrar)
    ua.close()


async def test_svmap_finds_the_device_but_no_product_version(
    target: Target, tmp_path: Path
) -> None:
    result = await run(tool("svmap"), target.port, "--debug", home=tmp_path)
    row = re.search(ROW.format(port=target.port), result.output)
    assert row is not None, result.output
    assert row["agent"] == "unknown"  # svmap's name for "no Server or User-Agent header"
    assert "SIP/2.0 200 OK" in result.output  # --debug printed our answer ...
    assert not PRODUCT_HEADER.search(result.output.replace("\\r\\n", "\n"))  # ... as it was
    assert VERSION not in result.output and REALM not in result.output.lower()
    assert result.code == 0
    assert target.ua.seen == [("OPTIONS", "100")]  # svmap's one probe, To sip:100@1.1.1.1


class Peer(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.inbox.put_nowait(data)

    async def next(self) -> bytes:
        async with asyncio.timeout(5):
            return await self.inbox.get()


def probe(
    method: str,
    port: int,
    n: int,
    *,
    uri: str = f"sip:1001@{LOOPBACK}",
    headers: str = "",
    cseq: str = "1",
) -> bytes:
    """A request for extension 1001 from 127.0.0.1:``port``; ``headers`` end in CRLF."""
    aor = f"sip:1001@{LOOPBACK}"
    return (
        f"{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bK-sv{n}\r\n"
        f"From: <{aor}>;tag=p{n}\r\nTo: <{aor}>\r\nCall-ID: sv-{n}\r\n"
        f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{headers}Content-Length: 0\r\n\r\n"
    ).encode()


async def test_nothing_we_send_names_a_product_version(target: Target) -> None:
    """Our answers to OPTIONS, REGISTER, INVITE and a malformed request, and the
    REGISTER and INVITE we send ourselves: no Server, no User-Agent, no version."""
    transport, peer = await asyncio.get_running_loop().create_datagram_endpoint(
        Peer, local_addr=(LOOPBACK, 0)
    )
    port = transport.get_extra_info("sockname")[1]
    sent: list[bytes] = []
    try:
        for n, method in enumerate(["OPTIONS", "REGISTER", "INVITE"]):
            request = probe(method, port, n)
            transport.sendto(request, target.ua.endpoint.address)
            sent += [await peer.next() for _ in range(2 if method == "INVITE" else 1)]
        final = SipResponse.parse(sent[-1])  # ACK the 480, or it is sent again
        ack = ack_for(SipRequest.parse(request), final)
        transport.sendto(bytes(ack), target.ua.endpoint.address)
        transport.sendto(probe("OPTIONS", port, 3, cseq="x"), target.ua.endpoint.address)
        sent.append(await peer.next())
        sent += await our_requests(target.ua, peer, transport, port)
    finally:
        transport.close()
    statuses = [data[8:11] for data in sent if data.startswith(b"SIP/2.0 ")]
    assert statuses == [b"200", b"401", b"100", b"480", b"400"]
    assert [data.split(b" ", 1)[0] for data in sent[5:]] == [b"REGISTER", b"INVITE", b"ACK"]
    for data in sent:
        text = data.decode()
        assert not PRODUCT_HEADER.search(text.replace("\r\n", "\n")) and VERSION not in text


async def our_requests(
    ua: UserAgent, peer: Peer, transport: asyncio.DatagramTransport, port: int
) -> list[bytes]:
    """The REGISTER and INVITE (and its ACK) ``ua`` sends to the peer, refused by it."""
    here = ua.endpoint.address
    registering = asyncio.create_task(ua.register(f"sip:{LOOPBACK}:{port}", user="line1"))
    register = await peer.next()
    transport.sendto(bytes(build_response(SipRequest.parse(register), 403, to_tag="r")), here)
    with pytest.raises(RegistrationFailed):
        await registering
    call = ua.invite(
        f"sip:debtor@{LOOPBACK}:{port}", bytes(offer(LOOPBACK, 40000, session_id=1)),
        from_uri=f"sip:line1@{LOOPBACK}",
    )  # fmt: skip
    invite = await peer.next()
    transport.sendto(bytes(build_response(SipRequest.parse(invite), 486, to_tag="i")), here)
    ack = await peer.next()
    async with asyncio.timeout(5):
        assert (await call.finished()).status == 486
    return [register, invite, ack]


@pytest.mark.parametrize(
    ("method", "flags", "probes"),
    [
        ("REGISTER", [], set()),  # svwar sees the 401 for a random name and gives up
        ("REGISTER", ["--force"], {"1001"}),  # 1001 answers as the random name did
        ("OPTIONS", [], {"1001", "1002", "1003", "1004"}),
        ("INVITE", [], {"1001", "1002", "1003", "1004"}),
    ],
)
async def test_svwar_finds_no_extension(
    target: Target, tmp_path: Path, method: str, flags: list[str], probes: set[str]
) -> None:
    result = await run(
        tool("svwar"), target.port, "-m", method, "-e", "1001-1004", *flags, home=tmp_path
    )
    assert "found nothing" in result.output, result.output
    assert "exists" not in result.output and "Extension" not in result.output
    assert result.code == 0
    assert probes <= target.probed(method)  # existing extensions were asked about
    if not probes:
        assert "authentication request for an unknown extension" in result.output
    assert target.registrar.failures == [] and target.registrar.lookup("1001") is None


async def test_svcrack_cracks_nothing_and_is_locked_out(target: Target, tmp_path: Path) -> None:
    registrar = target.registrar
    assert PASSWORDS["1001"] not in WORDLIST
    words = tmp_path / "words.txt"
    words.write_text("\n".join(WORDLIST) + "\n")
    args = ["-u", "1001", "-d", str(words), "--maximumtime", "2"]
    result = await run(tool("svcrack"), target.port, *args, home=tmp_path)
    async with asyncio.timeout(5):
        assert await registrar.refused.get() == LOOPBACK  # svcrack's sixth REGISTER dropped
    assert "The password for" not in result.output and "found nothing" in result.output
    assert "since we last received a response - stopping" in result.output, result.output
    assert result.code == 30  # svcrack's code for "the target went silent"; 40 is "cracked"
    # Five wrong passwords, then nothing: the rest of the wordlist was never tried.
    assert registrar.failures == [(LOOPBACK, "1001")] * 5
    assert registrar.lockout.is_blocked(LOOPBACK, datetime.now(UTC))
    assert registrar.lookup("1001") is None
    await right_password_goes_unanswered(target)


async def right_password_goes_unanswered(target: Target) -> None:
    """From the blocked source even valid credentials are dropped before parsing."""
    now = datetime.now(UTC).timestamp()
    challenge = make_challenge(REALM, SECRET, now)
    uri = f"sip:{LOOPBACK}"
    credentials = authorize(
        challenge, method="REGISTER", uri=uri, username="1001", password=PASSWORDS["1001"]
    )
    valid = verify(credentials, method="REGISTER", realm=REALM, secret=SECRET, now=now,
                   password=PASSWORDS["1001"])  # fmt: skip
    assert valid is Verdict.VALID
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Peer, local_addr=(LOOPBACK, 0)
    )
    port = transport.get_extra_info("sockname")[1]
    contact = f"Contact: <sip:1001@{LOOPBACK}:{port}>\r\n"
    request = probe(
        "REGISTER", port, 9, uri=uri, headers=f"Authorization: {credentials}\r\n{contact}"
    )
    sent_before = target.ua.endpoint.stats.sent
    try:
        transport.sendto(request, target.ua.endpoint.address)
        async with asyncio.timeout(5):
            assert await target.registrar.refused.get() == LOOPBACK
    finally:
        transport.close()
    assert target.ua.endpoint.stats.sent == sent_before  # no 200, no 403, no challenge
    assert target.registrar.lookup("1001") is None
