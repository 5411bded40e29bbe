"""Storage layout: client/date/call-id paths, safe reversible names, part names."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording.layout import (
    call_id_of,
    final_of_part,
    is_part,
    paths,
    safe_name,
    unsafe_name,
)

ROOT = Path("/srv/recordings")


def test_path_is_client_utc_date_call_id() -> None:
    started = datetime(2024, 6, 1, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))  # 23:30 UTC
    where = paths(ROOT, "ICBC-SH", "c-123", started)
    assert where.final == ROOT / "ICBC-SH/2024/05/31/c-123.wav"
    assert where.part == ROOT / "ICBC-SH/2024/05/31/.c-123.wav.part"
    assert where.directory == where.final.parent


def test_naive_start_time_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        paths(ROOT, "bank", "c-1", datetime(2024, 6, 1, 7, 30))


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("../etc", "%2E%2E%2Fetc"),
        (".hidden", "%2Ehidden"),
        ("a84b4c76e66710@pc33.example.com", "a84b4c76e66710%40pc33%2Eexample%2Ecom"),
        ("招商银行", "%E6%8B%9B%E5%95%86%E9%93%B6%E8%A1%8C"),
        ("100%", "100%25"),
    ],
)
def test_unsafe_characters_are_escaped(text: str, escaped: str) -> None:
    assert safe_name(text) == escaped
    assert unsafe_name(escaped) == text


@given(st.text(min_size=1, max_size=16))  # 16 x 12 escaped bytes fit in 200
def test_names_round_trip_and_stay_one_plain_component(text: str) -> None:
    name = safe_name(text)
    assert unsafe_name(name) == text
    assert "/" not in name and "." not in name and "\0" not in name


@pytest.mark.parametrize("bad", ["", "x" * 201])
def test_empty_or_too_long_names_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"empty|at most 200"):
        safe_name(bad)


@pytest.mark.parametrize("bad", ["a.b", "%41", "%2e", "a%"])
def test_only_canonical_escapes_are_names(bad: str) -> None:
    with pytest.raises(ValueError, match="escaped"):
        unsafe_name(bad)


def test_part_names() -> None:
    where = paths(ROOT, "bank", "sip:1@x", datetime(2024, 1, 2, tzinfo=UTC))
    assert is_part(where.part.name)
    assert not is_part(where.final.name)
    assert not is_part(".other.wav.part.bak")
    assert not is_part("..wav.part")
    assert final_of_part(where.part) == where.final
    assert call_id_of(where.part) == call_id_of(where.final) == "sip:1@x"
    with pytest.raises(ValueError, match="not a temporary recording file"):
        final_of_part(where.final)
    with pytest.raises(ValueError, match="not a recording path"):
        call_id_of(ROOT / "notes.txt")
