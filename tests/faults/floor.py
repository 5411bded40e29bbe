"""A whole floor for the fault tests, every part real and on loopback.

* `DialerProcess`: ``callcase serve dialer`` as an operator runs it, its log in a
  file; `status()` sends SIGUSR1 and reads the status line the process logs
  (`api.callpath.CallPath.status`); `kill()` is ``kill -9``.
* `register_floor`: one sipp registering many agent extensions with digest
  (``uac_register_agents.xml``, an injection file of extensions and passwords), every
  binding's Contact pointing at one sipp that answers for the whole floor
  (``uas_agent_talk.xml``): 50 softphones without 50 pyVoIP threads.
* `tone`: a looping tone for sipp's ``rtp_stream``, one per kind of speaker, so a
  recording says whose audio it holds; `dominant_hz` finds it again.
* `daytime_zone`: a fixed-offset zone where it is early afternoon now, so the calling
  window is open whenever the suite runs (the process runs on the real clock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recording.layout import call_id_of
from tests.telephony.sip.peers import LOOPBACK, SIPP_DATA, Process, free_port, sipp, udp_bound

CALLCASE = Path(sys.executable).with_name("callcase")
STATUS_LINE = "call path status: "
RATE = 8000


async def until(what: str, seconds: float, check: Callable[[], Awaitable[object]]) -> None:
    """Poll ``check`` every 0.1 s until it returns True (the database, Redis and files
    have no event to await); a hang guard of ``seconds`` that says what it last saw
    (whatever else ``check`` returned)."""
    seen: object = None
    try:
        async with asyncio.timeout(seconds):
            while True:
                seen = await check()
                if seen is True:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {seconds:g} s; last seen {seen}") from None


def daytime_zone(now: datetime | None = None, hour: int = 14) -> str:
    """An ``Etc/GMT`` zone whose local time is ``hour`` o'clock-ish at ``now``."""
    offset = hour - (now or datetime.now(UTC)).hour  # -9 ... +14: all exist in Etc
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc signs are inverted


async def tone(directory: Path, name: str, hz: int) -> Path:
    """One second (50 whole frames) of a sine at ``hz``, headerless 8 kHz μ-law."""
    path = directory / f"{name}.ulaw"
    sox = await asyncio.create_subprocess_exec(
        "sox", "-D", "-n", "-r", str(RATE), "-c", "1", "-t", "ul", str(path),
        "synth", "1", "sine", str(hz), "vol", "0.5",
    )  # fmt: skip
    assert await sox.wait() == 0
    return path


@contextlib.asynccontextmanager
async def talking_phones(
    directory: Path, hz: int, scenario: str = "uas_mixed"
) -> AsyncIterator[tuple[Process, int]]:
    """One sipp answering every call it gets and talking (a tone of ``hz``) as
    ``scenario`` says (``uas_mixed.xml``: by the number's last digit), its messages
    logged; yields it and its port."""
    await asyncio.to_thread(directory.mkdir)
    audio = str(await tone(directory, "talk", hz))
    fill = {"AUDIO": audio, "MACHINE": audio}
    talking = sipp(scenario, directory, fill=fill, calls=None, quit_after=400, trace=True)
    async with talking as (peer, port):
        yield peer, port


