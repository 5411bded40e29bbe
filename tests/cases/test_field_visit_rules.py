"""The field-visit rules as tables: moves, evidence to close, requests, uploads, sample."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from cases import field_visit_rules as rules
from cases.domain import Role, User
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.field_visit_rules import (
    AttachEvidence,
    Cancel,
    Close,
    EvidenceKind,
    IllegalTransition,
    Plan,
    RecordResult,
    VisitResult,
    VisitStatus,
)

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 29)
S = VisitStatus
K = EvidenceKind
ALL_KINDS = frozenset({K.PHOTO, K.RECORDING})
EVENTS: dict[str, rules.Event] = {
    "plan": Plan(TODAY, "1 Main St", (1, 2)),
    "result": RecordResult(VisitResult.NOT_HOME, None, NOW),
    "evidence": AttachEvidence(K.PHOTO),
    "close": Close(ALL_KINDS),
    "cancel": Cancel("debtor found by phone"),
}
# (state, event) -> state after; None: illegal
MOVES: list[tuple[VisitStatus, str, VisitStatus | None]] = [
    (S.REQUESTED, "plan", S.PLANNED),
    (S.REQUESTED, "result", None),
    (S.REQUESTED, "evidence", None),
    (S.REQUESTED, "close", None),
    (S.REQUESTED, "cancel", S.CANCELLED),
    (S.PLANNED, "plan", S.PLANNED),
    (S.PLANNED, "result", S.VISITED),
    (S.PLANNED, "evidence", S.PLANNED),
    (S.PLANNED, "close", None),
    (S.PLANNED, "cancel", S.CANCELLED),
    (S.VISITED, "plan", None),
    (S.VISITED, "result", S.VISITED),
    (S.VISITED, "evidence", S.VISITED),
    (S.VISITED, "close", S.CLOSED),
    (S.VISITED, "cancel", None),
    *[(final, event, None) for final in (S.CLOSED, S.CANCELLED) for event in EVENTS],
]


@pytest.mark.parametrize(("state", "event", "after"), MOVES,
                         ids=[f"{s}-{e}" for s, e, _ in MOVES])
def test_every_move_of_the_table(state: VisitStatus, event: str,
                                 after: VisitStatus | None) -> None:
    if after is None:
        with pytest.raises(IllegalTransition) as raised:
            rules.step(state, EVENTS[event])
        assert raised.value.error_id == "field_visit.illegal_transition"
        assert raised.value.details["status"] == str(state)
    else:
        assert rules.step(state, EVENTS[event]) is after


# kinds the visit has -> what is missing (empty: it may close)
EVIDENCE: list[tuple[frozenset[EvidenceKind], tuple[str, ...]]] = [
    (frozenset(), ("a photo", "a recording or a signed report")),
    (frozenset({K.PHOTO}), ("a recording or a signed report",)),
    (frozenset({K.RECORDING}), ("a photo",)),
    (frozenset({K.REPORT}), ("a photo",)),
    (frozenset({K.RECORDING, K.REPORT}), ("a photo",)),
    (frozenset({K.PHOTO, K.RECORDING}), ()),
    (frozenset({K.PHOTO, K.REPORT}), ()),
    (frozenset({K.PHOTO, K.RECORDING, K.REPORT}), ()),
]


@pytest.mark.parametrize(("kinds", "missing"), EVIDENCE)
def test_a_visit_closes_only_with_a_photo_and_a_recording_or_report(
        kinds: frozenset[EvidenceKind], missing: tuple[str, ...]) -> None:
    assert rules.missing_evidence(kinds) == missing
    if missing:
        with pytest.raises(Conflict) as raised:
            rules.step(S.VISITED, Close(kinds))
        assert raised.value.error_id == "field_visit.evidence_missing"
        assert raised.value.details["missing"] == list(missing)
    else:
        assert rules.step(S.VISITED, Close(kinds)) is S.CLOSED


def user(role: Role, uid: int = 7, client_id: int | None = None,
         active: bool = True) -> User:
    return User(uid, f"u{uid}", f"u{uid}", role, client_id, None, False, active)


# who, client of the visit, collectors -> visible
SCOPES = [
    (user(Role.ADMIN), 1, None, True),
    (user(Role.SUPERVISOR), 1, (3, 4), True),
    (user(Role.QA), 1, (3, 4), True),
    (user(Role.AGENT, 3), 1, (3, 4), True),
    (user(Role.AGENT, 4), 1, (3, 4), True),
    (user(Role.AGENT, 5), 1, (3, 4), False),
    (user(Role.AGENT, 5), 1, None, False),
    (user(Role.CLIENT_AUDITOR, 9, client_id=1), 1, (3, 4), True),
    (user(Role.CLIENT_AUDITOR, 9, client_id=2), 1, (3, 4), False),
]


@pytest.mark.parametrize(("who", "client_id", "collectors", "visible"), SCOPES)
def test_who_sees_a_visit(who: User, client_id: int, collectors: tuple[int, int] | None,
                          visible: bool) -> None:
    if visible:
        rules.check_visible(who, client_id, collectors)
    else:
        with pytest.raises(NotFound):
            rules.check_visible(who, client_id, collectors)


def test_only_collectors_act_and_planners_may_also_close() -> None:
    rules.check_collector(user(Role.SUPERVISOR, 3), (3, 4))
    with pytest.raises(Forbidden):
        rules.check_collector(user(Role.SUPERVISOR, 5), (3, 4))
    with pytest.raises(Forbidden):
        rules.check_collector(user(Role.AGENT, 5), None)
    rules.check_may_close(user(Role.SUPERVISOR, 5), (3, 4))
    rules.check_may_close(user(Role.AGENT, 4), (3, 4))
    with pytest.raises(Forbidden):
        rules.check_may_close(user(Role.AGENT, 5), (3, 4))


@pytest.mark.parametrize(("who", "problem"), [
    (user(Role.QA, 5), "is qa, not an agent or supervisor"),
    (user(Role.ADMIN, 5), "is admin, not an agent or supervisor"),
    (user(Role.AGENT, 5, active=False), "not active"),
])
def test_collectors_are_active_agents_or_supervisors(who: User, problem: str) -> None:
    rules.check_collectors([user(Role.AGENT, 3), user(Role.SUPERVISOR, 4)])
    with pytest.raises(InvalidInput) as raised:
        rules.check_collectors([user(Role.AGENT, 3), who])
    assert raised.value.details == {"5": problem}


GOOD_PLAN = {"planned_for": "2026-12-01", "address": " 1 Main St ", "collectors": [3, 4]}
BAD_PLANS: list[tuple[dict[str, object], dict[str, str]]] = [
    ({**GOOD_PLAN, "planned_for": "2026-11-28"}, {"planned_for": "is in the past"}),
    ({**GOOD_PLAN, "planned_for": "2027-02-01"}, {"planned_for": "is more than 60 days ahead"}),
    ({**GOOD_PLAN, "planned_for": "tomorrow"}, {"planned_for": "must be a date like 2026-12-01"}),
    ({**GOOD_PLAN, "collectors": [3]}, {"collectors": "must be the ids of exactly two users"}),
    ({**GOOD_PLAN, "collectors": [3, 3]}, {"collectors": "must be two different people"}),
    ({**GOOD_PLAN, "collectors": [3, True]},
     {"collectors": "must be the ids of exactly two users"}),
    ({**GOOD_PLAN, "address": "x" * 501},
     {"address": "must be text of at most 500 characters"}),
    ({"address": 5}, {"planned_for": "must be a date like 2026-12-01",
                      "address": "must be text of at most 500 characters",
                      "collectors": "must be the ids of exactly two users"}),
]


def test_a_plan_is_parsed_against_the_debtors_day() -> None:
    assert rules.parse_plan(GOOD_PLAN, today=TODAY) == Plan(date(2026, 12, 1), "1 Main St",
                                                            (3, 4))
    assert rules.parse_plan({**GOOD_PLAN, "address": ""}, today=TODAY).address is None
    assert rules.parse_plan({**GOOD_PLAN, "planned_for": "2026-11-29"}, today=TODAY)


@pytest.mark.parametrize(("raw", "problems"), BAD_PLANS)
def test_a_bad_plan_reports_every_problem(raw: dict[str, object],
                                          problems: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as raised:
        rules.parse_plan(raw, today=TODAY)
    assert raised.value.details == problems


def test_a_result_and_its_problems() -> None:
    assert rules.parse_result({"result": "moved"}, now=NOW) == RecordResult(
        VisitResult.MOVED, None, NOW)
    earlier = (NOW - timedelta(hours=2)).isoformat()
    assert rules.parse_result({"result": "other", "notes": "dog", "visited_at": earlier},
                              now=NOW).visited_at == NOW - timedelta(hours=2)
    cases: list[tuple[dict[str, object], dict[str, str]]] = [
        ({"result": "won"}, {"result": "must be one of " + ", ".join(VisitResult)}),
        ({"result": "other"}, {"notes": "required"}),
        ({"result": "moved", "visited_at": (NOW + timedelta(minutes=1)).isoformat()},
         {"visited_at": "is in the future"}),
        ({"result": "moved", "visited_at": "2026-11-29T10:00:00"},
         {"visited_at": "must be a time with an offset, like 2026-12-01T10:30:00+08:00"}),
    ]
    for raw, problems in cases:
        with pytest.raises(InvalidInput) as raised:
            rules.parse_result(raw, now=NOW)
        assert raised.value.details == problems, raw


def test_a_cancellation_needs_a_reason() -> None:
    assert rules.parse_cancel({"reason": " found "}) == Cancel("found")
    for raw in ({}, {"reason": " "}, {"reason": 3}):
        with pytest.raises(InvalidInput):
            rules.parse_cancel(raw)


UPLOADS_OK = [
    ("photo", "image/jpeg", "jpg"), ("photo", "image/png", "png"),
    ("recording", "audio/wav", "wav"), ("recording", "audio/mpeg", "mp3"),
    ("report", "application/pdf", "pdf"), ("report", "image/jpeg", "jpg"),
]


@pytest.mark.parametrize(("kind", "content_type", "extension"), UPLOADS_OK)
def test_allowed_uploads(kind: str, content_type: str, extension: str) -> None:
    upload = rules.check_upload(kind, "C:\\phone\\门口.jpg", content_type, 10, 100)
    assert (upload.kind, upload.file_name, upload.extension) == (kind, "门口.jpg", extension)


UPLOADS_BAD = [
    ("video", "name.mp4", "video/mp4", 10, "field_visit.evidence_kind"),
    (None, "name.jpg", "image/jpeg", 10, "field_visit.evidence_kind"),
    ("photo", "name.txt", "text/plain", 10, "field_visit.evidence_type"),
    ("photo", "name.pdf", "application/pdf", 10, "field_visit.evidence_type"),
    ("recording", "name.jpg", "image/jpeg", 10, "field_visit.evidence_type"),
    ("photo", "name.jpg", "image/jpeg", 101, "field_visit.evidence_too_large"),
    ("photo", "", "image/jpeg", 10, "field_visit.evidence_name"),
    ("photo", None, "image/jpeg", 10, "field_visit.evidence_name"),
    ("photo", "dir/", "image/jpeg", 10, "field_visit.evidence_name"),
    ("photo", "../..", "image/jpeg", 10, "field_visit.evidence_name"),
    ("photo", "a\nb.jpg", "image/jpeg", 10, "field_visit.evidence_name"),
    ("photo", "x" * 201, "image/jpeg", 10, "field_visit.evidence_name"),
]


@pytest.mark.parametrize(("kind", "name", "content_type", "size", "error_id"), UPLOADS_BAD)
def test_refused_uploads(kind: str | None, name: str | None, content_type: str, size: int,
                         error_id: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        rules.check_upload(kind, name, content_type, size, 100)
    assert raised.value.error_id == error_id


WAV_HEAD = b"RIFF\x24\x00\x00\x00WAVE"
CONTENT = [
    ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF", True),
    ("image/jpeg", b"\x89PNG\r\n\x1a\n", False),
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00", True),
    ("audio/wav", WAV_HEAD, True),
    ("audio/wav", b"RIFF\x24\x00\x00\x00AVI ", False),
    ("audio/mpeg", b"ID3\x04\x00", True),
    ("audio/mpeg", b"\xff\xfb\x90\x64", True),
    ("audio/mpeg", b"\xff\x00", False),
    ("application/pdf", b"%PDF-1.7\n", True),
    ("application/pdf", b"hello", False),
]


@pytest.mark.parametrize(("content_type", "head", "ok"), CONTENT)
def test_the_first_bytes_must_be_of_the_declared_type(content_type: str, head: bytes,
                                                      ok: bool) -> None:
    if ok:
        rules.check_content(content_type, head, len(head))
    else:
        with pytest.raises(InvalidInput):
            rules.check_content(content_type, head, len(head))


def test_an_empty_file_is_no_evidence() -> None:
    with pytest.raises(InvalidInput):
        rules.check_content("image/jpeg", b"", 0)


@pytest.mark.parametrize(("visits", "picks"), [(0, 0), (1, 1), (3, 1), (4, 2), (10, 3),
                                               (11, 4), (100, 30), (101, 31)])
def test_the_quota_is_30_percent_rounded_up(visits: int, picks: int) -> None:
    assert rules.quota(visits) == picks


def test_month_bounds() -> None:
    assert rules.month_bounds("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01"):
        with pytest.raises(InvalidInput):
            rules.month_bounds(bad)


def test_the_draw_is_reproducible_and_seeded() -> None:
    visits = list(range(100, 120))
    first = rules.draw(visits, [], seed="s1", month="2026-11", client_id=1)
    assert len(first) == 6
    assert rules.draw(reversed(visits), [], seed="s1", month="2026-11", client_id=1) == first
    others = {tuple(rules.draw(visits, [], seed=f"s{n}", month="2026-11", client_id=1))
              for n in range(2, 8)}
    assert len(others | {tuple(first)}) > 1  # the seed changes the draw


def test_drawing_again_only_tops_up() -> None:
    visits = list(range(1, 11))
    first = rules.draw(visits, [], seed="s", month="2026-11", client_id=1)
    assert rules.draw(visits, first, seed="s", month="2026-11", client_id=1) == []
    more = rules.draw([*visits, 11, 12, 13, 14], first, seed="s", month="2026-11",
                      client_id=1)
    assert len(first) + len(more) == rules.quota(14)
    assert not set(more) & set(first)


def test_coverage_figures() -> None:
    short = rules.SampleCoverage(client_id=1, visits=10, sampled=2)
    assert short.as_json() == {"client_id": 1, "visits": 10, "sampled": 2, "share": 0.2,
                               "required": 3, "short": True}
    assert not rules.SampleCoverage(1, 10, 3).short
    assert rules.SampleCoverage(1, 0, 0).share == 1.0
