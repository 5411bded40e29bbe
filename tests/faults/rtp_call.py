"""One recorded call between real peers inside the test's own network namespace.

The debtor's phone is sipp (answers, loops a one-second rising tone as PCMU), the
agent's softphone is baresip (registers with digest, auto-answers, plays a steady
tone); our side is the user agent with the registrar, the media engine, call
control and the recorder, as the call path wires them. The namespace is empty, so
every port is fixed: SIP on 5060/5070/5080, RTP in one block the delay line steers
(:data:`STEERED`), the engine's own range inside it.

Tones, not speech: neither ever gives a 20 ms frame of exact digital silence, so a
silent frame in the recording is a tick that carried no audio (lost, late, blacked
out).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recording.files import RecordingResult
from recording.writer import Direction, RecorderPool, Recording
from telephony.control import CallControl, ControlledCall
from telephony.lines import WorkLine, WorkLines
from telephony.media.engine import MediaEngine
from telephony.sip.bindings import Binding
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import BARESIP_CONFIG, LOOPBACK, SIPP_DATA, Process, udp_bound
from tests.telephony.test_e2e_calls import answered

SIP_PORT, DEBTOR_SIP, DEBTOR_CONTROL, AGENT_SIP = 5060, 5070, 5072, 5080
STEERED = (0xA000, 0xF800)  # UDP ports 40960-43007 go through the delay line
ENGINE_RTP = (40960, 41984)
DEBTOR_RTP = 42000  # sipp's -mp: it sends its RTP from here
AGENT_RTP = (42100, 42119)
REALM, AGENT, AGENT_PASSWORD = "callcase", "1001", "secret-1001"
DEBTOR = "+8613800000000"
FRAME = 160  # samples per 20 ms tick


async def _run(*command: str) -> None:
    proc = await asyncio.create_subprocess_exec(*command, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{command[0]} failed: {err.decode()[-300:]}")


@contextlib.asynccontextmanager
async def debtor_phone(directory: Path) -> AsyncIterator[Process]:
    """sipp answering one call and looping a 1 s sweep until our BYE."""
    await asyncio.to_thread(directory.mkdir, parents=True)
    tone = directory / "sweep.ulaw"
    await _run("sox", "-D", "-n", "-r", "8000", "-c", "1", "-t", "ul", str(tone),
               "synth", "1", "sine", "300-1200", "vol", "0.5")  # fmt: skip
    scenario = (SIPP_DATA / "uas_answer_speak.xml").read_text(encoding="iso-8859-1")
    (directory / "debtor.xml").write_text(scenario.replace("@AUDIO@", str(tone)),
                                          encoding="iso-8859-1")  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        "sipp", "-sf", "debtor.xml", "-i", LOOPBACK, "-p", str(DEBTOR_SIP), "-mi", LOOPBACK,
        "-mp", str(DEBTOR_RTP), "-cp", str(DEBTOR_CONTROL), "-m", "1", "-nostdin",
        "-timeout", "90s", "-trace_err", cwd=directory, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    phone = Process(proc, directory)
    try:
        await udp_bound(DEBTOR_SIP, proc)
        yield phone
    finally:
        await phone.stop()


@contextlib.asynccontextmanager
async def agent_phone(directory: Path) -> AsyncIterator[Process]:
    """baresip registering the agent's extension, answering with a 440 Hz tone."""
    await asyncio.to_thread(directory.mkdir, parents=True)
    tone = directory / "agent.wav"
    await _run("sox", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(tone),
               "synth", "120", "sine", "440", "vol", "0.5")  # fmt: skip
    (directory / "accounts").write_text(
        f"<sip:{AGENT}@{LOOPBACK}:{SIP_PORT}>;auth_pass={AGENT_PASSWORD};"
        f'outbound="sip:{LOOPBACK}:{SIP_PORT};transport=udp";regint=60;'
        "answermode=auto;audio_codecs=PCMU/8000/1\n"
    )
    (directory / "config").write_text(
        BARESIP_CONFIG.format(port=AGENT_SIP, rtp=AGENT_RTP[0], rtp_end=AGENT_RTP[1], audio=tone)
    )
    with (directory / "stdout.txt").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            "baresip", "-f", str(directory), cwd=directory, stdin=asyncio.subprocess.DEVNULL,
            stdout=log, stderr=asyncio.subprocess.STDOUT)  # fmt: skip
    phone = Process(proc, directory)
    try:
        await udp_bound(AGENT_SIP, proc)
        yield phone
    finally:
        await phone.stop()


