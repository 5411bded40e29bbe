"""Where finished recordings are kept, behind one :class:`Storage` protocol.

The catalogue stores a URI per recording (``recordings.storage_uri``) and asks the
storage for the bytes: range reads for playback, size, SHA-256 for verification,
delete for retention. :class:`LocalStorage` is a file system root laid out as
:mod:`recording.layout` says (the recorder writes there); its URIs are
``local:<path under the root>``, so the root can move without touching the rows.

Methods are coroutines (an object store would do network IO); the local one runs
its file operations in threads. A missing file raises ``FileNotFoundError``.
Archiving to FLAC needs the files themselves (libsndfile reads paths):
:class:`FileStorage`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path
from typing import Protocol

from recording.files import sync_directory

SCHEME = "local:"
_KEY_PART = re.compile(r"[A-Za-z0-9_%-][A-Za-z0-9_%.-]*")
_BLOCK = 1 << 20


class Reader(Protocol):
    """An open recording: its size when opened, and reads at any offset."""

    size: int

    async def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer only at the end)."""

    async def close(self) -> None: ...


class Storage(Protocol):
    async def open(self, uri: str) -> Reader:
        """The recording at ``uri``, open for reads; close it."""

    async def adopt(self, path: Path) -> str:
        """Take a file the recorder finished at ``path``; the URI to store it under."""

    async def size(self, uri: str) -> int: ...

    async def sha256(self, uri: str) -> str: ...

    async def delete(self, uri: str) -> bool:
        """Delete durably; ``False`` if there was nothing to delete."""


class FileStorage(Storage, Protocol):
    """A storage whose recordings are files on this machine, as the FLAC codec of
    archiving needs them (:mod:`recording.archive`); :class:`LocalStorage` is one."""

    def path_of(self, uri: str) -> Path: ...

    def uri_for(self, path: Path) -> str: ...


class _FileReader:
    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self.size = size

    async def read(self, offset: int, size: int) -> bytes:
        return await asyncio.to_thread(os.pread, self._fd, size, offset)

    async def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


class LocalStorage:
    """Recordings under a root directory; see the module docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def uri_for(self, path: Path) -> str:
        """The URI of ``path``; ``ValueError`` unless it is a recording path under the root."""
        key = path.relative_to(self.root).as_posix()
        self.path_of(SCHEME + key)
        return SCHEME + key

    def path_of(self, uri: str) -> Path:
        """The file of ``uri``; ``ValueError`` for another scheme or a path that could
        leave the root (``..``, absolute, hidden files)."""
        if not uri.startswith(SCHEME):
            raise ValueError(f"{uri!r} is not a local recording URI")
        parts = uri[len(SCHEME) :].split("/")
        if not all(_KEY_PART.fullmatch(part) and ".." not in part for part in parts):
            raise ValueError(f"{uri!r} is not a path under the recording root")
        return self.root.joinpath(*parts)

    async def adopt(self, path: Path) -> str:
        return self.uri_for(path)

    async def open(self, uri: str) -> Reader:
        path = self.path_of(uri)
        fd = await asyncio.to_thread(os.open, path, os.O_RDONLY | os.O_CLOEXEC)
        return _FileReader(fd, os.fstat(fd).st_size)

    async def size(self, uri: str) -> int:
        return (await asyncio.to_thread(self.path_of(uri).stat)).st_size

    async def sha256(self, uri: str) -> str:
        return await asyncio.to_thread(_sha256, self.path_of(uri))

    async def delete(self, uri: str) -> bool:
        return await asyncio.to_thread(_delete, self.path_of(uri))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb", buffering=0) as file:
        while block := file.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _delete(path: Path) -> bool:
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    sync_directory(path.parent)
    return True
