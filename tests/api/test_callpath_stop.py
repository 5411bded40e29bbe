"""The call path's tasks stop when the call path stops, even a task that does not end
on its first cancel (`callcase serve media` stopped with SIGTERM just after its start
then never ended, 1 time in 5: a cancel that came while the listeners and the
reconciler were connecting to Redis was lost). Pure: the tasks here are the test's."""

from __future__ import annotations

import asyncio

import pytest

from api.callpath import _cancel_until_done


async def test_a_task_that_swallows_its_cancel_is_cancelled_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, cancels = asyncio.Event(), []

    async def stubborn() -> None:
        running.set()
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            cancels.append("swallowed")
        await asyncio.sleep(100)

    task = asyncio.create_task(stubborn())
    await running.wait()
    async with asyncio.timeout(10):  # a hang guard: the second cancel comes after 1 s
        await _cancel_until_done("routing reconciler", task)
    assert task.cancelled() and cancels == ["swallowed"]
    assert "routing reconciler: still running 1 s after it was cancelled" in caplog.text


async def test_a_task_that_ends_on_its_cancel_is_cancelled_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = asyncio.Event()

    async def polite() -> None:
        running.set()
        await asyncio.sleep(100)

    task = asyncio.create_task(polite())
    await running.wait()
    async with asyncio.timeout(10):
        await _cancel_until_done("PCI pauses", task)
    assert task.cancelled() and "still running" not in caplog.text


async def test_a_task_that_failed_on_its_cancel_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running = asyncio.Event()

    async def failing() -> None:
        running.set()
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            raise RuntimeError("connection reset while unsubscribing") from None

    task = asyncio.create_task(failing())
    await running.wait()
    async with asyncio.timeout(10):
        await _cancel_until_done("supervisor monitoring", task)
    assert "supervisor monitoring: ended on its cancel with RuntimeError" in caplog.text
