"""Payments over HTTP and the command line: who may upload and see what, the audit
rows, a promise kept or broken as the bank's file says, the CLI's output and exit
codes."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from aiohttp import FormData

from api import cli_payments, routes_payments
from api.app import create_app
from api.settings import Settings
from cases.promise_rules import BROKEN_PROMISE_PRIORITY
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).resolve().parents[1] / "data" / "payments"
AFTER_DUE = datetime(2026, 12, 6, 9, 0, tzinfo=SHANGHAI)
GOOD = b"account_no,amount,paid_at,reference\nA1,1000,2026-12-05 23:30:00,R1\n"


class Clock:
    """The API's clock, moved on by the test."""

    def __init__(self) -> None:
        self.at = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool, clock: Clock) -> ApiClient:
    app = create_app(settings, clock=clock)
    app.router.add_routes(routes_payments.routes)
    return await aiohttp_client(app)


async def later(world: World, clock: Clock, at: datetime = AFTER_DUE) -> None:
    """Move the clock on; the world's sessions outlive it."""
    clock.at = at
    await world.pool.execute("UPDATE api_sessions SET expires_at = $1", at.replace(year=2027))


def form(data: bytes, name: str = "还款.csv") -> FormData:
    body = FormData(default_to_multipart=True)
    body.add_field("file", data, filename=name, content_type="text/csv")
    return body


async def upload(api: ApiClient, world: World, who: str, data: bytes = GOOD,
                 client: str = "BANKA") -> tuple[int, dict[str, Any]]:
    resp = await api.post(f"/clients/{world.clients[client]}/payments", data=form(data),
                          headers=world.headers(who))
    return resp.status, await resp.json()


async def promise(api: ApiClient, world: World) -> None:
    resp = await api.post(f"/cases/{world.cases['A1']}/actions",
                          json={"code": "PTP", "amount": "1000", "due_date": "2026-12-05"},
                          headers={**world.headers("agent_a"), "Idempotency-Key": "ptp"})
    assert resp.status == 201, await resp.text()


async def audited(world: World, action: str) -> list[tuple[str | None, str | None]]:
    rows = await world.pool.fetch("SELECT username, record_id FROM audit_log WHERE action = $1"
                                  " ORDER BY id", action)
    return [(r["username"], r["record_id"]) for r in rows]


@pytest.mark.parametrize(("who", "client", "status"), [
    ("admin", "BANKA", 201), ("manager", "BANKA", 201), ("auditor_a", "BANKA", 201),
    ("auditor_b", "BANKA", 404), ("auditor_a", "BANKB", 404), ("supervisor", "BANKA", 403),
    ("agent_a", "BANKA", 403), ("qa", "BANKA", 403),
])
async def test_who_may_upload(api: ApiClient, world: World, clock: Clock, who: str,
                              client: str, status: int) -> None:
    await later(world, clock)
    code, body = await upload(api, world, who, client=client)
    assert code == status, body
    imported = await audited(world, "payment.import")
    if status == 201:
        assert (body["rows_accepted"], body["file_name"]) == (1, "还款.csv")
        assert imported == [(who.replace("_", "-"), str(body["import_id"]))]
    else:
        assert imported == []
        assert await world.pool.fetchval("SELECT count(*) FROM payment_imports") == 0


async def test_a_raw_body_and_a_file_that_cannot_be_read(api: ApiClient, world: World,
                                                         clock: Clock) -> None:
    await later(world, clock)
    url = f"/clients/{world.clients['BANKA']}/payments"
    resp = await api.post(url, data=(DATA / "gb18030.csv").read_bytes(),
                          headers={**world.headers("admin"), "Content-Type": "text/csv",
                                   "X-File-Name": "%E8%BF%98%E6%AC%BE-20261206.csv"})
    body = await resp.json()
    assert (resp.status, body["encoding"], body["file_name"]) == (
        201, "gb18030", "还款-20261206.csv")
    assert (body["rows_accepted"], body["rows_rejected"]) == (2, 1)
    assert body["rejections"][0]["row"] == 4
    for data, error_id in [(b"", "payments.missing_file"),
                           (b"account_no,amount\n", "payments.missing_column")]:
        resp = await api.post(url, data=data, headers={**world.headers("admin"),
                                                        "Content-Type": "text/csv"})
        assert (resp.status, (await resp.json())["error_id"]) == (400, error_id)
    resp = await api.post(url, data=FormData({"other": "x"}, default_to_multipart=True),
                          headers=world.headers("admin"))
    assert (resp.status, (await resp.json())["error_id"]) == (400, "payments.missing_file")
    assert await world.pool.fetchval("SELECT count(*) FROM payment_imports") == 1


async def test_a_payment_file_keeps_a_promise_the_agent_sees(api: ApiClient, world: World,
                                                            clock: Clock) -> None:
    await promise(api, world)
    a1 = world.cases["A1"]
    shown = await (await api.get(f"/cases/{a1}/promises", headers=world.headers("agent_a"))
                   ).json()
    assert [(p["status"], p["paid"], p["amount"]) for p in shown["items"]] == [
        ("pending", "0", "1000.00")]
    await later(world, clock)
    code, body = await upload(api, world, "manager")
    assert (code, body["promises"]["kept"]) == (201, 1)
    shown = await (await api.get(f"/cases/{a1}/promises", headers=world.headers("agent_a"))
                   ).json()
    assert [(p["status"], p["paid"], p["resolved_at"]) for p in shown["items"]] == [
        ("kept", "1000.00", "2026-12-05T15:30:00+00:00")]
    case = await (await api.get(f"/cases/{a1}", headers=world.headers("agent_a"))).json()
    assert (case["status"], case["priority"]) == ("in_progress", 0)


