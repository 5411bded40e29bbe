"""Batch upload over HTTP and through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiohttp import FormData

from api.cli import main
from cases.samplebatch import generate_batch
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World


def form(client: str | None, data: bytes | None, name: str = "batch.csv") -> FormData:
    body = FormData(default_to_multipart=True)
    if client is not None:
        body.add_field("client", client)
    if data is not None:
        body.add_field("file", data, filename=name, content_type="text/csv")
    return body


async def test_upload_gb18030_and_fetch_confirmation(api: ApiClient, world: World) -> None:
    data = generate_batch(20, seed=5, encoding="gb18030", bad_every=10, today=NOW.date())
    resp = await api.post("/batches", data=form("BANKA", data), headers=world.headers("manager"))
    assert resp.status == 201
    body = await resp.json()
    assert (body["encoding"], body["rows_read"], body["rows_accepted"],
            body["rows_rejected"]) == ("gb18030", 20, 18, 2)
    again = await api.post("/batches", data=form("BANKA", data), headers=world.headers("admin"))
    assert again.status == 200
    assert (await again.json())["batch_id"] == body["batch_id"]
    resp = await api.get(f"/batches/{body['batch_id']}/confirmation?format=csv",
                         headers=world.headers("auditor_a"))
    assert resp.content_type == "text/csv"
    text = await resp.text()
    assert f"batch_id,{body['batch_id']}" in text
    assert len([line for line in text.splitlines() if line[:1].isdigit()]) == 2


@pytest.mark.parametrize(("client", "data", "error_id"), [
    (None, b"x", "batch.missing_part"),
    ("BANKA", None, "batch.missing_part"),
    ("BANKA", b"", "batch.empty"),
    ("BANKA", b"\xff\xfe\x00\x00garbage\x81\x30", "batch.bad_encoding"),
    ("BANKA", b"account_no,debtor_name\n1,x\n", "batch.missing_column"),
])
async def test_bad_uploads_are_clear_400s(api: ApiClient, world: World, client: str | None,
                                          data: bytes | None, error_id: str) -> None:
    resp = await api.post("/batches", data=form(client, data), headers=world.headers("admin"))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error_id"] == error_id
    assert await world.pool.fetchval("SELECT count(*) FROM batches") == 2  # the world's


async def test_unknown_client_is_404(api: ApiClient, world: World) -> None:
    resp = await api.post("/batches", data=form("NOPE", b"a"), headers=world.headers("admin"))
    assert resp.status == 404


async def test_not_multipart(api: ApiClient, world: World) -> None:
    resp = await api.post("/batches", json={"file": "x"}, headers=world.headers("admin"))
    assert resp.status == 400
    assert (await resp.json())["error_id"] == "batch.not_multipart"


def test_cli_client_add_and_import_json(database_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCASE_DATABASE_URL", database_url)
    assert main(["migrate"]) == 0
    assert main(["client", "add", "CLIBANK", "--name", "CLI bank"]) == 0
    assert main(["client", "add", "CLIBANK", "--name", "again"]) == 1
    assert "already exists" in capsys.readouterr().err
    path = tmp_path / "batch.csv"
    path.write_bytes(generate_batch(12, seed=9, bad_every=6, start=900_000))
    assert main(["import", "--client", "CLIBANK", "--json", str(path)]) == 0
    confirmation = json.loads(capsys.readouterr().out)
    assert (confirmation["rows_accepted"], confirmation["rows_rejected"]) == (10, 2)
    assert main(["import", "--client", "CLIBANK", str(path)]) == 0
    assert "already imported earlier" in capsys.readouterr().out
    assert main(["client", "add", "BAD", "--name", "x", "--time-zone", "Mars/Olympus"]) == 1
    assert "unknown time zone" in capsys.readouterr().err


def test_cli_line_add(database_url: str, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCASE_DATABASE_URL", database_url)
    monkeypatch.setenv("TRUNK_PW", "s3cret")
    args = ["line", "add", "cli-trunk", "--trunk", "127.0.0.1:5070", "--caller-id",
            "+861012345678", "--username", "acct", "--password-env", "TRUNK_PW"]
    assert main(args) == 0
    assert "work line cli-trunk added" in capsys.readouterr().out
    assert main(["line", "add", "cps-trunk", "--trunk", "127.0.0.1:5070", "--caller-id",
                 "+861012345678", "--cps", "20"]) == 0
    assert "30 channels, 20 calls/s" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="already exists"):
        main(args)
    with pytest.raises(SystemExit, match="HOST:PORT"):
        main(["line", "add", "x", "--trunk", "nohost", "--caller-id", "1"])


def test_cli_reports_every_bad_setting(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CALLCASE_HTTP_PORT", "x")
    monkeypatch.setenv("CALLCASE_LOG_FORMAT", "xml")
    assert main(["migrate"]) == 2
    err = capsys.readouterr().err
    assert "CALLCASE_HTTP_PORT" in err and "CALLCASE_LOG_FORMAT" in err
