from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "media"


def _load_hex(name: str) -> bytes:
    """A fixture file of whitespace-separated hex with ``#`` comment lines."""
    text = (DATA / name).read_text()
    return bytes.fromhex(" ".join(line for line in text.splitlines() if not line.startswith("#")))


@pytest.fixture
def media_data() -> Callable[[str], bytes]:
    return _load_hex
