"""`callcase test-call` against a real sipp debtor phone on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
import wave
from pathlib import Path

import pytest

from api import testcall
from api.cli import main
from api.settings import Settings
from telephony.lines import LineRefused
from tests.telephony.sip.peers import sipp

pytestmark = pytest.mark.e2e


async def test_call_through_a_work_line_saves_audio(settings: Settings, tmp_path: Path,
                                                    database_url: str) -> None:
    import asyncpg

    from telephony.lines import WorkLine
    from telephony.store import add_line

    async with sipp("uas_answer", tmp_path) as (peer, port):
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("DELETE FROM work_lines WHERE name = 'tc-line'")
            await add_line(conn, WorkLine(name="tc-line", trunk_host="127.0.0.1",
                                          trunk_port=port, caller_id="+861088880000"))
        finally:
            await conn.close()
        save = tmp_path / "call.wav"
        report = await testcall.test_call(settings, to="+8613800138000", line="tc-line",
                                          seconds=1.0, ring_timeout=15.0, save=save)
        assert await peer.exit_code() == 0  # sipp saw our ACK and BYE with its tag
    assert (report.result, report.sip_status) == ("answered", 200)
    assert [e for _, e, _ in report.exchange][:2] == ["trying", "ringing"]
    assert report.talk_seconds is not None and 0.9 < report.talk_seconds < 3.0
    assert report.packets_sent >= 40
    with wave.open(str(save)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (2, 8000, 2)
        assert wav.getnframes() >= 8000


async def test_unknown_line_is_refused_before_dialling(settings: Settings) -> None:
    with pytest.raises(LineRefused):
        await testcall.test_call(settings, to="+8613800138000", line="no-such-line", seconds=1,
                        ring_timeout=15, save=None)


async def test_busy_is_reported(settings: Settings, tmp_path: Path) -> None:
    async with sipp("uas_reject", tmp_path, fill={"STATUS": "486", "REASON": "Busy Here"}
                    ) as (_, port):
        report = await testcall.test_call(settings, to=f"sip:debtor@127.0.0.1:{port}", line=None,
                                 seconds=1, ring_timeout=10, save=None)
    assert (report.result, report.sip_status) == ("busy", 486)
    assert report.talk_seconds is None


async def test_cli_json_for_an_unanswered_call(tmp_path: Path) -> None:
    async with sipp("uas_noanswer", tmp_path) as (_, port):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from api.cli import main; raise SystemExit(main())",
            "test-call", "--to", f"sip:debtor@127.0.0.1:{port}", "--ring-timeout", "1",
            "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        async with asyncio.timeout(30):
            out, _ = await proc.communicate()
    assert proc.returncode == 3
    report = json.loads(out)
    assert (report["result"], report["sip_status"]) == ("no_answer", 487)
    assert [e["event"] for e in report["exchange"]][-1] == "no_answer"


def test_cli_needs_a_uri_or_a_line() -> None:
    with pytest.raises(SystemExit, match="SIP URI"):
        main(["test-call", "--to", "+8613800138000"])
