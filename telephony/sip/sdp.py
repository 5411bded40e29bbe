"""SDP (RFC 4566) for audio offer/answer (RFC 3264) with telephone-event (RFC 4733).

Pure. ``SessionDescription.parse(data)`` and ``bytes(sdp)`` round-trip; ``offer``
builds our offer, ``answer`` answers a remote offer, and ``negotiate`` reads a remote
offer or answer into what the media engine needs.

Parsing is lenient where peers often are (LF line ends, blank lines, missing ``s=`` or
``t=``, an ``m=`` port count, which is dropped) and strict elsewhere: an unknown or
misplaced line type, or a malformed ``v``, ``o``, ``c``, ``m`` or ``a`` line, raises
:class:`SdpParseError`. Lines other than v/o/s/c/t/m/a are kept verbatim and written
back in RFC 4566 order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise

_SESSION_ORDER = "iuepbrzk"
_MEDIA_ORDER = "ibk"
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_DIRECTIONS = frozenset(("sendrecv", "sendonly", "recvonly", "inactive"))
Attribute = tuple[str, str | None]
Line = tuple[str, str]


class SdpParseError(ValueError):
    """Bytes that are not a usable session description: the remote peer's fault (400)."""


class SdpNegotiationError(ValueError):
    """A well-formed offer with nothing we can accept: answer 488 Not Acceptable Here."""


