"""The tamper-evident chain of the recordings catalogue.

Every catalogue row carries ``row_hash = sha256(canonical(entry, prev_hash))`` where
``entry`` is the row's immutable fields (:class:`Entry`: who, which call, when, how
long, the SHA-256 of the audio bytes, where they are stored, the retention date, the
PCI pauses and marks) and ``prev_hash`` is the ``row_hash`` of the row before it in
id order (:data:`GENESIS` for the first). Changing a field of a row breaks that row's
hash; recomputing the hash to hide it breaks the next row's link; only rewriting the
whole tail of the chain goes unseen, which is why :class:`ChainReport` gives the head
hash: keep a copy of it outside the database to catch that too.

The mutable fields (state, legal hold) are not chained: state changes to ``deleted``
are logged in ``recording_deletions`` and legal holds in the audit log. A deleted
recording keeps its row, so its entry (and the SHA-256 of the bytes that were
deleted) stays in the chain and the chain verifies as before.

The canonical form is JSON with sorted keys, no spaces, ASCII escapes, timestamps in
UTC with microseconds and a ``format`` number, so any later version of the code (or
another language) can recompute the hashes. Pure: no IO.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from recording.spans import Mark, Span, as_json

FORMAT = 1
GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Entry:
    """The immutable, chained fields of one catalogue row."""

    id: int
    call_id: str
    attempt_id: int | None
    case_id: int
    client_id: int
    agent_id: int | None
    campaign_id: int | None
    started_at: datetime
    duration_ms: int
    size_bytes: int
    channels: int
    sample_rate: int
    sha256: str
    storage_uri: str
    retention_until: datetime
    pci_pauses: tuple[Span, ...]
    marks: tuple[Mark, ...]
    created_at: datetime


def _instant(value: datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError(f"{value!r} is naive; the chain needs aware timestamps")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: Entry, prev_hash: str) -> bytes:
    """The bytes that are hashed: ``entry`` and ``prev_hash`` as canonical JSON."""
    document = {
        "format": FORMAT, "prev_hash": prev_hash, "id": entry.id, "call_id": entry.call_id,
        "attempt_id": entry.attempt_id, "case_id": entry.case_id,
        "client_id": entry.client_id, "agent_id": entry.agent_id,
        "campaign_id": entry.campaign_id, "started_at": _instant(entry.started_at),
        "duration_ms": entry.duration_ms, "size_bytes": entry.size_bytes,
        "channels": entry.channels, "sample_rate": entry.sample_rate, "sha256": entry.sha256,
        "storage_uri": entry.storage_uri, "retention_until": _instant(entry.retention_until),
        "pci_pauses": as_json(entry.pci_pauses), "marks": as_json(entry.marks),
        "created_at": _instant(entry.created_at),
    }  # fmt: skip
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def row_hash(entry: Entry, prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry, prev_hash)).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """A stored row of the chain: its entry and the two hashes stored with it."""

    entry: Entry
    prev_hash: str
    row_hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    """Row ``id`` names ``found`` as the hash before it; the row before has ``expected``."""

    id: int
    expected: str
    found: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    rows: int
    head: str  # row_hash of the last row (GENESIS for none): keep a copy elsewhere
    first_broken: BrokenLink | None  # the first row whose prev_hash is wrong
    mismatched: tuple[int, ...]  # ids of rows whose stored row_hash is not their hash

    @property
    def intact(self) -> bool:
        return self.first_broken is None and not self.mismatched


class ChainCheck:
    """Checks the rows of a chain one at a time, in id order (see :func:`verify_chain`)."""

    __slots__ = ("first_broken", "head", "mismatched", "rows")

    def __init__(self) -> None:
        self.rows = 0
        self.head = GENESIS
        self.first_broken: BrokenLink | None = None
        self.mismatched: list[int] = []

    def add(self, link: Link) -> None:
        matches = row_hash(link.entry, link.prev_hash) == link.row_hash
        self.add_hashes(link.entry.id, link.prev_hash, link.row_hash, matches=matches)

    def add_hashes(self, row_id: int, prev_hash: str, stored_hash: str, *, matches: bool) -> None:
        """Add a row by its hashes alone (``matches``: whether its fields hash to it)."""
        if prev_hash != self.head and self.first_broken is None:
            self.first_broken = BrokenLink(row_id, self.head, prev_hash)
        if not matches:
            self.mismatched.append(row_id)
        self.rows += 1
        self.head = stored_hash

    def report(self) -> ChainReport:
        return ChainReport(self.rows, self.head, self.first_broken, tuple(self.mismatched))


def verify_chain(links: Iterable[Link]) -> ChainReport:
    """Check every link of a chain given in id order; see :class:`ChainReport`."""
    check = ChainCheck()
    for link in links:
        check.add(link)
    return check.report()
