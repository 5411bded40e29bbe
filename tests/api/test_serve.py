"""`callcase serve` as an operator runs it: a real process on loopback ports, stopped
with SIGTERM. `all` answers HTTP and SIP and has its transcription workers forked
beside it; `media` answers SIP only; each stops cleanly and leaves no child behind."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import TEST_REDIS_URL
from tests.telephony.sip.peers import LOOPBACK, free_port

pytestmark = pytest.mark.e2e
CALLCASE = Path(sys.executable).with_name("callcase")
OPTIONS = ("OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};"
           "branch=z9hG4bKserve1\r\nFrom: <sip:probe@127.0.0.1>;tag=1\r\n"
           "To: <sip:ping@127.0.0.1>\r\nCall-ID: serve-test\r\nCSeq: 1 OPTIONS\r\n"
           "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")


class Probe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.answers.put_nowait(data)


async def sip_answers(port: int) -> bytes:
    """Send OPTIONS until the process answers (it may still be starting)."""
    loop = asyncio.get_running_loop()
    transport, probe = await loop.create_datagram_endpoint(Probe, local_addr=(LOOPBACK, 0))
    try:
        mine = transport.get_extra_info("sockname")[1]
        async with asyncio.timeout(30):
            while True:
                transport.sendto(OPTIONS.format(port=mine).encode(), (LOOPBACK, port))
                try:
                    async with asyncio.timeout(0.5):
                        return await probe.answers.get()
                except TimeoutError:
                    continue
    finally:
        transport.close()


async def healthy(http: int) -> dict[str, object]:
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            try:
                async with session.get(f"http://{LOOPBACK}:{http}/healthz") as reply:
                    body: dict[str, object] = await reply.json()
                    return body
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.2)  # not listening yet


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def start(part: str, database_url: str, tmp_path: Path, http: int, sip: int
                ) -> asyncio.subprocess.Process:
    env = {**os.environ, "CALLCASE_DATABASE_URL": database_url,
           "CALLCASE_REDIS_URL": TEST_REDIS_URL, "CALLCASE_HTTP_PORT": str(http),
           "CALLCASE_SIP_HOST": LOOPBACK, "CALLCASE_SIP_PORT": str(sip),
           "CALLCASE_RTP_PORTS": "64000-64100", "CALLCASE_DIALER_NAME": f"serve-{part}",
           "CALLCASE_RECORDINGS_DIR": str(tmp_path / "recordings"),
           "CALLCASE_PROMPTS_DIR": str(tmp_path / "prompts"),
           "CALLCASE_EVIDENCE_DIR": str(tmp_path / "evidence"),
           "CALLCASE_ASR_ENGINE": "pocketsphinx"}
    with (tmp_path / f"{part}.log").open("wb") as log:  # the child keeps its own copy
        return await asyncio.create_subprocess_exec(
            str(CALLCASE), "serve", part, "--workers", "1", env=env,
            stdout=log, stderr=asyncio.subprocess.STDOUT)


async def stopped(proc: asyncio.subprocess.Process, log: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(30):
            return await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        tail = await asyncio.to_thread(log.read_text)
        raise AssertionError(f"still running 30 s after SIGTERM; its log:\n{tail}") from None


@pytest.mark.timeout(120)
async def test_serve_all_runs_api_call_path_and_workers(database_url: str,
                                                        tmp_path: Path) -> None:
    http, sip = free_port(), free_port()
    proc = await start("all", database_url, tmp_path, http, sip)
    try:
        assert (await healthy(http))["status"] == "ok", (tmp_path / "all.log").read_text()
        assert (await sip_answers(sip)).startswith(b"SIP/2.0 200")
        workers = children(proc.pid)
        assert len(workers) == 1  # the workers' supervisor, which forked one worker
        assert len(children(workers[0])) == 1
    finally:
        code = await stopped(proc, tmp_path / "all.log")
    assert code == 0, (tmp_path / "all.log").read_text()
    assert not await asyncio.to_thread(Path(f"/proc/{workers[0]}").exists)


@pytest.mark.timeout(120)
async def test_serve_media_answers_sip_but_no_http(database_url: str, tmp_path: Path) -> None:
    http, sip = free_port(), free_port()
    proc = await start("media", database_url, tmp_path, http, sip)
    try:
        assert (await sip_answers(sip)).startswith(b"SIP/2.0 200")
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"http://{LOOPBACK}:{http}/healthz")
    finally:
        code = await stopped(proc, tmp_path / "media.log")
    assert code == 0, (tmp_path / "media.log").read_text()
