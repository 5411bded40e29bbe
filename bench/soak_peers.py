"""The soak's peers: sipp for the debtors' phones, most agents' softphones, their
registrations and the overload's caller; baresip for a few agents' softphones.

Each runs in its own folder under the soak's work folder, on 127.0.0.1, and is killed
at the end. A sipp dumps its statistics every 10 s (``-trace_stat``) and logs its
errors (``-trace_err``). A peer is ready once its SIP port shows in
``/proc/net/udp`` (no event to await: re-checked every 20 ms under a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.soak_floor import AGENT, DEBTOR, LOOPBACK, REGISTER, SoakAgent
from tests.telephony.sip.peers import BARESIP_CONFIG, free_port

OVERLOAD = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="soak overload caller">
  <send retrans="500"><![CDATA[
INVITE sip:debtor@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]O[call_number]
To: <sip:debtor@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
@FINALS@  <label id="ack"/>
  <send><![CDATA[
ACK sip:debtor@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]O[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
</scenario>
"""
FINAL_STATUSES = (503, 480, 486, 488, 500, 403, 404, 603)


def overload_scenario() -> str:
    finals = [
        f'  <recv response="{status}" optional="true" next="ack"/>\n'
        for status in FINAL_STATUSES[:-1]
    ]
    finals.append(f'  <recv response="{FINAL_STATUSES[-1]}" next="ack"/>\n')
    return OVERLOAD.replace("@FINALS@", "".join(finals))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def _bound_udp_ports() -> set[int]:
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return {int(line.split()[1].split(":")[1], 16) for line in lines}


@dataclass
class Sipp:
    proc: asyncio.subprocess.Process
    folder: Path
    port: int

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()

    def pid(self) -> int:
        return self.proc.pid

    def errors(self, lines: int = 5) -> str:
        found = sorted(self.folder.glob("*_errors.log"))
        text = found[0].read_text(errors="replace") if found else ""
        return "\n".join(text.splitlines()[-lines:])

    def counts(self) -> dict[str, int]:
        """The last row of ``-trace_counts``: messages seen per scenario step."""
        found = sorted(self.folder.glob("*_counts.csv"))
        if not found:
            return {}
        rows = list(csv.reader(found[0].read_text().splitlines(), delimiter=";"))
        if len(rows) < 2:
            return {}
        return {
            name: int(value)
            for name, value in zip(rows[0], rows[-1], strict=False)
            if value.isdigit()
        }


async def tone(folder: Path, name: str, *effect: str) -> Path:
    """One second of 8 kHz headerless μ-law from sox's ``synth`` (sipp loops it)."""
    path = folder / f"{name}.ulaw"
    proc = await asyncio.create_subprocess_exec(
        "sox",
        "-D",
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-t",
        "ul",
        str(path),
        "synth",
        "1",
        *effect,
        "vol",
        "0.5",
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"sox failed: {err.decode()[-300:]}")
    return path


PEERS_NICE = -5  # the peers stand for phones on other machines: ahead of the service


def prioritise(pid: int, nice: int) -> None:
    """Run a peer at ``nice`` (below 0 needs root): on a machine of 2 cores a starved
    sipp sends its RTP late, and the service's recordings would be blamed for it."""
    if not nice:
        return
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except PermissionError:
        global _warned
        if not _warned:
            print(f"peers run at the service's priority: nice {nice} needs root", flush=True)
            _warned = True


_warned = False


async def start(
    folder: Path,
    scenario: str,
    args: Sequence[str],
    *,
    port: int | None = None,
    wait: bool = True,
    nice: int = 0,
) -> Sipp:
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    (folder / "scenario.xml").write_text(scenario, encoding="iso-8859-1")
    port = free_udp_port() if port is None else port
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        "scenario.xml",
        "-i",
        LOOPBACK,
        "-mi",
        LOOPBACK,
        "-p",
        str(port),
        "-cp",
        str(free_udp_port()),
        "-nostdin",
        "-trace_err",
        "-trace_stat",
        "-fd",
        "10",
        "-trace_counts",
        *args,
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    prioritise(proc.pid, nice)
    sipp = Sipp(proc, folder, port)
    if wait:
        await _until_bound(port, proc, f"sipp in {folder}", sipp.errors)
    return sipp


