"""Retention and offboarding: files deleted, deletions logged, legal holds kept, the
chain still verifiable afterwards."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from cases import audit
from cases.access import Scope
from recording import catalog, retention
from recording.integrity import verify
from recording.lifecycle import CatalogState, DeletionReason
from recording.storage import LocalStorage
from recording.writer import RecorderPool
from tests.api.world import NOW, World
from tests.recording.catalogued import STARTED, catalogued

EXPIRED = STARTED.replace(year=2031) + timedelta(seconds=1)  # BANKA keeps 5 years


async def test_retention_deletes_what_is_due_except_on_legal_hold(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    old = await catalogued(db, pool, world, "old")
    held = await catalogued(db, pool, world, "held")
    young = await catalogued(db, pool, world, "young", started_at=STARTED + timedelta(days=2))
    await catalog.set_legal_hold(db, audit.Actor(world.users["admin"]), held.id, "dispute", NOW)
    storage = LocalStorage(pool.root)
    assert await retention.due_for_deletion(db, EXPIRED - timedelta(seconds=2)) == []
    assert [r.id for r in await retention.due_for_deletion(db, EXPIRED)] == [old.id]

    run = await retention.apply_retention(db, storage, EXPIRED, by=world.users["admin"].id)

    assert [(d.recording_id, d.reason, d.file_found) for d in run.deleted] == [
        (old.id, DeletionReason.RETENTION, True)]
    assert (run.held, run.failed) == ((held.id,), ())
    assert not storage.path_of(old.entry.storage_uri).exists()
    assert storage.path_of(held.entry.storage_uri).exists()
    assert storage.path_of(young.entry.storage_uri).exists()
    assert (await catalog.get(db, old.id)).state is CatalogState.DELETED
    logged = await db.fetch("SELECT * FROM recording_deletions")
    assert [(r["recording_id"], r["sha256"], r["reason"], r["deleted_at"], r["deleted_by"])
            for r in logged] == [(old.id, old.entry.sha256, "retention", EXPIRED,
                                  world.users["admin"].id)]
    report = await verify(db, storage)  # the deleted row stays in the chain
    assert report.ok and report.chain.rows == 3 and report.files_hashed == 2
    again = await retention.apply_retention(db, storage, EXPIRED)
    assert again.deleted == () and again.held == (held.id,)


async def test_a_released_hold_lets_retention_delete(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    admin = audit.Actor(world.users["admin"])
    await catalog.set_legal_hold(db, admin, row.id, "dispute", NOW)
    assert (await retention.apply_retention(db, LocalStorage(pool.root), EXPIRED)).deleted == ()
    await catalog.release_legal_hold(db, admin, row.id, "resolved")
    run = await retention.apply_retention(db, LocalStorage(pool.root), EXPIRED)
    assert [d.recording_id for d in run.deleted] == [row.id]


async def test_a_file_already_gone_is_logged_as_such(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    storage = LocalStorage(pool.root)
    storage.path_of(row.entry.storage_uri).unlink()  # deleted, but the commit was lost
    run = await retention.apply_retention(db, storage, EXPIRED)
    assert [(d.recording_id, d.file_found) for d in run.deleted] == [(row.id, False)]
    assert await db.fetchval("SELECT file_found FROM recording_deletions") is False
    assert (await verify(db, storage)).ok


class UndeletableStorage(LocalStorage):
    """Local storage whose deletes fail like a read-only mount."""

    async def delete(self, uri: str) -> bool:
        raise PermissionError(30, "Read-only file system", uri)


async def test_a_file_that_cannot_be_deleted_changes_nothing(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    run = await retention.apply_retention(db, UndeletableStorage(pool.root), EXPIRED)
    assert (run.deleted, run.failed) == ((), (row.id,))
    assert (await catalog.get(db, row.id)).state is CatalogState.FINISHED
    assert await db.fetchval("SELECT count(*) FROM recording_deletions") == 0


async def test_offboarding_deletes_all_of_a_client_but_its_holds(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    a1 = await catalogued(db, pool, world, "a1")
    a2 = await catalogued(db, pool, world, "a2", "A2")
    b1 = await catalogued(db, pool, world, "b1", "B1")
    await catalog.set_legal_hold(db, audit.Actor(world.users["admin"]), a2.id, "suit", NOW)
    run = await retention.offboard_client(db, LocalStorage(pool.root),
                                          world.clients["BANKA"], NOW)
    assert [(d.recording_id, d.reason) for d in run.deleted] == [(a1.id,
                                                                   DeletionReason.OFFBOARD)]
    assert run.held == (a2.id,)
    states = {r.id: r.state for r in await catalog.list_recordings(
        db, Scope(), catalog.RecordingFilter())}
    assert states == {a1.id: CatalogState.DELETED, a2.id: CatalogState.FINISHED,
                      b1.id: CatalogState.FINISHED}
    assert LocalStorage(pool.root).path_of(b1.entry.storage_uri).exists()


async def test_a_hold_set_after_the_due_list_is_still_respected(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    assert [r.id for r in await retention.due_for_deletion(db, EXPIRED)] == [row.id]
    await catalog.set_legal_hold(db, audit.Actor(world.users["admin"]), row.id, "late", NOW)
    storage = LocalStorage(pool.root)
    assert await retention.delete(db, storage, row.id, DeletionReason.RETENTION, EXPIRED) is None
    assert storage.path_of(row.entry.storage_uri).exists()
