"""`callcase compliance explain`: why a case may or may not be called, without dialling."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime

import asyncpg

from api.settings import Settings
from cases import store
from cases.errors import NotFound
from dialer import explain
from dialer import store as dialer_store


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compliance = sub.add_parser("compliance", help="ask the compliance engine")
    compliance_sub = compliance.add_subparsers(dest="compliance_command", required=True)
    ask = compliance_sub.add_parser(
        "explain", help="for every phone of a case: allowed or not, why, and when next")
    ask.add_argument("--client", required=True, help="client code")
    ask.add_argument("account_no")
    ask.add_argument("--at", type=_aware, help="ISO time with an offset (default: now)")
    ask.add_argument("--campaign", type=int, help="count this campaign's abandon rate")
    ask.add_argument("--json", action="store_true")


def _aware(raw: str) -> datetime:
    at = datetime.fromisoformat(raw)
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its offset, e.g. +08:00 or Z")
    return at.astimezone(UTC)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    try:
        client = await store.get_client(pool, code=args.client)
        case_id = await pool.fetchval(
            "SELECT id FROM cases WHERE client_id = $1 AND account_no = $2",
            client.id, args.account_no)
        if case_id is None:
            raise NotFound("case.not_found", f"{args.client} has no account {args.account_no}")
        campaign = None if args.campaign is None else await dialer_store.get_campaign(
            pool, args.campaign)
        answer = await explain.dialability(pool, case_id, args.at or datetime.now(UTC),
                                           campaign)
    finally:
        await pool.close()
    if args.json:
        print(json.dumps(answer.as_json(), ensure_ascii=False, indent=2))
    else:
        print_answer(answer)
    return 0 if any(p.decision.allowed for p in answer.phones) else 4


def print_answer(answer: explain.Dialability) -> None:
    print(f"case {answer.case_id} ({answer.account_no}) at {answer.at.isoformat()}"
          f" under {answer.pack.name} {answer.pack.version}")
    for phone in answer.phones:
        shown = phone.as_json()
        decision = phone.decision
        verdict = "ALLOWED" if decision.allowed else "REFUSED"
        print(f"  {shown['party']:<10} {shown['number']:<16} {verdict}")
        for reason in decision.reasons:
            print(f"      {reason.code}: {reason.detail}")
        if not decision.allowed:
            nxt = decision.next_permitted_at
            print(f"      next permitted: {nxt.isoformat() if nxt else 'not by time alone'}")
    if answer.cadence is not None:
        c = answer.cadence
        due = c.due_by.isoformat() if c.due_by else "-"
        print(f"  contact floor: {c.phase}, {c.attempts} attempts, {c.needed} more due by {due}"
              f"{', BEHIND' if c.behind else ''}"
              f"{', blocked by a ceiling' if c.ceiling_conflict else ''}")
    print(f"  ({explain.LIVE_NOTE})")
