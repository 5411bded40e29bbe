"""Pushing notifications to the bank's webhook: a real receiving server on 127.0.0.1,
retries on an injected clock, signatures, scoping, the worker, and the settings API."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from api import routes_client
from api.app import create_app
from api.settings import Settings
from api.webhooks import WEBHOOK_POLL, WEBHOOK_WORKER, deliver_due, delivery_worker
from cases import actions, outbox
from cases import webhook_rules as wr
from cases.audit import Actor
from tests.api.conftest import ApiClient
from tests.api.world import NOW, USERS, World

SECRET_A = "whsec_bank_a_0123456789"
SECRET_B = "whsec_bank_b_9876543210"
S = timedelta(seconds=1)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """The bank's endpoint: answers `answers` in order, then 200."""

    server: TestServer
    answers: list[int] = field(default_factory=list)
    got: list[Received] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return str(self.server.make_url(path))

    def verified(self, secret: str, item: Received, sent_at: datetime) -> bool:
        return wr.verify(secret, item.body, item.headers["X-Callcase-Timestamp"],
                         item.headers["X-Callcase-Signature"], now=sent_at.timestamp())


@pytest.fixture
async def receiver(aiohttp_server: Callable[..., Awaitable[TestServer]]) -> Receiver:
    app = web.Application()
    box: list[Receiver] = []

    async def hook(request: web.Request) -> web.Response:
        me = box[0]
        status = me.answers.pop(0) if me.answers else 200
        me.got.append(Received(request.path, dict(request.headers), await request.read(),
                               status))
        return web.Response(status=status, text="ok")

    async def moved(request: web.Request) -> web.Response:
        box[0].got.append(Received(request.path, dict(request.headers), b"", 302))
        raise web.HTTPFound("/hook")

    async def slow(request: web.Request) -> web.Response:
        await box[0].release.wait()
        return web.Response(status=200)

    app.router.add_post("/hook", hook)
    app.router.add_post("/hook-b", hook)
    app.router.add_post("/moved", moved)
    app.router.add_post("/slow", slow)
    server = await aiohttp_server(app, host="127.0.0.1")
    box.append(Receiver(server))
    return box[0]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def hook(world: World, bank: str, url: str, secret: str | None = SECRET_A,
               active: bool = True) -> None:
    await outbox.set_webhook(world.pool, Actor(world.users["admin"]), world.clients[bank],
                             outbox.WebhookChange(url, secret, active), NOW)


async def notify(world: World, case: str, key: str = "dsp", agent: str = "agent_a") -> int:
    """File DSP through the real filing path; the id of the notification it wrote."""
    req = actions.ActionRequest(case_id=world.cases[case], code="DSP", idempotency_key=key,
                                fields={"statement": "从未办过这张卡"})
    filed = await actions.file_action(world.pool, Actor(world.users[agent]), req, NOW)
    notification_id: int = await world.pool.fetchval(
        "SELECT id FROM client_notifications WHERE payload->>'action_id' = $1",
        str(filed.action.id))
    return notification_id


async def notification(world: World, notification_id: int) -> asyncpg.Record:
    row = await world.pool.fetchrow("SELECT * FROM client_notifications WHERE id = $1",
                                    notification_id)
    assert row is not None
    return row