async def test_a_late_payment_leaves_the_promise_broken(api: ApiClient, world: World,
                                                        clock: Clock) -> None:
    await promise(api, world)
    await later(world, clock)
    late = b"account_no,amount,paid_at\nA1,1000,2026-12-06 00:30:00\n"
    code, body = await upload(api, world, "auditor_a", late)
    assert (code, body["promises"]["broken"], body["promises"]["raised"]) == (201, 1, 1)
    case = await (await api.get(f"/cases/{world.cases['A1']}", headers=world.headers("admin"))
                  ).json()
    assert (case["status"], case["priority"], case["promises"][0]["status"]) == (
        "in_progress", BROKEN_PROMISE_PRIORITY, "broken")


@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("supervisor", 200), ("qa", 200), ("agent_a", 200), ("auditor_a", 200),
    ("agent_b", 404), ("auditor_b", 404),
])
@pytest.mark.parametrize("what", ["payments", "promises"])
async def test_case_payments_and_promises_are_seen_as_the_case_is(
    api: ApiClient, world: World, clock: Clock, who: str, status: int, what: str
) -> None:
    await later(world, clock)
    await upload(api, world, "admin")
    resp = await api.get(f"/cases/{world.cases['A1']}/{what}", headers=world.headers(who))
    assert resp.status == status
    seen = await audited(world, f"case.{what}.view")
    if status == 200:
        body = await resp.json()
        if what == "payments":
            assert [(p["amount"], p["reference"]) for p in body["items"]] == [("1000.00", "R1")]
        assert seen == [(who.replace("_", "-"), str(world.cases["A1"]))]
    else:
        assert seen == []


async def test_the_import_history_of_a_client(api: ApiClient, world: World,
                                              clock: Clock) -> None:
    await later(world, clock)
    _, first = await upload(api, world, "admin", (DATA / "mixed.csv").read_bytes())
    _, second = await upload(api, world, "admin", GOOD)
    banka = world.clients["BANKA"]
    resp = await api.get(f"/clients/{banka}/payment-imports?limit=1",
                         headers=world.headers("auditor_a"))
    body = await resp.json()
    assert [i["import_id"] for i in body["items"]] == [second["import_id"]]
    assert "rejections" not in body["items"][0]
    resp = await api.get(f"/clients/{banka}/payment-imports?after={body['next_after']}",
                         headers=world.headers("auditor_a"))
    assert [i["import_id"] for i in (await resp.json())["items"]] == [first["import_id"]]
    resp = await api.get(f"/clients/{banka}/payment-imports/{first['import_id']}",
                         headers=world.headers("manager"))
    detail = await resp.json()
    assert (detail["rows_rejected"], len(detail["rejections"])) == (11, 11)
    assert await audited(world, "payment_import.view") == [
        ("manager", str(first["import_id"]))]
    assert len(await audited(world, "payment_imports.view")) == 2
    for who, url, status in [
        ("auditor_b", f"/clients/{banka}/payment-imports", 404),
        ("agent_a", f"/clients/{banka}/payment-imports", 403),
        ("admin", f"/clients/{world.clients['BANKB']}/payment-imports/{first['import_id']}",
         404),
    ]:
        assert (await api.get(url, headers=world.headers(who))).status == status


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="callcase")
    cli_payments.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def test_cli_import_prints_counts_and_rejections(
    world: World, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse("payments", "import", str(DATA / "mixed.csv"), "--client", "BANKA")
    assert await cli_payments.run(args, settings, clock=lambda: AFTER_DUE) == 0
    out = capsys.readouterr().out
    assert "rows read 13, accepted 2, duplicate 0, rejected 11; amount accepted 800.00" in out
    assert "row 3 amount: amount '-5' must not be negative" in out
    assert "row 8 account_no: unknown account: no case of BANKA has this account number" in out
    assert await cli_payments.run(args, settings, clock=lambda: AFTER_DUE) == 0
    assert "accepted 0, duplicate 2, rejected 11" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    (None, "No such file or directory"),
    (b"\xff\xfe\x00\x00garbage\x81\x30", "[payments.bad_encoding]"),
    (b"account_no,amount,paid_at,colour\n", "[payments.unknown_column]"),
])
async def test_cli_exits_1_when_the_file_cannot_be_read(
    world: World, settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    content: bytes | None, message: str,
) -> None:
    path = tmp_path / "pay.csv"
    if content is not None:
        path.write_bytes(content)
    args = parse("payments", "import", str(path), "--client", "BANKA")
    assert await cli_payments.run(args, settings, clock=lambda: AFTER_DUE) == 1
    assert message in capsys.readouterr().err
    assert await world.pool.fetchval("SELECT count(*) FROM payment_imports") == 0


async def test_cli_resolves_promises(api: ApiClient, world: World, settings: Settings,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    await promise(api, world)
    args = parse("promises", "resolve", "--client", "BANKA", "--at", "2026-12-06T00:05+08:00")
    assert await cli_payments.run(args, settings) == 0
    out = capsys.readouterr().out
    assert "promises resolved at 2026-12-05T16:05:00+00:00 for BANKA" in out
    assert "1 case(s) examined, 1 changed; 0 kept, 1 broken" in out
    assert "priority raised on 1" in out
    assert await cli_payments.run(parse("promises", "resolve"), settings,
                                  clock=lambda: AFTER_DUE) == 0
    assert "0 case(s) examined" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parse("promises", "resolve", "--at", "2026-12-06T00:05")  # no offset
