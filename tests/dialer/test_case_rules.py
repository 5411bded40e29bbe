"""Holds, do-not-call and cease, consent, party rules, the abandon budget and site
resources through the engine; the order of reasons; the stored decision."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from dialer.compliance import (
    CN_BANK,
    PACKS,
    UK_OFCOM,
    US_REGF,
    CampaignState,
    Candidate,
    Consent,
    Decision,
    HoldReason,
    Note,
    Outcome,
    Party,
    Reason,
    ReasonCode,
    Resources,
    RulePack,
    pack_named,
)
from tests.dialer.build import (
    NEW_YORK,
    SHANGHAI,
    at,
    attempt,
    candidate,
    decide,
    dial,
    us_candidate,
)

NOON = at("2026-03-05 12:00", SHANGHAI)
NOON_NY = at("2026-03-05 12:00", NEW_YORK)


@pytest.mark.parametrize("hold", list(HoldReason))
def test_a_case_on_hold_is_never_called_and_no_time_lifts_it(hold: HoldReason) -> None:
    decision = decide(candidate(holds=frozenset({hold})), NOON)
    assert not decision.allowed
    assert decision.codes == (ReasonCode(f"hold.{hold}"),)
    assert decision.next_permitted_at is None


def test_a_dispute_filed_during_a_call_refuses_the_next_call() -> None:
    ringing = attempt(NOON - timedelta(minutes=2), Outcome.CONVERSATION, candidate())
    disputed = candidate(holds=frozenset({HoldReason.DISPUTE}))
    decision = decide(disputed, NOON, attempts=(ringing,))
    assert decision.codes == (ReasonCode.HOLD_DISPUTE,)
    assert decision.next_permitted_at is None


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"do_not_call": True}, ReasonCode.DNC_NUMBER),
        ({"cease_requested": True}, ReasonCode.CEASE_REQUESTED),
        ({"attorney_represented": True}, ReasonCode.CEASE_ATTORNEY),
        ({"number": "13800000001"}, ReasonCode.DATA_INVALID_NUMBER),
        ({"number": "+0861380000"}, ReasonCode.DATA_INVALID_NUMBER),
        ({"consent": Consent.REVOKED}, ReasonCode.CONSENT_REVOKED),
        ({"party": None}, ReasonCode.DATA_UNKNOWN_PARTY),
    ],
)
@pytest.mark.parametrize("pack", list(PACKS.values()), ids=list(PACKS))
def test_flags_and_missing_data_refuse_in_every_pack(
    pack: RulePack, changes: dict[str, object], code: ReasonCode
) -> None:
    decision = decide(candidate(**changes), NOON, pack=pack)
    assert decision.codes == (code,)
    assert decision.next_permitted_at is None


@pytest.mark.parametrize(
    ("pack", "consent", "allowed"),
    [
        (US_REGF, Consent.GIVEN, True),
        (US_REGF, Consent.UNKNOWN, False),
        (CN_BANK, Consent.UNKNOWN, True),
        (UK_OFCOM, Consent.UNKNOWN, True),
    ],
)
def test_us_regf_calls_only_numbers_with_recorded_consent(
    pack: RulePack, consent: Consent, allowed: bool
) -> None:
    decision = decide(candidate(consent=consent), NOON, pack=pack)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else (ReasonCode.CONSENT_MISSING,))


LOCATE = (Note.THIRD_PARTY_LOCATE_ONLY,)


@pytest.mark.parametrize(
    ("pack", "party", "lost", "codes", "notes"),
    [
        (CN_BANK, Party.DEBTOR, False, (), ()),
        (CN_BANK, Party.GUARANTOR, False, (), ()),
        (CN_BANK, Party.RELATIVE, False, (ReasonCode.THIRD_PARTY_NOT_LOST,), LOCATE),
        (CN_BANK, Party.RELATIVE, True, (), LOCATE),
        (CN_BANK, Party.EMPLOYER, False, (ReasonCode.THIRD_PARTY_NOT_LOST,), LOCATE),
        (CN_BANK, Party.EMPLOYER, True, (), LOCATE),
        (CN_BANK, Party.OTHER, True, (ReasonCode.PARTY_NOT_ALLOWED,), ()),
        (UK_OFCOM, Party.OTHER, True, (ReasonCode.PARTY_NOT_ALLOWED,), ()),
        (UK_OFCOM, Party.RELATIVE, False, (ReasonCode.THIRD_PARTY_NOT_LOST,), LOCATE),
        (US_REGF, Party.OTHER, True, (), LOCATE),
        (US_REGF, Party.OTHER, False, (ReasonCode.THIRD_PARTY_NOT_LOST,), LOCATE),
    ],
)
def test_third_parties_only_after_lost_contact_and_only_to_locate(
    pack: RulePack,
    party: Party,
    lost: bool,
    codes: tuple[ReasonCode, ...],
    notes: tuple[Note, ...],
) -> None:
    decision = decide(candidate(party=party, lost_contact=lost), NOON, pack=pack)
    assert decision.codes == codes
    assert decision.allowed is (not codes)
    assert tuple(n for n in decision.notes if n is Note.THIRD_PARTY_LOCATE_ONLY) == notes


@pytest.mark.parametrize(
    ("earlier", "allowed"),
    [
        (None, True),
        (Outcome.UNANSWERED, True),
        (Outcome.BUSY, True),
        (Outcome.CONNECTED, False),
        (Outcome.VOICEMAIL, False),
    ],
)
def test_us_regf_contacts_a_third_party_at_most_once(
    earlier: Outcome | None, allowed: bool
) -> None:
    neighbour = us_candidate(party=Party.OTHER, lost_contact=True, number="+12125550199")
    before = () if earlier is None else (
        attempt(NOON_NY - timedelta(days=30), earlier, neighbour),
    )  # fmt: skip
    decision = decide(neighbour, NOON_NY, pack=US_REGF, attempts=before)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else (ReasonCode.REGF_THIRD_PARTY_ONCE,))


def test_us_regf_decisions_carry_the_limited_content_voicemail_note() -> None:
    assert decide(us_candidate(), NOON_NY, pack=US_REGF).notes == (Note.VOICEMAIL_LIMITED_CONTENT,)
    assert decide(candidate(), NOON).notes == ()


@pytest.mark.parametrize(
    ("pack", "abandoned", "live", "guaranteed", "allowed"),
    [
        (US_REGF, 0, 0, False, True),
        (US_REGF, 2, 97, False, True),  # 2.02 %
        (US_REGF, 3, 97, False, False),  # 3 %: the budget is spent
        (US_REGF, 1, 32, False, False),  # 3.03 %
        (US_REGF, 1, 33, False, True),  # 2.94 %
        (US_REGF, 3, 97, True, True),  # an agent is waiting: no call can be abandoned
        (UK_OFCOM, 4, 100, False, False),
        (UK_OFCOM, 4, 100, True, True),
        (CN_BANK, 10, 0, False, True),  # no abandon cap in the pack
    ],
)
def test_the_campaign_abandon_budget(
    pack: RulePack, abandoned: int, live: int, guaranteed: bool, allowed: bool
) -> None:
    who, now = (candidate(), NOON) if pack is not US_REGF else (us_candidate(), NOON_NY)
    context = dial(campaign=CampaignState(abandoned, live), agent_guaranteed=guaranteed)
    decision = decide(who, now, pack=pack, context=context)
    assert decision.allowed is allowed
    assert decision.codes == (() if allowed else (ReasonCode.ABANDON_CAP,))
    assert decision.next_permitted_at == now


@pytest.mark.parametrize(
    ("line", "recorder", "codes"),
    [
        (True, True, ()),
        (False, True, (ReasonCode.RESOURCE_NO_WORK_LINE,)),
        (True, False, (ReasonCode.RESOURCE_NO_RECORDING,)),
        (False, False, (ReasonCode.RESOURCE_NO_WORK_LINE, ReasonCode.RESOURCE_NO_RECORDING)),
    ],
)
def test_no_work_line_or_no_recorder_means_no_call(
    line: bool, recorder: bool, codes: tuple[ReasonCode, ...]
) -> None:
    decision = decide(candidate(), NOON, context=dial(resources=Resources(line, recorder)))
    assert decision.codes == codes
    assert decision.next_permitted_at == NOON


def test_a_live_state_refusal_outside_the_window_is_retried_at_the_opening() -> None:
    late = at("2026-03-05 22:00", SHANGHAI)
    decision = decide(candidate(), late, context=dial(resources=Resources(False, True)))
    assert decision.codes == (ReasonCode.WINDOW_OUTSIDE, ReasonCode.RESOURCE_NO_WORK_LINE)
    assert decision.next_permitted_at == at("2026-03-06 08:00", SHANGHAI)


def test_every_failing_rule_is_reported_in_the_order_compliance_md_fixes() -> None:
    who = us_candidate(
        holds=frozenset({HoldReason.FRAUD, HoldReason.DISPUTE}), do_not_call=True,
        cease_requested=True, consent=Consent.REVOKED, party=Party.RELATIVE,
    )  # fmt: skip
    night = at("2026-03-05 22:00", NEW_YORK)
    week = tuple(attempt(night - timedelta(hours=h), Outcome.UNANSWERED, who) for h in range(7))
    context = dial(campaign=CampaignState(5, 5), resources=Resources(False, False))
    decision = decide(who, night, pack=US_REGF, attempts=week, context=context)
    assert decision.codes == (
        ReasonCode.HOLD_DISPUTE, ReasonCode.HOLD_FRAUD, ReasonCode.DNC_NUMBER,
        ReasonCode.CEASE_REQUESTED, ReasonCode.CONSENT_REVOKED, ReasonCode.THIRD_PARTY_NOT_LOST,
        ReasonCode.WINDOW_OUTSIDE, ReasonCode.REGF_7IN7, ReasonCode.ABANDON_CAP,
        ReasonCode.RESOURCE_NO_WORK_LINE, ReasonCode.RESOURCE_NO_RECORDING,
    )  # fmt: skip
    assert not decision.allowed
    assert decision.next_permitted_at is None


def test_the_decision_is_stored_as_json_with_pack_version_inputs_and_reasons() -> None:
    who = candidate(phone_id=555)
    decision = decide(who, at("2026-03-05 21:05", SHANGHAI))
    stored = json.loads(json.dumps(decision.as_json()))
    assert stored["allowed"] is False
    assert (stored["pack"], stored["pack_version"]) == ("cn-bank", "2026.1")
    assert [r["code"] for r in stored["reasons"]] == ["window.outside"]
    assert stored["next_permitted_at"] == at("2026-03-06 08:00", SHANGHAI).isoformat()
    inputs = stored["inputs"]
    assert inputs["phone_id"] == 555
    assert inputs["time_zones"] == [SHANGHAI]
    assert inputs["number"].endswith("0001") and "13800" not in inputs["number"]


def test_the_stored_inputs_are_built_once_when_first_read() -> None:
    who = candidate(phone_id=555)
    history = (attempt(NOON - timedelta(hours=1), Outcome.CONNECTED, who),)
    decision = decide(who, NOON, attempts=history)
    inputs = decision.inputs
    assert decision.inputs is inputs  # kept: what is stored is what was read
    assert inputs["now"] == NOON.isoformat()
    assert inputs["history"] == [
        {"id": None, "at": (NOON - timedelta(hours=1)).isoformat(), "outcome": "connected"}
    ]
    # The same decision with its inputs given at once is equal and reads the same.
    eager = Decision(decision.allowed, decision.pack, decision.pack_version, decision.reasons,
                     decision.notes, decision.next_permitted_at, decision.checked_at,
                     dict(inputs))  # fmt: skip
    assert eager == decision
    assert repr(eager) == repr(decision)
    assert eager.as_json() == decision.as_json()
    changed = Decision(decision.allowed, decision.pack, decision.pack_version, decision.reasons,
                       decision.notes, decision.next_permitted_at, decision.checked_at,
                       {**inputs, "phone_id": 556})  # fmt: skip
    assert changed != decision


def test_a_decision_and_its_reasons_are_read_only_values() -> None:
    decision = decide(candidate(), at("2026-03-05 21:05", SHANGHAI))
    for field in ("allowed", "pack", "reasons", "next_permitted_at", "checked_at", "inputs"):
        with pytest.raises(AttributeError):
            setattr(decision, field, None)
    with pytest.raises(AttributeError):
        decision.new_field = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="unhashable"):
        hash(decision)  # like the frozen dataclass it was: its inputs are a dict
    reason = decision.reasons[0]
    with pytest.raises(AttributeError):
        reason.retry_at = None  # type: ignore[misc]
    same = Reason(reason.code, reason.detail, reason.retry_at)
    assert same == reason and hash(same) == hash(reason)
    assert same != Reason(reason.code, reason.detail, None)
    assert repr(same) == (f"Reason(code={reason.code!r}, detail={reason.detail!r},"
                          f" retry_at={reason.retry_at!r})")  # fmt: skip
    assert repr(decision).startswith(
        f"Decision(allowed=False, pack='cn-bank', pack_version='2026.1', reasons=({same!r},),"
    )


def test_the_same_inputs_give_the_same_decision() -> None:
    who = candidate()
    history = (attempt(NOON - timedelta(hours=1), Outcome.CONNECTED, who),)
    assert decide(who, NOON, attempts=history) == decide(who, NOON, attempts=history)


def test_packs_are_named_and_versioned() -> None:
    assert {name: pack.version for name, pack in PACKS.items()} == {
        "cn-bank": "2026.1", "us-regf": "2026.1", "uk-ofcom": "2026.1",
    }  # fmt: skip
    assert pack_named("us-regf") is US_REGF
    with pytest.raises(ValueError, match="unknown rule pack 'fr-cnil'"):
        pack_named("fr-cnil")


def test_now_must_be_aware_utc() -> None:
    with pytest.raises(ValueError, match="aware UTC"):
        decide(candidate(), NOON.replace(tzinfo=None))
    with pytest.raises(ValueError, match="aware"):
        attempt(NOON.replace(tzinfo=None), Outcome.BUSY, candidate())


def test_a_candidate_without_its_safety_flags_cannot_be_built() -> None:
    with pytest.raises(TypeError):
        Candidate(case_id=1, debtor_id=1, phone_id=1, number="+8613800000001",  # type: ignore[call-arg]
                  party=Party.DEBTOR, time_zones=(SHANGHAI,))  # fmt: skip
