"""Where the world's personal data may appear, unmasked: the rules the matrix checks
every response and every log line against.

- A debtor's or guarantor's name: only to a user who may see the case.
- A phone number: only in ``GET /cases/{id}/phones`` of that case, to a user who may
  see the case (masked elsewhere: the screen-pop and dialability show its last 4
  digits).
- A national ID: only in ``GET /cases/{id}?reveal=id_no`` of that case, answered 200 to
  an admin, supervisor or client auditor with PII clearance who may see the case
  (`cases.access.check_may_reveal`; the reveal is audited).
- The phone and ID of a row the matrix uploads in a batch: never.
- Log lines: never a phone number or a national ID, whoever asked.
- Records out of the reader's scope, named by id in a successful JSON answer: never
  a ``case_id`` of a case the reader may not see, nor, to a client's auditor, a
  ``client_id`` of another client (records without names, like recordings or
  approvals, would otherwise leak unnoticed).

A value counts as unmasked when the part a mask hides (all but its last 4 characters,
`cases.domain.mask`) appears: a full number, or one masked too little.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from cases.access import REVEAL_ROLES
from cases.domain import Role
from tests.api.world import ID_A1, ID_A2, ID_B1, USERS, World
from tests.security.matrix import ROLE, UPLOADED_PHONE

ASSIGNED = {"A1": "agent_a", "A2": "agent_b", "B1": "agent_b"}
BANK = {"A1": "BANKA", "A2": "BANKA", "B1": "BANKB"}
NAMES = {"A1": ("王伟", "李娜"), "A2": ("张敏",), "B1": ("刘洋",)}
PHONES = {"A1": ("13800138000", "13900139000"), "A2": ("15012345678",), "B1": ("18612345678",)}
IDS = {"A1": ID_A1, "A2": ID_A2, "B1": ID_B1}
UPLOADED_ID_PREFIX = "11010119800101"  # tests.security.matrix._batch_upload's rows


def hidden_part(value: str) -> str:
    return value[:-4]


@dataclass(frozen=True, slots=True)
class Seen:
    """One response: to whom, on which route, which path and query, its status, body."""

    who: str
    route: str  # "GET /cases/{id}"
    path: str
    query: dict[str, str]
    status: int
    text: str


@dataclass(frozen=True, slots=True)
class Secret:
    what: str  # "name" | "phone" | "id"
    account: str | None  # None: a row the matrix uploaded, never shown
    value: str  # what must not appear


def secrets() -> list[Secret]:
    found = [Secret("name", a, n) for a, names in NAMES.items() for n in names]
    found += [Secret("phone", a, hidden_part(p)) for a, ps in PHONES.items() for p in ps]
    found += [Secret("id", a, hidden_part(i)) for a, i in IDS.items()]
    return [*found, Secret("phone", None, hidden_part(UPLOADED_PHONE)),
            Secret("id", None, UPLOADED_ID_PREFIX)]


def sees_case(who: str, account: str) -> bool:
    role, client = ROLE[who], USERS[who][1]
    if role is Role.AGENT:
        return ASSIGNED[account] == who
    if role is Role.CLIENT_AUDITOR:
        return BANK[account] == client
    return True


def may_reveal(who: str) -> bool:
    role, _, cleared = USERS[who]
    return role in REVEAL_ROLES and cleared


def _shown_here(secret: Secret, seen: Seen, world: World) -> bool:
    if secret.account is None or not sees_case(seen.who, secret.account):
        return False
    case_path = f"/cases/{world.cases[secret.account]}"
    if secret.what == "phone":
        return seen.route == "GET /cases/{id}/phones" and seen.path == case_path + "/phones"
    if secret.what == "id":
        return (seen.route == "GET /cases/{id}" and seen.path == case_path
                and seen.query.get("reveal") == "id_no" and seen.status == 200
                and may_reveal(seen.who))
    return True


def leaks(seen: Seen, world: World) -> list[str]:
    """Personal data in the response that its reader may not see there."""
    return [f"{seen.route} as {seen.who} ({seen.path}, {seen.status}): unmasked "
            f"{s.what} of {s.account or 'an uploaded row'}"
            for s in secrets() if s.value in seen.text and not _shown_here(s, seen, world)]


def log_leaks(lines: list[str]) -> list[str]:
    """Phone numbers and national IDs in log lines."""
    values = [s for s in secrets() if s.what in ("phone", "id")]
    return [f"log line with an unmasked {s.what} of {s.account or 'an uploaded row'}: "
            f"{line[:300]!r}" for line in lines for s in values if s.value in line]


def _objects(value: object) -> Iterator[dict[str, object]]:
    if isinstance(value, dict):
        yield value
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            yield from _objects(item)


def foreign_records(seen: Seen, world: World) -> list[str]:
    """Ids of records out of the reader's scope in a successful JSON answer."""
    if seen.status >= 300 or not seen.text.startswith(("{", "[")):
        return []
    cases = {world.cases[a] for a in ASSIGNED if not sees_case(seen.who, a)}
    auditing = USERS[seen.who][1]
    clients = {i for code, i in world.clients.items() if auditing not in (None, code)}
    return [f"{seen.route} as {seen.who} ({seen.path}): a record out of scope: {item}"[:300]
            for item in _objects(json.loads(seen.text))
            if item.get("case_id") in cases or item.get("client_id") in clients]
