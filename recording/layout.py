"""Where a recording lives: ``<root>/<client>/<YYYY>/<MM>/<DD>/<call-id>.wav``.

The date is the UTC date the call started (an aware ``datetime`` is required), so the
layout does not depend on the site's time zone or its changes. While a call is being
recorded its audio is in ``.<call-id>.wav.part`` in the same directory: hidden, never
mistaken for a finished recording, and renamed onto the final name in one atomic step
by the same file system. A recording compressed for archiving (:mod:`recording.archive`)
becomes ``<call-id>.flac`` next to it, written as ``.<call-id>.flac.part`` first
(:func:`archive_paths`; start-up recovery leaves those alone: they are not WAVs).

Client codes and call ids are made safe as file names by :func:`safe_name`, a
reversible escape (``%XX`` for every byte outside ``A-Z a-z 0-9 - _``; :func:`unsafe_name`
undoes it): no ``/``, no ``..``, no leading dot, no two ids on one name. Pure: paths
are computed, never touched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote_to_bytes

SUFFIX = ".wav"
PART_PREFIX = "."
PART_SUFFIX = ".wav.part"
ARCHIVE_SUFFIX = ".flac"
ARCHIVE_PART_SUFFIX = ".flac.part"
MAX_NAME_BYTES = 200  # escaped; leaves room for the part prefix and suffix under 255

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_ESCAPED = re.compile(r"(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+")


def safe_name(text: str) -> str:
    """``text`` escaped into one safe path component; ``ValueError`` if empty or too long."""
    if not text:
        raise ValueError("an empty name cannot name a recording")
    escaped = "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in text.encode())
    if len(escaped) > MAX_NAME_BYTES:
        raise ValueError(
            f"name {text[:40]!r}... is {len(escaped)} bytes escaped, at most {MAX_NAME_BYTES}"
        )
    return escaped


def unsafe_name(name: str) -> str:
    """The text :func:`safe_name` escaped into ``name``."""
    if not _ESCAPED.fullmatch(name):
        raise ValueError(f"{name!r} is not an escaped name")
    text = unquote_to_bytes(name).decode()
    if safe_name(text) != name:
        raise ValueError(f"{name!r} is not how {text!r} is escaped")
    return text


@dataclass(frozen=True, slots=True)
class RecordingPaths:
    """The final and the temporary path of one call's recording."""

    final: Path
    part: Path

    @property
    def directory(self) -> Path:
        return self.final.parent


def paths(root: Path, client: str, call_id: str, started_at: datetime) -> RecordingPaths:
    """Where the call ``call_id`` of ``client``, started at ``started_at``, is recorded."""
    if started_at.utcoffset() is None:
        raise ValueError(f"started_at {started_at!r} is naive; give an aware datetime")
    day = started_at.astimezone(UTC).date()
    directory = root / safe_name(client) / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}"
    name = safe_name(call_id)
    return RecordingPaths(directory / f"{name}{SUFFIX}", directory / part_name(name))


def part_name(escaped_call_id: str) -> str:
    return f"{PART_PREFIX}{escaped_call_id}{PART_SUFFIX}"


def is_part(name: str) -> bool:
    """Whether ``name`` is a temporary recording file (a call being, or left, recorded)."""
    return (
        name.startswith(PART_PREFIX)
        and name.endswith(PART_SUFFIX)
        and _ESCAPED.fullmatch(name[len(PART_PREFIX) : -len(PART_SUFFIX)]) is not None
    )


def final_of_part(part: Path) -> Path:
    """The final path of the temporary file ``part``."""
    if not is_part(part.name):
        raise ValueError(f"{part} is not a temporary recording file")
    return part.with_name(part.name[len(PART_PREFIX) : -len(PART_SUFFIX)] + SUFFIX)


def archive_paths(final: Path) -> RecordingPaths:
    """Where the recording at ``final`` (a ``.wav``) is archived, and its temporary file."""
    if final.suffix != SUFFIX:
        raise ValueError(f"{final} is not a recording path")
    name = final.name[: -len(SUFFIX)]
    return RecordingPaths(final.with_name(name + ARCHIVE_SUFFIX),
                          final.with_name(PART_PREFIX + name + ARCHIVE_PART_SUFFIX))


def call_id_of(path: Path) -> str:
    """The call id a final or temporary recording path was named after."""
    name = path.name
    if is_part(name):
        return unsafe_name(name[len(PART_PREFIX) : -len(PART_SUFFIX)])
    if name.endswith(SUFFIX):
        return unsafe_name(name[: -len(SUFFIX)])
    raise ValueError(f"{path} is not a recording path")
