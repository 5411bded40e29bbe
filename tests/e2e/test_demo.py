"""The main job as a test: `callcase demo` in its short form (a handful of cases, two
agents, half a minute of dialing) on a database of its own, then its records are
checked against each other: every attempt has a result, no refused call was dialled,
every answered call has one recording and every recording its transcript, every
connected call an action code, and the printed report agrees with the database."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from api.migrate import recreate_database
from tests.conftest import TEST_DB_URL, TEST_REDIS_URL
from tests.telephony.sip.peers import LOOPBACK, free_port

pytestmark = pytest.mark.e2e
CALLCASE = Path(sys.executable).with_name("callcase")


def demo_urls() -> tuple[str, str]:
    """A database whose name says demo (the demo refuses any other), beside the test
    database; a Redis database of its own (the demo empties it)."""
    db = urlsplit(TEST_DB_URL)
    database = urlunsplit(db._replace(path=db.path.rstrip("/") + "_demo"))
    redis = urlsplit(TEST_REDIS_URL)
    number = int(redis.path.strip("/") or 0)
    return database, urlunsplit(redis._replace(path=f"/{(number + 1) % 16}"))


@pytest.mark.timeout(600)
async def test_short_demo_day_is_consistent(tmp_path: Path) -> None:
    database, redis = demo_urls()
    env = {**os.environ, "CALLCASE_DATABASE_URL": database, "CALLCASE_REDIS_URL": redis,
           "CALLCASE_HTTP_HOST": LOOPBACK, "CALLCASE_HTTP_PORT": str(free_port()),
           "CALLCASE_SIP_HOST": LOOPBACK, "CALLCASE_SIP_PORT": str(free_port()),
           "CALLCASE_RTP_PORTS": "52000-53000",
           "CALLCASE_RECORDINGS_DIR": str(tmp_path / "recordings"),
           "CALLCASE_PROMPTS_DIR": str(tmp_path / "prompts"),
           "CALLCASE_EVIDENCE_DIR": str(tmp_path / "evidence")}
    proc = await asyncio.create_subprocess_exec(
        str(CALLCASE), "demo", "--minutes", "0.5", "--agents", "2", "--rows", "20",
        "--no-serve", "--workdir", str(tmp_path / "work"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    report = out.decode()
    assert proc.returncode == 0, report[-4000:]
    conn = await asyncpg.connect(database)
    try:
        await check_records(conn, report)
    finally:
        await conn.close()
        await recreate_database(database)  # leave an empty one, not a day's data


async def check_records(conn: asyncpg.Connection, report: str) -> None:
    attempts = await conn.fetch("SELECT * FROM attempts ORDER BY id")
    assert attempts, report[-4000:]
    assert all(a["ended_at"] is not None and a["result"] for a in attempts)
    assert all('"allowed": true' in a["decision"] for a in attempts)  # nothing refused dialled
    answered = {a["call_id"] for a in attempts if a["answered_at"] is not None}
    recordings = await conn.fetch("SELECT id, call_id FROM recordings")
    assert sorted(r["call_id"] for r in recordings) == sorted(answered)
    transcribed = await conn.fetchval("SELECT count(*) FROM transcripts")
    assert transcribed == len(recordings)
    uncoded = await conn.fetchval(
        "SELECT count(*) FROM attempts a WHERE a.result = 'connected' AND NOT EXISTS"
        " (SELECT 1 FROM actions x WHERE x.attempt_id = a.id)")
    assert uncoded == 0
    printed = re.search(r"^Recordings: (\d+)", report, re.MULTILINE)
    assert printed is not None and int(printed.group(1)) == len(recordings)
    printed = re.search(r"^Attempts since [^:]+:\d\d UTC: (\d+)", report, re.MULTILINE)
    assert printed is not None and int(printed.group(1)) == len(attempts)
