"""What transcription needs from the rest of callcase, wired by ``api``."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class AudioLocator(Protocol):
    def __call__(self, uri: str, /) -> Path:
        """The local file of a recording's audio (``recording.storage.LocalStorage.path_of``
        fits)."""
        ...
