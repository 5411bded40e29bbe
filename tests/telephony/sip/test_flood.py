"""New INVITEs from one source over its rate get 503 (pure guard, then two of our user
agents on two loopback addresses against a third): the flooding source is refused
until it slows down, another source is not."""

from __future__ import annotations

import time

import pytest

from telephony.sip.call_state import Outcome
from telephony.sip.flood import FloodGuard
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK
from tests.telephony.sip.test_ua_back_to_back import CALLER_SDP

OTHER = "127.0.0.2"  # a second source on the loopback network


def test_a_burst_then_the_rate() -> None:
    guard = FloodGuard(rate=10, burst=20, hold=5)
    assert all(guard.admit("a", 0.0) for _ in range(20))
    assert not guard.admit("a", 0.0)  # the 21st at once: flooding
    assert guard.admit("b", 0.0)  # another source is on its own bucket


def test_a_source_stays_refused_until_it_keeps_under_its_rate_for_the_hold() -> None:
    guard = FloodGuard(rate=10, burst=20, hold=5)
    now = 0.0
    for _ in range(200):  # 100 a second for 2 s
        guard.admit("a", now)
        now += 0.01
    assert guard.flooding("a", now)
    now += 1.0  # quiet: its bucket refills, the hold runs
    assert not guard.admit("a", now) and guard.flooding("a", now)
    now += 5.0
    assert guard.admit("a", now) and not guard.flooding("a", now)
    for _ in range(50):  # at its rate: never flooding
        now += 0.1
        assert guard.admit("a", now)


def test_memory_is_bounded() -> None:
    guard = FloodGuard(max_tracked=100)
    for n in range(1000):
        guard.admit(f"10.0.{n // 256}.{n % 256}", float(n))
    assert guard.tracked == 100


@pytest.mark.parametrize("bad", [{"rate": 0}, {"burst": 0}, {"hold": -1}, {"max_tracked": 0}])
def test_settings_that_make_no_sense_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        FloodGuard(**bad)  # type: ignore[arg-type]


async def test_the_flooding_source_gets_503_and_another_source_does_not() -> None:
    service = await UserAgent.open(LOOPBACK, 0)  # no inbound route: 480 when admitted
    service.flood = FloodGuard(rate=1, burst=3, hold=60)
    flooder, other = await UserAgent.open(LOOPBACK, 0), await UserAgent.open(OTHER, 0)
    port = service.endpoint.address[1]
    try:

        async def status(source: UserAgent) -> tuple[Outcome, int | None]:
            call = source.invite(f"sip:x@{LOOPBACK}:{port}", CALLER_SDP,
                                 from_uri=f"sip:q@{source.endpoint.address[0]}")  # fmt: skip
            final = await call.finished()
            return final.outcome, final.status

        seen = [await status(flooder) for _ in range(6)]
        assert [code for _, code in seen] == [480, 480, 480, 503, 503, 503]
        assert seen[-1][0] is Outcome.FAILED
        assert await status(other) == (Outcome.REJECTED, 480)
        assert service.flood.flooding(LOOPBACK, time.monotonic())
    finally:
        for ua in (service, flooder, other):
            ua.close()
