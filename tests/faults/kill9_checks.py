"""What `test_kill9.py` checks once the call path is back: attempts, recordings and
default codes in PostgreSQL, the recordings on disk, sipp's own count of INVITEs."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections import Counter
from datetime import datetime
from pathlib import Path

import asyncpg
import numpy as np

from recording.storage import LocalStorage
from tests.faults.floor import CALLCASE, invites_per_number, parts_under, recorded_hz, until

CUT_CAUSE = "dialer restarted while the call was {}"


async def open_attempts(pool: asyncpg.Pool) -> dict[int, asyncpg.Record]:
    """The attempts open right after the kill, by id: answered_at, agent_id."""
    rows = await pool.fetch("SELECT id, answered_at, agent_id FROM attempts WHERE ended_at IS NULL")
    return {r["id"]: r for r in rows}


async def check_attempts(
    pool: asyncpg.Pool, at_kill: dict[int, asyncpg.Record], calls: int, messages_log: str,
    dialer_log: str,
) -> None:  # fmt: skip
    """Every attempt closed: those the kill cut as ``interrupted`` (the talks still
    naming their agent), the others with the result they had; each number dialled
    once, by our rows and by the debtors' sipp. Progressive dialled no call without
    an agent free for it: a cut call with no agent had one reserved (routing's log)
    and lost it (the softphone too slow on a loaded machine), none rang unanswered."""
    attempts = await pool.fetch("SELECT * FROM attempts ORDER BY id")
    for a in attempts:
        cut = at_kill.get(a["id"])
        assert a["ended_at"] is not None and (a["result"] == "interrupted") == bool(cut), dict(a)
        if cut:
            answered = "answered" if cut["answered_at"] else "ringing"
            assert a["cause"] == CUT_CAUSE.format(answered), dict(a)
            assert a["agent_id"] == cut["agent_id"], dict(a)
    talks = {a["agent_id"] for a in attempts if a["id"] in at_kill} - {None}
    assert len(talks) == calls  # 50 talks cut, each naming its own agent
    calls_of = {a["id"]: a["call_id"] for a in attempts}
    unreserved = [
        cut for cut in at_kill.values() if cut["agent_id"] is None
        and f"call {calls_of[cut['id']]} reserved agent" not in dialer_log
    ]  # fmt: skip
    assert not unreserved, unreserved
    dialled = Counter(a["number"] for a in attempts)
    assert set(dialled.values()) == {1} and invites_per_number(messages_log) == dialled
    ended = Counter(a["result"] for a in attempts if a["id"] not in at_kill)
    print(f"attempts: {len(at_kill)} cut by the kill ({len(talks)} talks), ended before it:"
          f" {dict(ended)}")  # fmt: skip


async def check_recordings(
    pool: asyncpg.Pool, root: Path, env: dict[str, str], on_disk: dict[str, int],
    killed_at: datetime,
) -> None:  # fmt: skip
    """Every answered call's recording: the calls cut by the kill recovered from their
    ``.part`` with every whole frame the killed process had written, the checksum the
    file's, the agent the call's. How much of a call before the kill never reached
    the disk (the writer flushes every 0.2 s, later on a starved machine) is printed."""
    rows = await pool.fetch(
        "SELECT r.*, a.answered_at, a.agent_id AS attempt_agent, a.result"
        " FROM recordings r JOIN attempts a ON a.id = r.attempt_id"
    )
    answered = await pool.fetch(
        "SELECT call_id, agent_id, result FROM attempts WHERE answered_at IS NOT NULL"
    )
    unstarted = {  # answered an instant before the kill, the recorder had no file yet
        a["call_id"] for a in answered
        if a["result"] == "interrupted" and a["agent_id"] is None and a["call_id"] not in on_disk
    }  # fmt: skip
    assert sorted(r["call_id"] for r in rows) == sorted(
        a["call_id"] for a in answered if a["call_id"] not in unstarted)  # fmt: skip
    storage, missing = LocalStorage(root), []
    for row in rows:
        data = storage.path_of(row["storage_uri"]).read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        assert (digest, len(data)) == (row["sha256"], row["size_bytes"]), dict(row)
        if row["result"] != "interrupted":
            continue
        assert row["state"] == "recovered" and row["agent_id"] == row["attempt_agent"], dict(row)
        assert len(data) == 44 + (on_disk[row["call_id"]] - 44) // 4 * 4, dict(row)
        if row["agent_id"] is None:
            continue  # answered just before the kill: whatever reached the disk, maybe nothing
        assert row["duration_ms"] > 0, dict(row)  # the talks were recording
        missing.append((killed_at - row["answered_at"]).total_seconds() * 1000 - row["duration_ms"])
    print(f"audio of the cut calls that never reached the disk: median {np.median(missing):.0f}"
          f" ms, most {max(missing):.0f} ms")  # fmt: skip
    assert parts_under(root) == {}
    verify = await asyncio.create_subprocess_exec(
        str(CALLCASE), "recordings", "verify", env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, _ = await verify.communicate()
    assert verify.returncode == 0, out.decode()


async def codes_filed(pool: asyncpg.Pool) -> None:
    """Every call an agent took and filed no code for gets the default code when the
    wrap-up runs out, a cut call as one that ended: once, on its attempt."""
    rows = await pool.fetch(
        "SELECT id FROM attempts WHERE agent_id IS NOT NULL AND answered_at IS NOT NULL"
    )
    taken = {r["id"] for r in rows}

    async def filed() -> object:
        coded = await pool.fetchval("SELECT count(*) FROM actions")
        return coded >= len(taken) or coded

    await until("default codes filed", 30, filed)
    coded = await pool.fetch("SELECT attempt_id, code FROM actions")
    assert sorted(r["attempt_id"] for r in coded) == sorted(taken)
    assert {r["code"] for r in coded} == {"NOCODE"}


async def check_late_recordings(
    pool: asyncpg.Pool, campaign: int, root: Path, agent_hz: int, debtor_hz: int
) -> int:
    """The calls placed after the restart recorded their own debtor and agent, not
    the audio the phones of the killed calls still send to the ports they knew."""
    rows = await pool.fetch("SELECT storage_uri FROM recordings WHERE campaign_id = $1", campaign)
    for row in rows:
        agent, debtor = recorded_hz(LocalStorage(root).path_of(row["storage_uri"]))
        assert abs(agent - agent_hz) < 20 and abs(debtor - debtor_hz) < 20, (row, agent, debtor)
    return len(rows)


async def attempts_per_phone(pool: asyncpg.Pool, campaign: int) -> Counter[str]:
    rows = await pool.fetch("SELECT number FROM attempts WHERE campaign_id = $1", campaign)
    return Counter(r["number"] for r in rows)