@dataclass(frozen=True, slots=True)
class Held:
    """What calls hold while they last, all of which must come back."""

    streams: int
    ports_in_use: int
    calls: int
    tasks: int
    fds: int
    threads: int


@dataclass
class OurSide:
    """Our user agent with the agents' registrar, media engine, call control, recorder."""

    ua: UserAgent
    media: MediaEngine
    control: CallControl
    recorder: RecorderPool
    bound: asyncio.Future[Binding | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def on_binding(self, extension: str, binding: Binding | None) -> None:
        if extension == AGENT and not self.bound.done():
            self.bound.set_result(binding)

    def held(self) -> Held:
        return Held(len(self.media.streams), self.media.ports.in_use,
                    len(self.control.calls) + len(self.ua.calls) + len(self.ua.offered),
                    len(asyncio.all_tasks()), len(os.listdir("/proc/self/fd")),
                    threading.active_count())  # fmt: skip


@contextlib.asynccontextmanager
async def our_side(recordings: Path, *, rtp_timeout: float) -> AsyncIterator[OurSide]:
    registrar = Registrar(Passwords({AGENT: AGENT_PASSWORD}, REALM), realm=REALM)
    trunk = WorkLine("trunk1", LOOPBACK, DEBTOR_SIP, caller_id="+862100000000")
    async with (
        MediaEngine(host=LOOPBACK, port_range=ENGINE_RTP, rtp_timeout=rtp_timeout) as media,
        RecorderPool(recordings, min_free_bytes=0) as recorder,
    ):
        ua = await UserAgent.open(LOOPBACK, SIP_PORT, registrar=registrar)
        control = CallControl(ua, media, WorkLines((trunk,)), media_host=LOOPBACK)
        side = OurSide(ua, media, control, recorder)
        registrar.on_binding = side.on_binding
        try:
            yield side
        finally:
            await control.close()
            ua.close()


@dataclass
class Conversation:
    """The debtor's leg bridged to the agent's, the debtor's leg recorded."""

    debtor: ControlledCall
    agent: ControlledCall
    recording: Recording
    recorded_from: float  # monotonic: the tap was attached (the next tick is its first)


async def converse(side: OurSide) -> Conversation:
    """Call the debtor through the work line and the registered agent, bridge them
    and record the debtor's leg (agent on channel 1, debtor on channel 2)."""
    async with asyncio.timeout(10):
        binding = await side.bound
    assert binding is not None, "the agent's softphone did not register"
    contact = str(binding.contact)
    debtor = await side.control.originate(DEBTOR, line="trunk1")
    agent = await side.control.originate(contact, uri=contact, ring_timeout=10)
    await answered(debtor, agent)
    side.control.bridge(debtor, agent)
    recording = side.recorder.record(debtor.call_id, "NETEM", datetime.now(UTC),
                                     agent=Direction.OUTBOUND)  # fmt: skip
    side.control.tap(debtor, recording)
    return Conversation(debtor, agent, recording, time.monotonic())


Channel = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class Recorded:
    """A finished recording, per channel and per 20 ms frame."""

    result: RecordingResult
    agent: Channel
    debtor: Channel

    @classmethod
    def read(cls, result: RecordingResult) -> Recorded:
        with wave.open(str(result.path), "rb") as wav:
            assert (wav.getnchannels(), wav.getframerate()) == (2, 8000)
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        stereo = samples.reshape(-1, 2)
        return cls(result, stereo[:, 0].copy(), stereo[:, 1].copy())

    @staticmethod
    def silent_frames(channel: Channel, *, skip: float = 0.5) -> npt.NDArray[np.bool_]:
        """Per 20 ms frame after the first ``skip`` seconds: all samples zero."""
        frames = channel[int(skip * 8000) // FRAME * FRAME :]
        frames = frames[: len(frames) // FRAME * FRAME].reshape(-1, FRAME)
        return np.asarray(~frames.any(axis=1))

    @staticmethod
    def longest_run(silent: npt.NDArray[np.bool_]) -> int:
        """The longest run of consecutive silent frames."""
        longest = run = 0
        for each in silent:
            run = run + 1 if each else 0
            longest = max(longest, run)
        return longest
