"""The tamper-evident chain: canonical form, hashes, and what verification reports."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from recording.chain import GENESIS, Entry, Link, canonical, row_hash, verify_chain
from recording.spans import Mark, MarkKind, Span

STARTED = datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)


def entry(n: int, **changes: object) -> Entry:
    base = Entry(
        id=n, call_id=f"call-{n}", attempt_id=100 + n, case_id=7, client_id=1, agent_id=3,
        campaign_id=None, started_at=STARTED, duration_ms=61_240, size_bytes=1_959_724,
        channels=2, sample_rate=8000, sha256="ab" * 32, storage_uri=f"local:BANKA/c{n}.wav",
        retention_until=STARTED.replace(year=2031), pci_pauses=(Span(1000, 4000),),
        marks=(Mark(MarkKind.WHISPER, Span(0, 500), 9),), created_at=STARTED,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def chain(count: int) -> list[Link]:
    links, prev = [], GENESIS
    for n in range(1, count + 1):
        e = entry(n)
        links.append(Link(e, prev, row_hash(e, prev)))
        prev = links[-1].row_hash
    return links


def test_canonical_form_is_sorted_compact_json_in_utc() -> None:
    text = canonical(entry(1), GENESIS).decode()
    assert text.startswith('{"agent_id":3,"attempt_id":101,"call_id":"call-1",')
    assert '"started_at":"2026-03-02T01:30:15.123456Z"' in text
    assert '"pci_pauses":[{"end_ms":4000,"start_ms":1000}]' in text
    assert '"marks":[{"end_ms":500,"kind":"whisper","start_ms":0,"user_id":9}]' in text
    assert " " not in text and '"format":1' in text
    assert row_hash(entry(1), GENESIS) == hashlib.sha256(text.encode()).hexdigest()


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    shanghai = STARTED.astimezone(timezone(timedelta(hours=8)))
    assert row_hash(entry(1, started_at=shanghai), GENESIS) == row_hash(entry(1), GENESIS)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        canonical(entry(1, created_at=datetime(2026, 1, 1)), GENESIS)


CHANGES: list[tuple[str, object]] = [
    ("id", 2), ("call_id", "call-x"), ("attempt_id", None), ("case_id", 8), ("client_id", 2),
    ("agent_id", None), ("campaign_id", 5), ("started_at", STARTED + timedelta(microseconds=1)),
    ("duration_ms", 61_260), ("size_bytes", 1_959_725), ("channels", 1), ("sample_rate", 16000),
    ("sha256", "ac" * 32), ("storage_uri", "local:BANKA/other.wav"),
    ("retention_until", STARTED.replace(year=2030)), ("pci_pauses", ()),
    ("pci_pauses", (Span(1000, 4020),)), ("marks", (Mark(MarkKind.BARGE, Span(0, 500), 9),)),
    ("created_at", STARTED + timedelta(seconds=1)),
]


@pytest.mark.parametrize(("field", "value"), CHANGES, ids=[f for f, _ in CHANGES])
def test_every_chained_field_changes_the_hash(field: str, value: object) -> None:
    assert row_hash(entry(1, **{field: value}), GENESIS) != row_hash(entry(1), GENESIS)


def test_the_previous_hash_is_part_of_the_hash() -> None:
    assert row_hash(entry(1), GENESIS) != row_hash(entry(1), "1" * 64)


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    links = chain(5)
    report = verify_chain(links)
    assert report.intact and report.rows == 5
    assert report.head == links[-1].row_hash
    assert verify_chain([]).head == GENESIS and verify_chain([]).intact


def test_an_edited_row_is_reported_but_its_link_still_holds() -> None:
    links = chain(5)
    links[2] = dataclasses.replace(links[2], entry=entry(3, duration_ms=1))
    report = verify_chain(links)
    assert report.mismatched == (3,) and report.first_broken is None
    assert not report.intact


def test_a_rehashed_edit_breaks_the_next_link() -> None:
    links = chain(5)
    forged = entry(3, sha256="cd" * 32)
    links[2] = Link(forged, links[2].prev_hash, row_hash(forged, links[2].prev_hash))
    report = verify_chain(links)
    assert report.mismatched == ()
    assert report.first_broken is not None and report.first_broken.id == 4
    assert report.first_broken.found == links[3].prev_hash
    assert report.first_broken.expected == links[2].row_hash


def test_a_removed_row_breaks_the_chain_where_it_was() -> None:
    links = chain(5)
    report = verify_chain(links[:1] + links[2:])
    assert report.first_broken is not None and report.first_broken.id == 3
    assert report.mismatched == ()


def test_only_the_first_broken_link_and_every_mismatch_are_reported() -> None:
    links = chain(6)
    links[1] = dataclasses.replace(links[1], prev_hash="2" * 64)  # breaks row 2, mismatch 2
    links[4] = dataclasses.replace(links[4], prev_hash="5" * 64)  # breaks row 5, mismatch 5
    report = verify_chain(links)
    assert report.first_broken is not None and report.first_broken.id == 2
    assert report.mismatched == (2, 5)
