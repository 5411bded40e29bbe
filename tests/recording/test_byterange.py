"""Which bytes a Range header asks for (RFC 9110 14), on a 1000-byte file."""

from __future__ import annotations

import pytest

from recording.byterange import ByteRange, RangeNotSatisfiable, select

SIZE = 1000
ETAG = '"abc"'

SERVED: list[tuple[str, tuple[int, int]]] = [
    ("bytes=0-99", (0, 99)),
    ("bytes=100-100", (100, 100)),
    ("bytes=990-2000", (990, 999)),  # the end is clipped to the file
    ("bytes=500-", (500, 999)),
    ("bytes=999-", (999, 999)),
    ("bytes=-100", (900, 999)),
    ("bytes=-5000", (0, 999)),  # a suffix longer than the file is the whole file
    ("BYTES = 0 - 9 ", (0, 9)),  # the unit is case-insensitive, spaces allowed
    ("bytes=0-", (0, 999)),
]


@pytest.mark.parametrize(("header", "span"), SERVED, ids=[h for h, _ in SERVED])
def test_one_range_is_served(header: str, span: tuple[int, int]) -> None:
    chosen = select(header, SIZE)
    assert chosen == ByteRange(span[0], span[1], SIZE)
    assert chosen.content_range == f"bytes {span[0]}-{span[1]}/{SIZE}"
    assert chosen.length == span[1] - span[0] + 1


WHOLE = [None, "", "bytes=", "bytes=-", "bytes=5-1", "items=0-9", "bytes=0-9,20-29",
         "bytes=a-b", "bytes=-1-2", "0-9"]


@pytest.mark.parametrize("header", WHOLE)
def test_no_invalid_or_multiple_ranges_send_the_whole_file(header: str | None) -> None:
    assert select(header, SIZE) is None


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=1000-1001", "bytes=5000-6000",
                                    "bytes=-0"])
def test_ranges_outside_the_file_are_not_satisfiable(header: str) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        select(header, SIZE)
    assert caught.value.content_range == "bytes */1000"


def test_if_range_serves_the_range_only_while_the_etag_matches() -> None:
    assert select("bytes=0-9", SIZE, if_range=ETAG, etag=ETAG) == ByteRange(0, 9, SIZE)
    assert select("bytes=0-9", SIZE, if_range='"old"', etag=ETAG) is None
    assert select("bytes=0-9", SIZE, if_range="Sat, 29 Nov 2026 03:00:00 GMT",
                  etag=ETAG) is None
