"""Migrations: numbered plain SQL files per package, applied in package order.

Files live in `<package>/migrations/NNNN_name.sql`. Each file runs in its own
transaction and is recorded in `schema_migrations` with its checksum; applying
again is a no-op, and a file changed after it was applied is an error rather
than a silent divergence. A session advisory lock keeps two migrators apart.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from cases.store import Conn

logger = logging.getLogger(__name__)

# Dependency order: later packages may reference tables of earlier ones.
PACKAGES = ("cases", "api", "telephony", "dialer", "routing", "recording", "transcription")
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x63616C6C  # "call"


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Migration:
    package: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(packages: tuple[str, ...] = PACKAGES) -> list[Migration]:
    found: list[Migration] = []
    for package in packages:
        folder = resources.files(package).joinpath("migrations")
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            match = _FILE_NAME.match(entry.name)
            if match is None:
                if entry.name.endswith(".sql"):
                    raise MigrationError(f"{package}/migrations/{entry.name}: bad file name")
                continue
            found.append(
                Migration(package, int(match.group(1)), entry.name, entry.read_text("utf-8"))
            )
    return found


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    package     text        NOT NULL,
    version     integer     NOT NULL,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (package, version)
)
"""


async def migrate(conn: Conn) -> list[Migration]:
    """Apply every pending migration; return those applied now."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_BOOKKEEPING)
        rows = await conn.fetch("SELECT package, version, checksum FROM schema_migrations")
        done = {(r["package"], r["version"]): r["checksum"] for r in rows}
        applied: list[Migration] = []
        for migration in discover():
            key = (migration.package, migration.version)
            if key in done:
                if done[key] != migration.checksum:
                    raise MigrationError(
                        f"{migration.package}/{migration.name} changed after it was applied"
                    )
                continue
            await _apply(conn, migration)
            applied.append(migration)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)


async def _apply(conn: Conn, migration: Migration) -> None:
    logger.info("applying migration %s/%s", migration.package, migration.name)
    async with conn.transaction():
        await conn.execute(migration.sql)
        await conn.execute(
            "INSERT INTO schema_migrations (package, version, name, checksum)"
            " VALUES ($1, $2, $3, $4)",
            migration.package,
            migration.version,
            migration.name,
            migration.checksum,
        )


def _split(url: str) -> tuple[str, str]:
    """The database name in `url`, and the URL of the server's `postgres` database."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise MigrationError(f"unsupported database name {name!r}")
    return name, urlunsplit(parts._replace(path="/postgres"))


async def recreate_database(url: str) -> None:
    """Drop the database named in `url`, create it anew and apply every migration
    (tests, benchmarks and the demo; never the production database)."""
    name, admin_url = _split(url)
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def ensure_database(url: str) -> bool:
    """Create the database named in `url` when it is missing; True if created."""
    name, admin_url = _split(url)
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        await conn.execute(f'CREATE DATABASE "{name}"')
        return True
    finally:
        await conn.close()