async def test_retries_on_schedule_then_one_accepted_delivery(
    world: World, receiver: Receiver, session: aiohttp.ClientSession,
) -> None:
    await hook(world, "BANKA", receiver.url())
    nid = await notify(world, "A1")
    receiver.answers = [500, 503]
    first = await deliver_due(world.pool, session, NOW)
    assert [(t.attempt, t.delivered, t.status, t.next_attempt_at) for t in first] == [
        (1, False, 500, NOW + 10 * S)]
    assert await deliver_due(world.pool, session, NOW + 9 * S) == []
    second = await deliver_due(world.pool, session, NOW + 10 * S)
    assert [(t.attempt, t.status, t.next_attempt_at) for t in second] == [
        (2, 503, NOW + 70 * S)]
    assert await deliver_due(world.pool, session, NOW + 69 * S) == []
    third = await deliver_due(world.pool, session, NOW + 70 * S)
    assert [(t.attempt, t.delivered, t.status) for t in third] == [(3, True, 200)]
    assert await deliver_due(world.pool, session, NOW + timedelta(days=2)) == []

    assert [r.status for r in receiver.got] == [500, 503, 200]
    assert len({r.headers["X-Callcase-Delivery"] for r in receiver.got}) == 1
    sent = [NOW, NOW + 10 * S, NOW + 70 * S]
    assert all(receiver.verified(SECRET_A, r, at) for r, at in zip(receiver.got, sent,
                                                                      strict=True))
    assert not receiver.verified(SECRET_B, receiver.got[-1], sent[-1])
    assert [int(r.headers["X-Callcase-Timestamp"]) for r in receiver.got] == [
        int(t.timestamp()) for t in sent]
    event = json.loads(receiver.got[-1].body)
    row = await notification(world, nid)
    assert (event["id"], event["kind"], event["case_id"], event["delivery_id"]) == (
        nid, "dispute", world.cases["A1"], receiver.got[0].headers["X-Callcase-Delivery"])
    assert event["payload"]["statement"] == "从未办过这张卡"
    assert receiver.got[0].headers["X-Callcase-Event"] == "dispute"
    assert (row["delivered_at"], row["attempts"], row["last_status"], row["last_error"]) == (
        NOW + 70 * S, 3, 200, None)


async def test_gives_up_after_the_last_retry_and_keeps_it_in_the_feed(
    world: World, receiver: Receiver, session: aiohttp.ClientSession,
) -> None:
    await hook(world, "BANKA", receiver.url())
    nid = await notify(world, "A1")
    receiver.answers = [500] * wr.MAX_ATTEMPTS
    at, waits = NOW, []
    for attempt in range(1, wr.MAX_ATTEMPTS + 1):
        [tried] = await deliver_due(world.pool, session, at)
        assert (tried.attempt, tried.delivered) == (attempt, False)
        if tried.next_attempt_at is None:
            break
        assert await deliver_due(world.pool, session, tried.next_attempt_at - S) == []
        waits.append(tried.next_attempt_at - at)
        at = tried.next_attempt_at
    assert waits == [wr.retry_delay(n) for n in range(1, wr.MAX_ATTEMPTS)]
    assert len(receiver.got) == wr.MAX_ATTEMPTS
    row = await notification(world, nid)
    assert (row["dead_at"], row["delivered_at"], row["attempts"], row["last_status"]) == (
        at, None, wr.MAX_ATTEMPTS, 500)
    assert await deliver_due(world.pool, session, at + timedelta(days=30)) == []
    assert [n.id for n in await outbox.feed(world.pool, world.clients["BANKA"], after=0,
                                            limit=10)] == [nid]


async def test_a_redirect_is_not_followed(world: World, receiver: Receiver,
                                          session: aiohttp.ClientSession) -> None:
    await hook(world, "BANKA", receiver.url("/moved"))
    nid = await notify(world, "A1")
    [tried] = await deliver_due(world.pool, session, NOW)
    assert (tried.delivered, tried.status, tried.next_attempt_at) == (False, 302, NOW + 10 * S)
    assert tried.error is not None and "redirects are not followed" in tried.error
    assert [r.path for r in receiver.got] == ["/moved"]
    row = await notification(world, nid)
    assert (row["last_status"], row["delivered_at"]) == (302, None)


