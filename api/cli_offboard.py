"""`callcase client offboard CODE`: the end of a contract, export then delete its data.

Without ``--confirm`` it only reports what it would do. With ``--confirm`` (and an
``--export-dir`` that does not exist or is empty) it exports the client's cases,
phones, actions, promises, holds, the dialer's attempts and every recording's audio
with a manifest of SHA-256s; then deletes the recordings' audio (legal holds kept),
pseudonymises the case records (see :mod:`api.offboard`: the append-only audit and
actions logs cannot be rewritten, so names, ID numbers, phones, addresses, account
numbers and free text are replaced or erased and the records stay as anonymised
skeletons), and writes ``certificate.json`` and ``certificate.txt`` into the export
directory. Exits 4 when some audio could not be deleted (run it again with a new
export directory to finish).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from api import offboard
from api.settings import Settings
from cases.field_visits import EvidenceStore
from recording.storage import LocalStorage

HELP = ("end a client's contract: export all its data, delete the recordings, pseudonymise"
        " the case records (the audit and actions logs are append-only: personal data is"
        " replaced, anonymised skeletons stay), write a certificate of deletion; without"
        " --confirm only report")


def add_parser(client_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    off = client_sub.add_parser("offboard", help=HELP, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    off.add_argument("code", help="client code")
    off.add_argument("--export-dir", type=Path, metavar="DIR",
                     help="where the export and the certificate go (new or empty)")
    off.add_argument("--confirm", action="store_true",
                     help="do it (needs --export-dir); without it nothing changes")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.confirm and args.export_dir is None:
        raise SystemExit("--confirm needs --export-dir: the data is exported before it goes")
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        if not args.confirm:
            print_plan(await offboard.plan(pool, args.code), args.export_dir)
            return 0
        evidence = EvidenceStore(settings.evidence.root, settings.evidence.max_mb << 20)
        done = await offboard.offboard(pool, LocalStorage(settings.recording.root), args.code,
                                       args.export_dir, datetime.now(UTC), evidence)
    finally:
        await pool.close()
    return print_done(done)


def print_plan(plan: offboard.Plan, export_dir: Path | None) -> None:
    c, r = plan.client, plan.recordings
    print(f"offboarding {c.code} ({c.name}) would:")
    where = f" into {export_dir}" if export_dir else " (give --export-dir)"
    print(f"  export{where}: " + ", ".join(f"{n} {k}" for k, n in plan.records.items()
                                          if k != "client_users")
          + f", {r['with_audio']} recordings' audio")
    print(f"  delete the audio of {r['to_delete']} recording(s);"
          f" keep {r['on_legal_hold']} on legal hold ({r['deleted_already']} deleted already)")
    print(f"  pseudonymise the case records but {len(plan.held_cases)} case(s) with a"
          f" recording on legal hold; deactivate {plan.records['client_users']} client user(s)")
    if plan.active_campaigns:
        print(f"  REFUSE: campaigns running or paused: {list(plan.active_campaigns)}")
    print("nothing changed; add --confirm --export-dir DIR to do it")


def print_done(done: offboard.Offboarding) -> int:
    f = done.facts
    print(f"client {f.client_code} offboarded (offboarding {f.offboarding_id}):"
          f" {len(f.files)} files exported to {f.export_directory}")
    print(f"  exported {', '.join(f'{n} {k}' for k, n in f.exported.items())}")
    print(f"  deleted {f.recordings_deleted} recording(s); kept {len(f.held)} on legal hold")
    print(f"  pseudonymised {', '.join(f'{n} {k}' for k, n in f.pseudonymised.items())}")
    print(f"  certificate {f.export_directory}/certificate.json sha256 {done.certificate_sha256}"
          " (also in the audit log)")
    for recording_id in f.not_deleted:
        print(f"  recording {recording_id}: its audio could not be deleted; run it again")
    return 4 if f.not_deleted else 0
