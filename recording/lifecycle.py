"""The life of a catalogued recording: its states, retention date and deletion.

States (``recordings.state``):

- ``recording``: reserved for a row written while the call is still recorded; the
  catalogue registers rows only once the file is final, so no code writes it yet.
- ``finished``: the recorder sealed the file at hang-up.
- ``recovered``: the file was repaired from what a crash or a failed write left.
- ``failed``: the file is known to be unusable (missing or changed, confirmed by a
  person after ``callcase recordings verify``); its row and hashes stay as evidence.
- ``deleted``: the audio was deleted (retention ran out, or the client left) and the
  deletion logged; the row stays so the chain and the evidence of what was deleted
  stay too.

:data:`TRANSITIONS` lists the legal changes; anything else raises. A recording is due
for deletion once its ``retention_until`` has passed, unless it is on legal hold:
:func:`may_delete`. ``retention_until`` is the call's start plus the client's
retention years (:func:`retention_until`), in calendar years on the UTC date, a
29 February moving to 28 February. Pure: no IO.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class CatalogState(StrEnum):
    RECORDING = "recording"
    FINISHED = "finished"
    RECOVERED = "recovered"
    FAILED = "failed"
    DELETED = "deleted"


class DeletionReason(StrEnum):
    RETENTION = "retention"  # the retention period ran out
    OFFBOARD = "offboard"  # the client's contract ended: all its data goes


TRANSITIONS: frozenset[tuple[CatalogState, CatalogState]] = frozenset({
    (CatalogState.RECORDING, CatalogState.FINISHED),
    (CatalogState.RECORDING, CatalogState.RECOVERED),
    (CatalogState.RECORDING, CatalogState.FAILED),
    (CatalogState.FINISHED, CatalogState.FAILED),
    (CatalogState.RECOVERED, CatalogState.FAILED),
    (CatalogState.FINISHED, CatalogState.DELETED),
    (CatalogState.RECOVERED, CatalogState.DELETED),
    (CatalogState.FAILED, CatalogState.DELETED),
})  # fmt: skip

DELETABLE = frozenset({CatalogState.FINISHED, CatalogState.RECOVERED, CatalogState.FAILED})


class IllegalTransition(ValueError):
    """A state change :data:`TRANSITIONS` does not allow."""


def check_transition(current: CatalogState, new: CatalogState) -> None:
    if (current, new) not in TRANSITIONS:
        raise IllegalTransition(f"a {current} recording cannot become {new}")


def retention_until(started_at: datetime, years: int) -> datetime:
    """``started_at`` plus ``years`` calendar years (UTC; 29 February -> 28 February)."""
    if started_at.utcoffset() is None:
        raise ValueError(f"started_at {started_at!r} is naive; give an aware datetime")
    if years < 1:
        raise ValueError(f"retention of {years} years: at least 1")
    start = started_at.astimezone(UTC)
    try:
        return start.replace(year=start.year + years)
    except ValueError:  # 29 February into a common year
        return start.replace(year=start.year + years, day=28)


def may_delete(
    state: CatalogState, legal_hold: bool, retention_ends: datetime, now: datetime
) -> bool:
    """Whether retention may delete the audio now."""
    return state in DELETABLE and not legal_hold and retention_ends <= now
