from __future__ import annotations

import asyncpg
import pytest

from api import migrate as migrations


async def test_applying_again_changes_nothing(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        assert await migrations.migrate(conn) == []
        rows = await conn.fetch("SELECT package, version FROM schema_migrations")
    assert {(r["package"], r["version"]) for r in rows} >= {("cases", 1), ("cases", 2),
                                                           ("api", 1)}


async def test_a_changed_file_is_an_error(pool: asyncpg.Pool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    real = migrations.discover()
    edited = [migrations.Migration(m.package, m.version, m.name, m.sql + "\n-- edited")
              if (m.package, m.version) == ("cases", 1) else m for m in real]
    monkeypatch.setattr(migrations, "discover", lambda: edited)
    async with pool.acquire() as conn:
        with pytest.raises(migrations.MigrationError, match="changed after it was applied"):
            await migrations.migrate(conn)


def test_files_are_numbered_per_package() -> None:
    found = migrations.discover()
    for package in {m.package for m in found}:
        versions = [m.version for m in found if m.package == package]
        assert versions == list(range(1, len(versions) + 1)), package


async def test_audit_log_and_actions_are_append_only(pool: asyncpg.Pool) -> None:
    await pool.execute("INSERT INTO audit_log (action) VALUES ('test.entry')")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute("UPDATE audit_log SET action = 'changed'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute("DELETE FROM audit_log")
