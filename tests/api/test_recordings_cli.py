"""`callcase recordings verify` and `retention`: output and exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest

from api.cli import main
from api.settings import Settings
from recording.writer import RecorderPool
from tests.api.world import build_world
from tests.conftest import emptied_pool
from tests.recording.catalogued import STARTED, catalogued, tamper


async def two_recordings(database_url: str, root: Path, *, old: bool) -> list[int]:
    """Two recordings of BANKA, started 6 years ago if ``old`` (past retention)."""
    db = await emptied_pool(database_url)
    try:
        world = await build_world(db)
        started = STARTED.replace(year=2020) if old else STARTED.replace(year=2099)
        async with RecorderPool(root, min_free_bytes=0) as recorder:
            rows = [await catalogued(db, recorder, world, f"c{n}", started_at=started)
                    for n in (1, 2)]
        if old:
            await db.execute("UPDATE recordings SET legal_hold = true, legal_hold_at = now(),"
                             " legal_hold_reason = 'suit' WHERE id = $1", rows[1].id)
        return [row.id for row in rows]
    finally:
        await db.close()


async def edit_row(database_url: str, recording_id: int) -> None:
    db = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        await tamper(db, "UPDATE recordings SET agent_id = NULL WHERE id = $1", recording_id)
    finally:
        await db.close()


@pytest.fixture
def env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLCASE_DATABASE_URL", database_url)
    monkeypatch.setenv("CALLCASE_RECORDINGS_DIR", str(tmp_path / "recordings"))
    return tmp_path / "recordings"


def test_verify_exits_4_when_a_file_or_a_row_changed(
    database_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = asyncio.run(two_recordings(database_url, env, old=False))
    assert main(["recordings", "verify"]) == 0
    out = capsys.readouterr().out
    assert "2 recordings, 2 files hashed" in out and "0 problem(s)" in out
    wav = next(env.rglob("c1.wav"))
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x01\x00")
    assert main(["recordings", "verify", "--json"]) == 4
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["recordings"] == 2
    assert [(p["recording_id"], p["kind"]) for p in report["problems"]] == [
        (first, "file_changed")]
    asyncio.run(edit_row(database_url, second))
    assert main(["recordings", "verify"]) == 4
    out = capsys.readouterr().out
    assert f"recording {second} (call c2): row_changed" in out and "2 problem(s)" in out


def test_retention_dry_run_then_delete(
    database_url: str, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = asyncio.run(two_recordings(database_url, env, old=True))
    assert main(["recordings", "retention", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"would delete recording {first} (call c1)" in out
    assert "1 recording(s) due; 1 past retention kept on legal hold" in out
    assert len(list(env.rglob("*.wav"))) == 2
    assert main(["recordings", "retention"]) == 0
    assert "1 deleted; 1 kept on legal hold; 0 could not be deleted" in capsys.readouterr().out
    assert [p.name for p in env.rglob("*.wav")] == ["c2.wav"]
    assert main(["recordings", "verify"]) == 0  # the deletion kept the chain whole
    assert "2 recordings, 1 files hashed" in capsys.readouterr().out


def test_the_recordings_root_is_a_setting() -> None:
    assert Settings.from_env({}).recording.root == Path("var/recordings")
    settings = Settings.from_env({"CALLCASE_RECORDINGS_DIR": "/srv/recordings"})
    assert settings.recording.root == Path("/srv/recordings")
