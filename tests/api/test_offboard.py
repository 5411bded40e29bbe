"""Offboarding a client on a real PostgreSQL: the export, the personal data gone
afterwards (searched for in every table), the recordings deleted and logged, legal
holds kept whole, the certificate's counts and hashes, and a dry run that changes
nothing."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from api import cli_offboard, offboard
from api.offboard_export import ExportIncomplete
from api.settings import RecordingSettings, Settings
from cases import audit
from cases.actions import ActionRequest, file_action
from cases.errors import Conflict
from recording import archive, catalog
from recording.catalog import RecordingRow
from recording.integrity import verify
from recording.lifecycle import CatalogState
from recording.storage import LocalStorage
from recording.writer import RecorderPool
from tests.api.world import ID_A1, ID_A2, ID_B1, NOW, World
from tests.recording.catalogued import catalogued

STATEMENT = "说这张卡是他前妻办的，住在朝阳区"
NOTE = "debtor's new employer: Huaxia Steel, ask for Mr Zhao"
# What identifies A1's debtor and guarantor (world.py), and what the agent typed.
A1_PII = ("王伟", ID_A1, "13800138000", "李娜", "13900139000", STATEMENT[:8], "Huaxia")


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[RecorderPool]:
    async with RecorderPool(tmp_path / "recordings", min_free_bytes=0) as running:
        yield running


@dataclasses.dataclass
class Bank:
    """BANKA with an action, an attempt and recordings: two of A1 (one archived as
    FLAC), one of A2 on legal hold; and one of BANKB."""

    world: World
    storage: LocalStorage
    a1: RecordingRow
    a1_flac: RecordingRow
    a2_held: RecordingRow
    b1: RecordingRow
    originals: dict[int, bytes]


async def _file_dispute(world: World) -> None:
    phone = await world.pool.fetchval("SELECT id FROM phones WHERE case_id = $1 ORDER BY id",
                                      world.cases["A1"])
    await file_action(world.pool, audit.Actor(world.users["agent_a"]), ActionRequest(
        world.cases["A1"], "DSP", "k1", {"statement": STATEMENT, "note": NOTE}, phone), NOW)
    await world.pool.execute(
        "INSERT INTO attempts (case_id, debtor_id, phone_id, number, party, work_line,"
        " dialer, placed_at, decision, pack, pack_version) SELECT c.id, c.debtor_id, p.id,"
        " p.e164, p.party, 'trunk1', 'd', $2, '{}', 'cn-bank', '2026.1' FROM cases c"
        " JOIN phones p ON p.case_id = c.id WHERE c.id = $1", world.cases["A1"], NOW)


@pytest.fixture
async def bank(pool: asyncpg.Pool, world: World, recorder: RecorderPool) -> Bank:
    await _file_dispute(world)
    storage = LocalStorage(recorder.root)
    a1 = await catalogued(pool, recorder, world, "call-a1", ticks=100)
    a1_flac = await catalogued(pool, recorder, world, "call-a1-old", ticks=120)
    a2 = await catalogued(pool, recorder, world, "call-a2", "A2")
    b1 = await catalogued(pool, recorder, world, "call-b1", "B1")
    originals = {r.id: storage.path_of(r.entry.storage_uri).read_bytes()
                 for r in (a1, a1_flac, a2, b1)}
    await archive.compress(pool, storage, a1_flac, NOW)
    await catalog.set_legal_hold(pool, audit.Actor(world.users["admin"]), a2.id, "suit 17",
                                 NOW)
    return Bank(world, storage, a1, a1_flac, a2, b1, originals)


async def where_found(pool: asyncpg.Pool, needle: str) -> list[str]:
    """Every table.column in the database whose text holds ``needle``."""
    columns = await pool.fetch(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"
        " AND c.data_type IN ('text', 'jsonb', 'character varying', 'ARRAY', 'character')")
    found = []
    for col in columns:
        name = f'"{col["table_name"]}"."{col["column_name"]}"'
        sql = f'SELECT count(*) FROM "{col["table_name"]}" WHERE {name}::text LIKE $1'
        if await pool.fetchval(sql, f"%{needle}%"):
            found.append(f"{col['table_name']}.{col['column_name']}")
    return found


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


async def snapshot(pool: asyncpg.Pool) -> list[object]:
    tables = ("debtors", "cases", "phones", "actions", "attempts", "recordings", "users",
              "recording_deletions", "client_offboardings", "api_sessions")
    return [[tuple(r) for r in await pool.fetch(f"SELECT * FROM {t} ORDER BY 1")]
            for t in tables]


async def test_offboarding_exports_then_deletes_and_certifies(
    pool: asyncpg.Pool, bank: Bank, tmp_path: Path
) -> None:
    world, out = bank.world, tmp_path / "export"
    assert all([await where_found(pool, needle) for needle in A1_PII])  # there before
    done = await offboard.offboard(pool, bank.storage, "BANKA", out, NOW)

    cases = read_csv(out / "cases.csv")
    assert [(c["account_no"], c["debtor_name"], c["debtor_id_no"]) for c in cases] == [
        ("A1", "王伟", ID_A1), ("A2", "张敏", ID_A2)]
    phones = {p["e164"]: p["name"] for p in read_csv(out / "phones.csv")}
    assert phones == {"+8613800138000": "", "+8613900139000": "李娜", "+8615012345678": ""}
    [action] = read_csv(out / "actions.csv")
    assert action["code"] == "DSP" and json.loads(action["fields"])["statement"] == STATEMENT
    attempts = read_csv(out / "attempts.csv")
    assert [(t["number"], t["account_no"]) for t in attempts] == [
        ("+8613800138000", "A1"), ("+8613900139000", "A1")]
    manifest = {int(m["recording_id"]): m for m in read_csv(out / "recordings/manifest.csv")}
    assert set(manifest) == {bank.a1.id, bank.a1_flac.id, bank.a2_held.id}
    for recording_id, line in manifest.items():
        audio = (out / line["file"]).read_bytes()
        assert audio == bank.originals[recording_id]  # the archived one rebuilt exactly
        assert line["sha256"] == hashlib.sha256(audio).hexdigest()
    assert manifest[bank.a1_flac.id]["note"] == "rebuilt from its FLAC archive"
    assert manifest[bank.a2_held.id]["legal_hold_reason"] == "suit 17"

    for needle in A1_PII:
        assert await where_found(pool, needle) == [], needle
    assert await where_found(pool, "张敏") == ["debtors.name"]  # legal hold: kept whole
    assert await where_found(pool, "刘洋") == ["debtors.name"]  # BANKB untouched
    assert await pool.fetchval("SELECT account_no FROM cases WHERE id = $1",
                               world.cases["A2"]) == "A2"
    assert await pool.fetchval("SELECT status FROM cases WHERE id = $1",
                               world.cases["A1"]) == "closed"

    states = {r.id: r.state for r in [await catalog.get(pool, r.id) for r in (
        bank.a1, bank.a1_flac, bank.a2_held, bank.b1)]}
    assert states == {bank.a1.id: CatalogState.DELETED, bank.a1_flac.id: CatalogState.DELETED,
                      bank.a2_held.id: CatalogState.FINISHED, bank.b1.id: CatalogState.FINISHED}
    logged = await pool.fetch("SELECT recording_id, reason, file_found, storage_uri"
                              " FROM recording_deletions ORDER BY recording_id")
    assert [(r["recording_id"], r["reason"], r["file_found"]) for r in logged] == [
        (bank.a1.id, "offboard", True), (bank.a1_flac.id, "offboard", True)]
    assert logged[1]["storage_uri"].endswith(".flac")
    assert sorted(p.name for p in bank.storage.root.rglob("*.*")) == ["call-a2.wav",
                                                                      "call-b1.wav"]
    report = await verify(pool, bank.storage)
    assert report.ok and report.chain.rows == 4
    assert done.facts.chain_before == done.facts.chain_after

    await _check_certificate(pool, out, bank, done)
    assert await pool.fetchval("SELECT active FROM users WHERE username = 'auditor-a'") is False
    assert await pool.fetchval(
        "SELECT count(*) FROM api_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE u.username = 'auditor-a' AND s.revoked_at IS NULL") == 0


def exported_files(out: Path) -> dict[str, str]:
    """Every file of the export but the certificate, with its SHA-256."""
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in out.rglob("*") if p.is_file() and not p.name.startswith("certificate")}


async def _check_certificate(pool: asyncpg.Pool, out: Path, bank: Bank,
                             done: offboard.Offboarding) -> None:
    data = (out / "certificate.json").read_bytes()
    cert = json.loads(data)
    assert cert["client"]["code"] == "BANKA"
    sheets = {k: v for k, v in cert["exported"].items() if k != "transcripts"}  # if installed
    assert sheets == {"cases": 2, "phones": 3, "actions": 1, "promises": 0, "payments": 0,
                      "holds": 1,
                      "disputes": 1, "approvals": 0, "field_visits": 0, "complaints": 0,
                      "attempts": 2,
                      "recordings": 3}
    assert cert["deleted"] == {"recordings": 2, "transcripts": 0}
    pseudonymised = cert["pseudonymised"]
    assert (pseudonymised["debtors"], pseudonymised["cases"], pseudonymised["phones"],
            pseudonymised["attempts"], pseudonymised["actions"],
            pseudonymised["hold_notes"], pseudonymised["client_users"]) == (1, 1, 2, 2, 1, 1, 1)
    assert cert["kept"]["legal_hold"] == [{"recording_id": bank.a2_held.id, "reason": "suit 17",
                                           "case_id": bank.world.cases["A2"]}]
    chain = cert["recording_chain"]
    assert chain["before"] == chain["after"] == {
        "rows": 4, "head": await pool.fetchval("SELECT max(row_hash) FILTER (WHERE id = 4)"
                                               " FROM recordings")}
    listed = {f["path"]: f["sha256"] for f in cert["export"]["files"]}
    on_disk = exported_files(out)
    csvs = len(cert["exported"]) - 1
    assert listed == on_disk and len(listed) == csvs + 1 + 3  # sheets, manifest, audio
    text = (out / "certificate.txt").read_text()
    assert "CERTIFICATE OF DELETION" in text and "suit 17" in text
    assert all(f"{sha}" in text for sha in listed.values())
    entry = await pool.fetchrow("SELECT details FROM audit_log WHERE action = 'client.offboard'")
    assert entry is not None
    details = json.loads(entry["details"])
    assert details["certificate_sha256"] == hashlib.sha256(data).hexdigest()
    assert done.certificate_sha256 == details["certificate_sha256"]


async def test_the_actions_log_still_refuses_all_but_erasing_an_offboarded_client(
    pool: asyncpg.Pool, bank: Bank, tmp_path: Path
) -> None:
    await offboard.offboard(pool, bank.storage, "BANKA", tmp_path / "export", NOW)
    await file_action(pool, audit.Actor(bank.world.users["agent_b"]), ActionRequest(
        bank.world.cases["B1"], "RPC", "k2", {"note": "B1's note"}), NOW)
    refused = [
        ("UPDATE actions SET code = 'RPC'", ()),  # the offboarded client's: not a change
        ("UPDATE actions SET fields = fields || '{\"note\": \"x\"}'", ()),  # nor adding
        ("UPDATE actions a SET note = NULL FROM cases c WHERE c.id = a.case_id"
         " AND c.client_id = $1", (bank.world.clients["BANKB"],)),  # another client
        ("DELETE FROM actions", ()),
    ]
    for sql, args in refused:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pool.execute(sql, *args)


async def test_a_recording_that_cannot_be_exported_stops_before_anything_is_deleted(
    pool: asyncpg.Pool, bank: Bank, tmp_path: Path
) -> None:
    wav = bank.storage.path_of(bank.a1.entry.storage_uri)
    wav.write_bytes(wav.read_bytes()[:-2] + b"\x01\x00")
    before = await snapshot(pool)
    with pytest.raises(ExportIncomplete) as raised:
        await offboard.offboard(pool, bank.storage, "BANKA", tmp_path / "export", NOW)
    assert list(raised.value.details) == [f"recording {bank.a1.id}"]
    assert await snapshot(pool) == before and wav.exists()
    assert not (tmp_path / "export" / "recordings" / "call-a1.wav").exists()


async def test_a_running_campaign_blocks_offboarding(
    pool: asyncpg.Pool, bank: Bank, tmp_path: Path
) -> None:
    await pool.execute(
        "INSERT INTO campaigns (client_id, name, state, mode, rule_pack, work_lines, schedule,"
        " retry_policy, created_at, updated_at) VALUES ($1, 'c', 'paused', 'preview',"
        " 'cn-bank', '{trunk1}', '{}', '{}', $2, $2)", bank.world.clients["BANKA"], NOW)
    before = await snapshot(pool)
    with pytest.raises(Conflict, match="stop the client's campaigns"):
        await offboard.offboard(pool, bank.storage, "BANKA", tmp_path / "export", NOW)
    assert await snapshot(pool) == before and not (tmp_path / "export").exists()


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="callcase")
    client = parser.add_subparsers(dest="command").add_parser("client")
    cli_offboard.add_parser(client.add_subparsers(dest="client_command"))
    return parser.parse_args(["client", "offboard", *argv])


async def test_the_command_reports_without_confirm_and_changes_nothing(
    settings: Settings, pool: asyncpg.Pool, bank: Bank, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = dataclasses.replace(settings, recording=RecordingSettings(bank.storage.root))
    before = await snapshot(pool)
    files = sorted(bank.storage.root.rglob("*"))
    assert await cli_offboard.run(parse("BANKA", "--export-dir", str(tmp_path / "x")),
                                  settings) == 0
    out = capsys.readouterr().out
    assert "export into" in out and "2 cases, 2 debtors, 3 phones, 1 actions, 2 attempts" in out
    assert "delete the audio of 2 recording(s); keep 1 on legal hold" in out
    assert "but 1 case(s) with a recording on legal hold" in out and "nothing changed" in out
    assert await snapshot(pool) == before and sorted(bank.storage.root.rglob("*")) == files
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit, match="--export-dir"):
        await cli_offboard.run(parse("BANKA", "--confirm"), settings)
    assert await cli_offboard.run(parse("BANKA", "--confirm", "--export-dir",
                                        str(tmp_path / "x")), settings) == 0
    out = capsys.readouterr().out
    assert "client BANKA offboarded" in out and "deleted 2 recording(s)" in out
    assert (tmp_path / "x" / "certificate.txt").exists()
    assert await where_found(pool, ID_A1) == [] and await where_found(pool, ID_B1)


async def test_transcripts_are_exported_and_deleted_with_their_recordings(
    pool: asyncpg.Pool, bank: Bank, tmp_path: Path
) -> None:
    if not await pool.fetchval("SELECT to_regclass('transcripts') IS NOT NULL"):
        pytest.skip("the transcription tables are not installed")
    for row in (bank.a1, bank.a2_held):
        await pool.execute(
            "INSERT INTO transcripts (recording_id, engine, model, duration_ms, text, words,"
            " dialogue, metrics) VALUES ($1, 'vosk', 'cn', 2000, $2, '[]', '[]', '{}')",
            row.id, f"我叫王伟 {row.entry.call_id}")
    done = await offboard.offboard(pool, bank.storage, "BANKA", tmp_path / "export", NOW)
    exported = read_csv(tmp_path / "export" / "transcripts.csv")
    assert [t["call_id"] for t in exported] == ["call-a1", "call-a2"]
    assert done.facts.pseudonymised["transcripts"] == 1
    assert await pool.fetchval("SELECT array_agg(recording_id) FROM transcripts") == [
        bank.a2_held.id]  # on legal hold: kept with its recording
