"""Real SIP peers for the end-to-end tests, all on 127.0.0.1: sipp and baresip.

Each peer runs as a subprocess in a temporary directory, on ports chosen free by the
test, and is killed in teardown. Readiness is awaited, never slept for: sipp is ready
once its UDP port shows up bound in ``/proc/net/udp`` (the kernel has no event to
await for that, so :func:`udp_bound` re-checks every 10 ms under a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

SIPP_DATA = Path(__file__).resolve().parents[2] / "data" / "sipp"
LOOPBACK = "127.0.0.1"


def free_port(span: int = 1) -> int:
    """A port P with P..P+span-1 free for UDP and TCP on loopback (racy, good enough)."""
    for _ in range(200):
        port = random.randrange(20000, 60000)
        if all(_bindable(port + i) for i in range(span)):
            return port
    raise RuntimeError("no free port found")


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def _bound_udp_ports() -> set[int]:
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return {int(line.split()[1].split(":")[1], 16) for line in lines}


async def udp_bound(port: int, proc: asyncio.subprocess.Process) -> None:
    """Wait (5 s at most) until ``proc`` has bound UDP ``port``; fail if it exits first."""
    async with asyncio.timeout(5):
        while port not in _bound_udp_ports():
            if proc.returncode is not None:
                raise RuntimeError(f"peer exited with {proc.returncode} before binding {port}")
            await asyncio.sleep(0.01)


@dataclass
class Process:
    proc: asyncio.subprocess.Process
    directory: Path

    async def exit_code(self) -> int:
        async with asyncio.timeout(30):
            return await self.proc.wait()

    def file(self, pattern: str) -> str:
        found = sorted(self.directory.glob(pattern))
        return found[0].read_text(errors="replace") if found else ""

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def sipp(
    scenario: str,
    directory: Path,
    *,
    fill: Mapping[str, str] | None = None,
    trace: bool = False,
    calls: int | None = 1,
    quit_after: int = 60,
) -> AsyncIterator[tuple[Process, int]]:
    """sipp running ``tests/data/sipp/<scenario>.xml`` as a UAS, its ``@NAME@``
    placeholders filled from ``fill``; yields it and its port.

    It exits after ``calls`` calls (``-m``; they may overlap), or serves every call
    until killed in teardown with ``calls=None``; either way it quits ``quit_after``
    seconds after it started (``-timeout``)."""
    text = (SIPP_DATA / f"{scenario}.xml").read_text(encoding="iso-8859-1")
    for name, value in (fill or {}).items():
        text = text.replace(f"@{name}@", value)
    (directory / f"{scenario}.xml").write_text(text, encoding="iso-8859-1")
    port, media, control = free_port(), free_port(4), free_port()
    args = [
        "-sf", f"{scenario}.xml", "-i", LOOPBACK, "-p", str(port),
        "-mi", LOOPBACK, "-mp", str(media), "-cp", str(control),
        *(["-m", str(calls)] if calls is not None else []),
        "-nostdin", "-timeout", f"{quit_after}s", "-trace_err", "-trace_screen", "-trace_calldebug",
    ]  # fmt: skip
    if trace:
        args.append("-trace_msg")
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, cwd=directory, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    peer = Process(proc, directory)
    try:
        await udp_bound(port, proc)
        yield peer, port
    finally:
        await peer.stop()


BARESIP_CONFIG = """\
poll_method\t\tepoll
sip_listen\t\t127.0.0.1:{port}
net_interface\t\t127.0.0.1
audio_path\t\t/usr/share/baresip
audio_source\t\taufile,{audio}
audio_player\t\talsa,null
audio_alert\t\talsa,null
ausrc_srate\t\t8000
auplay_srate\t\t8000
ausrc_channels\t\t1
auplay_channels\t\t1
rtp_ports\t\t{rtp}-{rtp_end}
rtp_timeout\t\t0
module_path\t\t/usr/lib/baresip/modules
module\t\t\tg711.so
module\t\t\talsa.so
module\t\t\taufile.so
module_app\t\taccount.so
module_app\t\tmenu.so
"""


@contextlib.asynccontextmanager
async def baresip(
    directory: Path, *, extension: str, password: str, registrar: int,
    audio: Path | None = None, dumps: Path | None = None,
) -> AsyncIterator[Process]:
    """A headless, auto-answering baresip registering ``extension`` at our registrar.

    It speaks ``audio`` (8 kHz 16-bit WAV; a 60 s tone by default: the call ends with
    the file); with ``dumps`` (an existing folder), its sndfile module writes what it
    heard (``*-dec.wav``) and sent (``*-enc.wav``) there."""
    if audio is None:
        audio = directory / "agent.wav"
        sox = await asyncio.create_subprocess_exec(
            "sox", "-D", "-n", "-r", "8000", "-c", "1", "-b", "16", str(audio),
            "synth", "60", "sine", "440",
        )  # fmt: skip
        assert await sox.wait() == 0
    (directory / "accounts").write_text(
        f"<sip:{extension}@127.0.0.1:{registrar}>;auth_pass={password};"
        f'outbound="sip:127.0.0.1:{registrar};transport=udp";regint=60;'
        "answermode=auto;audio_codecs=PCMU/8000/1\n"
    )
    stdout = directory / "stdout.txt"
    for tries_left in reversed(range(3)):
        # free_port is racy: another process may take the port before baresip binds
        # it, and baresip then exits; start again on other ports
        port, rtp = free_port(2), free_port(20)
        config = BARESIP_CONFIG.format(port=port, rtp=rtp, rtp_end=rtp + 19, audio=audio)
        if dumps is not None:
            config += f"module\t\t\tsndfile.so\nsnd_path\t\t{dumps}\n"
        (directory / "config").write_text(config)
        with stdout.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                "baresip", "-f", str(directory), cwd=directory,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
        peer = Process(proc, directory)
        try:
            await udp_bound(port, proc)
            break
        except (RuntimeError, TimeoutError):
            await peer.stop()
            if not tries_left:
                raise RuntimeError(f"baresip did not start:\n{_tail(stdout)}") from None
    try:
        yield peer
    finally:
        await peer.stop()
        # shown by pytest only when the test fails: what the softphone said
        print(f"baresip {extension}:\n{_tail(stdout)}", file=sys.stderr)


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
