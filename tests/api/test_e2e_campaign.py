"""A progressive campaign end to end, every part real: the call path of `callcase
serve dialer` (SIP, media, registrar, routing on Redis, recorder, campaign loop)
dials sipp debtor phones through a work line; a baresip and a pyVoIP softphone,
registered with digest as agents, take the answered calls.

The debtors' phones answer each number its own way (`uas_mixed.xml`, by the last
digit): busy, decline, ring out, hang up after 3 s, an answering machine, or a
person who says "喂？你好" and waits. Only compliant calls are placed (a number on
the do-not-call list and a case on hold are not called), answered people reach an
agent, machines are hung up on, every outcome is written back, and every answered
call is recorded and catalogued with its checksum.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from api.callpath import CallPath
from api.settings import Settings
from api.simulate_agents import stop_phone
from dialer.campaign import Command
from dialer.store import command_campaign
from recording.integrity import verify
from recording.storage import LocalStorage
from routing.agent import AgentTimers
from routing.roster import ChangedBy, Changer, Member
from routing.status import LogIn
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue
from telephony.lines import WorkLine
from telephony.sip.bindings import Binding
from telephony.store import add_line
from tests.conftest import TEST_REDIS_URL
from tests.dialer.records import Phone, make_campaign, make_case, make_client
from tests.telephony.audio import speech
from tests.telephony.sip.peers import LOOPBACK, baresip, free_port, sipp

pytestmark = pytest.mark.e2e

BASE = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
REALM = "callcase"
AGENTS = {"8001": "agent-8001-pw", "8002": "agent-8002-pw"}
# last digit -> what the debtor's phone does (tests/data/sipp/uas_mixed.xml)
NUMBERS = {
    "+8613800000011": "busy", "+8613800000012": "rejected", "+8613800000013": "no_answer",
    "+8613800000014": "hangs_up", "+8613800000015": "machine", "+8613800000016": "person",
    "+8613800000017": "person",
}


def shifted_clock() -> Callable[[], datetime]:
    """Real time's pace from a fixed Monday morning in Shanghai, so the calling
    window does not depend on when the suite runs."""
    start = time.monotonic()
    return lambda: BASE + timedelta(seconds=time.monotonic() - start)


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()


@pytest.fixture
def rtp_ports() -> Iterator[tuple[int, int]]:
    yield (63000, 63400)


async def greeting_clips(directory: Path) -> dict[str, str]:
    person = await speech(directory, "person", "喂？你好。", voice="cmn")
    padded = directory / "person-pause.ulaw"
    proc = await asyncio.create_subprocess_exec(
        "sox", "-t", "ul", "-r", "8000", "-c", "1", str(person.ulaw), "-t", "ul", str(padded),
        "pad", "0", "4")
    assert await proc.wait() == 0
    machine = await speech(
        directory, "machine", "您好，您拨打的用户暂时无法接通，请在提示音后留言，"
        "留言完毕请挂机，谢谢您的来电，再见。", voice="cmn")
    return {"AUDIO": str(padded), "MACHINE": str(machine.ulaw)}


async def seed(pool: asyncpg.Pool, trunk_port: int) -> tuple[int, dict[str, int]]:
    await add_line(pool, WorkLine("trunk1", LOOPBACK, trunk_port, "+862100000000"))
    client = await make_client(pool, "E2EBANK")
    cases = {}
    for n, (number, _) in enumerate(NUMBERS.items()):
        cases[number] = (await make_case(pool, client, Phone(number), dpd=30 + n)).case_id
    blocked = await make_case(pool, client, Phone("+8613800000018", do_not_call=True))
    held = await make_case(pool, client, Phone("+8613800000019"))
    await pool.execute("INSERT INTO case_holds (case_id, reason, placed_at)"
                       " VALUES ($1, 'dispute', $2)", held.case_id, BASE)
    cases["dnc"], cases["held"] = blocked.case_id, held.case_id
    queue = await create_queue(pool, NewQueue("e2e"))
    for n, (extension, password) in enumerate(AGENTS.items()):
        user = await pool.fetchval(
            "INSERT INTO users (username, display_name, role, password_hash)"
            " VALUES ($1, $1, 'agent', 'x') RETURNING id", f"agent-{extension}")
        timers = AgentTimers(wrap_up_time=timedelta(seconds=1))
        await create_agent(pool, NewAgent(user, extension, password, timers), REALM, BASE)
        await add_member(pool, Member(queue.id, user, position=n + 1))
    campaign = await make_campaign(pool, client, queue_id=queue.id, ring_timeout_s=15,
                                   work_lines=["trunk1"],
                                   amd_policy="hang_up")
    return campaign.id, cases


def pyvoip_agent(port: int, extension: str, password: str, talk_s: float) -> object:
    """A pyVoIP softphone that answers, talks for `talk_s` and hangs up."""
    with warnings.catch_warnings():  # pyVoIP 1.6.8 imports the deprecated audioop
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyVoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone

    def answer(call: VoIPCall) -> None:  # pyVoIP's thread
        try:
            call.answer()
            ends = time.monotonic() + talk_s
            while call.state == CallState.ANSWERED and time.monotonic() < ends:
                time.sleep(0.05)  # pyVoIP offers no event to wait on
            if call.state == CallState.ANSWERED:
                call.hangup()
        except InvalidStateError:
            pass

    rtp = free_port(10)
    return VoIPPhone(LOOPBACK, port, extension, password, myIP=LOOPBACK, sipPort=free_port(),
                     rtpPortLow=rtp, rtpPortHigh=rtp + 9, callCallback=answer)


def watch_registrations(path: CallPath, *extensions: str) -> dict[str, asyncio.Event]:
    """An event per extension, set when its softphone registers (after routing's
    own hook has seen it)."""
    bound = {extension: asyncio.Event() for extension in extensions}
    routing_hook = path.registrar.on_binding
    assert routing_hook is not None

    def hook(extension: str, binding: Binding | None) -> None:
        routing_hook(extension, binding)
        if binding is not None and extension in bound:
            bound[extension].set()

    path.registrar.on_binding = hook
    return bound


async def registered(path: CallPath, bound: dict[str, asyncio.Event], now: datetime) -> None:
    for extension, event in bound.items():
        try:
            async with asyncio.timeout(20):
                await event.wait()
        except TimeoutError:
            raise AssertionError(f"softphone {extension} did not register") from None
        await path.live.set_registered(extension, True, now)


async def all_attempts_ended(pool: asyncpg.Pool, expected: int) -> list[asyncpg.Record]:
    async with asyncio.timeout(90):
        while True:
            rows = await pool.fetch("SELECT * FROM attempts ORDER BY id")
            if len(rows) >= expected and all(r["ended_at"] for r in rows):
                return rows
            await asyncio.sleep(0.25)


@pytest.mark.timeout(150)
async def test_progressive_campaign_places_compliant_calls_and_writes_every_outcome(
    pool: asyncpg.Pool, redis: Redis, settings: Settings, tmp_path: Path,
    rtp_ports: tuple[int, int],
) -> None:
    fill = await greeting_clips(tmp_path)
    (tmp_path / "sipp").mkdir()
    async with sipp("uas_mixed", tmp_path / "sipp", fill=fill, calls=len(NUMBERS),
                    quit_after=120) as (phone, trunk_port):
        campaign_id, cases = await seed(pool, trunk_port)
        settings = _settings(settings, tmp_path, rtp_ports)
        clock = shifted_clock()
        async with CallPath.open(settings, pool, redis, clock) as path:
            await _run_campaign(path, pool, campaign_id, tmp_path)
        attempts = await all_attempts_ended(pool, len(NUMBERS))
        assert await phone.exit_code() == 0, phone.file("*errors.log")
    _check_outcomes(attempts, cases)
    await _check_recordings(pool, settings, attempts)


async def _run_campaign(path: CallPath, pool: asyncpg.Pool, campaign_id: int,
                        tmp_path: Path) -> None:
    port = path.ua.endpoint.address[1]
    (tmp_path / "baresip").mkdir()
    voip = pyvoip_agent(port, "8002", AGENTS["8002"], talk_s=4)
    bound = watch_registrations(path, *AGENTS)
    async with baresip(tmp_path / "baresip", extension="8001", password=AGENTS["8001"],
                       registrar=port, audio=await _agent_audio(tmp_path)):
        await asyncio.to_thread(voip.start)  # type: ignore[attr-defined]
        try:
            await registered(path, bound, BASE)
            for user in await pool.fetch("SELECT user_id FROM agents"):
                agent, me = str(user["user_id"]), Changer(ChangedBy.SELF, user["user_id"])
                await path.dispatcher.service.request_status(agent, LogIn(), me)
            await command_campaign(pool, campaign_id, Command.START, now=BASE)
            running = asyncio.create_task(path.dialer.run())
            try:
                await all_attempts_ended(pool, len(NUMBERS))
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        finally:
            await stop_phone(voip)


async def _agent_audio(tmp_path: Path) -> Path:
    clip = await speech(tmp_path, "agent", "您好，这里是客户服务中心。", voice="cmn", repeat=3)
    return clip.pcm_wav


def _settings(settings: Settings, tmp_path: Path, rtp_ports: tuple[int, int]) -> Settings:
    from dataclasses import replace

    return replace(
        settings,
        telephony=replace(settings.telephony, sip_host=LOOPBACK, sip_port=0,
                          rtp_ports=rtp_ports),
        recording=replace(settings.recording, root=tmp_path / "recordings"),
        dialer=replace(settings.dialer, prompts_dir=tmp_path / "prompts", tick_ms=200,
                       sip_realm=REALM),
    )


def _check_outcomes(attempts: list[asyncpg.Record], cases: dict[str, int]) -> None:
    by_number = {a["number"]: a for a in attempts}

    assert set(by_number) == set(NUMBERS)  # the do-not-call number and the held case: never
    expected = {"busy": {"busy"}, "rejected": {"rejected"}, "no_answer": {"no_answer"},
                "machine": {"machine"}, "hangs_up": {"connected", "hung_up"},
                "person": {"connected"}}
    for number, kind in NUMBERS.items():
        attempt = by_number[number]
        assert attempt["result"] in expected[kind], (number, attempt["result"], attempt["cause"])
        assert attempt["pack"] == "cn-bank" and attempt["work_line"] == "trunk1"
        assert attempt["case_id"] == cases[number]
    people = [by_number[n] for n, kind in NUMBERS.items() if kind == "person"]
    assert all(p["agent_id"] is not None for p in people)
    assert by_number["+8613800000015"]["amd"] is not None
    no_answer = by_number["+8613800000013"]
    assert no_answer["ended_at"] - no_answer["placed_at"] >= timedelta(seconds=15)


async def _check_recordings(pool: asyncpg.Pool, settings: Settings,
                            attempts: list[asyncpg.Record]) -> None:
    answered = {a["call_id"] for a in attempts if a["answered_at"] is not None}
    rows = await pool.fetch("SELECT call_id, sha256, duration_ms, attempt_id FROM recordings")
    assert {r["call_id"] for r in rows} == answered
    assert all(r["duration_ms"] > 1000 for r in rows)
    queued = await pool.fetchval("SELECT count(*) FROM transcription_jobs"
                                 " WHERE recording_id = ANY($1::bigint[])",
                                 [r["id"] for r in await pool.fetch("SELECT id FROM recordings")])
    assert queued == len(rows)  # each recording waits for its transcript
    report = await verify(pool, LocalStorage(settings.recording.root))
    assert report.ok, report
