"""Agents, queues, queue members and the agents' status history in PostgreSQL.

Thin SQL over asyncpg returning `routing.roster` values. The softphone password is
turned into its HA1 (MD5 of ``extension:realm:password``, RFC 2617) on the way in
and never stored; the HA1 only leaves through `PgCredentials`, telephony's
`CredentialStore` for the registrar. The HA1 covers the extension, so changing an
extension needs the password again. An agent's status is durable here, and every
change of it is appended to ``agent_status_log`` in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg

from cases.durable import storage_down
from cases.errors import Conflict, InvalidInput, NotFound
from cases.store import Conn, Db
from routing.agent import AgentTimers
from routing.roster import (
    AgentProfile,
    ChangedBy,
    Changer,
    Member,
    QueueProfile,
    Roster,
    StatusChange,
)
from routing.status import AgentStatus
from routing.strategies import STRATEGIES
from telephony.sip.digest import ha1
from telephony.sip.registrar import CredentialsUnavailable

MIN_PASSWORD = 8
# Status writers share this advisory lock for their transaction; a rebuild takes it
# alone to read statuses no writer is still committing.
_STATUS_LOCK = 0x726F7574  # "rout"


@dataclass(frozen=True, slots=True)
class NewAgent:
    user_id: int
    extension: str
    password: str = field(repr=False)
    timers: AgentTimers = field(default_factory=AgentTimers)
    skills: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AgentChanges:
    """What to change; None leaves it as it is. A new extension needs the password."""

    extension: str | None = None
    password: str | None = field(default=None, repr=False)
    timers: AgentTimers | None = None
    skills: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class NewQueue:
    name: str
    strategy: str = "longest_idle"
    campaign_id: int | None = None
    required_skills: Mapping[str, int] = field(default_factory=dict)


def sip_ha1(extension: str, realm: str, password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            "agent.weak_password", f"a softphone password has at least {MIN_PASSWORD} characters"
        )
    return ha1("MD5", extension, realm, password)


class PgCredentials:
    """The registrar's `CredentialStore`: the HA1 of an active agent's or supervisor's
    extension in this realm (an HA1 made for another realm cannot verify here: None)."""

    def __init__(self, db: Db, realm: str) -> None:
        self.db, self.realm = db, realm

    async def ha1_for(self, extension: str) -> str | None:
        try:
            return await self._ha1_for(extension)
        except Exception as error:
            if storage_down(error):
                raise CredentialsUnavailable(f"{type(error).__name__}: {error}") from error
            raise

    async def _ha1_for(self, extension: str) -> str | None:
        found: str | None = await self.db.fetchval(
            "SELECT a.sip_ha1 FROM agents a JOIN users u ON u.id = a.user_id"
            " WHERE a.extension = $1 AND a.sip_realm = $2 AND u.active"
            " UNION ALL SELECT p.sip_ha1 FROM supervisor_phones p JOIN users u"
            " ON u.id = p.user_id WHERE p.extension = $1 AND p.sip_realm = $2 AND u.active",
            extension, self.realm,
        )  # fmt: skip
        return found


# Agents.

_AGENT_SQL = """
SELECT a.*, COALESCE((SELECT jsonb_object_agg(s.skill, s.level) FROM agent_skills s
                      WHERE s.agent_id = a.user_id), '{}') AS skills
