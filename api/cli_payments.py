"""`callcase payments import FILE --client CODE` and `callcase promises resolve`.

`payments import` records the bank's payment file (see `cases.payments`), prints
the rows read, accepted, duplicate (already recorded) and rejected, and every
rejection with its row and reason, then resolves the client's promises. Exit 0
when the file was read (even with rejected rows), 1 when it could not be read
(missing, neither UTF-8 nor GB18030, no header, unknown columns).

`promises resolve` decides the pending promises of one client (or of all) at
`--at` (default now): kept, broken or still pending, and the priority and status
of their cases (see `cases.promise_rules`). The server does the same
periodically; running it again changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from api.settings import Settings
from cases import audit, payments, promises, store

Clock = Callable[[], datetime]
MAX_SHOWN = 50


def _utc_now() -> datetime:
    return datetime.now(UTC)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pay = sub.add_parser("payments", help="the payments the bank reports")
    pay_sub = pay.add_subparsers(dest="payments_command", required=True)
    imp = pay_sub.add_parser(
        "import", help="import a payment file (account_no, amount, paid_at[, reference])",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file")
    imp.add_argument("--client", required=True, help="client code")
    imp.add_argument("--json", action="store_true", help="print the report as JSON")
    prom = sub.add_parser("promises", help="promises to pay")
    prom_sub = prom.add_subparsers(dest="promises_command", required=True)
    res = prom_sub.add_parser("resolve", help="decide pending promises: kept or broken")
    res.add_argument("--client", help="client code (default: every client)")
    res.add_argument("--at", type=_aware, help="ISO time with an offset (default: now)")


def _aware(raw: str) -> datetime:
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO time: {raw!r}") from None
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its offset, e.g. +08:00 or Z")
    return at.astimezone(UTC)


async def run(args: argparse.Namespace, settings: Settings, *,
              clock: Clock = _utc_now) -> int:
    if args.command == "payments":
        return await import_file(args, settings, clock)
    return await resolve(args, settings, clock)


async def import_file(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    path = Path(args.file)
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        print(f"callcase: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        client = await store.get_client(pool, code=args.client)
        report = await payments.import_payments(pool, audit.SYSTEM, client, path.name, data,
                                                now=clock())
    except payments.PaymentFileError as exc:
        print(f"callcase: cannot read {path}: {exc.message} [{exc.error_id}]",
              file=sys.stderr)
        return 1
    finally:
        await pool.close()
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
    else:
        print_report(report, args.client)
    return 0


def print_report(r: payments.ImportReport, client_code: str) -> None:
    print(f"payment import {r.import_id} for {client_code}: {r.file_name}"
          f" ({r.encoding}, sha256 {r.file_sha256})")
    print(f"  rows read {r.rows_read}, accepted {r.rows_accepted}, duplicate"
          f" {r.rows_duplicate}, rejected {r.rows_rejected}; amount accepted"
          f" {r.amount_accepted}")
    for e in r.rejections[:MAX_SHOWN]:
        print(f"  row {e.row_number} {e.column or '-'}: {e.reason}")
    if len(r.rejections) > MAX_SHOWN:
        print(f"  ... {len(r.rejections) - MAX_SHOWN} more; see --json")
    if r.resolved is not None:
        print_resolved(r.resolved)


def print_resolved(done: promises.Resolved) -> None:
    print(f"  promises: {done.cases} case(s) examined, {done.cases_changed} changed;"
          f" {done.kept} kept, {done.broken} broken, {done.cancelled} cancelled;"
          f" priority raised on {done.raised}, lowered on {done.lowered}; {done.paid} paid")


async def resolve(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    at = args.at or clock()
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        client_id = None
        if args.client:
            client_id = (await store.get_client(pool, code=args.client)).id
        done = await promises.resolve(pool, at, client_id=client_id, trigger="cli")
    finally:
        await pool.close()
    print(f"promises resolved at {at.isoformat()} for {args.client or 'every client'}")
    print_resolved(done)
    return 0
