"""`callcase demo`: the main job, on one machine.

A fresh demo database, a client, one user per role and `agents` agents, a
generated bank batch in UTF-8 and another in GB18030 (with a few bad rows to show
rejections), imported with the bank's confirmation printed, cases assigned to the
agents; then a collection day (`api.demo_day`): the simulated carrier, the call
path, the API and softphone agents run a progressive campaign for `minutes`, the
recordings are transcribed locally and the day's report is printed; then the API
keeps serving until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg

from api import auth
from api.demo_day import DayPlan, run_day
from api.migrate import recreate_database
from api.server import serve
from api.settings import Settings
from api.simulate_agents import AgentLogin
from cases import audit, batches, samplebatch, store
from cases.domain import Client, Role

logger = logging.getLogger(__name__)

CLIENT = "DEMOBANK"
USERS: tuple[tuple[str, Role, str], ...] = (
    ("admin", Role.ADMIN, "demo-admin-pw"),
    ("manager", Role.CAMPAIGN_MANAGER, "demo-manager-pw"),
    ("supervisor", Role.SUPERVISOR, "demo-supervisor-pw"),
    ("agent1", Role.AGENT, "demo-agent1-pw"),
    ("agent2", Role.AGENT, "demo-agent2-pw"),
    ("qa", Role.QA, "demo-qa-pw"),
    ("auditor", Role.CLIENT_AUDITOR, "demo-auditor-pw"),
)


def check_demo_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if not re.fullmatch(r"[a-z0-9_]*demo[a-z0-9_]*", name):
        raise SystemExit(
            f"refusing to recreate {name!r}: the demo only recreates a database whose name"
            " contains 'demo' (set CALLCASE_DATABASE_URL)"
        )


def agent_logins(count: int) -> tuple[AgentLogin, ...]:
    return tuple(AgentLogin(f"agent{n}", f"demo-agent{n}-pw", f"{8000 + n}",
                            f"demo-sip-{8000 + n}-pw") for n in range(1, count + 1))


def demo_users(agents: int) -> tuple[tuple[str, Role, str], ...]:
    others = tuple(u for u in USERS if u[1] is not Role.AGENT)
    return others + tuple((a.username, Role.AGENT, a.password) for a in agent_logins(agents))


async def prepare(settings: Settings, workdir: Path, rows: int, agents: int = 2) -> int:
    """The demo database; the client's id."""
    check_demo_database(settings.database.url)
    await recreate_database(settings.database.url)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=4)
    try:
        client = await store.add_client(
            pool, code=CLIENT, name="示范银行信用卡中心 Demo Bank card centre",
            time_zone="Asia/Shanghai", default_region="CN", rule_pack="cn-bank",
            retention_years=5,
        )
        agent_ids = await _add_users(pool, client.id, demo_users(agents))
        await _import_samples(pool, client, workdir, rows)
        await _assign(pool, agent_ids)
    finally:
        await pool.close()
    return client.id


async def _add_users(pool: asyncpg.Pool, client_id: int,
                     users: tuple[tuple[str, Role, str], ...]) -> list[int]:
    agents = []
    for username, role, password in users:
        user = await store.add_user(pool, store.NewUser(
            username=username, display_name=username, role=role,
            password_hash=auth.hash_password(password),
            client_id=client_id if role is Role.CLIENT_AUDITOR else None,
            pii_clearance=role in (Role.ADMIN, Role.CLIENT_AUDITOR),
        ))
        if role is Role.AGENT:
            agents.append(user.id)
    return agents


async def _import_samples(pool: asyncpg.Pool, client: Client, workdir: Path,
                          rows: int) -> None:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    today = datetime.now(ZoneInfo(client.time_zone)).date()
    files = [
        ("demo-batch-utf8.csv",
         samplebatch.generate_batch(rows, seed=1, encoding="utf-8", today=today)),
        ("demo-batch-gb18030.csv",
         samplebatch.generate_batch(max(rows // 5, 10), seed=2, encoding="gb18030",
                                    bad_every=15, start=rows, today=today)),
    ]
    for name, data in files:
        path = workdir / name
        await asyncio.to_thread(path.write_bytes, data)
        now = datetime.now(UTC)
        result = await batches.import_batch(pool, audit.SYSTEM, client, name, data,
                                            received_at=now, now=now)
        print(f"batch {result.batch_id} ({name}, {result.encoding}): "
              f"{result.rows_accepted} accepted, {result.rows_rejected} rejected, "
              f"balance {result.total_balance} {path}")
        for r in result.rejections:
            print(f"    row {r.row_number} {r.column or '-'}: {r.reason}")


async def _assign(pool: asyncpg.Pool, agents: list[int]) -> None:
    await pool.execute(
        "UPDATE cases SET assigned_agent_id = ($1::bigint[])[1 + (id % array_length($1, 1))],"
        " assigned_at = now() WHERE id % 3 <> 0", agents,
    )


def print_instructions(settings: Settings, agents: int) -> None:
    base = f"http://{settings.http.host}:{settings.http.port}"
    print("\nDemo users (username / password):")
    for username, role, password in demo_users(agents):
        print(f"  {username:<11} {password:<20} {role}")
    print(f"""
The API is at {base} (OpenAPI: {base}/openapi.json). Try:
  TOKEN=$(curl -s -X POST {base}/auth/login \\
          -d '{{"username":"admin","password":"demo-admin-pw"}}' \\
          | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/cases?bucket=M3&limit=5'
  curl -s -H "Authorization: Bearer $TOKEN" '{base}/batches/2/confirmation?format=csv'
Ctrl-C stops it.
""")


async def run_demo(settings: Settings, *, workdir: Path, rows: int, serve_api: bool,
                   minutes: float = 3.0, agents: int = 4) -> None:
    client_id = await prepare(settings, workdir, rows, agents)
    if minutes > 0:
        plan = DayPlan(minutes=minutes, agents=agent_logins(agents), workdir=workdir)
        await run_day(settings, plan, client_id)
    if serve_api:
        print_instructions(settings, agents)
        await serve(settings, "api")
