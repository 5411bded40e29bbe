"""RTP port allocation from a configured range (pure bookkeeping, no sockets).

RTP takes even ports and leaves the odd port above each for RTCP (RFC 3550 §11), so
the allocator hands out even ``port`` values with ``port + 1`` still inside
``[start, end)``. Freed ports go to the back of the queue: the longest-idle port is
reused first, so stray packets for a finished call rarely reach a new one. Allocate and
release are O(1). If binding an allocated port fails, release it and allocate another.
"""

from __future__ import annotations

from collections import deque


class PortsExhaustedError(RuntimeError):
    """Every RTP port in the range is in use: the process is at its call capacity."""


class PortAllocator:
    """Even RTP ports from ``[start, end)``; never hands out a port twice while it is held."""

    __slots__ = ("_free", "_held", "end", "start")

    def __init__(self, start: int, end: int) -> None:
        if not 0 < start < end <= 65536:
            raise ValueError(f"RTP port range [{start}, {end}) is not inside [1, 65536)")
        first = start + start % 2
        if first + 1 >= end:
            raise ValueError(f"RTP port range [{start}, {end}) holds no even/odd port pair")
        self.start = start
        self.end = end
        self._free = deque(range(first, end - 1, 2))
        self._held: set[int] = set()

    @property
    def capacity(self) -> int:
        return len(self._free) + len(self._held)

    @property
    def available(self) -> int:
        return len(self._free)

    @property
    def in_use(self) -> int:
        return len(self._held)

    def __contains__(self, port: object) -> bool:
        """Whether ``port`` is currently allocated."""
        return port in self._held

    def allocate(self) -> int:
        """An even port not currently held; raises :class:`PortsExhaustedError`."""
        if not self._free:
            raise PortsExhaustedError(
                f"all {self.capacity} RTP ports in [{self.start}, {self.end}) are in use"
            )
        port = self._free.popleft()
        self._held.add(port)
        return port

    def release(self, port: int) -> None:
        """Return a held port; releasing one that is not held is a bug (ValueError)."""
        try:
            self._held.remove(port)
        except KeyError:
            raise ValueError(f"RTP port {port} is not allocated") from None
        self._free.append(port)
