"""The authorization matrix's rules: every route of the app, what its path parameters
name, the request a user sends about their own side's records or the other side's,
and what each request must answer.

A route's roles are the ``allowed_roles`` that `api.context.requires` sets on its
handler; a route without them (`Route.allowed` is None) is open to every signed-in
user, which `test_every_route_states_its_roles` refuses.

Records have a side (`tests.security.estate`): a user's home side is B for agent_b and
auditor_b, A for everyone else. A request is sent in variants: ``own`` (every record
of the user's home side), ``other`` (every record of the other side), ``mixed`` (the
first path parameter at home, the rest on the other side, for routes naming two
records), ``nowhere`` (ids that exist nowhere) and ``malformed`` (a path parameter
that is not an id). Ids in a path or a body are strict: a user who may not see the
other side's record of that kind must get 403 or 404; ids in a query string only
filter a list, so there the other side's records must simply not show
(`tests.security.pii`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import FormData, web

from api.app import PUBLIC_PATHS
from api.settings import Settings
from cases.domain import Role
from tests.api.world import NOW, USERS, batch_csv, resident_id
from tests.conftest import TEST_DB_URL, TEST_REDIS_URL
from tests.security.estate import (
    ACCOUNT,
    AGENT,
    CLIENT,
    JPEG,
    MONTH_DONE,
    MONTH_DRAFT,
    SAMPLE_MONTH,
    WORK_LINE,
    Estate,
    estate_app,
    figures,
)

ROLE = {who: role for who, (role, _, _) in USERS.items()}
HOME = {who: "B" if who in ("agent_b", "auditor_b") else "A" for who in USERS}
OTHER = {"A": "B", "B": "A"}
NOWHERE = 424242
SKIPPED_METHODS = frozenset({"HEAD", "OPTIONS"})
# Routes public by design besides `api.app.PUBLIC_PATHS`: the web console's static
# files (`api.routes_console`), which log in through the API like any client.
PUBLIC_NAMES = ("console.",)
Json = dict[str, Any]
Kwargs = dict[str, Any]

# What a path parameter names: by its name, else (for ``id``) by the path's prefix.
NAMED = {"eid": "evidence", "import_id": "import", "call_id": "call", "agent_id": "agent",
         "month": "month"}
PREFIXES = (("/client/disputes/", "dispute"), ("/supervisor/agents/", "agent"),
            ("/supervisors/", "self"), ("/cases/", "case"), ("/batches/", "batch"),
            ("/clients/", "client"), ("/campaigns/", "campaign"),
            ("/recordings/", "recording"), ("/approvals/", "approval"),
            ("/field-visits/", "visit"), ("/agents/", "agent"), ("/queues/", "queue"),
            ("/users/", "user"))
# Kinds whose records belong to a side (the others are one record for everyone).
SIDED = frozenset({"case", "client", "batch", "campaign", "recording", "approval", "visit",
                   "evidence", "dispute", "import", "call", "phone", "agent", "user", "self"})
# The kinds of the other side's records a role may not see (out of scope: 404, or 403
# where the route refuses before looking).
HIDDEN = {
    Role.CLIENT_AUDITOR: frozenset({"case", "client", "batch", "campaign", "recording",
                                    "approval", "visit", "evidence", "dispute", "import",
                                    "call", "phone"}),
    Role.AGENT: frozenset({"case", "recording", "approval", "visit", "evidence", "dispute",
                           "call", "phone"}),
    Role.SUPERVISOR: frozenset({"self"}),  # a supervisor sets only their own softphone
}
# Records that belong together: naming one with another's (evidence of another visit,
# a campaign or phone of another client's case) names nothing: 404 (or 400).
TOGETHER = frozenset({("visit", "evidence"), ("client", "import"), ("case", "campaign"),
                      ("case", "phone")})
MALFORMED = {"month": ("2026-13", "²⁰²⁶-10", "10-2026", "0000-01", "9999-12"),
             "call": ("x" * 201, "%00")}
MALFORMED_ID = ("0", "-1", "abc", "²", "1.5", "9" * 19)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # canonical, with {parameters}
    allowed: frozenset[Role] | None
    websocket: bool

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(re.findall(r"\{(\w+)\}", self.path))


def _is_websocket(handler: Callable[..., object]) -> bool:
    returns = inspect.unwrap(handler).__annotations__.get("return", "")
    return "WebSocketResponse" in str(returns)


def app_routes(app: web.Application) -> list[Route]:
    """Every route but HEAD/OPTIONS and the public ones, in the order they were added."""
    found = []
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        public = path in PUBLIC_PATHS or (route.name or "").startswith(PUBLIC_NAMES)
        if route.method in SKIPPED_METHODS or public:
            continue
        allowed = getattr(route.handler, "allowed_roles", None)
        found.append(Route(route.method, path, allowed, _is_websocket(route.handler)))
    return found


def routes_under_test() -> list[Route]:
    """`app_routes` of the app the tests build (building it opens nothing)."""
    settings = Settings.from_env({"CALLCASE_DATABASE_URL": TEST_DB_URL,
                                  "CALLCASE_REDIS_URL": TEST_REDIS_URL})
    return app_routes(estate_app(settings))


def kind_of(path: str, param: str) -> str:
    if param in NAMED:
        return NAMED[param]
    return next((kind for prefix, kind in PREFIXES if path.startswith(prefix)), "unknown")


@dataclass
class Target:
    """The records one request names: which side each kind is taken from, and which
    kinds the path and body (strict) or the query (soft) named."""

    estate: Estate
    route: Route
    who: str
    variant: str
    n: int
    first: str = ""  # the first kind the request names (at home in ``mixed``)
    strict: list[str] = field(default_factory=list)
    soft: list[str] = field(default_factory=list)

    def side(self, kind: str) -> str:
        home = HOME[self.who]
        at_home = self.variant == "own" or (self.variant == "mixed" and kind == self.first)
        return home if at_home else OTHER[home]

    def id(self, kind: str) -> Any:
        self.strict.append(kind)
        return self._value(kind)

    def query_id(self, kind: str) -> Any:
        self.soft.append(kind)
        return self._value(kind)

    def _value(self, kind: str) -> Any:
        world, side = self.estate.world, self.side(kind)
        if self.variant == "nowhere" and kind in SIDED | {"queue", "new_agent", "unknown"}:
            return "no-such-call" if kind == "call" else NOWHERE
        fixed: dict[str, Callable[[], Any]] = {
            "month": lambda: MONTH_DONE if self.route.method == "GET" else MONTH_DRAFT,
            "queue": lambda: self.estate.floor.queue_id,
            "new_agent": lambda: self.estate.extra_agent_user,
            "supervisor": lambda: world.users["supervisor"].id,
            "agent": lambda: world.users[AGENT[side]].id,
            "user": lambda: world.users[AGENT[side]].id,
            "self": lambda: world.users[self._self(side)].id,
        }
        if kind in fixed:
            return fixed[kind]()
        return self.estate.ids[side].get(kind, NOWHERE)

    def _self(self, side: str) -> str:
        if side == HOME[self.who]:
            return self.who
        return "cleared_supervisor" if self.who == "supervisor" else "supervisor"

    def out_of_scope(self) -> bool:
        """Does the path or body name a record of a kind the user may not see?"""
        hidden = HIDDEN.get(ROLE[self.who], frozenset())
        return any(k in hidden and self.side(k) != HOME[self.who] for k in self.strict)

    def mismatched(self) -> bool:
        """Does the request name a record with another that it does not belong with?"""
        return self.variant == "mixed" and any(
            (self.first, kind) in TOGETHER for kind in self.strict)


Send = Callable[[Target], Kwargs]


def body(make: Callable[[Target], Json]) -> Send:
    return lambda t: {"json": make(t)}


def query(make: Callable[[Target], Json]) -> Send:
    return lambda t: {"params": {k: str(v) for k, v in make(t).items()}}


def _batch_upload(t: Target) -> Kwargs:
    client = CLIENT[t.side("client")]
    t.strict.append("client")
    form = FormData()
    form.add_field("client", client)
    row = (f"U{t.n}", "赵强", resident_id("19800101", t.n % 1000), "100", 5, UPLOADED_PHONE,
           "", "")
    form.add_field("file", batch_csv([row]), filename="b.csv", content_type="text/csv")
    return {"data": form}


def _payments(t: Target) -> Kwargs:
    account = ACCOUNT[t.side("client")]
    csv = f"account_no,amount,paid_at,reference\n{account},50,2026-11-28 11:00:00,M{t.n}\n"
    return {"data": csv.encode(), "headers": {"Content-Type": "text/csv"}}


UPLOADED_PHONE = "13700137000"
TOMORROW = (NOW + timedelta(days=1)).date().isoformat()
PASS = {"opening": "pass", "verification": "pass", "courtesy": "pass", "negotiation": "pass",
        "arrangement": "pass", "closing": "pass", "no_threats": "pass",
        "no_third_party": "pass", "no_impersonation": "pass"}
CLIENT_QUERY = query(lambda t: {"client_id": t.query_id("client")})

# Requests that pass validation, so they reach the lookup and the scope check.
SENDS: dict[tuple[str, str], Send] = {
    ("POST", "/clients"): body(lambda t: {"code": f"NEW{t.n}", "name": "New bank"}),
    ("POST", "/users"): body(lambda t: {"username": f"new-{t.n}", "role": "qa",
                                        "password": "long enough pw"}),
    ("POST", "/batches"): _batch_upload,
    ("GET", "/cases"): CLIENT_QUERY,
    ("POST", "/cases/{id}/actions"): body(lambda t: {"code": "NA", "phone_id": t.id("phone")}),
    ("PUT", "/cases/{id}/assignment"): body(lambda t: {"agent_id": t.id("user")}),
    ("POST", "/cases/{id}/approvals"): body(lambda t: {
        "kind": "fee_waiver", "waived_amount": "300", "reason": "late fees in hospital"}),
    ("GET", "/approvals"): CLIENT_QUERY,
    ("POST", "/approvals/{id}/decision"): body(lambda t: {"decision": "approve"}),
    ("POST", "/campaigns"): body(lambda t: {
        "client_id": t.id("client"), "name": f"campaign {t.n}", "mode": "progressive",
        "work_lines": [WORK_LINE]}),
    ("GET", "/cases/{id}/dialability"): query(lambda t: {"campaign_id": t.id("campaign")}),
    ("GET", "/recordings"): CLIENT_QUERY,
    ("POST", "/recordings/{id}/legal-hold"): body(lambda t: {"reason": "dispute"}),
    ("GET", "/field-visits/qa-sample"): query(lambda t: {
        "month": SAMPLE_MONTH, "client_id": t.query_id("client")}),
    ("POST", "/field-visits/qa-sample"): body(lambda t: {"month": SAMPLE_MONTH,
                                                         "seed": f"s{t.n}"}),
    ("GET", "/field-visits"): CLIENT_QUERY,
    ("POST", "/field-visits/{id}/plan"): body(lambda t: {
        "planned_for": TOMORROW, "address": "1 Gate Rd",
        "collectors": [t.id("user"), t.id("supervisor")]}),
    ("POST", "/field-visits/{id}/result"): body(lambda t: {"result": "not_home",
                                                           "notes": "neighbours say moved"}),
    ("POST", "/field-visits/{id}/evidence"): lambda t: {
        "data": JPEG, "params": {"kind": "photo", "name": "door.jpg"},
        "headers": {"Content-Type": "image/jpeg"}},
    ("POST", "/field-visits/{id}/cancel"): body(lambda t: {"reason": "the debtor paid"}),
    ("POST", "/agent/status"): body(lambda t: {"status": "available"}),
    ("POST", "/agent/call/action"): body(lambda t: {"code": "NA"}),
    ("POST", "/agent/dial"): body(lambda t: {"case_id": t.id("case")}),
    ("POST", "/supervisor/agents/{id}/status"): body(lambda t: {"status": "available"}),
    ("POST", "/supervisor/calls/{call_id}/monitor"): body(lambda t: {"mode": "listen"}),
    ("POST", "/agents"): body(lambda t: {"user_id": t.id("new_agent"),
                                         "extension": f"9{t.n:03d}",
                                         "password": "softphone pw"}),
    ("PATCH", "/agents/{id}"): body(lambda t: {"skills": {"cards": 5}}),
    ("POST", "/queues"): body(lambda t: {"name": f"queue {t.n}"}),
    ("PUT", "/supervisors/{id}/phone"): body(lambda t: {"extension": f"7{t.n:03d}",
                                                        "password": "softphone pw"}),
    ("GET", "/transcripts/search"): query(lambda t: {"q": "recorded"}),
    ("POST", "/qa/samples"): body(lambda t: {"month": SAMPLE_MONTH, "seed": f"s{t.n}"}),
    ("POST", "/qa/reviews"): body(lambda t: {"recording_id": t.id("recording"),
                                             "answers": PASS}),
    ("GET", "/qa/coverage"): query(lambda t: {"month": SAMPLE_MONTH}),
    ("GET", "/client/notifications"): CLIENT_QUERY,
    ("POST", "/client/notifications/ack"): body(lambda t: {"up_to": 1}),
    ("GET", "/client/disputes"): CLIENT_QUERY,
    ("POST", "/client/disputes/{id}/resolve"): body(lambda t: {
        "resolution": "debt_confirmed", "note": "the statement was checked"}),
    ("PUT", "/clients/{id}/webhook"): body(lambda t: {
        "url": "https://bank.example/hooks/callcase", "secret": "a-long-enough-secret-0123"}),
    ("GET", "/client/access-log"): CLIENT_QUERY,
    ("POST", "/clients/{id}/payments"): _payments,
    ("POST", "/clients/{id}/evaluations/{month}"): body(lambda t: {
        "results": figures(t.estate.world)}),
    ("PUT", "/agents/{id}/caseload-cap"): body(lambda t: {"cap": 10}),
    ("GET", "/reports/monthly"): query(lambda t: {"month": MONTH_DRAFT,
                                                  "client_id": t.query_id("client")}),
    ("POST", "/cases/{id}/complaints"): body(lambda t: {
        "received_at": "2026-11-29T02:00:00+00:00", "channel": "phone",
        "summary": "the caller was rude"}),
    ("GET", "/complaints"): query(lambda t: {"client_id": t.query_id("client")}),
}


def send_of(route: Route) -> Send:
    """The route's request; unknown routes send ``{}`` where a body may go."""
    if (route.method, route.path) in SENDS:
        return SENDS[(route.method, route.path)]
    return body(lambda t: {}) if route.method in ("POST", "PUT", "PATCH") else lambda t: {}


