"""The floor bench/soak.py runs the whole system against: its database and its peers.

`prepare` recreates the soak database (its name must contain "soak"): every
migration, a bank under cn-bank, generated cases enough for the run, the agents
(users for the API, routing agents with SIP extensions, one queue), a work line to
the debtors' phones and a progressive campaign (AMD off: every phone answers a
person). The peers are sipp processes on 127.0.0.1:

* the debtors' phones (`DEBTOR`): 100 Trying at once, answer after 200 ms, loop a
  one-second sweep as PCMU, and hang up after the talk time, or answer our BYE if it comes first;
* the agents' softphones (`AGENT`): one sipp answers every agent's calls at once
  (auto-answer), loops a 440 Hz tone until our BYE;
* `REGISTER`: registers one agent's extension with digest, its Contact pointing at
  the agents' sipp.

Tones, not speech: neither is ever a 20 ms frame of exact silence, so a silent frame
in a recording is a tick that carried no audio.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from api import auth
from api.migrate import recreate_database
from cases import audit, batches, samplebatch, store
from cases.domain import Role
from dialer.campaign import Command, parse_settings
from dialer.store import add_campaign, command_campaign
from routing.agent import AgentTimers
from routing.roster import Member
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue
from telephony.lines import WorkLine
from telephony.store import add_line

SHANGHAI = ZoneInfo("Asia/Shanghai")
AGENT_PASSWORD = "soak-agent-pw"  # the API password of every soak agent
FIRST_EXTENSION = 7001
LOOPBACK = "127.0.0.1"
Clock = Callable[[], datetime]

_HEAD = '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
_ANSWER = """  <send><![CDATA[
SIP/2.0 100 Trying
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
@PAUSE@  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:phone@[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [rtpstream_audio_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
a=ptime:20
]]></send>
  <recv request="ACK" crlf="true"/>
  <nop><action><exec rtp_stream="@AUDIO@,-1,0"/></action></nop>
"""
_RING = '  <pause milliseconds="200"/>\n'
_BYE_ANSWERED = """  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"""
DEBTOR = (
    _HEAD
    + f"""<scenario name="soak debtor">
  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="caller"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="callee"/>
    </action>
  </recv>
{_ANSWER.replace("@PAUSE@", _RING)}  <recv request="BYE" timeout="@TALK_MS@" ontimeout="hangup"/>
{_BYE_ANSWERED}  <nop next="done"/>
  <label id="hangup"/>
  <nop><action><exec rtp_stream="pause"/></action></nop>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$callee];tag=[pid]SIPpTag01[call_number]
To: [$caller]
[last_Call-ID:]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
  <label id="done"/>
  <timewait milliseconds="500"/>
  <Reference variables="caller,callee"/>
</scenario>
"""
)
AGENT = (
    _HEAD
    + f"""<scenario name="soak agent">
  <recv request="INVITE" crlf="true"/>
{_ANSWER.replace("@PAUSE@", "")}  <recv request="BYE" timeout="@MAX_CALL_MS@"/>
{_BYE_ANSWERED}  <timewait milliseconds="500"/>
</scenario>
"""
)
_REGISTER = """  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:@EXTENSION@@[remote_ip]>;tag=[pid]R[call_number]
To: <sip:@EXTENSION@@[remote_ip]>
Call-ID: [call_id]
CSeq: @CSEQ@ REGISTER
Contact: <sip:@EXTENSION@@127.0.0.1:@AGENT_PORT@>
@AUTH@Expires: 3600
Max-Forwards: 70
Content-Length: 0

]]></send>
"""
REGISTER = (
    _HEAD
    + """<scenario name="soak register">
{first}  <recv response="401" auth="true"/>
{second}  <recv response="200"/>
</scenario>
""".format(
        first=_REGISTER.replace("@CSEQ@", "1").replace("@AUTH@", ""),
        second=_REGISTER.replace("@CSEQ@", "2").replace(
            "@AUTH@", "[authentication username=@EXTENSION@ password=@PASSWORD@]\n"
        ),
    )
)


@dataclass(frozen=True, slots=True)
class SoakAgent:
    username: str
    extension: str
    sip_password: str


@dataclass(frozen=True, slots=True)
class Floor:
    client_id: int
    campaign_id: int
    agents: tuple[SoakAgent, ...]
    cases: int


def soak_clock() -> Clock:
    """Real time's pace from 09:00 in Shanghai today: the calling window (08:00-21:00)
    is open whenever the soak runs, for up to 12 hours."""
    local = datetime.now(SHANGHAI).replace(hour=9, minute=0, second=0, microsecond=0)
    start, base = time.monotonic(), local.astimezone(UTC)
    return lambda: base + timedelta(seconds=time.monotonic() - start)


def check_soak_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]*soak[a-z0-9_]*", name):
        raise SystemExit(
            f"refusing to recreate {name!r}: the soak only recreates a database"
            " whose name contains 'soak'"
        )


async def prepare(
    url: str,
    *,
    agents: int,
    cases: int,
    debtors_port: int,
    realm: str,
    now: datetime,
    workdir: Path,
    calls_per_second: float | None = None,
) -> Floor:
    check_soak_database(url)
    await recreate_database(url)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        client = await store.add_client(
            pool,
            code="SOAKBANK",
            name="Soak bank",
            time_zone="Asia/Shanghai",
            default_region="CN",
            rule_pack="cn-bank",
            retention_years=5,
        )
        data = samplebatch.generate_batch(cases, seed=3, today=now.astimezone(SHANGHAI).date())
        (workdir / "soak-batch.csv").write_bytes(data)
        done = await batches.import_batch(
            pool, audit.SYSTEM, client, "soak-batch.csv", data, received_at=now, now=now
        )
        await add_line(
            pool, WorkLine("soak", LOOPBACK, debtors_port, "4008001234", max_channels=agents * 2,
                           calls_per_second=calls_per_second)
        )
        made = await _agents(pool, agents, realm, now)
        queue = await create_queue(pool, NewQueue("soak"))
        for n, (user_id, _) in enumerate(made):
            await add_member(pool, Member(queue.id, user_id, position=n + 1))
        settings = parse_settings(
            {
                "name": "Soak",
                "mode": "progressive",
                "work_lines": ["soak"],
                "queue_id": queue.id,
                "ring_timeout_s": 20,
                "amd_policy": "off",
                "parties": ["debtor"],
            },
            client_pack="cn-bank",
        )
        campaign = await add_campaign(pool, client.id, settings, by=None, now=now)
    finally:
        await pool.close()
    return Floor(client.id, campaign.id, tuple(agent for _, agent in made), done.rows_accepted)


async def _agents(
    pool: asyncpg.Pool, count: int, realm: str, now: datetime
) -> list[tuple[int, SoakAgent]]:
    password_hash = auth.hash_password(AGENT_PASSWORD)  # one hash: argon2 is slow on purpose
    made = []
    for n in range(count):
        extension = str(FIRST_EXTENSION + n)
        agent = SoakAgent(f"soak-agent-{extension}", extension, f"soak-sip-{extension}")
        user = await store.add_user(
            pool,
            store.NewUser(
                username=agent.username,
                display_name=agent.username,
                role=Role.AGENT,
                password_hash=password_hash,
            ),
        )
        timers = AgentTimers(wrap_up_time=timedelta(seconds=1))
        await create_agent(
            pool, NewAgent(user.id, extension, agent.sip_password, timers), realm, now
        )
        made.append((user.id, agent))
    return made


async def calls_taken(pool: asyncpg.Pool, agents: tuple[SoakAgent, ...]) -> dict[str, int]:
    """Per agent's extension, the calls bridged to them."""
    rows = await pool.fetch(
        "SELECT ag.extension, count(at.id) AS calls FROM agents ag"
        " JOIN users u ON u.id = ag.user_id"
        " LEFT JOIN attempts at ON at.agent_id = ag.user_id"
        " WHERE u.username = ANY($1) GROUP BY ag.extension",
        [agent.username for agent in agents],
    )
    return {row["extension"]: row["calls"] for row in rows}


