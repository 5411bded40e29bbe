"""The registrar with real softphones on loopback: baresip and pyVoIP register with
digest authentication; our user agent then calls the agent it looked up."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from api.simulate_agents import stop_phone
from telephony.sip.bindings import Binding
from telephony.sip.call_state import Outcome
from telephony.sip.login import Login
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.registration import RegistrationFailed
from telephony.sip.sdp import SessionDescription, negotiate, offer
from telephony.sip.transaction import Timing
from telephony.sip.transport import TransactionTimeout
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK, baresip, free_port

pytestmark = pytest.mark.e2e
REALM = "callcase"
PASSWORDS = {"1001": "secret-1001", "1002": "secret-1002"}


@dataclass
class Agents:
    """Our UA with the registrar, and futures for what the registrar reports."""

    ua: UserAgent
    registrar: Registrar
    bound: dict[str, asyncio.Future[Binding | None]] = field(default_factory=dict)
    failed: asyncio.Queue[tuple[str, str]] = field(default_factory=asyncio.Queue)

    @property
    def port(self) -> int:
        return self.ua.endpoint.address[1]

    def binding(self, extension: str) -> asyncio.Future[Binding | None]:
        return self.bound.setdefault(extension, asyncio.get_running_loop().create_future())

    def _on_binding(self, extension: str, binding: Binding | None) -> None:
        future = self.binding(extension)
        if not future.done():
            future.set_result(binding)


@pytest.fixture
async def agents() -> AsyncIterator[Agents]:
    registrar = Registrar(Passwords(PASSWORDS, REALM), realm=REALM)
    ua = await UserAgent.open(LOOPBACK, 0, registrar=registrar)
    found = Agents(ua, registrar)
    registrar.on_binding = found._on_binding
    registrar.on_failure = lambda host, ext: found.failed.put_nowait((host, ext))
    yield found
    ua.close()


@pytest.fixture
def rtp_sink() -> Iterator[int]:
    """A UDP port that takes the agent's RTP (an ICMP unreachable would end its call)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        yield sock.getsockname()[1]


async def call_answered_and_hang_up(agents: Agents, bound: Binding, rtp_sink: int) -> None:
    """Call the agent at its binding: it answers with PCMU, and our BYE gets 200."""
    call = agents.ua.invite(
        bound.contact, bytes(offer(LOOPBACK, rtp_sink, session_id=1)),
        from_uri=f"sip:queue@{LOOPBACK}", destination=bound.source, ring_timeout=10,
    )  # fmt: skip
    async with asyncio.timeout(10):
        async for event in call.events():
            if event.outcome is Outcome.ANSWERED:
                break
    assert call.remote_sdp is not None
    assert negotiate(SessionDescription.parse(call.remote_sdp)).codec.name == "PCMU"
    assert (await call.bye()).status == 200


async def test_baresip_registers_and_answers_when_we_call_it(
    agents: Agents, tmp_path: Path, rtp_sink: int
) -> None:
    async with baresip(tmp_path, extension="1001", password="secret-1001", registrar=agents.port):
        async with asyncio.timeout(10):
            bound = await agents.binding("1001")
        assert bound is not None and agents.registrar.lookup("1001") == bound
        assert bound.contact.host == LOOPBACK and bound.source[1] == bound.contact.port
        assert 0 < bound.seconds_left(agents.registrar.clock()) <= 60  # regint=60
        await call_answered_and_hang_up(agents, bound, rtp_sink)


async def test_baresip_with_a_wrong_password_is_refused(agents: Agents, tmp_path: Path) -> None:
    async with baresip(tmp_path, extension="1001", password="guess", registrar=agents.port):
        async with asyncio.timeout(10):
            assert await agents.failed.get() == (LOOPBACK, "1001")
        assert agents.registrar.lookup("1001") is None
        assert not agents.binding("1001").done()


async def test_five_failures_block_the_source(agents: Agents) -> None:
    client = await UserAgent.open(LOOPBACK, 0, timing=Timing(t1=0.02))  # F = 1.28 s
    target = f"sip:{LOOPBACK}:{agents.port}"
    try:
        for _ in range(5):
            with pytest.raises(RegistrationFailed) as refused:
                await client.register(target, user="1002", login=Login("1002", "guess"))
            assert refused.value.status == 403
        with pytest.raises(TransactionTimeout):  # dropped unanswered, right password or not
            await client.register(target, user="1002", login=Login("1002", "secret-1002"))
    finally:
        client.close()
    assert agents.ua.endpoint.stats.gated >= 1  # each retransmission of it, dropped
    assert agents.registrar.lookup("1002") is None


async def test_our_register_client_registers_refreshes_and_unregisters(agents: Agents) -> None:
    client = await UserAgent.open(LOOPBACK, 0)
    try:
        target = f"sip:{LOOPBACK}:{agents.port}"
        login = Login("1002", "secret-1002")
        registration = await client.register(target, user="1002", login=login, expires=120)
        bound = agents.registrar.lookup("1002")
        assert bound is not None and bound.contact.port == client.endpoint.address[1]
        assert registration.granted == 120
        assert (await registration.register()).status == 200  # a refresh, same Call-ID
        assert agents.registrar.lookup("1002") is not None
        await registration.close()
        assert agents.registrar.lookup("1002") is None
    finally:
        client.close()


async def test_pyvoip_registers_with_digest(agents: Agents) -> None:
    with warnings.catch_warnings():  # pyVoIP 1.6.8 imports the deprecated audioop
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyVoIP.VoIP import PhoneStatus, VoIPPhone
    phone = VoIPPhone(
        LOOPBACK, agents.port, "1002", "secret-1002", myIP=LOOPBACK, sipPort=free_port(),
        rtpPortLow=free_port(), rtpPortHigh=65000,
    )  # fmt: skip
    try:
        await asyncio.to_thread(phone.start)
        async with asyncio.timeout(10):
            bound = await agents.binding("1002")
        assert bound is not None and bound.user_agent is not None
        assert bound.user_agent.startswith("pyVoIP")
        assert phone.get_status() is PhoneStatus.REGISTERED
    finally:
        await stop_phone(phone)


async def test_pyvoip_registers_and_answers_when_we_call_it(agents: Agents,
                                                            rtp_sink: int) -> None:
    """pyVoIP as the simulated agents' softphone: registered with digest, it answers
    our call from its own thread, and our BYE ends it."""
    with warnings.catch_warnings():  # pyVoIP 1.6.8 imports the deprecated audioop
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyVoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()

    def answer(call: VoIPCall) -> None:  # runs on pyVoIP's thread
        try:
            call.answer()
            while call.state == CallState.ANSWERED:
                time.sleep(0.02)  # pyVoIP offers no event to wait on
        except InvalidStateError:
            pass
        finally:
            loop.call_soon_threadsafe(ended.set)

    rtp = free_port(10)
    phone = VoIPPhone(
        LOOPBACK, agents.port, "1002", "secret-1002", myIP=LOOPBACK, sipPort=free_port(),
        rtpPortLow=rtp, rtpPortHigh=rtp + 9, callCallback=answer,
    )  # fmt: skip
    try:
        await asyncio.to_thread(phone.start)
        async with asyncio.timeout(10):
            bound = await agents.binding("1002")
        assert bound is not None
        await call_answered_and_hang_up(agents, bound, rtp_sink)
        async with asyncio.timeout(10):
            await ended.wait()  # pyVoIP saw our BYE and left its answered state
    finally:
        await stop_phone(phone)
