from __future__ import annotations

import asyncpg
import pytest

from telephony.lines import LineRefused, WorkLine, WorkLines
from telephony.store import add_line, load_lines

LINE = WorkLine(name="trunk-a", trunk_host="127.0.0.1", trunk_port=5070,
                caller_id="+861012345678", username="acct", password="s3cret")


def test_only_registered_active_lines() -> None:
    lines = WorkLines((LINE, WorkLine(name="old", trunk_host="127.0.0.1", trunk_port=5080,
                                      caller_id="100", active=False)))
    assert lines.get("trunk-a") is LINE
    with pytest.raises(LineRefused, match="not a registered work line"):
        lines.get("my-mobile")
    with pytest.raises(LineRefused, match="disabled"):
        lines.get("old")
    assert lines.names == ("trunk-a",)


def test_uri_and_secret() -> None:
    assert LINE.request_uri("+8613800138000") == "sip:+8613800138000@127.0.0.1:5070;user=phone"
    with pytest.raises(ValueError):
        LINE.request_uri("13800138000@evil")
    assert "s3cret" not in repr(LINE)


async def test_lines_in_postgres(pool: asyncpg.Pool) -> None:
    await add_line(pool, LINE)
    loaded = await load_lines(pool)
    assert loaded.get("trunk-a") == LINE
    with pytest.raises(asyncpg.CheckViolationError):
        await add_line(pool, WorkLine(name="Bad Name", trunk_host="x", trunk_port=1,
                                      caller_id="1"))
    rated = WorkLine("trunk-b", "127.0.0.1", 5070, "4008001234", calls_per_second=2.5)
    await add_line(pool, rated)
    assert (await load_lines(pool)).get("trunk-b") == rated
    with pytest.raises(asyncpg.CheckViolationError):
        await add_line(pool, WorkLine("trunk-c", "x", 1, "4008001234", calls_per_second=0))
