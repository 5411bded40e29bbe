"""The soak's census of cyclic garbage (`bench.gc_census`) finds a cycle the code
makes, and names its code. Pure: a cycle made here."""

from __future__ import annotations

import asyncio

from bench.gc_census import census, count, label, lines


class Leg:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: freed only by a collection

    def on_event(self) -> None:
        pass


async def test_census_counts_the_cycles_made_while_it_listens() -> None:
    async def make_cycles() -> None:
        for _ in range(50):
            Leg()
            await asyncio.sleep(0)

    async def later() -> None:
        await asyncio.sleep(0.05)
        await make_cycles()

    task = asyncio.create_task(later())
    kept = [Leg() for _ in range(7)]  # alive: walked, not garbage
    found = await census(0.3)
    await task
    assert found.by_type["Leg"] >= 50
    assert found.by_label[f"{__name__}.Leg"] >= 50
    assert found.garbage >= 50
    assert found.tracked["Leg"] >= len(kept)
    text = "\n".join(lines(found, 0.3, calls_ended=10))
    assert f"{__name__}.Leg" in text and "per call ended" in text and "walked" in text


def test_labels_name_the_code() -> None:
    leg = Leg()
    assert label(leg.on_event) == "method Leg.on_event"
    assert label(Leg.on_event) == "function Leg.on_event"
    assert label(ValueError()) == "ValueError (exception)"
    _, by_label = count([leg, leg.on_event])
    assert by_label == {f"{__name__}.Leg": 1, "method Leg.on_event": 1}
