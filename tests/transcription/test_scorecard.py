"""Scorecards: weights, not-applicable items, auto-fail, and the checks on a review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cases.errors import InvalidInput
from transcription.scorecard import (
    DEFAULT_ITEMS,
    Answer,
    Item,
    Scorecard,
    parse_answers,
    parse_comments,
    parse_items,
    score,
)

CARD = Scorecard(1, 1, 1, "form", (
    Item("opening", "Opening", 20), Item("negotiation", "Negotiation", 60),
    Item("closing", "Closing", 20), Item("no_threats", "No threats", 0, auto_fail=True)))
ALL_PASS = {"opening": "pass", "negotiation": "pass", "closing": "pass", "no_threats": "pass"}


def test_the_score_is_the_weight_passed_over_the_weight_answered() -> None:
    answers = parse_answers(CARD, {**ALL_PASS, "negotiation": "fail"})
    assert score(CARD, answers).score == Decimal("40.00")
    answers = parse_answers(CARD, {**ALL_PASS, "closing": "na", "opening": "fail"})
    assert score(CARD, answers).score == Decimal("75.00")
    assert score(CARD, parse_answers(CARD, ALL_PASS)).compliant


def test_a_failed_auto_fail_item_fails_the_call() -> None:
    result = score(CARD, parse_answers(CARD, {**ALL_PASS, "no_threats": "fail"}))
    assert (result.score, result.auto_failed, result.compliant) == (
        Decimal("0.00"), ("no_threats",), False)


@pytest.mark.parametrize("answers", [
    {**ALL_PASS, "extra": "pass"}, {"opening": "pass"}, {**ALL_PASS, "opening": "maybe"}, [],
])
def test_every_item_is_answered_once_and_properly(answers: object) -> None:
    with pytest.raises(InvalidInput):
        parse_answers(CARD, answers)


def test_comments_sit_within_the_call_in_time_order() -> None:
    comments = parse_comments([{"at": 9.5, "text": " threat here "}, {"at": 1, "text": "ok"}],
                              10.0)
    assert [(c.at, c.text) for c in comments] == [(1.0, "ok"), (9.5, "threat here")]
    bad: object
    for bad in ([{"at": 11, "text": "x"}], [{"at": 1, "text": ""}], [{"text": "x"}], {}):
        with pytest.raises(InvalidInput):
            parse_comments(bad, 10.0)


def test_the_default_form_and_its_checks() -> None:
    items = parse_items([i.as_json() for i in DEFAULT_ITEMS])
    assert items == DEFAULT_ITEMS
    assert {i.key for i in items if i.auto_fail} == {"no_threats", "no_third_party",
                                                      "no_impersonation"}
    assert sum(i.weight for i in items) == 100
    for bad in ([], [{"key": "a b", "label": "x", "weight": 1}],
                [{"key": "a", "label": "x", "weight": 0}],
                [{"key": "a", "label": "x", "weight": 1}] * 2,
                [{"key": "a", "label": "x", "weight": 101}]):
        with pytest.raises(InvalidInput):
            parse_items(bad)


def test_answers_are_answers() -> None:
    assert parse_answers(CARD, ALL_PASS)["opening"] is Answer.PASS
