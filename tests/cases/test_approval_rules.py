"""Approval requests as pure rules: validation per kind, the state table, using one."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cases.approval_rules import (
    APPROVAL_EVENTS,
    TRANSITIONS,
    ApprovalEvent,
    ApprovalKind,
    ApprovalRequest,
    ApprovalStateError,
    ApprovalStatus,
    Approve,
    Expire,
    Reject,
    Terms,
    Use,
    Withdraw,
    check_use,
    decision_deadline,
    effective_status,
    parse_decision,
    parse_request,
    step,
    valid_until,
)
from cases.domain import ActionCode, CaseStatus
from cases.effects import ActionFields
from cases.errors import Conflict, DomainError, Forbidden, InvalidInput

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 29)
BALANCE = Decimal("12000.50")
K, S = ApprovalKind, ApprovalStatus
D = Decimal


def request(raw: dict[str, object]) -> Terms:
    return parse_request({"reason": "hardship", **raw}, balance=BALANCE, today=TODAY).terms


VALID = [
    ({"kind": "fee_waiver", "waived_amount": "300"}, Terms(K.FEE_WAIVER, waived_amount=D(300))),
    ({"kind": "interest_waiver", "waived_amount": 1200.5},
     Terms(K.INTEREST_WAIVER, waived_amount=D("1200.5"))),
    ({"kind": "fee_waiver", "waived_amount": "12,000.50"},
     Terms(K.FEE_WAIVER, waived_amount=BALANCE)),  # the whole balance may be waived
    ({"kind": "settlement", "settle_amount": "8000", "due_date": "2026-12-20"},
     Terms(K.SETTLEMENT, settle_amount=D(8000), due_date=date(2026, 12, 20))),
    ({"kind": "settlement", "settle_amount": "12000.49", "due_date": "2026-11-29"},
     Terms(K.SETTLEMENT, settle_amount=D("12000.49"), due_date=TODAY)),
    ({"kind": "restructuring", "instalments": 12, "instalment_amount": "1000.05",
      "due_date": "2027-02-27"},
     Terms(K.RESTRUCTURING, instalments=12, instalment_amount=D("1000.05"),
           due_date=date(2027, 2, 27))),  # 90 days ahead
    ({"kind": "restructuring", "instalments": "36", "instalment_amount": "400",
      "due_date": "2026-12-01"},
     Terms(K.RESTRUCTURING, instalments=36, instalment_amount=D(400),
           due_date=date(2026, 12, 1))),
    ({"kind": "collateral", "description": "  sell the pledged car  "},
     Terms(K.COLLATERAL, description="sell the pledged car")),
    ({"kind": "litigation", "description": "file suit", "amount": "12000.50"},
     Terms(K.LITIGATION, description="file suit", amount=BALANCE)),
]


@pytest.mark.parametrize(("raw", "terms"), VALID)
def test_valid_requests(raw: dict[str, object], terms: Terms) -> None:
    assert request(raw) == terms


INVALID = [
    ({"kind": "gift"}, {"kind": "must be one of fee_waiver, interest_waiver, settlement,"
                                " restructuring, collateral, litigation"}),
    ({}, {"kind": "must be one of fee_waiver, interest_waiver, settlement, restructuring,"
                  " collateral, litigation"}),
    ({"kind": "fee_waiver"}, {"waived_amount": "required"}),
    ({"kind": "fee_waiver", "waived_amount": "0"}, {"waived_amount": "must be more than 0"}),
    ({"kind": "fee_waiver", "waived_amount": "-5"},
     {"waived_amount": "must be a positive amount with at most 2 decimals, like 1500.00"}),
    ({"kind": "fee_waiver", "waived_amount": "1.234"},
     {"waived_amount": "must be a positive amount with at most 2 decimals, like 1500.00"}),
    ({"kind": "fee_waiver", "waived_amount": True},
     {"waived_amount": "must be a positive amount with at most 2 decimals, like 1500.00"}),
    ({"kind": "interest_waiver", "waived_amount": "12000.51"},
     {"waived_amount": "must not exceed the balance of 12000.50"}),
    ({"kind": "settlement", "settle_amount": "12000.50", "due_date": "2026-12-01"},
     {"settle_amount": "must be below the balance of 12000.50"}),
    ({"kind": "settlement", "settle_amount": "8000"}, {"due_date": "required"}),
    ({"kind": "settlement", "settle_amount": "8000", "due_date": "2026-11-28"},
     {"due_date": "is in the past"}),
    ({"kind": "settlement", "settle_amount": "8000", "due_date": "2027-02-28"},
     {"due_date": "is more than 90 days ahead"}),
    ({"kind": "settlement", "settle_amount": "8000", "due_date": "next week"},
     {"due_date": "must be a date like 2026-12-31"}),
    ({"kind": "restructuring", "instalments": 1, "instalment_amount": "100",
      "due_date": "2026-12-01"}, {"instalments": "must be a whole number from 2 to 36"}),
    ({"kind": "restructuring", "instalments": 37, "instalment_amount": "100",
      "due_date": "2026-12-01"}, {"instalments": "must be a whole number from 2 to 36"}),
    ({"kind": "restructuring", "instalments": "6.5", "instalment_amount": "100",
      "due_date": "2026-12-01"}, {"instalments": "must be a whole number from 2 to 36"}),
    ({"kind": "restructuring", "instalments": 6, "instalment_amount": "20000",
      "due_date": "2026-12-01"},
     {"instalment_amount": "must not exceed the balance of 12000.50"}),
    ({"kind": "restructuring"}, {"instalments": "required", "instalment_amount": "required",
                                 "due_date": "required"}),
    ({"kind": "collateral"}, {"description": "required"}),
    ({"kind": "collateral", "description": "   "}, {"description": "required"}),
    ({"kind": "litigation", "description": "x" * 4001},
     {"description": "is longer than 4000 characters"}),
    ({"kind": "litigation", "description": "suit", "amount": "0"},
     {"amount": "must be more than 0"}),
    # a term of another kind, and a field nobody knows
    ({"kind": "fee_waiver", "waived_amount": "300", "settle_amount": "10"},
     {"settle_amount": "not a term of a fee_waiver request"}),
    ({"kind": "settlement", "settle_amount": "10", "due_date": "2026-12-01", "amount": "5"},
     {"amount": "not a term of a settlement request"}),
    ({"kind": "collateral", "description": "car", "discount": "10"},
     {"discount": "unknown field"}),
]


@pytest.mark.parametrize(("raw", "details"), INVALID)
def test_invalid_requests(raw: dict[str, object], details: dict[str, str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        request(raw)
    assert caught.value.error_id == "approval.invalid"
    assert caught.value.details == details


def test_every_problem_is_reported_at_once() -> None:
    raw: dict[str, object] = {"kind": "settlement", "settle_amount": "99999", "reason": "",
                              "due_date": "2020-01-01", "waived_amount": "1", "x": 1}
    with pytest.raises(InvalidInput) as caught:
        parse_request(raw, balance=BALANCE, today=TODAY)
    assert caught.value.details == {
        "reason": "required", "settle_amount": "must be below the balance of 12000.50",
        "due_date": "is in the past", "waived_amount": "not a term of a settlement request",
        "x": "unknown field",
    }


def test_reason_is_required_and_trimmed() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_request({"kind": "collateral", "description": "car"}, balance=BALANCE,
                      today=TODAY)
    assert caught.value.details == {"reason": "required"}
    new = parse_request({"kind": "collateral", "description": "car", "reason": " lost job "},
                        balance=BALANCE, today=TODAY)
    assert new.reason == "lost job"


def test_nothing_can_be_settled_or_waived_on_a_zero_balance() -> None:
    for raw in ({"kind": "settlement", "settle_amount": "1", "due_date": "2026-12-01"},
                {"kind": "fee_waiver", "waived_amount": "1"}):
        with pytest.raises(InvalidInput):
            parse_request({"reason": "r", **raw}, balance=D(0), today=TODAY)


def test_terms_as_json_show_only_the_kinds_terms() -> None:
    terms = Terms(K.RESTRUCTURING, instalments=6, instalment_amount=D("500.00"),
                  due_date=date(2026, 12, 1))
    assert terms.as_json() == {"kind": "restructuring", "instalments": 6,
                               "instalment_amount": "500.00", "due_date": "2026-12-01"}


# The state table.

EVENTS: dict[type[ApprovalEvent], ApprovalEvent] = {
    Approve: Approve(), Reject: Reject("no"), Withdraw: Withdraw(), Use: Use(7),
    Expire: Expire(),
}


@pytest.mark.parametrize(("status", "event", "after"),
                         [(s, e, a) for (s, e), a in TRANSITIONS.items()],
                         ids=[f"{s}-{e.__name__}" for s, e in TRANSITIONS])
def test_allowed_steps(status: ApprovalStatus, event: type[ApprovalEvent],
                       after: ApprovalStatus) -> None:
    assert step(status, EVENTS[event]) is after


ILLEGAL = [(s, e) for s in S for e in APPROVAL_EVENTS if (s, e) not in TRANSITIONS]


@pytest.mark.parametrize(("status", "event"), ILLEGAL,
                         ids=[f"{s}-{e.__name__}" for s, e in ILLEGAL])
def test_every_other_step_raises(status: ApprovalStatus, event: type[ApprovalEvent]) -> None:
    with pytest.raises(ApprovalStateError) as caught:
        step(status, EVENTS[event])
    assert isinstance(caught.value, Conflict)
    assert caught.value.error_id == "approval.state"
    assert caught.value.details["status"] == status


def test_state_messages_read_well() -> None:
    with pytest.raises(ApprovalStateError, match=r"^an approved request cannot be rejected$"):
        step(S.APPROVED, Reject("late"))
    with pytest.raises(ApprovalStateError, match=r"^a used request cannot be used$"):
        step(S.USED, Use(1))


def test_final_states_have_no_way_out_and_only_the_bank_approves() -> None:
    finals = {S.REJECTED, S.WITHDRAWN, S.USED, S.EXPIRED}
    assert not any(s in finals for s, _ in TRANSITIONS)
    assert [s for (s, _), a in TRANSITIONS.items() if a is S.APPROVED] == [S.REQUESTED]
    assert [s for (s, _), a in TRANSITIONS.items() if a is S.USED] == [S.APPROVED]


DECISIONS: list[tuple[dict[str, object], object]] = [
    ({"decision": "approve"}, Approve(None)),
    ({"decision": "approve", "note": " ok up to 8000 "}, Approve("ok up to 8000")),
    ({"decision": "approve", "note": ""}, Approve(None)),
    ({"decision": "reject", "note": "too low"}, Reject("too low")),
    ({"decision": "reject"}, {"note": "required"}),
    ({"decision": "reject", "note": "  "}, {"note": "required"}),
    ({"decision": "maybe"}, {"decision": "must be approve or reject"}),
    ({}, {"decision": "must be approve or reject"}),
    ({"decision": "approve", "valid_days": 5}, {"valid_days": "unknown field"}),
    ({"decision": "approve", "note": "x" * 4001}, {"note": "is longer than 4000 characters"}),
]


@pytest.mark.parametrize(("raw", "want"), DECISIONS)
def test_parse_decision(raw: dict[str, object], want: object) -> None:
    if isinstance(want, dict):
        with pytest.raises(InvalidInput) as caught:
            parse_decision(raw)
        assert (caught.value.error_id, caught.value.details) == ("approval.invalid_decision",
                                                                 want)
    else:
        assert parse_decision(raw) == want


# Expiry and using an approval.

SETTLED = Terms(K.SETTLEMENT, settle_amount=D("8000.00"), due_date=date(2026, 12, 20))
PLAN = Terms(K.RESTRUCTURING, instalments=6, instalment_amount=D("2000.00"),
             due_date=date(2026, 12, 10))


def approval(terms: Terms = SETTLED, status: ApprovalStatus = S.APPROVED, *,
             case_id: int = 1, expires_at: datetime = NOW + timedelta(days=10),
             used_by: int | None = None) -> ApprovalRequest:
    return ApprovalRequest(
        id=42, case_id=case_id, client_id=1, terms=terms, balance=BALANCE, reason="r",
        status=status, requested_by=5, requested_at=NOW - timedelta(days=1),
        decided_by=9, decided_at=NOW, decision_note=None, withdrawn_by=None,
        withdrawn_at=None, expires_at=expires_at, used_by_action_id=used_by, used_at=None,
    )


def test_deadlines_are_30_days() -> None:
    assert decision_deadline(NOW) == NOW + timedelta(days=30)
    assert valid_until(NOW) == NOW + timedelta(days=30)


@pytest.mark.parametrize(("status", "expires_at", "want"), [
    (S.APPROVED, NOW + timedelta(seconds=1), S.APPROVED),
    (S.APPROVED, NOW, S.EXPIRED),  # expires_at is the first moment it no longer holds
    (S.REQUESTED, NOW - timedelta(days=1), S.EXPIRED),
    (S.REQUESTED, NOW + timedelta(days=1), S.REQUESTED),
    (S.USED, NOW - timedelta(days=1), S.USED),
    (S.REJECTED, NOW - timedelta(days=1), S.REJECTED),
])
def test_effective_status(status: ApprovalStatus, expires_at: datetime,
                          want: ApprovalStatus) -> None:
    assert effective_status(approval(status=status, expires_at=expires_at), NOW) is want


def code(name: str, needs: str | None, required: tuple[str, ...] = ("approval_id",),
         promise: bool = False) -> ActionCode:
    return ActionCode(
        code=name, category="contact", label_en=name, label_zh=name, connected=True,
        right_party=True, required_fields=required, status_after=CaseStatus.PROMISED,
        retry_after_hours=None, hold_reason=None, creates_promise=promise,
        invalidates_phone=False, field_visit=False, notify_client=None, needs_approval=needs,
    )


SETL = code("SETL", "settlement", ("amount", "due_date", "approval_id"), promise=True)
INST = code("INST", "restructuring", ("amount", "due_date", "approval_id"), promise=True)
WAIVF = code("WAIVF", "fee_waiver")
PTP = code("PTP", None, ("amount", "due_date"), promise=True)


def fields(amount: str | None = "8000", due: date | None = date(2026, 12, 20),
           approval_id: int | None = 42) -> ActionFields:
    return ActionFields(amount=D(amount) if amount else None, due_date=due,
                        approval_id=approval_id)


ALLOWED = [
    ("settled amount, due on the approved day", SETL, approval(), fields()),
    ("settled amount, due earlier", SETL, approval(), fields(due=date(2026, 12, 1))),
    ("first instalment", INST, approval(PLAN), fields("2000", date(2026, 12, 10))),
    ("waiver without an amount", WAIVF,
     approval(Terms(K.FEE_WAIVER, waived_amount=D(300))), fields(None, None)),
    ("waiver with its amount", WAIVF,
     approval(Terms(K.FEE_WAIVER, waived_amount=D(300))), fields("300.00", None)),
    ("a code that needs none, given none", PTP, None, fields(approval_id=None)),
]


@pytest.mark.parametrize(("name", "c", "req", "f"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_check_use_allows(name: str, c: ActionCode, req: ApprovalRequest | None,
                          f: ActionFields) -> None:
    check_use(req, case_id=1, code=c, fields=f, now=NOW)


REFUSED: list[tuple[str, ActionCode, ApprovalRequest | None, ActionFields,
                    type[DomainError], str, dict[str, object] | None]] = [
    ("no approval_id", SETL, None, fields(approval_id=None), Forbidden,
     "approval.required", {"approval_id": "required"}),
    ("no such request", SETL, None, fields(), Forbidden, "approval.not_on_case", None),
    ("another case's", SETL, approval(case_id=2), fields(), Forbidden,
     "approval.not_on_case", None),
    ("another kind", SETL, approval(PLAN), fields(), Forbidden, "approval.kind",
     {"kind": "restructuring", "needed": "settlement"}),
    ("waiting for the bank", SETL, approval(status=S.REQUESTED), fields(), Forbidden,
     "approval.not_approved", {"status": "requested"}),
    ("rejected", SETL, approval(status=S.REJECTED), fields(), Forbidden,
     "approval.not_approved", {"status": "rejected"}),
    ("withdrawn", SETL, approval(status=S.WITHDRAWN), fields(), Forbidden,
     "approval.not_approved", {"status": "withdrawn"}),
    ("used", SETL, approval(status=S.USED, used_by=77), fields(), Conflict,
     "approval.used", {"action_id": 77}),
    ("lapsed", SETL, approval(expires_at=NOW), fields(), Conflict, "approval.expired",
     {"expires_at": NOW.isoformat()}),
    ("expired", SETL, approval(status=S.EXPIRED), fields(), Conflict, "approval.expired",
     None),
    ("a lower amount", SETL, approval(), fields("7999.99"), Conflict, "approval.terms",
     {"amount": "the settled amount the bank approved is 8000.00"}),
    ("due too late", SETL, approval(), fields(due=date(2026, 12, 21)), Conflict,
     "approval.terms", {"due_date": "the bank approved payment by 2026-12-20 at the latest"}),
    ("other instalment and day", INST, approval(PLAN), fields("1000", date(2026, 12, 11)),
     Conflict, "approval.terms",
     {"amount": "the first instalment the bank approved is 2000.00",
      "due_date": "the first instalment falls due on 2026-12-10"}),
    ("another waiver amount", WAIVF, approval(Terms(K.FEE_WAIVER, waived_amount=D(300))),
     fields("301", None), Conflict, "approval.terms",
     {"amount": "the waiver the bank approved is 300"}),
    ("an approval on a code that needs none", PTP, None, fields(), InvalidInput,
     "approval.not_needed", None),
]


@pytest.mark.parametrize(("name", "c", "req", "f", "error", "error_id", "details"), REFUSED,
                         ids=[r[0] for r in REFUSED])
def test_check_use_refuses(name: str, c: ActionCode, req: ApprovalRequest | None,
                           f: ActionFields, error: type[DomainError], error_id: str,
                           details: dict[str, object] | None) -> None:
    with pytest.raises(error) as caught:
        check_use(req, case_id=1, code=c, fields=f, now=NOW)
    assert caught.value.error_id == error_id
    if details is not None:
        assert caught.value.details == details


def test_the_kind_is_checked_before_the_status() -> None:
    wrong = replace(approval(PLAN), status=S.REJECTED)
    with pytest.raises(Forbidden) as caught:
        check_use(wrong, case_id=1, code=SETL, fields=fields(), now=NOW)
    assert caught.value.error_id == "approval.kind"