def dominant_hz(samples: np.ndarray) -> float:
    """The strongest frequency of 8 kHz samples."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    spectrum[0] = 0.0
    return float(np.argmax(spectrum) * RATE / len(samples))


def recorded_hz(wav: Path) -> tuple[float, float]:
    """The strongest frequency of each channel of a call recording (channel 1 the
    agent, channel 2 the debtor; 16-bit stereo after a 44-byte header), over its
    second second."""
    stereo = np.frombuffer(wav.read_bytes()[44:], dtype="<i2").reshape(-1, 2)[RATE : 2 * RATE]
    return dominant_hz(stereo[:, 0]), dominant_hz(stereo[:, 1])


async def register_floor(
    directory: Path, registrar: int, phones: int, agents: Mapping[str, str]
) -> None:
    """Register every extension of ``agents`` (extension -> password) at our
    registrar, Contact at the sipp answering on port ``phones``; fails unless every
    REGISTER got its 200."""
    _write_floor(directory, phones, agents)
    args = [
        f"{LOOPBACK}:{registrar}", "-sf", "register.xml", "-inf", "agents.csv",
        "-i", LOOPBACK, "-p", str(free_port()), "-m", str(len(agents)), "-l", "10",
        "-r", "100", "-nostdin", "-timeout", "30s", "-trace_err", "-trace_screen",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, cwd=directory, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    peer = Process(proc, directory)
    try:
        code = await peer.exit_code()
    finally:
        await peer.stop()
    assert code == 0, f"agents' REGISTERs failed ({code}):\n{peer.file('*errors.log')[-2000:]}"


def _write_floor(directory: Path, phones: int, agents: Mapping[str, str]) -> None:
    directory.mkdir(exist_ok=True)
    text = (SIPP_DATA / "uac_register_agents.xml").read_text(encoding="iso-8859-1")
    (directory / "register.xml").write_text(
        text.replace("@PHONES@", f"{LOOPBACK}:{phones}"), encoding="iso-8859-1"
    )
    lines = [
        "SEQUENTIAL",
        *(
            f"{ext};[authentication username={ext} password={password}]"
            for ext, password in agents.items()
        ),
    ]
    (directory / "agents.csv").write_text("\n".join(lines) + "\n")


def parts_under(root: Path) -> dict[str, int]:
    """The recordings under ``root`` still ``.part`` files: call id -> bytes on disk."""
    return {call_id_of(part): part.stat().st_size for part in root.rglob("*.part")}


def invites_per_number(messages_log: str) -> dict[str, int]:
    return {number: len(ids) for number, ids in invites_by_number(messages_log).items()}


def invites_by_number(messages_log: str) -> dict[str, set[str]]:
    """From sipp's ``-trace_msg`` log: the Call-IDs of the INVITEs it received, by
    the number dialled (retransmissions share their Call-ID)."""
    found: dict[str, set[str]] = {}
    number = None
    for line in messages_log.splitlines():
        if line.startswith("INVITE sip:"):
            number = line[len("INVITE sip:") :].split("@", 1)[0]
        elif number is not None and line.lower().startswith("call-id:"):
            found.setdefault(number, set()).add(line.split(":", 1)[1].strip())
            number = None
        elif not line.strip():
            number = None
    return found


@dataclass
class DialerProcess:
    """A running ``callcase serve dialer``."""

    proc: asyncio.subprocess.Process
    log: Path
    sip_port: int
    _status_seen: int = field(default=0)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def status(self) -> dict[str, object]:
        """Ask the process (SIGUSR1) what it holds; the status line it logs."""
        self.proc.send_signal(signal.SIGUSR1)
        async with asyncio.timeout(10):
            while True:
                lines = [line for line in self.log_text().splitlines() if STATUS_LINE in line]
                if len(lines) > self._status_seen:
                    self._status_seen = len(lines)
                    text = lines[-1].split(STATUS_LINE, 1)[1]
                    found: dict[str, object] = json.JSONDecoder().raw_decode(text)[0]
                    return found
                if self.proc.returncode is not None:
                    raise AssertionError(f"the dialer exited:\n{self.tail()}")
                await asyncio.sleep(0.05)  # a log file has no event to wait on

    def kill(self) -> None:
        """``kill -9``: no handler, no cleanup, no BYE."""
        self.proc.send_signal(signal.SIGKILL)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@contextlib.asynccontextmanager
async def dialer_process(env: Mapping[str, str], log: Path) -> AsyncIterator[DialerProcess]:
    """``callcase serve dialer`` with ``env`` (CALLCASE_* settings), ready once its SIP
    port is bound; stopped with SIGTERM in teardown unless it is gone already."""
    sip_port = int(env["CALLCASE_SIP_PORT"])
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            str(CALLCASE), "serve", "dialer", env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    process = DialerProcess(proc, log, sip_port)
    try:
        try:
            async with asyncio.timeout(30):
                await udp_bound_late(sip_port, proc)
        except (RuntimeError, TimeoutError):
            raise AssertionError(f"the dialer did not start:\n{process.tail()}") from None
        yield process
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                async with asyncio.timeout(20):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def udp_bound_late(port: int, proc: asyncio.subprocess.Process) -> None:
    """`udp_bound` for a process that takes longer than 5 s to get there."""
    while True:
        try:
            await udp_bound(port, proc)
            return
        except TimeoutError:
            continue