def fill_path(t: Target, malformed: tuple[str, str] | None = None) -> str:
    """The route's path with the target's records (one parameter malformed)."""
    def value(match: re.Match[str]) -> str:
        param = match.group(1)
        if malformed is not None and malformed[0] == param:
            return malformed[1]
        return str(t.id(kind_of(t.route.path, param)))

    return re.sub(r"\{(\w+)\}", value, t.route.path)


def named_kinds(route: Route, estate: Estate) -> tuple[list[str], list[str]]:
    """The kinds of record the route's request names: strictly (path, body, an id in
    the query) and as a list filter."""
    probe = Target(estate, route, "admin", "own", 0)
    fill_path(probe)
    send_of(route)(probe)
    return probe.strict, probe.soft


def variants(route: Route, estate: Estate) -> tuple[str, ...]:
    """``own``, then ``other`` when the request names a sided record, then ``mixed``
    when it names two kinds of them."""
    strict, soft = named_kinds(route, estate)
    if not set(strict + soft) & SIDED:
        return ("own",)
    return ("own", "other", "mixed") if len(set(strict) & SIDED) > 1 else ("own", "other")


def malformed_values(route: Route) -> list[tuple[str, str]]:
    found = []
    for param in route.params:
        kind = kind_of(route.path, param)
        found += [(param, v) for v in MALFORMED.get(kind, MALFORMED_ID)]
    return found


def verdict(t: Target, status: int) -> str | None:
    """What is wrong with `status` as the answer to the target's request, if anything."""
    role = ROLE[t.who]
    if status >= 500:
        return "a server error"
    if status == 401:
        return "401 with a valid token"
    if t.route.allowed is not None and role not in t.route.allowed:
        return None if status == 403 else "want 403: the role may not use the route"
    if t.variant in ("nowhere", "malformed"):
        return None if 400 <= status < 500 else "want 4xx for an id that names nothing"
    if t.mismatched():
        return None if status in (400, 404) else "want 404: the records do not go together"
    if t.variant != "own" and t.out_of_scope():
        return None if status in (403, 404) else "want 404 (or 403): out of the user's scope"
    return None
