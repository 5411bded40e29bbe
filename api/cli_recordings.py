"""`callcase recordings verify|retention`: check the catalogue, apply retention.

``verify`` hashes every file and every row (see :mod:`recording.integrity`) and exits
4 when it finds a problem, so a cron job can alert on it; keep the printed chain
head somewhere else to catch a rewrite of the whole chain. ``retention`` deletes the
recordings past their retention date that are not on legal hold (``--dry-run`` lists
them) and exits 4 if a file could not be deleted.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import asyncpg

from api import cli_archive
from api.settings import Settings
from recording import integrity, retention
from recording.storage import LocalStorage


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    recordings = sub.add_parser("recordings", help="check and expire call recordings")
    recordings_sub = recordings.add_subparsers(dest="recordings_command", required=True)
    verify = recordings_sub.add_parser(
        "verify", help="hash every recording and the catalogue chain; exit 4 on a problem")
    verify.add_argument("--json", action="store_true")
    expire = recordings_sub.add_parser(
        "retention", help="delete recordings past retention, except those on legal hold")
    expire.add_argument("--dry-run", action="store_true", help="list them, delete nothing")
    cli_archive.add_parser(recordings_sub)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.recordings_command == "compress":
        return await cli_archive.run(args, settings)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    storage = LocalStorage(settings.recording.root)
    try:
        if args.recordings_command == "verify":
            return await _verify(pool, storage, args.json)
        return await _retention(pool, storage, args.dry_run)
    finally:
        await pool.close()


async def _verify(pool: asyncpg.Pool, storage: LocalStorage, as_json: bool) -> int:
    report = await integrity.verify(pool, storage)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(f"{report.chain.rows} recordings, {report.files_hashed} files hashed"
              f" ({report.bytes_hashed} bytes); chain head {report.chain.head}")
        for p in report.problems:
            print(f"  recording {p.recording_id} (call {p.call_id}): {p.kind}: {p.detail}")
        print(f"{len(report.problems)} problem(s)")
    return 0 if report.ok else 4


async def _retention(pool: asyncpg.Pool, storage: LocalStorage, dry_run: bool) -> int:
    now = datetime.now(UTC)
    if dry_run:
        due = await retention.due_for_deletion(pool, now)
        for row in due:
            print(f"  would delete recording {row.id} (call {row.entry.call_id}),"
                  f" retention ended {row.entry.retention_until.isoformat()}")
        held = await retention.held_past_retention(pool, now)
        print(f"{len(due)} recording(s) due; {len(held)} past retention kept on legal hold")
        return 0
    run = await retention.apply_retention(pool, storage, now)
    for d in run.deleted:
        print(f"  deleted recording {d.recording_id} (call {d.call_id}, sha256 {d.sha256})")
    print(f"{len(run.deleted)} deleted; {len(run.held)} kept on legal hold;"
          f" {len(run.failed)} could not be deleted")
    return 4 if run.failed else 0