FROM agents a JOIN users u ON u.id = a.user_id
"""


def _agent(row: asyncpg.Record) -> AgentProfile:
    timers = AgentTimers(
        wrap_up_time=row["wrap_up_time"], no_answer_delay=row["no_answer_delay"],
        max_no_answer=row["max_no_answer"], reject_delay=row["reject_delay"],
    )  # fmt: skip
    return AgentProfile(
        user_id=row["user_id"], extension=row["extension"], timers=timers,
        skills=json.loads(row["skills"]), status=AgentStatus(row["status"]),
        status_reason=row["status_reason"], status_since=row["status_since"],
    )  # fmt: skip


async def get_agent(db: Db, user_id: int) -> AgentProfile:
    row = await db.fetchrow(_AGENT_SQL + " WHERE a.user_id = $1", user_id)
    if row is None:
        raise NotFound("agent.not_found", f"no agent {user_id}")
    return _agent(row)


async def create_agent(
    pool: asyncpg.Pool, new: NewAgent, realm: str, now: datetime
) -> AgentProfile:
    digest = sip_ha1(new.extension, realm, new.password)
    async with pool.acquire() as conn, conn.transaction():
        role = await conn.fetchval("SELECT role FROM users WHERE id = $1", new.user_id)
        if role is None:
            raise NotFound("user.not_found", f"no user {new.user_id}")
        if role != "agent":
            raise InvalidInput("agent.not_agent_user", f"user {new.user_id} is not an agent")
        t = new.timers
        await _write(conn, "agent", (
            "INSERT INTO agents (user_id, extension, sip_realm, sip_ha1, wrap_up_time,"
            " no_answer_delay, max_no_answer, reject_delay, status_since)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ), new.user_id, new.extension, realm, digest, t.wrap_up_time, t.no_answer_delay,
            t.max_no_answer, t.reject_delay, now)  # fmt: skip
        await _set_skills(conn, new.user_id, new.skills)
        return await get_agent(conn, new.user_id)


async def update_agent(
    pool: asyncpg.Pool, user_id: int, changes: AgentChanges, realm: str
) -> AgentProfile:
    async with pool.acquire() as conn, conn.transaction():
        current = await get_agent(conn, user_id)
        extension = await _credentials(conn, current, changes, realm)
        t = changes.timers or current.timers
        await _write(conn, "agent", (
            "UPDATE agents SET extension = $2, wrap_up_time = $3, no_answer_delay = $4,"
            " max_no_answer = $5, reject_delay = $6, updated_at = now() WHERE user_id = $1"
        ), user_id, extension, t.wrap_up_time, t.no_answer_delay, t.max_no_answer,
            t.reject_delay)  # fmt: skip
        if changes.skills is not None:
            await _set_skills(conn, user_id, changes.skills)
        return await get_agent(conn, user_id)


async def _credentials(
    conn: Conn, current: AgentProfile, changes: AgentChanges, realm: str
) -> str:
    """Write the HA1 for a new password; the extension the agent will have."""
    extension = changes.extension or current.extension
    if changes.password is not None:
        digest = sip_ha1(extension, realm, changes.password)
        await conn.execute(
            "UPDATE agents SET sip_realm = $2, sip_ha1 = $3 WHERE user_id = $1",
            current.user_id, realm, digest,
        )  # fmt: skip
    elif extension != current.extension:
        raise InvalidInput("agent.password_needed", "a new extension needs the password")
    return extension


async def _write(conn: Conn, what: str, sql: str, *args: object) -> None:
    try:
        await conn.execute(sql, *args)
    except asyncpg.UniqueViolationError as exc:
        why = exc.constraint_name or str(exc)
        raise Conflict(f"{what}.exists", f"{what} already exists ({why})") from exc
    except asyncpg.CheckViolationError as exc:
        raise InvalidInput(f"{what}.invalid", f"invalid {what}: {exc.constraint_name}") from exc
    except asyncpg.ForeignKeyViolationError as exc:
        raise NotFound(f"{what}.unknown_reference", f"{what}: {exc.constraint_name}") from exc


async def _set_skills(conn: Conn, user_id: int, skills: Mapping[str, int]) -> None:
    await conn.execute("DELETE FROM agent_skills WHERE agent_id = $1", user_id)
    for skill, level in sorted(skills.items()):
        await _write(conn, "agent_skill",
                     "INSERT INTO agent_skills (agent_id, skill, level) VALUES ($1, $2, $3)",
                     user_id, skill, level)  # fmt: skip


# Supervisors' softphones.

SUPERVISOR_ROLES = ("supervisor", "admin")


async def set_supervisor_phone(
    pool: asyncpg.Pool, user_id: int, extension: str, password: str, realm: str
) -> None:
    """Give a supervisor (or admin) a softphone extension, or a new one."""
    digest = sip_ha1(extension, realm, password)
    async with pool.acquire() as conn, conn.transaction():
        role = await conn.fetchval("SELECT role FROM users WHERE id = $1", user_id)
        if role is None:
            raise NotFound("user.not_found", f"no user {user_id}")
        if role not in SUPERVISOR_ROLES:
            raise InvalidInput("phone.not_supervisor", f"user {user_id} is not a supervisor")
        await _write(conn, "supervisor_phone", (
            "INSERT INTO supervisor_phones (user_id, extension, sip_realm, sip_ha1)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET"
            " extension = EXCLUDED.extension, sip_realm = EXCLUDED.sip_realm,"
            " sip_ha1 = EXCLUDED.sip_ha1"
        ), user_id, extension, realm, digest)  # fmt: skip


async def supervisor_extension(db: Db, user_id: int) -> str | None:
    found: str | None = await db.fetchval(
        "SELECT extension FROM supervisor_phones WHERE user_id = $1", user_id)
    return found


# Queues and members.

_QUEUE_SQL = """
SELECT q.*, COALESCE((SELECT jsonb_object_agg(s.skill, s.level) FROM queue_skills s
                      WHERE s.queue_id = q.id), '{}') AS required_skills