class Direction(StrEnum):
    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    def mirrored(self) -> Direction:
        """The direction that answers this one (RFC 3264 §6.1): sendonly <-> recvonly."""
        swap = {Direction.SENDONLY: Direction.RECVONLY, Direction.RECVONLY: Direction.SENDONLY}
        return swap.get(self, self)

    def without_send(self) -> Direction:
        """This direction with sending taken out (the remote put us on hold)."""
        receives = self in (Direction.SENDRECV, Direction.RECVONLY)
        return Direction.RECVONLY if receives else Direction.INACTIVE


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format: encoding name, clock rate, payload type, optional fmtp."""

    name: str
    clock_rate: int
    payload_type: int
    fmtp: str | None = None

    def matches(self, other: Codec) -> bool:
        """Same encoding (name, case-insensitive, and clock rate), whatever the payload type."""
        return self.name.lower() == other.name.lower() and self.clock_rate == other.clock_rate

    def with_payload_type(self, payload_type: int, fmtp: str | None) -> Codec:
        return Codec(self.name, self.clock_rate, payload_type, fmtp)


PCMU = Codec("PCMU", 8000, 0)
PCMA = Codec("PCMA", 8000, 8)
TELEPHONE_EVENT = Codec("telephone-event", 8000, 101, "0-16")
# fmt: off
STATIC_PAYLOAD_TYPES = {codec.payload_type: codec for codec in (
    PCMU, Codec("GSM", 8000, 3), Codec("G723", 8000, 4), PCMA, Codec("G722", 8000, 9),
    Codec("CN", 8000, 13), Codec("G729", 8000, 18),
)}
# fmt: on


@dataclass(frozen=True, slots=True)
class Connection:
    """``c=IN IP4 192.0.2.1`` (a multicast ``/ttl`` stays in ``address``)."""

    address: str
    addrtype: str = "IP4"
    nettype: str = "IN"

    @classmethod
    def parse(cls, value: str) -> Connection:
        fields = value.split()
        if len(fields) != 3:
            raise SdpParseError(f"c= is not 'nettype addrtype address': {value[:60]!r}")
        return cls(fields[2], fields[1], fields[0])

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True, slots=True)
class Origin:
    """``o=username sess-id sess-version nettype addrtype address``."""

    username: str
    session_id: str
    version: str
    connection: Connection

    @classmethod
    def parse(cls, value: str) -> Origin:
        fields = value.split()
        if len(fields) != 6:
            raise SdpParseError(f"o= needs six fields: {value[:60]!r}")
        return cls(fields[0], fields[1], fields[2], Connection.parse(" ".join(fields[3:])))

    def __str__(self) -> str:
        return f"{self.username} {self.session_id} {self.version} {self.connection}"


@dataclass(frozen=True, slots=True)
class Media:
    """One ``m=`` section: media kind, port, protocol, formats and its own lines."""

    kind: str
    port: int
    proto: str
    formats: tuple[str, ...]
    connection: Connection | None = None
    attributes: tuple[Attribute, ...] = ()
    lines: tuple[Line, ...] = ()

    def attribute(self, name: str) -> str | None:
        return next((v for k, v in self.attributes if k == name), None)

    @property
    def direction(self) -> Direction | None:
        return _direction(self.attributes)

    @property
    def ptime(self) -> int | None:
        value = self.attribute("ptime") or ""
        return int(value) if value.isascii() and value.isdigit() and len(value) < 6 else None

    @property
    def codecs(self) -> tuple[Codec, ...]:
        """The RTP formats in the listed order, from rtpmap/fmtp or the static table."""
        rtpmaps = _by_payload_type(self.attributes, "rtpmap")
        fmtps = _by_payload_type(self.attributes, "fmtp")
        codecs = []
        for pt in (int(f) for f in self.formats if f.isascii() and f.isdigit() and len(f) < 4):
            codec = _rtpmap(rtpmaps[pt]) if pt in rtpmaps else STATIC_PAYLOAD_TYPES.get(pt)
            if codec is not None:
                codecs.append(codec.with_payload_type(pt, fmtps.get(pt)))
        return tuple(codecs)

    @classmethod
    def parse(cls, value: str, body: list[Line]) -> Media:
        """An ``m=`` value and the lines of its section."""
        fields = value.split()
        if len(fields) < 3:
            raise SdpParseError(f"m= needs media, port and protocol: {value[:60]!r}")
        port = _number(fields[1].partition("/")[0], "m= port", 65535)
        connections = [Connection.parse(v) for t, v in body if t == "c"]
        if len(connections) > 1:
            raise SdpParseError(f"more than one c= line in the {fields[0]} section")
        attributes = tuple(_attribute(v) for t, v in body if t == "a")
        lines = _ordered([(t, v) for t, v in body if t not in "ca"], _MEDIA_ORDER)
        connection = next(iter(connections), None)
        return cls(fields[0], port, fields[2], tuple(fields[3:]), connection, attributes, lines)

    def _lines(self) -> Iterator[str]:
        yield " ".join((f"m={self.kind}", str(self.port), self.proto, *self.formats))
        yield from (f"{t}={v}" for t, v in self.lines if t == "i")
        if self.connection is not None:
            yield f"c={self.connection}"
        yield from (f"{t}={v}" for t, v in self.lines if t != "i")
        yield from _attribute_lines(self.attributes)


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """A session description; ``bytes(sdp)`` writes it with CRLF line ends."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: tuple[str, ...] = ("0 0",)
    attributes: tuple[Attribute, ...] = ()
    media: tuple[Media, ...] = ()
    lines: tuple[Line, ...] = ()

    @classmethod
    def parse(cls, data: bytes | str) -> SessionDescription:
        """Parse an SDP body; raises :class:`SdpParseError` and nothing else."""
        lines = _split(data)
        if not lines or lines[0] != ("v", "0"):
            raise SdpParseError("SDP does not start with v=0")
        starts = [i for i, (t, _) in enumerate(lines) if t == "m"] + [len(lines)]
        media = tuple(Media.parse(lines[a][1], lines[a + 1 : b]) for a, b in pairwise(starts))
        session = lines[1 : starts[0]]
        origins = [Origin.parse(v) for t, v in session if t == "o"]
        names = [v for t, v in session if t == "s"]
        connections = [Connection.parse(v) for t, v in session if t == "c"]
        if len(origins) != 1 or len(names) > 1 or len(connections) > 1:
            raise SdpParseError("SDP needs one o= line and at most one s= and session c=")
        return cls(
            origins[0], names[0] if names else "-", next(iter(connections), None),
            tuple(v for t, v in session if t == "t"),
            tuple(_attribute(v) for t, v in session if t == "a"), media,
            _ordered([(t, v) for t, v in session if t not in "oscta"], _SESSION_ORDER),
        )  # fmt: skip

    def direction(self, media: Media) -> Direction:
        """The direction of ``media``: its own attribute, else the session's, else sendrecv."""
        return media.direction or _direction(self.attributes) or Direction.SENDRECV

    def __bytes__(self) -> bytes:
        return ("\r\n".join(self._lines()) + "\r\n").encode()

    def _lines(self) -> Iterator[str]:
        yield from ("v=0", f"o={self.origin}", f"s={self.session_name}")
        yield from (f"{t}={v}" for t, v in self.lines if t in "iuep")
        if self.connection is not None:
            yield f"c={self.connection}"
        yield from (f"{t}={v}" for t, v in self.lines if t == "b")
        yield from (f"t={v}" for v in self.timing)
        yield from (f"{t}={v}" for t, v in self.lines if t in "rzk")
        yield from _attribute_lines(self.attributes)
        for media in self.media:
            yield from media._lines()