async def test_a_refused_connection_is_a_failed_try(world: World,
                                                    session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await hook(world, "BANKA", f"http://127.0.0.1:{port}/hook")
    nid = await notify(world, "A1")
    [tried] = await deliver_due(world.pool, session, NOW)
    assert (tried.delivered, tried.status, tried.next_attempt_at) == (False, None, NOW + 10 * S)
    row = await notification(world, nid)
    assert row["last_error"] and "Connect" in row["last_error"]


async def test_no_answer_in_time_is_a_failed_try(world: World, receiver: Receiver,
                                                 session: aiohttp.ClientSession) -> None:
    await hook(world, "BANKA", receiver.url("/slow"))
    await notify(world, "A1")
    try:
        [tried] = await deliver_due(world.pool, session, NOW, answer_s=0.2)
    finally:
        receiver.release.set()
    assert (tried.delivered, tried.status, tried.error) == (False, None,
                                                            "no answer within 0.2 s")


async def test_each_bank_gets_its_own_signed_with_its_own_secret(
    world: World, receiver: Receiver, session: aiohttp.ClientSession,
) -> None:
    await hook(world, "BANKA", receiver.url(), SECRET_A)
    await hook(world, "BANKB", receiver.url("/hook-b"), SECRET_B)
    await notify(world, "A1")
    await notify(world, "B1", agent="agent_b")
    assert len(await deliver_due(world.pool, session, NOW)) == 2
    by_path = {r.path: r for r in receiver.got}
    assert json.loads(by_path["/hook"].body)["case_id"] == world.cases["A1"]
    assert json.loads(by_path["/hook-b"].body)["case_id"] == world.cases["B1"]
    assert receiver.verified(SECRET_A, by_path["/hook"], NOW)
    assert receiver.verified(SECRET_B, by_path["/hook-b"], NOW)
    assert not receiver.verified(SECRET_A, by_path["/hook-b"], NOW)


async def test_not_pushed_without_an_active_webhook_or_once_acknowledged(
    world: World, receiver: Receiver, session: aiohttp.ClientSession,
) -> None:
    await notify(world, "A1")
    await notify(world, "B1", agent="agent_b")
    assert await deliver_due(world.pool, session, NOW) == []  # no webhook at all
    await hook(world, "BANKB", receiver.url(), SECRET_B, active=False)
    assert await deliver_due(world.pool, session, NOW) == []
    await hook(world, "BANKA", receiver.url())
    await outbox.ack(world.pool, Actor(world.users["auditor_a"]), world.clients["BANKA"],
                     ids=[], up_to=10**6, now=NOW)
    assert await deliver_due(world.pool, session, NOW) == []
    assert receiver.got == []
    await hook(world, "BANKB", receiver.url(), None, active=True)  # the secret kept
    [tried] = await deliver_due(world.pool, session, NOW)
    assert tried.delivered
    assert receiver.verified(SECRET_B, receiver.got[0], NOW)


async def test_racing_passes_push_each_notification_once(
    world: World, receiver: Receiver, session: aiohttp.ClientSession,
) -> None:
    await hook(world, "BANKA", receiver.url())
    for n in range(30):
        await world.pool.execute(
            "INSERT INTO client_notifications (client_id, case_id, kind, payload, created_at)"
            " VALUES ($1, $2, 'payment_claim', $3, $4)", world.clients["BANKA"],
            world.cases["A2"], json.dumps({"n": n}), NOW)
    passes = await asyncio.gather(*[deliver_due(world.pool, session, NOW) for _ in range(4)])
    passes.append(await deliver_due(world.pool, session, NOW))
    assert sum(len(p) for p in passes) == 30
    ids = [r.headers["X-Callcase-Delivery"] for r in receiver.got]
    assert len(ids) == len(set(ids)) == 30
    assert await world.pool.fetchval(
        "SELECT count(*) FROM client_notifications WHERE delivered_at IS NULL") == 0


async def test_the_worker_delivers_in_the_background(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
    world: World, receiver: Receiver,
) -> None:
    app = create_app(settings, clock=lambda: NOW)
    app[WEBHOOK_POLL] = 0.01
    if delivery_worker not in app.cleanup_ctx:  # until the app factory runs it
        app.cleanup_ctx.append(delivery_worker)
    await aiohttp_client(app)
    await hook(world, "BANKA", receiver.url())
    nid = await notify(world, "A1")
    async with asyncio.timeout(20):
        while (await notification(world, nid))["delivered_at"] is None:
            await app[WEBHOOK_WORKER].next_pass()
    assert (await notification(world, nid))["delivered_at"] == NOW
    assert len(receiver.got) == 1
    assert receiver.verified(SECRET_A, receiver.got[0], NOW)


# --- the settings API ------------------------------------------------------------------

@pytest.fixture
async def api(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
    pool: asyncpg.Pool,
) -> ApiClient:
    app = create_app(settings, clock=lambda: NOW)
    known = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    if "/clients/{id}/webhook" not in known:
        app.router.add_routes(routes_client.routes)
    return await aiohttp_client(app)


async def put(api: ApiClient, world: World, who: str, bank: str = "BANKA",
              **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await api.put(f"/clients/{world.clients[bank]}/webhook", json=body,
                         headers=world.headers(who))
    return resp.status, await resp.json()


async def test_webhook_settings_matrix(api: ApiClient, world: World) -> None:
    ok = {"admin", "auditor_a"}
    got_put, got_get = {}, {}
    for who in USERS:
        got_put[who], _ = await put(api, world, who, url="https://bank-a.example/h",
                                    secret=SECRET_A)
        resp = await api.get(f"/clients/{world.clients['BANKA']}/webhook",
                             headers=world.headers(who))
        got_get[who] = resp.status
    want = {who: 200 if who in ok else 404 if who == "auditor_b" else 403 for who in USERS}
    assert got_put == want
    assert got_get == want
    assert len(await world.pool.fetch(
        "SELECT * FROM audit_log WHERE action = 'client.webhook.set'")) == 2


async def test_the_secret_is_write_only(api: ApiClient, world: World) -> None:
    resp = await api.put(f"/clients/{world.clients['BANKA']}/webhook",
                         json={"url": "https://bank-a.example/h", "secret": SECRET_A},
                         headers=world.headers("auditor_a"))
    assert SECRET_A not in await resp.text()
    body = await resp.json()
    assert (body["url"], body["active"], body["secret_set"], body["updated_by"]) == (
        "https://bank-a.example/h", True, True, world.users["auditor_a"].id)
    status, body = await put(api, world, "admin", url="https://bank-a.example/v2",
                             active=False)
    assert (status, body["url"], body["active"], body["secret_set"]) == (
        200, "https://bank-a.example/v2", False, True)
    assert await world.pool.fetchval("SELECT secret FROM client_webhooks") == SECRET_A
    resp = await api.get(f"/clients/{world.clients['BANKA']}/webhook",
                         headers=world.headers("auditor_a"))
    assert SECRET_A not in await resp.text()
    details = [r["details"] for r in await world.pool.fetch(
        "SELECT details::text FROM audit_log WHERE action = 'client.webhook.set' ORDER BY id")]
    assert all(SECRET_A not in d for d in details)
    assert [json.loads(d)["secret_changed"] for d in details] == [True, False]


async def test_no_webhook_reads_as_unset(api: ApiClient, world: World) -> None:
    resp = await api.get(f"/clients/{world.clients['BANKB']}/webhook",
                         headers=world.headers("auditor_b"))
    assert (await resp.json())["secret_set"] is False
    resp = await api.get("/clients/99999/webhook", headers=world.headers("admin"))
    assert resp.status == 404


@pytest.mark.parametrize(("body", "error_id"), [
    ({"url": "https://bank-a.example/h"}, "webhook.secret"),
    ({"url": "ftp://bank-a.example/h", "secret": SECRET_A}, "webhook.url"),
    ({"url": "https://u:p@bank-a.example/h", "secret": SECRET_A}, "webhook.url"),
    ({"secret": SECRET_A}, "webhook.url"),
    ({"url": "https://bank-a.example/h", "secret": "short"}, "webhook.secret"),
    ({"url": "https://bank-a.example/h", "secret": SECRET_A, "active": "yes"},
     "webhook.active"),
    ({"url": "https://bank-a.example/h", "secret": SECRET_A, "events": []},
     "webhook.invalid"),
])
async def test_bad_settings_are_refused_and_nothing_stored(
    api: ApiClient, world: World, body: dict[str, Any], error_id: str,
) -> None:
    status, answer = await put(api, world, "admin", **body)
    assert (status, answer["error_id"]) == (400, error_id)
    assert await world.pool.fetchval("SELECT count(*) FROM client_webhooks") == 0
    assert await world.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'client.webhook.set'") == 0
