"""SIP fixtures in ``tests/data/sip``, written in the notation of RFC 4475 §2.

A ``.sip`` file is UTF-8 text. Leading lines starting with ``#`` are comments. Every
line feed is CRLF on the wire; ``<hex>0d0a</hex>`` stands for raw bytes (controls,
trailing spaces, binary bodies); ``<repeat count=3>ab</repeat>`` for ``ababab``.
"""

from __future__ import annotations

import re
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "sip"
_MARKUP = re.compile(rb"<hex>([0-9a-fA-F\s]*)</hex>|<repeat count=(\d+)>(.*?)</repeat>", re.S)


def load(name: str) -> bytes:
    """The wire bytes of fixture ``name`` (without ``.sip``)."""
    lines = (DATA / f"{name}.sip").read_bytes().split(b"\n")
    while lines and lines[0].startswith(b"#"):
        lines.pop(0)
    return _MARKUP.sub(_expand, b"\r\n".join(lines))


def _expand(match: re.Match[bytes]) -> bytes:
    if match.group(1) is not None:
        return bytes.fromhex(match.group(1).decode())
    return match.group(3) * int(match.group(2))


def names(prefix: str = "") -> list[str]:
    return sorted(path.stem for path in DATA.glob(f"{prefix}*.sip"))
