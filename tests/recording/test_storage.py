"""The local recording storage: URIs that cannot leave the root, range reads, delete."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from recording.storage import LocalStorage, Storage


def store(tmp_path: Path) -> tuple[LocalStorage, Path]:
    path = tmp_path / "BANKA" / "2026" / "11" / "28" / "call%2F1.wav"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(range(256)) * 40)
    return LocalStorage(tmp_path), path


async def test_uris_are_paths_under_the_root(tmp_path: Path) -> None:
    storage, path = store(tmp_path)
    uri = await storage.adopt(path)
    assert uri == "local:BANKA/2026/11/28/call%2F1.wav"
    assert storage.path_of(uri) == path
    with pytest.raises(ValueError):
        storage.uri_for(tmp_path.parent / "elsewhere.wav")


@pytest.mark.parametrize("uri", [
    "local:../etc/passwd", "local:/etc/passwd", "local:a/../../b", "local:a//b", "local:",
    "local:.hidden/x.wav", "local:a/..", "file:a/b.wav", "s3://bucket/a.wav",
    "local:a\\..\\b",
])
def test_uris_that_could_leave_the_root_are_refused(tmp_path: Path, uri: str) -> None:
    with pytest.raises(ValueError):
        LocalStorage(tmp_path).path_of(uri)


async def test_range_reads_size_hash_and_delete(tmp_path: Path) -> None:
    storage: Storage
    storage, path = store(tmp_path)
    uri = await storage.adopt(path)
    reader = await storage.open(uri)
    try:
        assert reader.size == 10240 == await storage.size(uri)
        assert await reader.read(250, 10) == bytes([250, 251, 252, 253, 254, 255, 0, 1, 2, 3])
        assert await reader.read(10235, 100) == bytes([251, 252, 253, 254, 255])
        assert await reader.read(10240, 10) == b""
    finally:
        await reader.close()
        await reader.close()  # again: nothing happens
    assert await storage.sha256(uri) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert await storage.delete(uri) is True
    assert not path.exists()
    assert await storage.delete(uri) is False
    with pytest.raises(FileNotFoundError):
        await storage.open(uri)
    with pytest.raises(FileNotFoundError):
        await storage.size(uri)
