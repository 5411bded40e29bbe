"""A network of the test's own, and trouble on its RTP: loss, jitter, blackouts.

:func:`private_network` moves the calling thread (the event loop's) into a new,
empty network namespace with only its ``lo``, brought up, and back out at the end.
Sockets the test opens and peers it starts meanwhile live there: the host's loopback
never sees the test's traffic, nothing on it is touched, and fixed ports cannot
collide with other tests. The namespace goes away with its last socket and process.

:class:`DelayLine` is what ``tc netem`` would do on that ``lo``, built from parts
every kernel with network namespaces has (the development VMs' kernel has no
``sch_netem``, ``prio`` nor ``gact``): a ``clsact`` egress u32 filter on ``lo``
redirects (``mirred``) UDP to or from the RTP ports to one end of a veth pair; a
thread reads them at the other end (packet socket), drops or holds each one as the
first matching :class:`Rule` says, and puts the survivors back on ``lo`` (packet
socket, qdisc bypassed, so they are not caught again). SIP and everything else stay
in the kernel, untouched. A re-injected packet has no route attached, so the
namespace accepts local sources on ``lo`` (``route_localnet``, ``accept_local``), and
its UDP checksum, left unfinished by ``lo``'s offload, is cleared (IPv4 allows none).

:meth:`Impairment.fate` is the pure part: drop, or hold for how long.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import itertools
import os
import random
import select
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Container, Iterator
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_QDISC_BYPASS = 20
ETH_HEADER = 14
_libc = ctypes.CDLL(None, use_errno=True)


class NamespaceUnavailable(RuntimeError):
    """This process may not make network namespaces (not root)."""


def run(*command: str) -> None:
    """A command in the calling thread's namespace (the child inherits it)."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


def sysctl(name: str, value: str) -> None:
    """Set a network sysctl of the calling thread's namespace (``/proc/sys/net`` is
    the namespace of whoever opens it)."""
    Path("/proc/sys", name).write_text(value)


