"""Spans of a recording's timeline: PCI pauses and supervisor marks.

Times are milliseconds from the first sample of the recording (the media clock's
20 ms ticks make them exact). A :class:`Span` is a PCI pause: audio silenced in both
channels while the debtor reads out card details. A :class:`Mark` is a span a
supervisor spent listening in, whispering to the agent or barging into the call.
Both are stored as JSON arrays (``recordings.pci_pauses``, ``recordings.marks``);
:func:`spans_from_json` and :func:`marks_from_json` read them back and check them.
Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Span:
    """``start_ms`` inclusive to ``end_ms`` exclusive, from the start of the recording."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if not 0 <= self.start_ms < self.end_ms:
            raise ValueError(f"span {self.start_ms}-{self.end_ms} ms is empty or negative")

    def as_json(self) -> dict[str, object]:
        return {"start_ms": self.start_ms, "end_ms": self.end_ms}


class MarkKind(StrEnum):
    LISTEN = "listen"  # the supervisor heard the call, nobody heard the supervisor
    WHISPER = "whisper"  # the agent heard the supervisor, the debtor did not
    BARGE = "barge"  # both heard the supervisor


@dataclass(frozen=True, slots=True)
class Mark:
    """What a supervisor (``user_id``) did during ``span``."""

    kind: MarkKind
    span: Span
    user_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {"kind": str(self.kind), **self.span.as_json(), "user_id": self.user_id}


def _whole(item: dict[str, object], name: str) -> int:
    value = item.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number of milliseconds, got {value!r}")
    return value


def _objects(items: object) -> list[dict[str, object]]:
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ValueError(f"expected a JSON array of objects, got {items!r}")
    return items


def spans_from_json(items: object) -> tuple[Span, ...]:
    return tuple(Span(_whole(i, "start_ms"), _whole(i, "end_ms")) for i in _objects(items))


def marks_from_json(items: object) -> tuple[Mark, ...]:
    marks = []
    for item in _objects(items):
        user = item.get("user_id")
        if user is not None and (not isinstance(user, int) or isinstance(user, bool)):
            raise ValueError(f"user_id must be a number or null, got {user!r}")
        kind = MarkKind(str(item.get("kind")))
        marks.append(Mark(kind, Span(_whole(item, "start_ms"), _whole(item, "end_ms")), user))
    return tuple(marks)


def as_json(items: Iterable[Span | Mark]) -> list[dict[str, object]]:
    return [item.as_json() for item in items]
