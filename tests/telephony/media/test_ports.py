from __future__ import annotations

import random

import pytest

from telephony.media.ports import PortAllocator, PortsExhaustedError


def test_allocates_even_ports_with_room_for_rtcp() -> None:
    allocator = PortAllocator(10001, 10010)
    ports = [allocator.allocate() for _ in range(allocator.capacity)]
    assert ports == [10002, 10004, 10006, 10008]
    assert all(port + 1 < 10010 for port in ports)


def test_exhaustion_raises_a_clear_error() -> None:
    allocator = PortAllocator(20000, 20004)
    allocator.allocate()
    allocator.allocate()
    with pytest.raises(
        PortsExhaustedError, match=r"all 2 RTP ports in \[20000, 20004\) are in use"
    ):
        allocator.allocate()


def test_released_port_is_reused_last() -> None:
    allocator = PortAllocator(20000, 20006)
    first = allocator.allocate()
    allocator.release(first)
    assert [allocator.allocate() for _ in range(3)] == [20002, 20004, first]


def test_never_hands_out_a_held_port_twice() -> None:
    allocator = PortAllocator(30000, 30200)
    rng = random.Random(4733)
    held: set[int] = set()
    for _ in range(5000):
        if held and (rng.random() < 0.5 or allocator.available == 0):
            port = rng.choice(sorted(held))
            allocator.release(port)
            held.remove(port)
        else:
            port = allocator.allocate()
            assert port not in held
            held.add(port)
        assert allocator.in_use == len(held)
        assert allocator.available + allocator.in_use == 100
    assert all(port in allocator for port in held)


def test_release_of_unknown_or_free_port_is_an_error() -> None:
    allocator = PortAllocator(20000, 20010)
    with pytest.raises(ValueError, match="RTP port 20002 is not allocated"):
        allocator.release(20002)
    port = allocator.allocate()
    allocator.release(port)
    with pytest.raises(ValueError, match=f"RTP port {port} is not allocated"):
        allocator.release(port)
    assert allocator.available == 5


@pytest.mark.parametrize(
    ("start", "end"), [(0, 100), (100, 100), (200, 100), (60000, 70000), (5000, 5001), (5001, 5003)]
)
def test_bad_ranges_are_rejected(start: int, end: int) -> None:
    with pytest.raises(ValueError, match=rf"RTP port range \[{start}, {end}\)"):
        PortAllocator(start, end)


def test_top_of_the_port_space() -> None:
    allocator = PortAllocator(65530, 65536)
    assert [allocator.allocate() for _ in range(3)] == [65530, 65532, 65534]
