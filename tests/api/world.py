"""A small world for API tests: two banks, one user per role, a few cases."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import asyncpg

from api import auth
from cases import audit, batches, store
from cases.domain import Role, User

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
PASSWORD = "correct horse battery"
_HASH = auth.hash_password(PASSWORD)

HEADER = ("account_no,debtor_name,debtor_id_no,product,balance,days_past_due,mobile,"
          "guarantor_name,guarantor_phone\n")


def resident_id(birth: str, seq: int) -> str:
    """A Chinese resident ID number with a valid ISO 7064 MOD 11-2 check character."""
    body = f"110101{birth}{seq:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


def batch_csv(rows: list[tuple[str, str, str, str, int, str, str, str]]) -> bytes:
    out = io.StringIO()
    out.write(HEADER)
    writer = csv.writer(out, lineterminator="\n")
    for account, name, id_no, balance, dpd, mobile, g_name, g_phone in rows:
        writer.writerow([account, name, id_no, "credit_card", balance, dpd, mobile, g_name,
                         g_phone])
    return out.getvalue().encode()


@dataclass
class World:
    pool: asyncpg.Pool
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


USERS: dict[str, tuple[Role, str | None, bool]] = {
    "admin": (Role.ADMIN, None, True),
    "manager": (Role.CAMPAIGN_MANAGER, None, False),
    "supervisor": (Role.SUPERVISOR, None, False),
    "cleared_supervisor": (Role.SUPERVISOR, None, True),
    "qa": (Role.QA, None, False),
    "agent_a": (Role.AGENT, None, False),
    "agent_b": (Role.AGENT, None, False),
    "auditor_a": (Role.CLIENT_AUDITOR, "BANKA", True),
    "auditor_b": (Role.CLIENT_AUDITOR, "BANKB", False),
}

ID_A1 = resident_id("19850312", 123)
ID_A2 = resident_id("19900101", 456)
ID_B1 = resident_id("19770707", 789)


async def build_world(pool: asyncpg.Pool) -> World:
    world = World(pool)
    for code in ("BANKA", "BANKB"):
        client = await store.add_client(
            pool, code=code, name=f"{code} card centre", time_zone="Asia/Shanghai",
            default_region="CN", rule_pack="cn-bank", retention_years=5,
        )
        world.clients[code] = client.id
    for name, (role, client_code, cleared) in USERS.items():
        user = await store.add_user(pool, store.NewUser(
            username=name.replace("_", "-"), display_name=name, role=role,
            password_hash=_HASH, client_id=world.clients[client_code] if client_code else None,
            pii_clearance=cleared,
        ))
        world.users[name] = user
        world.tokens[name], _ = await auth.issue_session(
            pool, user.id, now=NOW, ttl=timedelta(hours=8), ip="127.0.0.1")
    await _import(world, "BANKA", [
        ("A1", "王伟", ID_A1, "12,000.50", 45, "13800138000", "李娜", "13900139000"),
        ("A2", "张敏", ID_A2, "800", 200, "15012345678", "", ""),
    ])
    await _import(world, "BANKB", [
        ("B1", "刘洋", ID_B1, "5000", 10, "18612345678", "", ""),
    ])
    await store.assign_case(pool, world.cases["A1"], world.users["agent_a"].id, NOW)
    await store.assign_case(pool, world.cases["A2"], world.users["agent_b"].id, NOW)
    await store.assign_case(pool, world.cases["B1"], world.users["agent_b"].id, NOW)
    return world


async def _import(world: World, code: str,
                  rows: list[tuple[str, str, str, str, int, str, str, str]]) -> None:
    client = await store.get_client(world.pool, code=code)
    await batches.import_batch(world.pool, audit.SYSTEM, client, f"{code}.csv",
                               batch_csv(rows), received_at=NOW, now=NOW)
    for r in await world.pool.fetch("SELECT id, account_no FROM cases WHERE client_id = $1",
                                    client.id):
        world.cases[r["account_no"]] = r["id"]
