"""`callcase simulate agents N` against a running API and call path: it makes the
agent accounts and softphones, its pyVoIP phones register with digest and the agents
log in through the API; SIGTERM stops it with a summary. Run again, it reuses the
accounts with new passwords; it never takes over a user of another role."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from api.callpath import CallPath
from api.cli_simulate_agents import provision
from api.server import api_site
from api.settings import Settings
from cases import store
from cases.domain import Role
from cases.errors import Conflict
from routing.store import NewQueue, create_queue
from tests.api.test_e2e_campaign import _settings, redis, watch_registrations
from tests.conftest import TEST_REDIS_URL
from tests.telephony.sip.peers import LOOPBACK, free_port

pytestmark = pytest.mark.e2e
__all__ = ["redis"]  # a fixture, used by name
CALLCASE = Path(sys.executable).with_name("callcase")


def args(count: int, queue: int | None = None) -> argparse.Namespace:
    return argparse.Namespace(count=count, prefix="sim-agent", first_extension=8101,
                              queue=queue)


async def statuses(pool: asyncpg.Pool) -> dict[str, str]:
    rows = await pool.fetch("SELECT u.username, a.status FROM agents a JOIN users u"
                            " ON u.id = a.user_id ORDER BY u.username")
    return {r["username"]: r["status"] for r in rows}


async def test_provisioning_reuses_accounts_and_refuses_other_roles(
    pool: asyncpg.Pool, settings: Settings
) -> None:
    queue = await create_queue(pool, NewQueue("sim"))
    first = await provision(pool, settings, args(2, queue.id))
    again = await provision(pool, settings, args(2, queue.id))
    assert [a.username for a in first] == [a.username for a in again] == [
        "sim-agent1", "sim-agent2"]
    assert first[0].password != again[0].password  # new passwords every run
    assert await pool.fetchval("SELECT count(*) FROM queue_members WHERE queue_id = $1",
                               queue.id) == 2
    await store.add_user(pool, store.NewUser(username="sim-agent3", display_name="x",
                                             role=Role.SUPERVISOR, password_hash="x"))
    with pytest.raises(Conflict):
        await provision(pool, settings, args(3))


async def logged_in(pool: asyncpg.Pool, usernames: set[str]) -> None:
    while True:
        found = await statuses(pool)
        if all(found.get(name) == "available" for name in usernames):
            return
        await asyncio.sleep(0.2)  # the agents' statuses are rows in PostgreSQL


@pytest.mark.timeout(90)
async def test_agents_register_and_log_in_then_stop_on_sigterm(
    pool: asyncpg.Pool, redis: Redis, settings: Settings, tmp_path: Path,
    database_url: str,
) -> None:
    settings = _settings(settings, tmp_path, (64300, 64400))
    http = free_port()
    from dataclasses import replace
    settings = replace(settings, http=replace(settings.http, host=LOOPBACK, port=http))
    async with CallPath.open(settings, pool, redis) as path, api_site(settings) as base:
        path.reconciler.interval = 0.5  # sees the new agents soon after they are made
        running = asyncio.create_task(path.run(campaigns=False))
        sip = path.ua.endpoint.address[1]
        bound = watch_registrations(path, "8101", "8102")
        env = {**os.environ, "CALLCASE_DATABASE_URL": database_url,
               "CALLCASE_REDIS_URL": TEST_REDIS_URL}
        with (tmp_path / "sim.log").open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                str(CALLCASE), "simulate", "agents", "2", "--api", base,
                "--sip", f"{LOOPBACK}:{sip}", "--cache", str(tmp_path / "audio"),
                env=env, stdout=log, stderr=asyncio.subprocess.STDOUT)
        try:
            async with asyncio.timeout(60):
                await logged_in(pool, {"sim-agent1", "sim-agent2"})
                for event in bound.values():
                    await event.wait()  # their softphones registered
        except TimeoutError:
            log_text = await asyncio.to_thread((tmp_path / "sim.log").read_text)
            raise AssertionError(f"agents not logged in and registered:\n{log_text}") from None
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    code = await proc.wait()
            except TimeoutError:
                proc.kill()
                await proc.wait()
                log_text = await asyncio.to_thread((tmp_path / "sim.log").read_text)
                raise AssertionError(f"still running 30 s after SIGTERM:\n{log_text}") from None
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
    out = (tmp_path / "sim.log").read_text()
    assert code == 0, out
    assert "sim-agent1: 0 calls" in out and "sim-agent2: 0 calls" in out
