"""QA scorecards: a client's form, a reviewer's answers, the score.

A :class:`Scorecard` is a list of items, each with a weight and maybe the
``auto_fail`` mark (a threat, a third-party disclosure, impersonation: one such
failure fails the whole call). A review answers every item ``pass``, ``fail`` or
``na`` and may comment at time offsets of the call (seconds, within the call).

The score is the weight of the items passed over the weight of the items answered
(``na`` items count for neither), as a percentage with two decimals; a review that
fails an auto-fail item scores 0 and names the failed items: it marks the case
non-compliant for the month (``qa_compliance``).

Parsing checks the reviewer's JSON and raises ``InvalidInput`` naming the problem.
Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from cases.errors import InvalidInput


class Answer(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NA = "na"


@dataclass(frozen=True, slots=True)
class Item:
    key: str
    label: str
    weight: int
    auto_fail: bool = False

    def as_json(self) -> dict[str, object]:
        return {"key": self.key, "label": self.label, "weight": self.weight,
                "auto_fail": self.auto_fail}


@dataclass(frozen=True, slots=True)
class Scorecard:
    id: int
    client_id: int
    version: int
    name: str
    items: tuple[Item, ...]

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "client_id": self.client_id, "version": self.version,
                "name": self.name, "items": [i.as_json() for i in self.items]}


@dataclass(frozen=True, slots=True)
class Comment:
    at: float  # seconds from the start of the call
    text: str

    def as_json(self) -> dict[str, object]:
        return {"at": round(self.at, 3), "text": self.text}


@dataclass(frozen=True, slots=True)
class Result:
    score: Decimal
    auto_failed: tuple[str, ...]

    @property
    def compliant(self) -> bool:
        return not self.auto_failed


DEFAULT_ITEMS = (
    Item("opening", "Greeting, agency name and recording notice", 10),
    Item("verification", "Right-party verification before naming the debt", 15),
    Item("courtesy", "Courteous, professional language", 15),
    Item("negotiation", "Explains the balance and negotiates a payment", 25),
    Item("arrangement", "Confirms the amount and date of any promise", 25),
    Item("closing", "Summary and closing", 10),
    Item("no_threats", "No threats, abuse or insults", 0, auto_fail=True),
    Item("no_third_party", "No disclosure of the debt to a third party", 0, auto_fail=True),
    Item("no_impersonation", "No impersonation of courts, police or the bank", 0,
         auto_fail=True),
)


def _bad(message: str, details: Mapping[str, object] | None = None) -> InvalidInput:
    return InvalidInput("qa.bad_review", message, details)


def parse_item(body: object) -> Item:
    if not isinstance(body, dict):
        raise InvalidInput("qa.bad_scorecard", "each item is an object")
    key, label, weight = body.get("key"), body.get("label"), body.get("weight", 0)
    if not isinstance(key, str) or not key.isidentifier() or len(key) > 50:
        raise InvalidInput("qa.bad_scorecard", "item key must be an identifier", {"key": key})
    if not isinstance(label, str) or not 1 <= len(label) <= 200:
        raise InvalidInput("qa.bad_scorecard", "item label must be 1-200 characters")
    if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
        raise InvalidInput("qa.bad_scorecard", "item weight must be 0-100", {"key": key})
    return Item(key, label, weight, body.get("auto_fail") is True)


def parse_items(body: object) -> tuple[Item, ...]:
    if not isinstance(body, list) or not body:
        raise InvalidInput("qa.bad_scorecard", "items must be a non-empty list")
    items = tuple(parse_item(i) for i in body)
    if len({i.key for i in items}) != len(items):
        raise InvalidInput("qa.bad_scorecard", "item keys must be unique")
    if not any(i.weight for i in items):
        raise InvalidInput("qa.bad_scorecard", "some item must have a weight")
    return items


def parse_answers(card: Scorecard, body: object) -> dict[str, Answer]:
    """Every item of ``card`` answered, nothing else."""
    if not isinstance(body, dict):
        raise _bad("answers must map item keys to pass, fail or na")
    keys = {i.key for i in card.items}
    if set(body) != keys:
        raise _bad("answer every item of the scorecard, and only those",
                   {"missing": sorted(keys - set(body)), "unknown": sorted(set(body) - keys)})
    try:
        return {k: Answer(str(v)) for k, v in body.items()}
    except ValueError:
        raise _bad("each answer is pass, fail or na") from None


def parse_comments(body: object, duration: float) -> tuple[Comment, ...]:
    """Comments at offsets within the call (``duration`` seconds)."""
    if not isinstance(body, list):
        raise _bad("comments must be a list of {at, text}")
    out = []
    for c in body:
        at, text = (c.get("at"), c.get("text")) if isinstance(c, dict) else (None, None)
        if not isinstance(at, int | float) or isinstance(at, bool) or not 0 <= at <= duration:
            raise _bad(f"a comment's at must be seconds within the call (0-{duration:g})")
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= 2000:
            raise _bad("a comment's text must be 1-2000 characters")
        out.append(Comment(float(at), text.strip()))
    return tuple(sorted(out, key=lambda c: c.at))


def score(card: Scorecard, answers: Mapping[str, Answer]) -> Result:
    failed = tuple(i.key for i in card.items if i.auto_fail and answers[i.key] is Answer.FAIL)
    counted = [i for i in card.items if answers[i.key] is not Answer.NA]
    total = sum(i.weight for i in counted)
    passed = sum(i.weight for i in counted if answers[i.key] is Answer.PASS)
    value = Decimal(0) if failed or not total else Decimal(100 * passed) / Decimal(total)
    return Result(value.quantize(Decimal("0.01"), ROUND_HALF_UP), failed)


def items_json(items: Sequence[Item]) -> list[dict[str, object]]:
    return [i.as_json() for i in items]