@contextlib.contextmanager
def private_network() -> Iterator[None]:
    """The calling thread in a new network namespace, ``lo`` up; see the module doc."""
    host = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        if _libc.unshare(CLONE_NEWNET) != 0:
            raise NamespaceUnavailable(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
        try:
            run("ip", "link", "set", "lo", "up")
            for device in ("all", "lo"):
                for key in ("route_localnet", "accept_local"):
                    sysctl(f"net/ipv4/conf/{device}/{key}", "1")
            yield
        finally:
            if _libc.setns(host, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "could not return to the host's network")
    finally:
        os.close(host)


@dataclass(frozen=True, slots=True)
class Impairment:
    """What happens to each packet: lost with probability ``loss``, else held
    ``delay`` plus a uniform [0, ``jitter``) seconds (so packets may overtake each
    other, as with netem's jitter). ``Impairment(loss=1)`` is a blackout."""

    loss: float = 0.0
    delay: float = 0.0
    jitter: float = 0.0

    def fate(self, rng: random.Random) -> float | None:
        """``None``: dropped; else seconds to hold the packet."""
        if self.loss and rng.random() < self.loss:
            return None
        return self.delay + (rng.uniform(0.0, self.jitter) if self.jitter else 0.0)


@dataclass(frozen=True, slots=True)
class Rule:
    """An impairment for the packets from ``source`` ports to ``destination`` ports
    (``None``: any)."""

    impairment: Impairment
    source: Container[int] | None = None
    destination: Container[int] | None = None

    def applies(self, source: int, destination: int) -> bool:
        return (self.source is None or source in self.source) and (
            self.destination is None or destination in self.destination
        )


@dataclass(slots=True)
class LineStats:
    seen: int = 0
    dropped: int = 0
    held: int = 0  # passed on after a delay
    passed: int = 0  # passed on at once (no rule applied)


def udp_ports(frame: bytes) -> tuple[int, int, int] | None:
    """(source port, destination port, offset of the UDP header) of an IPv4 UDP frame."""
    if len(frame) < ETH_HEADER + 28 or frame[12:14] != b"\x08\x00" or frame[ETH_HEADER + 9] != 17:
        return None
    udp = ETH_HEADER + (frame[ETH_HEADER] & 0x0F) * 4
    source, destination = struct.unpack_from("!HH", frame, udp)
    return source, destination, udp


class DelayLine:
    """RTP on the namespace's ``lo`` through the rules; see the module docstring.

    ``ports`` = (value, mask): UDP whose source or destination port matches are
    steered through the line (one u32 filter each way). Rules can be changed while
    it runs with :meth:`impair`; packets already held keep their fate.
    """

    def __init__(self, ports: tuple[int, int], *, seed: int = 0, name: str = "ccline") -> None:
        self.ports = ports
        self.name = name
        self.stats = LineStats()
        self._rules: tuple[Rule, ...] = ()
        self._rng = random.Random(seed)
        self._order = itertools.count()
        self._tap: socket.socket | None = None
        self._out: socket.socket | None = None
        self._wake_read, self._wake_write = socket.socketpair()
        self._thread: threading.Thread | None = None

    def impair(self, *rules: Rule) -> None:
        """From now on, the first rule that applies to a packet decides; none: passed."""
        self._rules = rules

    def start(self) -> None:
        inside, outside = f"{self.name}0", f"{self.name}1"
        run("ip", "link", "add", inside, "type", "veth", "peer", "name", outside)
        for device in (inside, outside):
            sysctl(f"net/ipv6/conf/{device}/disable_ipv6", "1")
            run("ip", "link", "set", device, "up")
        run("tc", "qdisc", "add", "dev", "lo", "clsact")
        value, mask = self.ports
        for field in ("sport", "dport"):
            run("tc", "filter", "add", "dev", "lo", "egress", "protocol", "ip", "prio", "1",
                "u32", "match", "ip", "protocol", "17", "0xff",
                "match", "ip", field, str(value), hex(mask),
                "action", "mirred", "egress", "redirect", "dev", inside)  # fmt: skip
        self._tap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._tap.bind((outside, 0))
        self._out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        self._out.setsockopt(SOL_PACKET, PACKET_QDISC_BYPASS, 1)
        self._out.bind(("lo", 0))
        self._thread = threading.Thread(target=self._run, name="delay line", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (held packets are dropped) and close the sockets."""
        if self._thread is not None:
            self._wake_write.send(b"x")
            self._thread.join(timeout=5)
        for sock in (self._tap, self._out, self._wake_read, self._wake_write):
            if sock is not None:
                sock.close()

    def __enter__(self) -> DelayLine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._tap is not None and self._out is not None
        held: list[tuple[float, int, bytes]] = []
        while True:
            wait = max(0.0, held[0][0] - time.monotonic()) if held else None
            ready, _, _ = select.select([self._tap, self._wake_read], [], [], wait)
            if self._wake_read in ready:
                return
            if self._tap in ready:
                self._take(self._tap.recv(65536), held)
            now = time.monotonic()
            while held and held[0][0] <= now:
                self._out.send(heapq.heappop(held)[2])

    def _take(self, frame: bytes, held: list[tuple[float, int, bytes]]) -> None:
        found = udp_ports(frame)
        if found is None:
            return
        source, destination, udp = found
        self.stats.seen += 1
        packet = bytearray(frame)
        packet[udp + 6 : udp + 8] = b"\x00\x00"  # no UDP checksum (see the module doc)
        rule = next((r for r in self._rules if r.applies(source, destination)), None)
        hold = 0.0 if rule is None else rule.impairment.fate(self._rng)
        if hold is None:
            self.stats.dropped += 1
            return
        if rule is None:
            self.stats.passed += 1
        else:
            self.stats.held += 1
        heapq.heappush(held, (time.monotonic() + hold, next(self._order), bytes(packet)))