def _split(data: bytes | str) -> list[Line]:
    if isinstance(data, bytes):
        try:
            data = data.decode()
        except UnicodeDecodeError as err:
            raise SdpParseError(f"SDP is not UTF-8 at offset {err.start}") from None
    lines = []
    for number, line in enumerate(data.split("\n"), 1):
        line = line.removesuffix("\r")
        if not line:
            continue
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha() or "\r" in line:
            raise SdpParseError(f"SDP line {number} is not 'x=value': {line[:60]!r}")
        lines.append((line[0], line[2:]))
    return lines


def _ordered(lines: list[Line], order: str) -> tuple[Line, ...]:
    for kind, _ in lines:
        if kind not in order:
            raise SdpParseError(f"unknown or misplaced SDP line type {kind!r}")
    return tuple(sorted(lines, key=lambda line: order.index(line[0])))


def _attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    if not _TOKEN.fullmatch(name):
        raise SdpParseError(f"a= attribute name is not a token: {value[:60]!r}")
    return (name, rest if colon else None)


def _attribute_lines(attributes: tuple[Attribute, ...]) -> Iterator[str]:
    return (f"a={k}" if v is None else f"a={k}:{v}" for k, v in attributes)


def _direction(attributes: tuple[Attribute, ...]) -> Direction | None:
    return next((Direction(k) for k, _ in attributes if k in _DIRECTIONS), None)


def _number(text: str, what: str, maximum: int) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 10 or int(text) > maximum:
        raise SdpParseError(f"{what} is not a number up to {maximum}: {text[:20]!r}")
    return int(text)