async def start_campaign(url: str, campaign_id: int, now: datetime, command: Command) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        await command_campaign(pool, campaign_id, command, now=now)
    finally:
        await pool.close()


async def log_in(
    base: str, pool: asyncpg.Pool, agents: tuple[SoakAgent, ...], now: datetime
) -> None:
    """Every agent logs in to routing through the API (``/agent/login``, available).

    The first signs in with its password (``/auth/login``); the others' sessions are
    issued straight by `api.auth`: argon2 verification runs on the API's event loop
    (about 0.9 s each on the shared 2-core VM), which here is the call path's too, so
    200 sign-ins would stall the media clock for minutes before the first call."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/auth/login", json={"username": agents[0].username, "password": AGENT_PASSWORD}
        ) as reply:
            reply.raise_for_status()
            tokens = {agents[0].username: str((await reply.json())["token"])}
        rows = await pool.fetch(
            "SELECT id, username FROM users WHERE username = ANY($1)",
            [agent.username for agent in agents[1:]],
        )
        for row in rows:
            token, _ = await auth.issue_session(
                pool, row["id"], now=now, ttl=timedelta(hours=12), ip=None
            )
            tokens[row["username"]] = token
        await asyncio.gather(
            *(_log_in(session, base, agent, tokens[agent.username]) for agent in agents)
        )


async def _log_in(session: aiohttp.ClientSession, base: str, agent: SoakAgent, token: str) -> None:
    async with session.post(
        f"{base}/agent/login", json={}, headers={"Authorization": f"Bearer {token}"}
    ) as reply:
        if reply.status >= 400:
            raise RuntimeError(
                f"{agent.username}: /agent/login {reply.status} {await reply.text()}"
            )
