"""Which bytes of a recording to send for an HTTP ``Range`` request (RFC 9110 14).

One range is served: ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last ``n``
bytes), the end clipped to the file. What a browser's ``<audio>`` sends to seek.

- no ``Range``, another unit, a syntactically invalid or a multi-range request, or
  an ``If-Range`` that does not match the current ETag: ``None``, send it all (200);
  ignoring such a header is what the RFC asks (multiple ranges are rare, and a
  multipart reply buys a player nothing);
- a range starting at or after the end, or a suffix of 0 bytes:
  :class:`RangeNotSatisfiable` (416, ``Content-Range: bytes */size``);
- otherwise a :class:`ByteRange` (206 with its ``content_range``).

Pure: no IO.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SPEC = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(ValueError):
    """No byte of the file is in the range asked for."""

    def __init__(self, header: str, size: int) -> None:
        super().__init__(f"range {header!r} is outside the {size} bytes of the file")
        self.size = size

    @property
    def content_range(self) -> str:
        return f"bytes */{self.size}"


def select(
    header: str | None, size: int, *, if_range: str | None = None, etag: str | None = None
) -> ByteRange | None:
    """The range of a file of ``size`` bytes to send; ``None`` for the whole file."""
    if header is None or (if_range is not None and if_range.strip() != etag):
        return None
    match = _SPEC.fullmatch(header)
    if match is None:
        return None  # another unit, several ranges, or not a range at all
    first, last = match.groups()
    if first:
        return _from(header, int(first), int(last) if last else None, size)
    if last:
        return _suffix(header, int(last), size)
    return None  # "bytes=-"


def _from(header: str, first: int, last: int | None, size: int) -> ByteRange | None:
    if last is not None and last < first:
        return None  # invalid: the header is ignored
    if first >= size:
        raise RangeNotSatisfiable(header, size)
    end = size - 1 if last is None else min(last, size - 1)
    return ByteRange(first, end, size)


def _suffix(header: str, length: int, size: int) -> ByteRange:
    if length == 0 or size == 0:
        raise RangeNotSatisfiable(header, size)
    return ByteRange(max(0, size - length), size - 1, size)
