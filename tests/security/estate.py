"""An estate for the API security tests: the API test world (two banks, one user per
role, cases A1 and A2 of BANKA, B1 of BANKB) with a record of every kind a route names
in its path on each bank's side, and a stand-in for the call path, so that no route
waits for a process that is not running.

Side A is BANKA's: case A1 (assigned to agent_a, seen by auditor_a) and everything
hung on it; side B is BANKB's: case B1 (agent_b, auditor_b). Each side has its batch,
its campaign, a live call (an open attempt), a recording with a transcript, an approval
request waiting for the bank, a dispute, a field visit planned for the case's agent with
one photo of evidence, a payment import and the client's evaluations (September
published, October a draft). Records are made the way users make them: through the
API where a route exists. Each kind's ids start at its own hundred, so a route that
looks a record up in the wrong table finds nothing rather than a record that happens
to share its id.

Both agents are logged in and talking: agent_a on side A's call, agent_b on side B's,
so the desk's routes (screen-pop, filing the call's code, PCI pause) and the wallboard
have a call to show. The stand-in call path answers the API's requests to the process
that holds an agent's softphone or a live call, so routes answer what the call path
would instead of waiting out their timeouts: an agent's dial request is refused
(``dial.refused``), PCI pauses and monitor commands succeed.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from api import auth
from api.app import create_app
from api.settings import Settings
from cases import store
from cases.domain import Role
from dialer import dial_requests
from dialer.agent_dial import DialRequest
from recording import pci
from recording.writer import RecorderPool
from routing import monitoring
from telephony.lines import WorkLine
from telephony.store import add_line
from tests.api.conftest import ApiClient
from tests.api.floor import Floor, open_floor
from tests.api.world import NOW, World
from tests.dialer.records import make_campaign
from tests.recording.catalogued import STARTED, catalogued
from tests.transcription.qa_world import scripted_transcript, store_transcript
from transcription import qa_store
from transcription.dialogue import Speaker

SIDES = ("A", "B")
CLIENT = {"A": "BANKA", "B": "BANKB"}
ACCOUNT = {"A": "A1", "B": "B1"}
AGENT = {"A": "agent_a", "B": "agent_b"}
MONTH_DONE, MONTH_DRAFT = "2026-09", "2026-10"  # evaluations: published, draft
SAMPLE_MONTH = STARTED.strftime("%Y-%m")  # the recordings' month
SUPERVISOR_EXTENSION = "700"
WORK_LINE = "line1"
JPEG = b"\xff\xd8\xff\xe0" + b"photo of the door" * 8
SETTLE = {"kind": "settlement", "due_date": "2026-12-20",
          "reason": "lost job; family lends a lump sum"}
SETTLE_AMOUNT = {"A": "8000", "B": "3000"}
Json = dict[str, Any]
EXTRA_AGENT_HASH = auth.hash_password("agent c password")  # once: hashing takes 0.2 s
ID_FLOORS = {"campaigns": 100, "queues": 150, "attempts": 200, "recordings": 300,
             "approval_requests": 400, "field_visit_requests": 500,
             "field_visit_evidence": 600, "disputes": 700, "payment_imports": 800,
             "evaluations": 900}


def estate_settings(settings: Settings, root: Path) -> Settings:
    """`settings` with recordings and evidence under `root`."""
    return dataclasses.replace(
        settings,
        recording=dataclasses.replace(settings.recording, root=root / "recordings"),
        evidence=dataclasses.replace(settings.evidence, root=root / "evidence"),
    )


def estate_app(settings: Settings) -> web.Application:
    return create_app(settings, clock=lambda: NOW)


@dataclass
class Estate:
    """The world, its floor and the records of each side by kind (``ids[side][kind]``)."""

    world: World
    floor: Floor
    ids: dict[str, dict[str, int | str]] = field(default_factory=lambda: {s: {} for s in SIDES})
    extra_agent_user: int = 0  # an agent user without a softphone yet (for POST /agents)

    def id(self, side: str, kind: str) -> int | str:
        return self.ids[side][kind]


async def call(api: ApiClient, world: World, who: str, method: str, path: str,
               want: int | tuple[int, ...] = (200, 201), **kwargs: Any) -> Json:
    """The JSON answer to a request `who` makes, which must have a status in `want`."""
    headers = world.headers(who) | kwargs.pop("headers", {})
    resp = await api.request(method, path, headers=headers, **kwargs)
    body: Json = await resp.json()
    wanted = (want,) if isinstance(want, int) else want
    assert resp.status in wanted, (method, path, who, resp.status, body)
    return body


async def build_estate(api: ApiClient, world: World, redis: aioredis.Redis,
                       recorder: RecorderPool) -> Estate:
    for table, floor_id in ID_FLOORS.items():
        await world.pool.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), $1)",
                                 floor_id)
    floor = await open_floor(world, redis)
    await add_line(world.pool, WorkLine(WORK_LINE, "127.0.0.1", 5070, "+862100000000"))
    estate = Estate(world, floor)
    await _campaigns_and_calls(estate)
    for side in SIDES:
        await _records(api, estate, recorder, side)
    await _evaluations(api, world)
    await call(api, world, "admin", "PUT", f"/supervisors/{world.users['supervisor'].id}/phone",
               json={"extension": SUPERVISOR_EXTENSION, "password": "supervisor softphone"})
    await _talking(api, estate)
    await call(api, world, "qa", "POST", "/qa/samples",
               json={"month": SAMPLE_MONTH, "seed": "estate"})
    extra = await store.add_user(world.pool, store.NewUser(
        username="agent-c", display_name="agent_c", role=Role.AGENT,
        password_hash=EXTRA_AGENT_HASH))
    estate.extra_agent_user = extra.id
    return estate


async def _campaigns_and_calls(estate: Estate) -> None:
    world, floor = estate.world, estate.floor
    campaign_b = await make_campaign(world.pool, world.clients["BANKB"])
    for side, campaign_id in (("A", floor.campaign_id), ("B", campaign_b.id)):
        ids = estate.ids[side]
        ids["campaign"] = campaign_id
        ids["call"] = f"call-{side.lower()}1"
        await dataclasses.replace(floor, campaign_id=campaign_id).attempt(
            ACCOUNT[side], str(ids["call"]))


async def _talking(api: ApiClient, estate: Estate) -> None:
    """Each side's agent logs in and answers the side's call (one free agent at a time,
    so the queue offers it to them)."""
    for side in SIDES:
        await call(api, estate.world, AGENT[side], "POST", "/agent/login")
        await estate.floor.talk(AGENT[side], str(estate.ids[side]["call"]))


async def _records(api: ApiClient, estate: Estate, recorder: RecorderPool, side: str) -> None:
    world, ids = estate.world, estate.ids[side]
    account, agent, client = ACCOUNT[side], AGENT[side], CLIENT[side]
    case_id, client_id = world.cases[account], world.clients[client]
    ids.update(case=case_id, client=client_id, batch=await world.pool.fetchval(
        "SELECT id FROM batches WHERE client_id = $1", client_id), phone=await world.pool.fetchval(
        "SELECT id FROM phones WHERE case_id = $1 AND party = 'debtor'", case_id))
    ids["recording"] = await _recording(world, recorder, side)
    filed = await call(api, world, "admin", "POST", f"/cases/{case_id}/approvals",
                       json={**SETTLE, "settle_amount": SETTLE_AMOUNT[side]})
    ids["approval"] = filed["id"]
    ids["visit"], ids["evidence"] = await _visit(api, world, side)
    await call(api, world, agent, "POST", f"/cases/{case_id}/actions",
               json={"code": "DSP", "statement": "I never had this card"},
               headers={"Idempotency-Key": f"estate-dsp-{side}"})
    ids["dispute"] = await world.pool.fetchval(
        "SELECT id FROM disputes WHERE case_id = $1", case_id)
    report = await call(
        api, world, "admin", "POST", f"/clients/{client_id}/payments",
        data=f"account_no,amount,paid_at,reference\n{account},100,2026-11-28 10:00:00,"
             f"R-{side}\n".encode(),
        headers={"Content-Type": "text/csv", "X-File-Name": f"pay-{side}.csv"})
    ids["import"] = report["import_id"]


async def _recording(world: World, recorder: RecorderPool, side: str) -> int:
    row = await catalogued(world.pool, recorder, world, f"rec-{side.lower()}1",
                           ACCOUNT[side], agent=AGENT[side])
    await store_transcript(world.pool, row.id, scripted_transcript(
        (Speaker.AGENT, "this call is recorded"),
        (Speaker.DEBTOR, "the balance is overdue I will pay"), duration=2.0))
    await qa_store.refresh_flags(world.pool, row.id)
    return row.id


async def _visit(api: ApiClient, world: World, side: str) -> tuple[int, int]:
    """A visit to the side's case, planned for its agent and the supervisor, with a photo
    (no result yet)."""
    account, agent = ACCOUNT[side], AGENT[side]
    case_id = world.cases[account]
    await call(api, world, agent, "POST", f"/cases/{case_id}/actions", json={"code": "SKIP"},
               headers={"Idempotency-Key": f"estate-skip-{side}"})
    visit_id: int = await world.pool.fetchval(
        "SELECT id FROM field_visit_requests WHERE case_id = $1", case_id)
    tomorrow = (NOW + timedelta(days=1)).date().isoformat()
    await call(api, world, "supervisor", "POST", f"/field-visits/{visit_id}/plan",
               json={"planned_for": tomorrow, "address": "1 Gate Rd",
                     "collectors": [world.users[agent].id, world.users["supervisor"].id]})
    photo = await call(api, world, agent, "POST", f"/field-visits/{visit_id}/evidence",
                       data=JPEG, params={"kind": "photo", "name": "door.jpg"},
                       headers={"Content-Type": "image/jpeg"})
    return visit_id, int(photo["id"])


def figures(world: World) -> list[Json]:
    return [{"agent_id": world.users[who].id, "amount_assigned": "100000.00",
             "amount_recovered": "30000.00", "accounts": 30, "compliant_accounts": 29}
            for who in ("agent_a", "agent_b")]


async def _evaluations(api: ApiClient, world: World) -> None:
    for client in CLIENT.values():
        base = f"/clients/{world.clients[client]}/evaluations"
        for month in (MONTH_DONE, MONTH_DRAFT):
            await call(api, world, "admin", "POST", f"{base}/{month}",
                       json={"results": figures(world)})
        await call(api, world, "admin", "POST", f"{base}/{MONTH_DONE}/publish")


# --- the stand-in call path ---------------------------------------------------------------

class _AnyCall:
    """Monitor commands for every call succeed (the real one rings a softphone)."""

    def holds(self, call_id: str) -> bool:
        return True

    async def handle(self, command: dict[str, str]) -> dict[str, object]:
        return {"ok": True, "state": "ended" if command.get("action") == "stop" else "ringing"}


class _Recordings(Mapping[str, pci.Pausable]):
    """Every call's recording pauses and resumes (the real one silences its audio)."""

    def __getitem__(self, call_id: str) -> pci.Pausable:
        return self

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def pause(self, at_tick: int) -> None:
        pass

    def resume(self, at_tick: int) -> None:
        pass


async def _refuse(request: DialRequest) -> dict[str, object]:
    return {"ok": False, "why": "stand-in call path: no carrier", "refusals": []}


@asynccontextmanager
async def stand_in_call_path(redis: aioredis.Redis) -> AsyncIterator[None]:
    """Answer agents' dial requests (refused), PCI pauses and monitor commands (done)
    until the end."""
    servers: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = [
        lambda ready: dial_requests.serve(redis, lambda extension: True, _refuse, ready),
        lambda ready: monitoring.serve(redis, _AnyCall(), ready),
        lambda ready: pci.serve(redis, _Recordings(), lambda: 0, ready),
    ]
    readies = [asyncio.Event() for _ in servers]
    tasks = [asyncio.create_task(serve(ready)) for serve, ready in zip(servers, readies,
                                                                       strict=True)]
    try:
        async with asyncio.timeout(5):
            await asyncio.gather(*(ready.wait() for ready in readies))
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
