"""Structured mutations of SIP messages and SDP bodies, for the security fuzz tests.

A mutation takes a :class:`Chooser` and bytes and returns new bytes: byte flips,
truncations, duplicated or removed headers, huge header values, bad Content-Length,
odd bytes (non-UTF-8, controls, Unicode digits and separators), CRLF/LF/CR mixes,
folded lines, a dropped start line, Via parameters a peer should not set. Choices come
from hypothesis (:class:`Drawn`, shrinkable) or a seeded ``random.Random``
(:class:`Seeded`, for a corpus that is the same every run).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from hypothesis import strategies as st

from tests.telephony.sip.data import load, names

MAX_DATAGRAM = 65_000  # below the 65,507 bytes of one UDP datagram over IPv4
FIXTURES = [load(name) for name in names()]
T = TypeVar("T")


class Chooser(Protocol):
    """Where a mutation's choices come from: hypothesis while fuzzing, a seeded
    ``random.Random`` for the socket burst."""

    def integer(self, low: int, high: int) -> int: ...
    def choice(self, options: Sequence[T]) -> T: ...


class Drawn:
    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def integer(self, low: int, high: int) -> int:
        return self.draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self.draw(st.sampled_from(options))


class Seeded:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self.rng.choice(options)


# Mutations ------------------------------------------------------------------------

Mutation = Callable[[Chooser, bytes], bytes]
# fmt: off
FILLERS = [
    b"a", b",", b";", b'"', b"<", b">", b"\\", b"%", b" ", b"=", b":", b"@", b"a=b;",
    b"<sip:a@192.0.2.1>,", b'"x" <sip:a@b>;p=1,', b"SIP/2.0/UDP h;branch=z9hG4bKx,",
    b'\\"', b"[::", b"\r\n ", b"\r\n\t",
]
LENGTHS = [
    b"-1", b"0", b"1", b"99999", b"4294967296", b"1e3", b" 5", b"0x10", b"", b"5 5",
    "\uff15".encode(), "\u0663".encode(), b"9" * 40,
]
ODD = [
    b"\xff", b"\xc3", b"\x80", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x00",
    b"\x7f", b"\x1c", "\u2028".encode(), "\u0085".encode(), "\u00a0".encode(),
    "\u0663".encode(), "\ufeff".encode(), b"\r", b"\n", b"\t",
]
VIA_PARAMETERS = [
    b";received=192.0.2.66", b";received=evil.example", b";rport=9", b";rport", b";rport=",
    b";rport=99999", b";received=", b";maddr=192.0.2.1", b";branch=z9hG4bK", b";ttl=0",
]
ENDINGS = [b"\n", b"\r", b"\n\r", b"\r\r\n", b"\r\n\r\n"]
# fmt: on


def split(data: bytes) -> tuple[list[bytes], bytes]:
    """Header lines (start line first) and body; ``join`` puts them back."""
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


def join(lines: list[bytes], body: bytes) -> bytes:
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


SDP_BODIES = sorted({body for _, body in map(split, FIXTURES) if body.startswith(b"v=0")})


def flip_bytes(c: Chooser, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(c.integer(1, 8)):
        if out:
            out[c.integer(0, len(out) - 1)] ^= 1 << c.integer(0, 7)
    return bytes(out)


def truncate(c: Chooser, data: bytes) -> bytes:
    return data[: c.integer(0, len(data))]


def duplicate_header(c: Chooser, data: bytes) -> bytes:
    lines, body = split(data)
    if len(lines) > 1:
        lines.insert(c.integer(1, len(lines)), lines[c.integer(1, len(lines) - 1)])
    return join(lines, body)


def remove_header(c: Chooser, data: bytes) -> bytes:
    lines, body = split(data)
    if len(lines) > 1:
        del lines[c.integer(1, len(lines) - 1)]
    return join(lines, body)


def huge_value(c: Chooser, data: bytes) -> bytes:
    """A header's value replaced by up to 64 KiB of one filler (separators, quotes...)."""
    lines, body = split(data)
    at = c.integer(1, max(1, len(lines) - 1))
    name = lines[at].partition(b":")[0] if at < len(lines) else b"X-Huge"
    filler = c.choice(FILLERS)
    room = max(0, MAX_DATAGRAM - len(data) - len(name) - 2)
    value = filler * (c.integer(room // 4, room) // len(filler))
    lines[at:at + 1] = [name + b": " + value]  # fmt: skip
    return join(lines, body)


def bad_content_length(c: Chooser, data: bytes) -> bytes:
    lines, body = split(data)
    lines = [
        line
        for line in lines
        if line.partition(b":")[0].strip().lower() not in (b"content-length", b"l")
    ]
    for _ in range(c.integer(1, 2)):
        value = c.choice([*LENGTHS, str(c.integer(0, 2**40)).encode()])
        lines.insert(c.integer(1, len(lines)), c.choice([b"Content-Length: ", b"l:"]) + value)
    return join(lines, body)


def odd_bytes(c: Chooser, data: bytes) -> bytes:
    """Non-UTF-8 bytes, controls or Unicode oddities (digits, separators) anywhere."""
    at = c.integer(0, len(data))
    return data[:at] + c.choice(ODD) + data[at:]


def line_endings(c: Chooser, data: bytes) -> bytes:
    parts = data.split(b"\r\n")
    for _ in range(c.integer(1, 4)):
        if len(parts) > 1:
            at = c.integer(0, len(parts) - 2)
            parts[at : at + 2] = [parts[at] + c.choice(ENDINGS) + parts[at + 1]]
    return b"\r\n".join(parts)


def fold(c: Chooser, data: bytes) -> bytes:
    """A header folded onto a continuation line, or a line made a continuation."""
    lines, body = split(data)
    at = c.integer(0, len(lines) - 1)
    where = c.integer(0, len(lines[at]))
    lines[at] = lines[at][:where] + b"\r\n" + c.choice([b" ", b"\t", b" \t "]) + lines[at][where:]
    return join(lines, body)


def drop_start_line(c: Chooser, data: bytes) -> bytes:
    lines, body = split(data)
    return join(lines[c.integer(1, 2) :] or [b""], body)


def via_parameter(c: Chooser, data: bytes) -> bytes:
    """A parameter a peer should not set, or sets oddly, on a Via."""
    lines, body = split(data)
    vias = [i for i, line in enumerate(lines) if line[:4].lower() in (b"via:", b"v: s")]
    if vias:
        at = c.choice(vias)
        lines[at] += c.choice(VIA_PARAMETERS)
    return join(lines, body)


def splice(c: Chooser, data: bytes) -> bytes:
    at = c.integer(0, len(data))
    piece = c.choice([*FILLERS, *ODD, b"SIP/2.0", b"Via: ", b"\r\n\r\n", b"v=0\r\n", b"m="])
    return data[:at] + piece + data[at + c.integer(0, 4) :]


MUTATIONS: list[Mutation] = [
    flip_bytes, truncate, duplicate_header, remove_header, huge_value, bad_content_length,
    odd_bytes, line_endings, fold, drop_start_line, via_parameter, splice,
]  # fmt: skip


def mutate(c: Chooser, data: bytes, rounds: int) -> bytes:
    for _ in range(rounds):
        data = c.choice(MUTATIONS)(c, data)
    return data[:MAX_DATAGRAM]


@st.composite
def mutated_sip(draw: st.DrawFn) -> bytes:
    chooser = Drawn(draw)
    return mutate(chooser, chooser.choice(FIXTURES), chooser.integer(1, 3))


@st.composite
def tampered_vias(draw: st.DrawFn) -> bytes:
    chooser = Drawn(draw)
    data = chooser.choice(FIXTURES)
    for _ in range(chooser.integer(1, 3)):
        data = via_parameter(chooser, data)
    return data


@st.composite
def mutated_sdp(draw: st.DrawFn) -> bytes:
    chooser = Drawn(draw)
    data = chooser.choice(SDP_BODIES)
    for _ in range(chooser.integer(1, 3)):
        data = chooser.choice([*MUTATIONS, sdp_line])(chooser, data)
    return data


def sdp_line(c: Chooser, data: bytes) -> bytes:
    """An SDP line duplicated, dropped, or replaced by an odd one."""
    lines = data.split(b"\r\n")
    at = c.integer(0, len(lines) - 1)
    odd = c.choice([
        b"m=audio 70000 RTP/AVP 0", b"m=audio 0/2 RTP/AVP", b"m=audio x RTP/AVP 0", b"m=",
        b"a=rtpmap:0 PCMU/0", b"a=rtpmap:999 PCMU/8000", b"a=rtpmap:0", b"a=fmtp:101",
        b"a=rtpmap:0 PCMU/99999999999", b"a=ptime:999999", b"a=sendonly", b"a=", b"a=:",
        b"c=IN IP4", b"c=IN IP4 0.0.0.0", b"c=IN IP6 ::", b"o=- 1 x IN IP4", b"v=1", b"s=",
        b"t=0", b"z=", b"k=clear:x", b"x=1", b"==", b"m=audio 4000 RTP/AVP " + b"0 " * 500,
    ])  # fmt: skip
    operation = c.integer(0, 2)
    if operation == 0:
        lines.insert(at, lines[at])
    elif operation == 1:
        del lines[at]
    else:
        lines[at] = odd
    return b"\r\n".join(lines)
