"""A small fixed-delay jitter buffer for bridging RTP from one leg to another.

Rules, in order of precedence, for :meth:`JitterBuffer.push`:

* A new SSRC, or a sequence jump of more than ``max_jump`` packets either way, is a new
  talk source (a re-INVITE, a media switch): everything buffered is dropped and playout
  restarts from that packet after ``depth`` ticks.
* When the buffer has run dry and a packet opens a new talkspurt (marker bit, or it
  arrives ``talkspurt_gap`` seconds after the previous one), playout is re-primed: a new
  ``depth`` tick delay so the talkspurt gets its own cushion.
* While priming, an earlier packet moves the playout start back (reordering within the
  window); once playing, a packet whose turn has passed is late and dropped.
* A packet more than ``max_depth`` ahead of the playout point means we fell behind (a
  burst, clock drift): playout skips ahead to keep ``depth`` packets of delay. The
  default (26 packets) holds what piles up while the process stalls for as long as
  the media clock catches up on (400 ms, `telephony.media.schedule`) on top of the
  cushion: those packets are read all at once and played by the catch-up ticks.

:meth:`JitterBuffer.pop_for_tick` is called once per 20 ms media tick and returns the
next payload, or ``None`` when there is nothing to play: the caller conceals (silence or
a repeat). A missing packet is skipped only if a later one is buffered; with nothing
buffered the playout point waits, since RTP sequence numbers do not advance across
silence suppression or hold. Sequence numbers are unwrapped, so 65535 -> 0 is seamless.
Telephone-event packets belong to the DTMF detector, not here. Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from telephony.media.rtp import RtpPacket, Unwrapper, seq_diff


@dataclass(slots=True)
class JitterStats:
    played: int = 0
    concealed: int = 0
    late: int = 0
    duplicates: int = 0
    overflow: int = 0
    resets: int = 0


class JitterBuffer:
    """Fixed-delay playout of one inbound stream, one packet per tick; see module doc."""

    __slots__ = (
        "_last_arrival",
        "_next",
        "_packets",
        "_ssrc",
        "_unwrapper",
        "_wait",
        "depth",
        "max_depth",
        "max_jump",
        "stats",
        "talkspurt_gap",
    )

    def __init__(
        self,
        *,
        depth: int = 3,
        max_depth: int = 26,  # 520 ms: a stall the clock catches up on (400 ms) and more
        max_jump: int = 100,
        talkspurt_gap: float = 0.2,
    ) -> None:
        if not 0 < depth < max_depth < max_jump:
            raise ValueError(f"need 0 < depth {depth} < max_depth {max_depth} < max_jump")
        self.depth = depth
        self.max_depth = max_depth
        self.max_jump = max_jump
        self.talkspurt_gap = talkspurt_gap
        self.stats = JitterStats()
        self._ssrc: int | None = None
        self._unwrapper = Unwrapper(16)
        self._packets: dict[int, RtpPacket] = {}
        self._next = 0
        self._wait = 0
        self._last_arrival = 0.0

    def __len__(self) -> int:
        return len(self._packets)

    def push(self, packet: RtpPacket, arrival: float) -> None:
        """Buffer one received packet; ``arrival`` in seconds on a monotonic clock."""
        gap = arrival - self._last_arrival
        self._last_arrival = arrival
        if packet.ssrc != self._ssrc or self._is_jump(packet.sequence_number):
            self._restart(packet.ssrc)
            extended = self._unwrapper.unwrap(packet.sequence_number)
            self._prime(extended)
        else:
            extended = self._unwrapper.unwrap(packet.sequence_number)
            if (
                not self._packets
                and extended >= self._next
                and (packet.marker or gap >= self.talkspurt_gap)
            ):
                self._prime(extended)
            elif extended < self._next and not self._move_start_back(extended):
                self.stats.late += 1
                return
        self._store(extended, packet)

    def pop_for_tick(self) -> bytes | None:
        """The payload to play this tick, or ``None`` to conceal."""
        packet = self.pop_packet_for_tick()
        return None if packet is None else packet.payload

    def pop_packet_for_tick(self) -> RtpPacket | None:
        """Like :meth:`pop_for_tick` but the whole packet (payload type, marker)."""
        if self._wait:
            self._wait -= 1
            return None
        packet = self._packets.pop(self._next, None)
        if packet is not None:
            self._next += 1
            self.stats.played += 1
        elif self._packets:
            self._next += 1
            self.stats.concealed += 1
        return packet

    def _is_jump(self, sequence_number: int) -> bool:
        return abs(seq_diff(sequence_number, self._next & 0xFFFF)) > self.max_jump

    def _restart(self, ssrc: int) -> None:
        if self._ssrc is not None:
            self.stats.resets += 1
        self._ssrc = ssrc
        self._unwrapper = Unwrapper(16)
        self._packets.clear()
        self._next = 0
        self._wait = 0

    def _prime(self, extended: int) -> None:
        self._next = extended
        self._wait = self.depth

    def _move_start_back(self, extended: int) -> bool:
        """While priming, an earlier packet becomes the first to play."""
        if not self._wait or self._next - extended >= self.max_depth:
            return False
        self._next = extended
        return True

    def _store(self, extended: int, packet: RtpPacket) -> None:
        if extended in self._packets:
            self.stats.duplicates += 1
            return
        self._packets[extended] = packet
        if extended - self._next >= self.max_depth:
            self._skip_to(extended - self.depth + 1)

    def _skip_to(self, extended: int) -> None:
        stale = [seq for seq in self._packets if seq < extended]
        for seq in stale:
            del self._packets[seq]
        self.stats.overflow += len(stale)
        self._next = extended
