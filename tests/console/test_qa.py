"""QA review in a browser: the sample queue, the recording played through the
console's service worker with Range requests, the transcript's highlight following
the audio to a flag, the scorecard filed, the coverage report."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, expect

from recording.catalog import RecordingRow
from recording.writer import RecorderPool
from tests.api.world import NOW, World
from tests.console.conftest import Site, log_in, open_page, screenshot
from tests.recording.catalogued import STARTED, catalogued
from tests.transcription.qa_world import scripted_transcript, store_transcript
from transcription import qa_store
from transcription.dialogue import Speaker

A, D = Speaker.AGENT, Speaker.DEBTOR
MONTH = STARTED.strftime("%Y-%m")
TICKS = 800  # 16 s of audio, 20 ms a tick

_CURRENT = """([word, at]) => {
  const audio = document.querySelector('audio');
  const current = document.querySelector('.transcript .word.current');
  return Math.abs(audio.currentTime - at) < 0.01 && !!current && current.textContent === word
    && current.getAttribute('aria-current') === 'true';
}"""


@pytest.fixture
async def recorder(recordings_root: Path) -> AsyncIterator[RecorderPool]:
    async with RecorderPool(recordings_root, min_free_bytes=0) as running:
        yield running


async def transcribed(pool: asyncpg.Pool, recorder: RecorderPool, world: World, call_id: str,
                      account: str, agent: str, *turns: tuple[Speaker, str]) -> RecordingRow:
    row = await catalogued(pool, recorder, world, call_id, account, agent=agent, ticks=TICKS)
    await store_transcript(pool, row.id, scripted_transcript(*turns, duration=TICKS / 50))
    await qa_store.refresh_flags(pool, row.id)
    return row


@pytest.fixture
async def sampled(pool: asyncpg.Pool, recorder: RecorderPool, world: World) -> RecordingRow:
    """Two transcribed calls of November, sampled: agent_a threatens the debtor at
    12.5 s ("hurt"), agent_b is polite."""
    threat = await transcribed(
        pool, recorder, world, "call-a1", "A1", "agent_a",
        (A, "hello this is the collection agency of the bank this call is recorded"),
        (D, "yes what do you want"), (A, "pay the overdue balance or we will hurt you"))
    await transcribed(pool, recorder, world, "call-b1", "B1", "agent_b",
                      (A, "good morning this call is recorded"), (D, "good morning"))
    await qa_store.sample_month(pool, MONTH, "console", NOW)
    return threat


async def test_the_player_seeks_to_a_flag_and_the_highlight_follows(
    page: Page, site: Site, sampled: RecordingRow, pool: asyncpg.Pool
) -> None:
    await log_in(page, site, "qa")
    queue = page.get_by_role("region", name="Sample queue")
    call = queue.get_by_role("button", name=f"Recording {sampled.id}, agent agent_a, flagged,"
                                            " flags: 1")
    await call.click()
    await expect(call).to_have_attribute("aria-current", "true")
    player = page.get_by_role("region", name=f"Recording {sampled.id} · case "
                                             f"{sampled.entry.case_id}")
    await expect(player.locator(".turn")).to_have_count(3)
    await expect(player.locator('.turn[data-speaker="debtor"] .who')).to_have_text("Debtor")
    await page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
    assert await page.eval_on_selector("audio", "a => [a.dataset.via, Math.round(a.duration)]"
                                       ) == ["service-worker", TICKS // 50]

    await player.get_by_role("button", name="Threat at 0:12").click()
    await page.wait_for_function(_CURRENT, arg=["hurt", 12.5])
    await expect(player.locator(".word.current")).to_have_class("word flagged current")
    await player.get_by_role("button", name="Play from 0:06").click()
    await page.wait_for_function(_CURRENT, arg=["yes", 6.5])
    await screenshot(page, "qa-review")

    plays = await pool.fetch("SELECT details FROM audit_log WHERE action = 'recording.play'"
                             " AND record_id = $1", str(sampled.id))
    assert plays and all(json.loads(p["details"])["partial"] for p in plays)  # Range requests

    await page.get_by_label("Language").select_option("zh")  # relabelled in place
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.get_by_role("heading", level=1)).to_have_text("质检复核")
    await screenshot(page, "qa-review-zh")


async def test_a_review_is_filed_from_the_scorecard(
    page: Page, site: Site, sampled: RecordingRow, pool: asyncpg.Pool
) -> None:
    await log_in(page, site, "qa")
    await page.locator(f'.sample-list button[data-recording-id="{sampled.id}"]').click()
    card = page.get_by_role("region", name="Scorecard")
    items = card.locator("fieldset")
    await expect(items).to_have_count(9)
    for n in range(9):
        group = items.nth(n)
        wanted = "Fail" if await group.get_attribute("data-item") == "no_threats" else "Pass"
        await group.get_by_label(wanted, exact=True).check()
    await page.get_by_role("button", name="Threat at 0:12").click()
    await card.get_by_label("Comment").fill("threatens the debtor")
    await card.get_by_role("button", name="Add comment at playback time").click()
    await expect(card.get_by_role("listitem")).to_have_text("0:12 — threatens the debtor Remove")
    await card.get_by_role("button", name="Submit review").click()
    await expect(card.locator(".result")).to_have_text(
        "Reviewed: score 0.00, auto-failed: no_threats.")
    await expect(page.locator(f'.sample-list button[data-recording-id="{sampled.id}"]')
                 ).to_have_count(0)
    review = await pool.fetchrow("SELECT auto_failed, comments FROM qa_reviews"
                                 " WHERE recording_id = $1", sampled.id)
    assert review is not None and review["auto_failed"] == ["no_threats"]
    assert json.loads(review["comments"]) == [{"at": 12.5, "text": "threatens the debtor"}]


async def test_the_coverage_report_per_agent(page: Page, site: Site, sampled: RecordingRow,
                                             world: World) -> None:
    await log_in(page, site, "auditor-a", "/console/#/coverage")
    await page.get_by_label("Month").fill(MONTH)
    await page.get_by_role("button", name="Show").click()
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(1)  # the bank's auditor sees its own agents' calls
    await expect(rows.first).to_have_text("agent_a11100.0%00.0%OK")
    assert await rows.first.get_attribute("data-agent-id") == str(world.users["agent_a"].id)
    await expect(page.get_by_role("button", name="Draw the month’s sample")).to_have_count(0)
    await screenshot(page, "qa-coverage")


async def test_without_a_service_worker_the_player_fetches_the_whole_file(
    browser: Browser, site: Site, sampled: RecordingRow, pool: asyncpg.Pool
) -> None:
    """Where no service worker may run, the audio comes whole, with the token, into a
    blob: URL; it still seeks and the highlight still follows."""
    async with open_page(browser, service_workers="block") as page:
        await log_in(page, site, "supervisor", "/console/#/qa")
        await page.locator(f'.sample-list button[data-recording-id="{sampled.id}"]').click()
        await page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        assert await page.eval_on_selector("audio", "a => a.dataset.via") == "blob"
        flag = page.get_by_role("button", name="Threat at 0:12")
        await flag.focus()
        await page.keyboard.press("Enter")
        await page.wait_for_function(_CURRENT, arg=["hurt", 12.5])
    plays = await pool.fetch("SELECT details FROM audit_log WHERE action = 'recording.play'"
                             " AND record_id = $1", str(sampled.id))
    assert [json.loads(p["details"])["partial"] for p in plays] == [False]
