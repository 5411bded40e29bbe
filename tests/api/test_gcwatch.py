"""The GC watch times every collection and names the long ones."""

from __future__ import annotations

import gc
import logging

import pytest

from api.gcwatch import GcWatch


def test_each_collection_is_counted_by_generation_and_a_long_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = iter([10.0, 10.3, 20.0, 20.001])  # a 300 ms collection, then a 1 ms one
    watch = GcWatch(warn_s=0.05, clock=lambda: next(ticks))
    gc.disable()  # only the collections asked for here
    watch.install()
    try:
        with caplog.at_level(logging.WARNING, logger="api.gcwatch"):
            gc.collect(2)
            gc.collect(0)
    finally:
        watch.remove()
        gc.enable()
    assert watch.status()["gen2"] == {"collections": 1, "seconds": 0.3, "longest_ms": 300.0}
    assert watch.status()["gen0"] == {"collections": 1, "seconds": 0.001, "longest_ms": 1.0}
    [logged] = [r.getMessage() for r in caplog.records]
    assert logged.startswith("garbage collection of generation 2 stopped the process for 300 ms")
    gc.collect()  # removed: nothing more is counted
    assert watch.status()["gen2"]["collections"] == 1  # type: ignore[index]


def test_installing_twice_adds_one_callback() -> None:
    watch = GcWatch()
    watch.install()
    watch.install()
    try:
        assert gc.callbacks.count(watch._callback) == 1
    finally:
        watch.remove()
    assert watch._callback not in gc.callbacks