def _by_payload_type(attributes: tuple[Attribute, ...], name: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for key, value in attributes:
        pt, _, rest = (value or "").partition(" ")
        if key == name and pt.isascii() and pt.isdigit() and len(pt) < 4:
            found.setdefault(int(pt), rest.strip())
    return found


def _rtpmap(value: str) -> Codec | None:
    """``PCMU/8000`` or ``opus/48000/2``; ``None`` when malformed (the format is skipped)."""
    name, _, rest = value.partition("/")
    rate = rest.partition("/")[0]
    if not name or not (rate.isascii() and rate.isdigit()) or len(rate) > 9:
        return None
    return Codec(name, int(rate), 0)


@dataclass(frozen=True, slots=True)
class AudioSession:
    """What the media engine needs for a call's audio, read from the remote SDP.

    ``codec`` and ``telephone_event`` carry the remote's payload types, the ones to
    send with (RFC 3264 §5.1). ``direction`` is ours: the mirror of the remote's, with
    sending taken out when the remote's address is ``0.0.0.0`` (RFC 2543 hold).
    """

    address: str
    port: int
    codec: Codec
    telephone_event: Codec | None
    direction: Direction
    ptime: int | None
    media_index: int


def negotiate(remote: SessionDescription, codecs: Sequence[Codec] = (PCMU, PCMA)) -> AudioSession:
    """The first usable RTP/AVP audio stream with the first of its codecs that we support.

    Raises :class:`SdpNegotiationError` if there is none.
    """
    for index, media in enumerate(remote.media):
        connection = media.connection or remote.connection
        if media.kind != "audio" or media.port == 0 or media.proto.upper() != "RTP/AVP":
            continue
        offered = media.codecs
        codec = next((c for c in offered if any(c.matches(ours) for ours in codecs)), None)
        if codec is None or connection is None:
            continue
        event = next((c for c in offered if _is_event_for(c, codec)), None)
        direction = remote.direction(media).mirrored()
        if connection.address in ("0.0.0.0", "::"):
            direction = direction.without_send()
        return AudioSession(
            connection.address, media.port, codec, event, direction, media.ptime, index
        )
    raise SdpNegotiationError("no RTP/AVP audio stream with a codec we support")


def _is_event_for(candidate: Codec, codec: Codec) -> bool:
    return candidate.matches(TELEPHONE_EVENT) and candidate.clock_rate == codec.clock_rate


def offer(
    address: str,
    port: int,
    *,
    session_id: int,
    version: int = 1,
    codecs: Sequence[Codec] = (PCMU, PCMA, TELEPHONE_EVENT),
    direction: Direction = Direction.SENDRECV,
    ptime: int = 20,
) -> SessionDescription:
    """Our audio offer: one RTP/AVP stream with ``codecs`` in preference order."""
    return _ours(address, session_id, version, (_our_audio(port, codecs, direction, ptime),))


def answer(
    remote_offer: SessionDescription,
    address: str,
    port: int,
    *,
    session_id: int,
    version: int = 1,
    codecs: Sequence[Codec] = (PCMU, PCMA),
    telephone_event: bool = True,
    ptime: int = 20,
) -> SessionDescription:
    """Our answer (RFC 3264 §6): the negotiated stream with one codec plus the offer's
    telephone-event, every other stream rejected with port 0.

    Raises :class:`SdpNegotiationError` (answer 488) when no audio stream is acceptable.
    """
    chosen = negotiate(remote_offer, codecs)
    ours = [chosen.codec]
    if telephone_event and chosen.telephone_event is not None:
        ours.append(chosen.telephone_event)
    media = tuple(
        _our_audio(port, ours, chosen.direction, ptime)
        if index == chosen.media_index
        else Media(m.kind, 0, m.proto, m.formats)
        for index, m in enumerate(remote_offer.media)
    )
    return _ours(address, session_id, version, media)


def _ours(address: str, session: int, version: int, media: tuple[Media, ...]) -> SessionDescription:
    connection = Connection(address, "IP6" if ":" in address else "IP4")
    origin = Origin("-", str(session), str(version), connection)
    return SessionDescription(origin, "-", connection, ("0 0",), (), media)


def _our_audio(port: int, codecs: Sequence[Codec], direction: Direction, ptime: int) -> Media:
    attributes: list[Attribute] = []
    for codec in codecs:
        attributes.append(("rtpmap", f"{codec.payload_type} {codec.name}/{codec.clock_rate}"))
        if codec.fmtp is not None:
            attributes.append(("fmtp", f"{codec.payload_type} {codec.fmtp}"))
    attributes += [("ptime", str(ptime)), (direction.value, None)]
    formats = tuple(str(codec.payload_type) for codec in codecs)
    return Media("audio", port, "RTP/AVP", formats, None, tuple(attributes))
