"""`callcase simulate agents N`: softphone agents for the demo and trunk-less trials.

Each simulated agent is a pyVoIP softphone that registers its extension with digest
at our registrar and answers every call, plus a person at the agent API: it logs in,
speaks a short scripted line when a call is bridged, and when the call ends reads
the screen-pop and files an action code with plausible fields (a promise to pay, a
callback, a wrong number, a dispute, a third-party contact for locate-only calls).
The outcome is drawn from the agent's own seeded random generator, so a run is
repeatable. pyVoIP runs its calls on its own threads; the agent's API work runs on
the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import numpy as np

logger = logging.getLogger(__name__)

OUTCOMES = (("PTP", 35), ("RPC", 15), ("CB", 10), ("REF", 10), ("WN", 8), ("PAID", 5),
            ("HU", 9), ("DSP", 4), ("FRD", 1), ("TPC", 3))


@dataclass(frozen=True, slots=True)
class AgentLogin:
    username: str
    password: str
    extension: str
    sip_password: str


@dataclass
class AgentTally:
    calls: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    errors: int = 0


def pcm_to_u8(pcm16: bytes) -> bytes:
    """pyVoIP plays 8-bit unsigned PCM."""
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.int32)
    return ((samples >> 8) + 128).astype(np.uint8).tobytes()


async def stop_phone(phone: Any, within_s: float = 10.0) -> bool:
    """Stop a pyVoIP phone, and stop waiting for it after `within_s`.

    pyVoIP 1.6.8 deregisters before it closes its sockets, and answers a 500 to that
    REGISTER by sleeping 5 s and trying again, without end (`SIPClient.deregister`
    calls itself). A phone stopped while the registrar is gone
    or refuses would hold its caller for ever. After `within_s` its sockets are closed:
    the next try fails on the closed socket and pyVoIP's thread ends. Returns whether
    the phone deregistered in time."""
    done = threading.Event()

    def stop() -> None:  # a thread of its own: not the loop's executor, which the
        try:             # loop waits for when it closes
            phone.stop()
        except OSError:
            pass  # the sockets were closed under it
        finally:
            done.set()

    threading.Thread(target=stop, name="pyvoip-stop", daemon=True).start()
    if await asyncio.to_thread(done.wait, within_s):
        return True
    logger.warning("softphone %s did not deregister within %.0f s; closing its sockets",
                   getattr(phone, "username", "?"), within_s)
    phone.sip._close_sockets()
    return False


def choose_code(rng: random.Random, script: str) -> str:
    if script == "locate_only":
        return "TPC"
    codes = [code for code, _ in OUTCOMES]
    return rng.choices(codes, [weight for _, weight in OUTCOMES])[0]


def fields_for(code: str, rng: random.Random, balance: Decimal, today: datetime
               ) -> dict[str, object]:
    if code == "PTP":
        share = Decimal(rng.choice((10, 20, 30, 50, 100))) / 100
        amount = max(Decimal("100.00"), (balance * share).quantize(Decimal("0.01")))
        due = (today + timedelta(days=rng.choice((3, 7, 14)))).date().isoformat()
        return {"amount": str(min(amount, balance) if balance > 0 else amount),
                "due_date": due}
    if code == "CB":
        return {"callback_at": (today + timedelta(days=1)).isoformat()}
    if code in ("DSP", "FRD"):
        return {"statement": "债务人称金额有误，要求银行核实。" if code == "DSP"
                else "债务人称从未办理此卡，疑似被冒用。"}
    return {}


class SimulatedAgent:
    def __init__(self, login: AgentLogin, *, api: str, sip: tuple[str, int], speech: bytes,
                 seed: int, rtp_base: int, talk_s: tuple[float, float] = (15.0, 45.0),
                 clock: Any = None) -> None:
        self.login, self.api, self.sip = login, api, sip
        self.rtp_base = rtp_base  # ten RTP ports from here, outside the service's range
        self.talk_s = talk_s  # how long a conversation lasts, drawn in this range
        self.speech = pcm_to_u8(speech)
        self.rng = random.Random(seed)
        self.tally = AgentTally()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.ended: asyncio.Queue[str] = asyncio.Queue()
        self._phone: Any = None
        self._token = ""

    async def run(self, session: aiohttp.ClientSession) -> None:
        self._token = await self._sign_in(session)
        await self._log_in(session)
        await asyncio.to_thread(self._start_phone, asyncio.get_running_loop())
        try:
            while True:
                await self.ended.get()
                await self._wrap_up(session)
        finally:
            await stop_phone(self._phone)

    async def _log_in(self, session: aiohttp.ClientSession, wait_s: float = 90.0) -> None:
        """Log in as an agent; a new agent is not in routing's live state until the call
        path's next reconcile (30 s by default): ask again every 2 s meanwhile."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                await self._post(session, "/agent/login", {})
                return
            except RuntimeError as error:
                if "agent.not_live" not in str(error) or time.monotonic() > deadline:
                    raise
                logger.info("%s: routing does not know the agent yet; asking again",
                            self.login.username)
            await asyncio.sleep(2.0)

    async def _sign_in(self, session: aiohttp.ClientSession) -> str:
        async with session.post(f"{self.api}/auth/login", json={
                "username": self.login.username, "password": self.login.password}) as reply:
            reply.raise_for_status()
            body = await reply.json()
        return str(body["token"])

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict[str, Any],
                    key: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        async with session.post(f"{self.api}{path}", json=body, headers=headers) as reply:
            data: dict[str, Any] = await reply.json()
            if reply.status >= 400:
                raise RuntimeError(f"{path}: {reply.status} {data}")
            return data

    async def _wrap_up(self, session: aiohttp.ClientSession) -> None:
        headers = {"Authorization": f"Bearer {self._token}"}
        async with session.get(f"{self.api}/agent/call", headers=headers) as reply:
            if reply.status == 404:
                return  # the call was withdrawn before it reached us
            pop = await reply.json()
        code = choose_code(self.rng, str(pop.get("script", "collection")))
        balance = Decimal(str(pop.get("case", {}).get("balance", "0")))
        body: dict[str, Any] = {"code": code, "note": "simulated agent",
                                **fields_for(code, self.rng, balance, self.clock())}
        try:
            await self._post(session, "/agent/call/action", body, key=str(pop.get("call_id")))
            self.tally.codes[code] = self.tally.codes.get(code, 0) + 1
        except RuntimeError as error:
            self.tally.errors += 1
            logger.warning("agent %s: action code not filed: %s", self.login.username, error)

    def _start_phone(self, loop: asyncio.AbstractEventLoop) -> None:
        with warnings.catch_warnings():  # pyVoIP 1.6.8 imports the deprecated audioop
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyVoIP.VoIP import VoIPPhone

        host, port = self.sip
        self._phone = VoIPPhone(
            host, port, self.login.extension, self.login.sip_password, myIP=host,
            sipPort=_free_udp_port(), rtpPortLow=self.rtp_base, rtpPortHigh=self.rtp_base + 9,
            callCallback=lambda call: self._answer(call, loop))
        self._phone.start()

    def _answer(self, call: Any, loop: asyncio.AbstractEventLoop) -> None:
        """pyVoIP's thread: answer, say the script, stay until the call ends."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from pyVoIP.VoIP import CallState, InvalidStateError
        talk = self.rng.uniform(*self.talk_s)
        try:
            call.answer()
            self.tally.calls += 1
            call.write_audio(self.speech)
            ends = time.monotonic() + talk
            while call.state == CallState.ANSWERED and time.monotonic() < ends:
                time.sleep(0.05)  # pyVoIP offers no event to wait on
            if call.state == CallState.ANSWERED:
                call.hangup()  # the agent ends the conversation
        except InvalidStateError:
            pass
        finally:
            loop.call_soon_threadsafe(self.ended.put_nowait, "ended")


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
