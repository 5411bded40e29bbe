"""`callcase`: the one console script, with subcommands.

Only this module (and the entry point it is) reads `os.environ`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from api import (
    auth,
    cli_compliance,
    cli_offboard,
    cli_payments,
    cli_recordings,
    cli_simulate,
    cli_simulate_agents,
    cli_transcribe,
)
from api.logs import configure_logging
from api.migrate import ensure_database, migrate
from api.settings import Settings, SettingsError
from cases import audit, batches, store
from cases.domain import Role
from cases.errors import DomainError
from telephony import store as telephony_store
from telephony.lines import WorkLine

logger = logging.getLogger("callcase")
Command = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


async def _connect(settings: Settings) -> asyncpg.Connection:
    return await asyncpg.connect(settings.database.url)


async def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    if await ensure_database(settings.database.url):
        print("created the database")
    conn = await _connect(settings)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    for m in applied:
        print(f"applied {m.package}/{m.name}")
    print(f"{len(applied)} migration(s) applied; the schema is up to date")
    return 0


async def cmd_client_add(args: argparse.Namespace, settings: Settings) -> int:
    conn = await _connect(settings)
    try:
        client = await store.add_client(
            conn, code=args.code, name=args.name, time_zone=args.time_zone,
            default_region=args.region.upper(), rule_pack=args.rule_pack,
            retention_years=args.retention_years,
        )
        await audit.record(conn, audit.SYSTEM, "client.add", record_type="client",
                           record_id=client.id, client_id=client.id, details={"via": "cli"})
    finally:
        await conn.close()
    print(f"client {client.code} added (id {client.id}, {client.time_zone}, {client.rule_pack})")
    return 0


async def cmd_client(args: argparse.Namespace, settings: Settings) -> int:
    if args.client_command == "offboard":
        return await cli_offboard.run(args, settings)
    return await cmd_client_add(args, settings)


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise SystemExit(f"{args.password_env} is not set")
        return value
    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise SystemExit("the passwords differ")
    return first


async def cmd_user_add(args: argparse.Namespace, settings: Settings) -> int:
    try:
        password_hash = auth.hash_password(_password(args))
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    conn = await _connect(settings)
    try:
        client_id = (await store.get_client(conn, code=args.client)).id if args.client else None
        user = await store.add_user(conn, store.NewUser(
            username=args.username, display_name=args.display_name or args.username,
            role=Role(args.role), password_hash=password_hash, client_id=client_id,
            team=args.team, pii_clearance=args.pii_clearance,
        ))
        await audit.record(conn, audit.SYSTEM, "user.add", record_type="user",
                           record_id=user.id, details={"role": args.role, "via": "cli"})
    finally:
        await conn.close()
    print(f"user {user.username} added (id {user.id}, role {user.role})")
    return 0


async def cmd_line_add(args: argparse.Namespace, settings: Settings) -> int:
    password = os.environ.get(args.password_env) if args.password_env else None
    host, _, port = args.trunk.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit("--trunk must be HOST:PORT")
    conn = await _connect(settings)
    try:
        line = await telephony_store.add_line(conn, WorkLine(
            name=args.name, trunk_host=host, trunk_port=int(port), caller_id=args.caller_id,
            username=args.username, password=password, max_channels=args.max_channels,
            calls_per_second=args.cps,
        ))
        await audit.record(conn, audit.SYSTEM, "work_line.add", record_type="work_line",
                           record_id=line.name, details={"trunk": args.trunk, "via": "cli",
                                                         "calls_per_second": args.cps})
    except asyncpg.UniqueViolationError:
        raise SystemExit(f"work line {args.name!r} already exists") from None
    except asyncpg.CheckViolationError as exc:
        raise SystemExit(f"invalid work line: {exc.constraint_name}") from None
    finally:
        await conn.close()
    print(f"work line {line.name} added: {line.trunk_host}:{line.trunk_port}, "
          f"caller ID {line.caller_id}, {line.max_channels} channels"
          + ("" if line.calls_per_second is None else f", {line.calls_per_second:g} calls/s"))
    return 0


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    received = datetime.now(UTC)
    data = await asyncio.to_thread(Path(args.file).read_bytes)
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        client = await store.get_client(pool, code=args.client)
        result = await batches.import_batch(
            pool, audit.SYSTEM, client, Path(args.file).name, data,
            received_at=received, now=datetime.now(UTC),
        )
    finally:
        await pool.close()
    if args.json:
        print(json.dumps(result.as_json(), ensure_ascii=False, indent=2))
    else:
        _print_confirmation(result)
    return 0


def _print_confirmation(c: batches.Confirmation) -> None:
    state = "already imported earlier; nothing changed" if c.replayed else "imported"
    print(f"batch {c.batch_id} for {c.client_code}: {state}")
    print(f"  file {c.file_name} sha256 {c.file_sha256} ({c.encoding})")
    print(f"  rows read {c.rows_read}, accepted {c.rows_accepted}, rejected {c.rows_rejected}")
    print(f"  cases created {c.cases_created}, updated {c.cases_updated}, "
          f"total balance accepted {c.total_balance}")
    for r in c.rejections[:50]:
        print(f"  row {r.row_number} {r.column or '-'}: {r.reason}")
    if len(c.rejections) > 50:
        print(f"  ... {len(c.rejections) - 50} more; see --json")


async def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from api.server import serve

    await serve(settings, args.part)
    return 0


async def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from api.demo import run_demo

    await run_demo(settings, workdir=Path(args.workdir), rows=args.rows,
                   serve_api=not args.no_serve, minutes=args.minutes, agents=args.agents)
    return 0


async def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    conn = await _connect(settings)
    try:
        report = await audit.verify_chain(conn)
    finally:
        await conn.close()
    print(f"audit log: {report.rows} rows checked; head {report.head}")
    if not report.intact:
        print(f"BROKEN at row {report.first_broken}: {report.why}", file=sys.stderr)
        return 1
    print("the chain is intact; keep the head hash outside the database to compare later")
    return 0


async def cmd_test_call(args: argparse.Namespace, settings: Settings) -> int:
    from api.testcall import print_report, test_call

    if args.line is None and not args.to.startswith(("sip:", "sips:")):
        raise SystemExit("--to must be a SIP URI, or a number with --line")
    report = await test_call(settings, to=args.to, line=args.line, seconds=args.seconds,
                             ring_timeout=args.ring_timeout,
                             save=Path(args.save) if args.save else None)
    print_report(report, args.json)
    return 0 if report.result == "answered" else 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callcase", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the database if missing and apply migrations")
    client = sub.add_parser("client", help="manage clients (banks)")
    client_sub = client.add_subparsers(dest="client_command", required=True)
    add = client_sub.add_parser("add", help="add a client")
    add.add_argument("code")
    add.add_argument("--name", required=True)
    add.add_argument("--time-zone", default="Asia/Shanghai")
    add.add_argument("--region", default="CN", help="default phone region (ISO 3166)")
    add.add_argument("--rule-pack", default="cn-bank")
    add.add_argument("--retention-years", type=int, default=5)
    cli_offboard.add_parser(client_sub)
    user = sub.add_parser("user", help="manage staff accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    uadd = user_sub.add_parser("add", help="add a user (asks for the password)")
    uadd.add_argument("username")
    uadd.add_argument("--role", required=True, choices=[str(r) for r in Role])
    uadd.add_argument("--display-name")
    uadd.add_argument("--client", help="client code (client_auditor only)")
    uadd.add_argument("--team")
    uadd.add_argument("--pii-clearance", action="store_true")
    uadd.add_argument("--password-env", metavar="VAR",
                      help="read the password from this environment variable")
    line = sub.add_parser("line", help="manage work lines (trunks)")
    line_sub = line.add_subparsers(dest="line_command", required=True)
    ladd = line_sub.add_parser("add", help="register a work line")
    ladd.add_argument("name")
    ladd.add_argument("--trunk", required=True, help="HOST:PORT of the SIP trunk")
    ladd.add_argument("--caller-id", required=True)
    ladd.add_argument("--username")
    ladd.add_argument("--password-env", metavar="VAR")
    ladd.add_argument("--max-channels", type=int, default=30)
    ladd.add_argument("--cps", type=float, metavar="N",
                      help="the carrier's limit on new calls a second (default: none)")
    imp = sub.add_parser("import", help="import a bank batch file")
    imp.add_argument("--client", required=True)
    imp.add_argument("--json", action="store_true", help="print the confirmation as JSON")
    imp.add_argument("file")
    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("part", nargs="?", default="api",
                       choices=["api", "dialer", "media", "transcribe-worker", "all"],
                       help="api; dialer (the call path with the campaign loop); media (the"
                       " call path without it: agents' own dials, supervisors' monitors);"
                       " transcribe-worker; all (api, dialer and the workers)")
    serve.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="transcription workers (transcribe-worker, all)")
    serve.add_argument("--engine", choices=["vosk", "pocketsphinx"])
    serve.add_argument("--lease-seconds", type=float, default=300.0)
    call = sub.add_parser("test-call", help="place one test call and report on it")
    call.add_argument("--to", required=True, help="a SIP URI, or a number with --line")
    call.add_argument("--line", help="the registered work line to call through")
    call.add_argument("--seconds", type=float, default=5.0, help="talk time after answer")
    call.add_argument("--ring-timeout", type=float, default=30.0)
    call.add_argument("--save", metavar="FILE.wav", help="keep the tapped audio")
    call.add_argument("--json", action="store_true")
    cli_compliance.add_parser(sub)
    audit_cmd = sub.add_parser("audit", help="the audit log")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="recompute the audit log's hash chain")
    cli_payments.add_parsers(sub)
    cli_transcribe.add_parser(sub)
    cli_recordings.add_parser(sub)
    cli_simulate_agents.add_parser(cli_simulate.add_parser(sub))
    demo = sub.add_parser("demo", help="the end-to-end demo (recreates a *demo* database)")
    demo.add_argument("--rows", type=int, default=300, help="cases in the sample batch")
    demo.add_argument("--workdir", default="var/demo", help="where sample files are written")
    demo.add_argument("--no-serve", action="store_true", help="stop after the day's report")
    demo.add_argument("--minutes", type=float, default=3.0,
                      help="how long the campaign dials (0: prepare the data only)")
    demo.add_argument("--agents", type=int, default=4, help="simulated softphone agents")
    return parser


COMMANDS: dict[str, Command] = {
    "migrate": cmd_migrate,
    "client": cmd_client,
    "user": cmd_user_add,
    "line": cmd_line_add,
    "import": cmd_import,
    "serve": cmd_serve,
    "demo": cmd_demo,
    "test-call": cmd_test_call,
    "compliance": cli_compliance.run,
    "audit": cmd_audit,
    "payments": cli_payments.run,
    "promises": cli_payments.run,
    "transcribe": cli_transcribe.run,
    "simulate": cli_simulate.run,
    "recordings": cli_recordings.run,
}


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed: measured here, it halves the media clock's tail latency."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        for problem in exc.problems:
            print(f"callcase: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log.format)
    if args.command == "transcribe-worker" or (  # forks its workers before any loop
            args.command == "serve" and args.part == "transcribe-worker"):
        return cli_transcribe.run_workers(args, settings)
    if args.command == "serve" and args.part == "all":
        return _serve_all(args, settings)
    return _run(args, settings)


def _serve_all(args: argparse.Namespace, settings: Settings) -> int:
    """The transcription workers' supervisor is forked first (no thread or event loop
    may exist yet), then this process serves the API and the call path; when it
    stops, the workers are stopped too."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = cli_transcribe.run_workers(args, settings)
        finally:
            os._exit(code)
    try:
        return _run(args, settings)
    finally:
        os.kill(pid, signal.SIGTERM)
        os.waitpid(pid, 0)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            return runner.run(COMMANDS[args.command](args, settings))
    except DomainError as exc:
        print(f"callcase: {exc.message} [{exc.error_id}]", file=sys.stderr)
        for key, value in exc.details.items():
            print(f"  {key}: {value}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"callcase: {exc}", file=sys.stderr)
        return 1
