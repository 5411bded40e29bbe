"""A supervisor listens in, whispers and barges from a real softphone.

Three baresip phones register at our registrar with digest: the debtor's (a 440 Hz
tone), the agent's (1000 Hz) and the supervisor's (1800 Hz). Call control calls the
debtor and the agent and bridges them, as the dialer does; `Monitors` then rings the
supervisor's phone, which answers by itself. What each party hears is read from
taps on our legs towards them (what we send them), by the tones in its spectrum.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from routing.monitoring import Monitors, Session
from telephony.control import CallControl, ControlledCall
from telephony.lines import WorkLines
from telephony.media.engine import MediaEngine
from telephony.media.g711 import Pcm
from telephony.media.taps import QueueTap
from telephony.sip.bindings import Binding
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK, baresip

pytestmark = pytest.mark.e2e

REALM = "callcase"
PHONES = {"debtor": ("7001", 440), "agent": ("8001", 1000), "supervisor": ("9001", 1800)}
PASSWORD = "softphone-pw"


def tones(signal: Pcm) -> set[str]:
    """The parties whose tone stands out in ``signal``."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(signal), 1 / 8000)
    loudest = max(spectrum.max(), 1e6)
    return {who for who, (_, f) in PHONES.items()
            if spectrum[np.abs(freqs - f) < 15].max() > 0.1 * loudest}


async def said(call: ControlledCall, ticks: int = 50) -> set[str]:
    """The tones in what we send the party of ``call`` over the next ``ticks``."""
    tap = QueueTap(ticks + 10)
    call.stream.add_tap(tap)
    try:
        async with asyncio.timeout(ticks * 0.02 + 5):
            frames = [(await tap.get()).outbound for _ in range(ticks)]
    finally:
        call.stream.remove_tap(tap)
    return tones(np.concatenate([f for f in frames if f is not None]))


async def tone_wav(path: Path, freq: int) -> Path:
    sox = await asyncio.create_subprocess_exec(
        "sox", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(path),
        "synth", "60", "sine", str(freq))
    assert await sox.wait() == 0
    return path


class Switch:
    def __init__(self) -> None:
        self.bound: dict[str, asyncio.Future[Binding | None]] = {}
        self.registrar = Registrar(
            Passwords({ext: PASSWORD for ext, _ in PHONES.values()}, REALM), realm=REALM)
        self.registrar.on_binding = self._bound

    def _bound(self, extension: str, binding: Binding | None) -> None:
        future = self.binding(extension)
        if not future.done():
            future.set_result(binding)

    def binding(self, extension: str) -> asyncio.Future[Binding | None]:
        return self.bound.setdefault(extension, asyncio.get_running_loop().create_future())


@contextlib.asynccontextmanager
async def floor(tmp_path: Path) -> AsyncIterator[tuple[CallControl, Monitors, Switch]]:
    switch = Switch()
    async with MediaEngine(host=LOOPBACK, port_range=(63500, 63600)) as media:
        ua = await UserAgent.open(LOOPBACK, 0, registrar=switch.registrar)
        port = ua.endpoint.address[1]
        control = CallControl(ua, media, WorkLines(()), media_host=LOOPBACK)
        monitors = Monitors(control, switch.registrar, ring_s=10)
        async with contextlib.AsyncExitStack() as phones:
            for who, (ext, freq) in PHONES.items():
                (tmp_path / who).mkdir()
                audio = await tone_wav(tmp_path / who / "tone.wav", freq)
                await phones.enter_async_context(baresip(
                    tmp_path / who, extension=ext, password=PASSWORD, registrar=port,
                    audio=audio))
            try:
                yield control, monitors, switch
            finally:
                await monitors.close()
                await control.close()
                ua.close()


async def call(control: CallControl, switch: Switch, who: str) -> ControlledCall:
    async with asyncio.timeout(10):
        binding = await switch.binding(PHONES[who][0])
    assert binding is not None
    uri = str(binding.contact)
    leg = await control.originate(uri, uri=uri, ring_timeout=10)
    async with asyncio.timeout(10):
        await leg.answered.wait()
    return leg


async def joined(monitors: Monitors, call_id: str) -> Session:
    session = monitors.sessions[call_id]
    async with asyncio.timeout(10):
        await session.joined.wait()
    return session


@pytest.mark.timeout(60)
async def test_supervisor_listens_whispers_barges_and_leaves(tmp_path: Path) -> None:
    async with floor(tmp_path) as (control, monitors, switch):
        await switch.binding(PHONES["supervisor"][0])
        debtor = await call(control, switch, "debtor")
        agent = await call(control, switch, "agent")
        control.bridge(debtor, agent)
        start = {"action": "start", "call_id": debtor.call_id, "extension": "9001",
                 "mode": "listen"}
        assert await monitors.handle(start) == {"ok": True, "state": "ringing",
                                                "mode": "listen"}
        session = await joined(monitors, debtor.call_id)
        heard = await asyncio.gather(said(session.leg), said(debtor), said(agent))
        assert list(heard) == [{"debtor", "agent"}, {"agent"}, {"debtor"}]

        answer = await monitors.handle(start | {"action": "mode", "mode": "whisper"})
        assert answer == {"ok": True, "state": "monitoring", "mode": "whisper"}
        assert list(await asyncio.gather(said(debtor), said(agent))) == [
            {"agent"}, {"debtor", "supervisor"}]

        other = start | {"extension": "9999", "mode": "barge"}
        assert (await monitors.handle(other))["ok"] is False  # one supervisor per call
        await monitors.handle(start | {"mode": "barge"})  # the same supervisor: a switch
        assert list(await asyncio.gather(said(debtor), said(agent))) == [
            {"agent", "supervisor"}, {"debtor", "supervisor"}]

        assert await monitors.handle({"action": "stop", "call_id": debtor.call_id}) == {
            "ok": True, "state": "ended"}
        async with asyncio.timeout(5):
            await session.left.wait()
        assert session.leg.outcome is not None and debtor.call_id not in monitors.sessions
        assert debtor.outcome is None and agent.outcome is None  # the call goes on
        assert list(await asyncio.gather(said(debtor), said(agent))) == [{"agent"}, {"debtor"}]


@pytest.mark.timeout(60)
async def test_the_call_ending_hangs_up_the_supervisor(tmp_path: Path) -> None:
    async with floor(tmp_path) as (control, monitors, switch):
        debtor = await call(control, switch, "debtor")
        agent = await call(control, switch, "agent")
        refused = await monitors.handle({"action": "start", "call_id": debtor.call_id,
                                         "extension": "9001", "mode": "listen"})
        assert refused == {"ok": False, "why": "the call is not connected to an agent"}
        control.bridge(debtor, agent)
        await switch.binding(PHONES["supervisor"][0])
        answer = await monitors.handle({"action": "start", "call_id": debtor.call_id,
                                        "extension": "9001", "mode": "barge"})
        assert answer["ok"] is True, answer
        session = await joined(monitors, debtor.call_id)
        await debtor.hangup()
        async with asyncio.timeout(5):
            await session.left.wait()
        assert session.leg.outcome is not None and session.leg.outcome.outcome.final
        assert control.media.monitored_by(agent.stream) is None
