"""Redis key names (pure): one namespace, and what a rebuild keeps."""

from __future__ import annotations

from routing import keys


def test_every_key_and_channel_is_in_the_routing_namespace() -> None:
    names = [
        keys.EPOCH, keys.REBUILD_LOCK, keys.AGENTS, keys.EXTENSIONS, keys.CALLS, keys.QUEUES,
        keys.EVENTS, keys.agent("17"), keys.queue("3"), keys.ready("3"), keys.waiting("3"),
    ]  # fmt: skip
    assert all(name.startswith("callcase:routing:") for name in names)
    assert len(set(names)) == len(names)
    assert keys.agent("17") == keys.AGENT_PREFIX + "17"


def test_a_rebuild_keeps_the_waiting_calls_and_counters_of_remaining_queues_only() -> None:
    kept = keys.kept_by_rebuild(frozenset({"3"}))
    assert kept == {keys.REBUILD_LOCK, keys.waiting("3"), keys.queue("3")}
    assert keys.ready("3") not in kept
    assert keys.waiting("4") not in kept