async def _until_bound(port: int, proc: asyncio.subprocess.Process, name: str,
                       said: Callable[[], str]) -> None:  # fmt: skip
    """Wait (10 s at most) until ``proc`` has bound UDP ``port``; if it exits first,
    fail with the end of what it ``said()``."""
    async with asyncio.timeout(10):
        while port not in _bound_udp_ports():  # no event to await
            if proc.returncode is not None:
                raise RuntimeError(f"{name} exited: {said()}")
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def phones(
    folder: Path, *, talk_s: float, calls: int, max_call_s: float, nice: int = PEERS_NICE
) -> AsyncIterator[tuple[Sipp, Sipp]]:
    """The debtors' phones and the agents' softphones, until the context ends."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    sweep = await tone(folder, "debtor", "sine", "300-1200")
    steady = await tone(folder, "agent", "sine", "440")
    limits = ["-l", str(calls * 3), "-max_socket", str(calls * 8 + 100)]
    debtors = await start(
        folder / "debtors",
        DEBTOR.replace("@AUDIO@", str(sweep)).replace("@TALK_MS@", str(int(talk_s * 1000))),
        [*limits, "-mp", str(free_udp_port())],
        nice=nice,
    )
    agents = await start(
        folder / "agents",
        AGENT.replace("@AUDIO@", str(steady)).replace("@MAX_CALL_MS@", str(int(max_call_s * 1000))),
        [*limits, "-mp", str(free_udp_port())],
        nice=nice,
    )
    try:
        yield debtors, agents
    finally:
        await debtors.stop()
        await agents.stop()


async def register(
    folder: Path,
    registrar: tuple[str, int],
    agents: tuple[SoakAgent, ...],
    agents_port: int,
    *,
    at_once: int = 10,
) -> list[Sipp]:
    """Register every agent's extension with digest, Contact at the agents' sipp; the
    finished sipps, one per agent (sipp 3.6.1 cannot take digest credentials from an
    injection file: the first field inside ``[authentication ...]`` comes out empty)."""
    slots = asyncio.Semaphore(at_once)

    async def one(agent: SoakAgent) -> Sipp:
        scenario = (
            REGISTER.replace("@AGENT_PORT@", str(agents_port))
            .replace("@EXTENSION@", agent.extension)
            .replace("@PASSWORD@", agent.sip_password)
        )
        async with slots:
            sipp = await start(
                folder / agent.extension,
                scenario,
                [f"{registrar[0]}:{registrar[1]}", "-m", "1", "-timeout", "30s"],
                wait=False,
            )
            async with asyncio.timeout(60):
                await sipp.proc.wait()
        return sipp

    return list(await asyncio.gather(*(one(agent) for agent in agents)))


async def overload(
    folder: Path, target: tuple[str, int], *, rate: float, seconds: float, nice: int = PEERS_NICE
) -> Sipp:
    """New calls offered to ``target`` at ``rate`` a second for ``seconds``; started
    (not awaited): ``await sipp.proc.wait()`` for its end."""
    total = max(1, int(rate * seconds))
    return await start(
        folder,
        overload_scenario(),
        [
            f"{target[0]}:{target[1]}",
            "-m",
            str(total),
            "-r",
            f"{rate:.2f}",
            "-l",
            str(total),
            "-timeout",
            f"{int(seconds + 60)}s",
            "-mp",
            str(free_udp_port()),
        ],
        wait=False,
        nice=nice,
    )


# The tests' config, but with no ALSA: its null device takes frames as fast as they
# come, and baresip's player thread spins on it (a core per call). aubridge's player
# is paced by the clock and, with no source of the same name, drops what it plays.
SOFTPHONE_CONFIG = (
    BARESIP_CONFIG.replace("alsa,null", "aubridge,nil")
    .replace("module\t\t\talsa.so", "module\t\t\taubridge.so")
)


@dataclass
class Softphone:
    """A baresip agent softphone: it registers its extension itself, with digest."""

    agent: SoakAgent
    proc: asyncio.subprocess.Process
    folder: Path

    def said(self, lines: int = 10) -> str:
        text = (self.folder / "stdout.txt").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@contextlib.asynccontextmanager
async def softphones(
    folder: Path, registrar: tuple[str, int], agents: Sequence[SoakAgent], *,
    call_s: float, nice: int = PEERS_NICE,
) -> AsyncIterator[list[Softphone]]:
    """One auto-answering baresip per agent, registering at ``registrar`` and playing
    a 440 Hz tone on every call (a WAV of ``call_s`` seconds: baresip ends a call when
    its file ends), until the context ends."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    audio = folder / "agent.wav"
    sox = await asyncio.create_subprocess_exec(
        "sox", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(audio),
        "synth", str(int(call_s)), "sine", "440", "vol", "0.5",
    )  # fmt: skip
    if await sox.wait() != 0:
        raise RuntimeError("sox could not make the softphones' tone")
    started: list[Softphone] = []
    try:
        for agent in agents:
            started.append(await _softphone(folder / agent.extension, registrar, agent,
                                            audio, nice))  # fmt: skip
        yield started
    finally:
        for phone in started:
            if phone.proc.returncode is None:
                phone.proc.kill()
            await phone.proc.wait()


async def _softphone(folder: Path, registrar: tuple[str, int], agent: SoakAgent,
                     audio: Path, nice: int) -> Softphone:  # fmt: skip
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    host, port = registrar
    (folder / "accounts").write_text(
        f"<sip:{agent.extension}@{host}:{port}>;auth_pass={agent.sip_password};"
        f'outbound="sip:{host}:{port};transport=udp";regint=600;'
        "answermode=auto;audio_codecs=PCMU/8000/1\n"
    )
    for tries_left in reversed(range(3)):  # a free port may be taken before baresip binds it
        sip, rtp = free_port(2), free_port(20)
        (folder / "config").write_text(
            SOFTPHONE_CONFIG.format(port=sip, rtp=rtp, rtp_end=rtp + 19, audio=audio))
        with (folder / "stdout.txt").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                "baresip", "-f", str(folder), cwd=folder, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        prioritise(proc.pid, nice)
        phone = Softphone(agent, proc, folder)
        try:
            await _until_bound(sip, proc, f"baresip {agent.extension}", phone.said)
            return phone
        except (RuntimeError, TimeoutError):
            if proc.returncode is None:
                proc.kill()
            await proc.wait()
            if not tries_left:
                raise
    raise AssertionError("not reached")