FROM queues q
"""


def _queue(row: asyncpg.Record) -> QueueProfile:
    return QueueProfile(
        id=row["id"], name=row["name"], strategy=row["strategy"],
        campaign_id=row["campaign_id"], required_skills=json.loads(row["required_skills"]),
    )  # fmt: skip


async def create_queue(pool: asyncpg.Pool, new: NewQueue) -> QueueProfile:
    if new.strategy not in STRATEGIES:
        known = ", ".join(sorted(STRATEGIES))
        raise InvalidInput("queue.unknown_strategy", f"strategy {new.strategy!r}; known: {known}")
    async with pool.acquire() as conn, conn.transaction():
        queue_id = await conn.fetchval(
            "INSERT INTO queues (name, strategy, campaign_id) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO NOTHING RETURNING id",
            new.name, new.strategy, new.campaign_id,
        )  # fmt: skip
        if queue_id is None:
            raise Conflict("queue.exists", f"queue {new.name!r} already exists")
        for skill, level in sorted(new.required_skills.items()):
            await _write(conn, "queue_skill",
                         "INSERT INTO queue_skills (queue_id, skill, level) VALUES ($1, $2, $3)",
                         queue_id, skill, level)  # fmt: skip
        row = await conn.fetchrow(_QUEUE_SQL + " WHERE q.id = $1", queue_id)
    assert row is not None
    return _queue(row)


async def add_member(db: Db, member: Member) -> None:
    """Put the agent in the queue (or move it to the member's level and position)."""
    sql = (
        "INSERT INTO queue_members (queue_id, agent_id, level, position) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (queue_id, agent_id) DO UPDATE SET level = $3, position = $4"
    )
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            await _write(conn, "queue_member", sql, *_member_args(member))
    else:
        await _write(db, "queue_member", sql, *_member_args(member))


def _member_args(member: Member) -> tuple[int, int, int, int]:
    return member.queue_id, member.user_id, member.level, member.position


async def remove_member(db: Db, queue_id: int, user_id: int) -> bool:
    done = await db.execute(
        "DELETE FROM queue_members WHERE queue_id = $1 AND agent_id = $2", queue_id, user_id
    )
    return done != "DELETE 0"


async def load_roster(db: Db) -> Roster:
    """Every active agent, every queue and their members: what the live state is
    rebuilt from."""
    agents = await db.fetch(_AGENT_SQL + " WHERE u.active ORDER BY a.user_id")
    queues = await db.fetch(_QUEUE_SQL + " ORDER BY q.id")
    members = await db.fetch(
        "SELECT m.* FROM queue_members m JOIN users u ON u.id = m.agent_id"
        " WHERE u.active ORDER BY m.queue_id, m.agent_id"
    )
    return Roster(
        agents=tuple(_agent(r) for r in agents), queues=tuple(_queue(r) for r in queues),
        members=tuple(Member(r["queue_id"], r["agent_id"], r["level"], r["position"])
                      for r in members),
    )  # fmt: skip


# Status.


async def set_status(
    conn: Conn, user_id: int, to: AgentStatus, reason: str | None, by: Changer, now: datetime
) -> StatusChange:
    """Make `to` the agent's durable status and append the change to its history, in
    one transaction (a savepoint inside the caller's)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", _STATUS_LOCK)
        before = await conn.fetchval(
            "SELECT status FROM agents WHERE user_id = $1 FOR UPDATE", user_id
        )
        if before is None:
            raise NotFound("agent.not_found", f"no agent {user_id}")
        await conn.execute(
            "UPDATE agents SET status = $2, status_reason = $3, status_since = $4"
            " WHERE user_id = $1", user_id, str(to), reason, now,
        )  # fmt: skip
        await conn.execute(
            "INSERT INTO agent_status_log (agent_id, source, changed_by, from_status,"
            " to_status, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            user_id, str(by.source), by.user_id, before, str(to), reason, now,
        )  # fmt: skip
    return StatusChange(user_id, AgentStatus(before), to, reason, by, now)


async def wait_for_status_writers(conn: Conn) -> None:
    """Wait until every status change in flight has committed or rolled back, and
    keep new ones out until the caller's transaction ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _STATUS_LOCK)


async def status_log(db: Db, user_id: int) -> list[StatusChange]:
    """The agent's status history, oldest first."""
    rows = await db.fetch(
        "SELECT * FROM agent_status_log WHERE agent_id = $1 ORDER BY at, id", user_id
    )
    return [
        StatusChange(
            user_id, AgentStatus(r["from_status"]), AgentStatus(r["to_status"]), r["reason"],
            Changer(ChangedBy(r["source"]), r["changed_by"]), r["at"],
        )
        for r in rows
    ]  # fmt: skip
