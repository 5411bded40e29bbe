"""SIP messages (RFC 3261 §7, §8, §18.3): ``SipMessage.parse(data)`` and ``bytes(msg)``.

Pure. ``parse`` frames one datagram, then checks every header the transaction and
dialog layers read (Via, From, To, Call-ID, CSeq matching the method, Max-Forwards,
Contact, Route, Record-Route), so a parsed message answers those typed views without
raising. Any defect raises :class:`SipParseError`, never another exception. Choices
(the RFC 4475 torture tests check each):

* The header block must be UTF-8 and end its lines in CRLF; bare CR or LF is rejected.
  CRLFs before the start line are skipped (keep-alives, §7.5).
* Names are case-insensitive; compact forms become long names; folded lines join with
  one space; values are otherwise kept as received. ``get_all`` splits comma lists
  (Via, Contact, Route, Allow, ...) outside quotes and ``<>``.
* Content-Length is framing, not a header: parse consumes it (one value, at most the
  bytes present; extra datagram bytes are ignored, §18.3) and ``bytes(msg)`` writes
  it last, from ``len(body)``. Without it the body is the rest of the datagram.
* Date, Expires, Require and the like are not checked (a bad Expires reads as None);
  unknown URI schemes parse (answer 416 by ``uri.scheme``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, Self, TypeVar, cast

from telephony.sip.headers import (
    TOKEN,
    CSeq,
    NameAddr,
    SipUri,
    Via,
    excerpt,
    lenient_delta,
    parse_uint,
    split_outside,
)
from telephony.sip.headers import SipParseError as SipParseError

T = TypeVar("T")
_OTHER_VERSION = re.compile(r"[Ss][Ii][Pp]/[0-9]{1,9}\.[0-9]{1,9}")
# fmt: off
_COMPACT = {
    "a": "Accept-Contact", "b": "Referred-By", "c": "Content-Type", "d": "Request-Disposition",
    "e": "Content-Encoding", "f": "From", "i": "Call-ID", "j": "Reject-Contact",
    "k": "Supported", "l": "Content-Length", "m": "Contact", "o": "Event", "r": "Refer-To",
    "s": "Subject", "t": "To", "u": "Allow-Events", "v": "Via", "x": "Session-Expires",
    "y": "Identity",
}
_LISTS = frozenset((
    "accept", "accept-contact", "accept-encoding", "accept-language", "alert-info", "allow",
    "allow-events", "call-info", "contact", "content-encoding", "content-language",
    "error-info", "in-reply-to", "path", "p-asserted-identity", "proxy-require", "reason",
    "record-route", "reject-contact", "require", "route", "service-route", "supported",
    "unsupported", "via", "warning",
))
REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 302: "Moved Temporarily",
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 407: "Proxy Authentication Required", 408: "Request Timeout",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    483: "Too Many Hops", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 500: "Server Internal Error",
    501: "Not Implemented", 503: "Service Unavailable", 505: "Version Not Supported",
    600: "Busy Everywhere", 603: "Decline",
}
# fmt: on


def canonical_name(name: str) -> str:
    """The long form of a compact name; other names must be tokens and are kept as given."""
    if len(name) == 1 and name.lower() in _COMPACT:
        return _COMPACT[name.lower()]
    if not TOKEN.fullmatch(name):
        raise SipParseError(f"header name is not a token: {excerpt(name)}")
    return name


@dataclass(frozen=True, slots=True)
class Headers:
    """Ordered, case-insensitive fields, one ``(name, value)`` per line; ``add`` and ``set``
    return copies. No Content-Length here: ``bytes(message)`` writes it."""

    items: tuple[tuple[str, str], ...] = ()
    _keys: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        items = tuple((canonical_name(name), value) for name, value in self.items)
        keys = tuple(name.lower() for name, _ in items)
        if "content-length" in keys or any("\r" in v or "\n" in v for _, v in items):
            raise ValueError(f"Content-Length or a CR/LF in headers {items!r}")
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "_keys", keys)

    def get(self, name: str) -> str | None:
        """The first field named ``name``, as received (a list header's whole line)."""
        key = _key(name)
        return next((v for k, (_, v) in zip(self._keys, self.items, strict=True) if k == key), None)

    def get_all(self, name: str) -> list[str]:
        """Every value of ``name`` in order; comma-separated list headers are split."""
        key = _key(name)
        values = [v for k, (_, v) in zip(self._keys, self.items, strict=True) if k == key]
        if key not in _LISTS:
            return values
        return [e for v in values for e in (p.strip(" \t") for p in split_outside(v, ",")) if e]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._keys

    def add(self, name: str, value: object) -> Headers:
        return Headers((*self.items, (name, str(value))))

    def set(self, name: str, value: object) -> Headers:
        """A copy without any ``name`` field but one ``name: value`` at the end."""
        kept = (i for k, i in zip(self._keys, self.items, strict=True) if k != _key(name))
        return Headers((*kept, (name, str(value))))


def _key(name: str) -> str:
    lower = name.lower()
    return _COMPACT[lower].lower() if lower in _COMPACT else lower


class _One(Generic[T]):
    """The one field named ``name``, parsed on first access and memoised per message."""

    def __init__(self, name: str, parse: Callable[[str], T]) -> None:
        self.name, self.parse = name, parse

    def __get__(self, message: SipMessage, owner: object) -> T:
        if self.name not in message._cache:
            values = message.headers.get_all(self.name)
            if len(values) != 1:
                raise SipParseError(f"{'duplicate' if values else 'missing'} {self.name} header")
            message._cache[self.name] = _typed(self.name, self.parse, values[0])
        return cast(T, message._cache[self.name])


class _Many(Generic[T]):
    """Every value of a list header, in order (a lone ``*`` Contact reads as none)."""

    def __init__(self, name: str, parse: Callable[[str], T]) -> None:
        self.name, self.parse = name, parse

    def __get__(self, message: SipMessage, owner: object) -> tuple[T, ...]:
        if self.name not in message._cache:
            values = message.headers.get_all(self.name)
            values = [v for v in values if v != "*" or self.name != "Contact"]
            message._cache[self.name] = tuple(_typed(self.name, self.parse, v) for v in values)
        return cast(tuple[T, ...], message._cache[self.name])


def _typed(name: str, parse: Callable[[str], T], value: str) -> T:
    try:
        return parse(value)
    except SipParseError as err:
        raise SipParseError(f"{name} header: {err}") from None


def _call_id(value: str) -> str:
    if not value or not value.isascii() or any(c <= " " or c == "\x7f" for c in value):
        raise SipParseError(f"empty or not a word: {excerpt(value)}")
    return value


class SipMessage:
    """Typed views shared by :class:`SipRequest` and :class:`SipResponse`."""

    __slots__ = ()
    headers: Headers
    body: bytes
    _cache: dict[str, object]

    vias = _Many("Via", Via.parse)
    from_ = _One("From", NameAddr.parse)
    to = _One("To", NameAddr.parse)
    call_id = _One("Call-ID", _call_id)
    cseq = _One("CSeq", CSeq.parse)
    contacts = _Many("Contact", NameAddr.parse)
    routes = _Many("Route", NameAddr.parse)
    record_routes = _Many("Record-Route", NameAddr.parse)

    @classmethod
    def parse(cls, data: bytes) -> Self:
        """Parse one datagram; raises :class:`SipParseError` and nothing else."""
        message = _parse(bytes(data))
        if not isinstance(message, cls):
            raise SipParseError(f"expected a {cls.__name__}, got a {type(message).__name__}")
        return message

    @property
    def via(self) -> Via:
        if not self.vias:
            raise SipParseError("no Via header")
        return self.vias[0]

    @property
    def contact(self) -> NameAddr | None:
        return self.contacts[0] if self.contacts else None

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("Max-Forwards")
        return None if value is None else parse_uint(value, "Max-Forwards", 255)

    @property
    def expires(self) -> int | None:
        """The Expires header; ``None`` if absent, malformed or above 2**32 - 1."""
        return lenient_delta(self.headers.get("Expires"))

    @property
    def start_line(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        lines = [self.start_line, *(f"{name}: {value}" for name, value in self.headers.items)]
        lines.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "\r\n".join(lines).encode() + self.body

    def _check(self) -> None:
        if len(self.headers.get_all("Max-Forwards")) > 1:
            raise SipParseError("duplicate Max-Forwards header")
        _ = (self.via, self.from_, self.to, self.call_id, self.cseq, self.max_forwards)
        _ = (self.contacts, self.routes, self.record_routes)


@dataclass(frozen=True, slots=True)
class SipRequest(SipMessage):
    """A request: method, Request-URI, headers, body."""

    method: str
    uri: SipUri
    headers: Headers = Headers()
    body: bytes = b""
    _cache: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _check(self) -> None:
        SipMessage._check(self)
        if self.cseq.method != self.method:
            raise SipParseError(f"CSeq method {self.cseq.method} is not {self.method}")

    @property
    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass(frozen=True, slots=True)
class SipResponse(SipMessage):
    """A response: status code, reason phrase, headers, body."""

    status: int
    reason: str
    headers: Headers = Headers()
    body: bytes = b""
    _cache: dict[str, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


def _parse(data: bytes) -> SipRequest | SipResponse:
    start = len(data) - len(data.lstrip(b"\r\n"))
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise SipParseError("no empty line after the header block" if data else "empty message")
    try:
        head = data[start:end].decode()
    except UnicodeDecodeError as err:
        raise SipParseError(f"header bytes are not UTF-8 at offset {start + err.start}") from None
    lines = head.split("\r\n")
    if head.count("\r") >= len(lines) or head.count("\n") >= len(lines):
        number = next(i for i, line in enumerate(lines, 1) if "\r" in line or "\n" in line)
        raise SipParseError(f"line {number} has a bare CR or LF")
    fields, lengths = _fields(lines)
    body = _body(data[end + 4 :], lengths)
    message = _start_line(lines[0], Headers(tuple(fields)), body)
    try:
        message._check()
    except SipParseError as err:
        err.framed = message
        raise
    return message


def _fields(lines: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Unfold the header lines into ``(canonical name, value)``; split off Content-Length."""
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(lines[1:], 2):
        if line[:1] in (" ", "\t"):
            if not fields:
                raise SipParseError("line 2 is a continuation line but no header precedes it")
            name, value = fields[-1]
            continued = line.strip(" \t")
            fields[-1] = (name, f"{value} {continued}".strip(" \t"))
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise SipParseError(f"line {number} is not 'Name: value': {excerpt(line)}")
        fields.append((canonical_name(name.rstrip(" \t")), value.strip(" \t")))
    lengths = [value for name, value in fields if name.lower() == "content-length"]
    if lengths:
        fields = [item for item in fields if item[0].lower() != "content-length"]
    return fields, lengths


def _body(rest: bytes, lengths: list[str]) -> bytes:
    if not lengths:
        return rest
    if len(lengths) > 1:
        raise SipParseError(f"{len(lengths)} Content-Length headers")
    length = parse_uint(lengths[0], "Content-Length", 2**31)
    if length > len(rest):
        raise SipParseError(f"Content-Length {length} but only {len(rest)} body bytes")
    return rest[:length]


def _start_line(line: str, headers: Headers, body: bytes) -> SipRequest | SipResponse:
    if line[:4].upper() == "SIP/":
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        _check_version(version)
        if len(code) != 3 or not (code.isascii() and code.isdigit()) or code[0] not in "123456":
            raise SipParseError(f"status code is not 100-699: {excerpt(code)}")
        return SipResponse(int(code), reason, headers, body)
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError(f"request line is not 'METHOD URI SIP/2.0': {excerpt(line)}")
    method, uri_text, version = parts
    if not TOKEN.fullmatch(method):
        raise SipParseError(f"method is not a token: {excerpt(method)}")
    _check_version(version)
    try:
        uri = SipUri.parse(uri_text)
    except SipParseError as err:
        raise SipParseError(f"Request-URI: {err}") from None
    if uri.headers:
        raise SipParseError(f"Request-URI has headers: {excerpt(uri_text)}")
    return SipRequest(method, uri, headers, body)


def _check_version(version: str) -> None:
    if version.upper() == "SIP/2.0":
        return
    if _OTHER_VERSION.fullmatch(version):
        raise SipParseError(f"unsupported version {excerpt(version)}", status=505)
    raise SipParseError(f"bad SIP version {excerpt(version)}")


def build_request(
    method: str,
    uri: SipUri,
    *,
    via: Via,
    from_: NameAddr,
    to: NameAddr,
    call_id: str,
    cseq: int,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipRequest:
    """A request with the §8.1.1 headers, Max-Forwards 70, then ``headers`` (Contact...)."""
    if not TOKEN.fullmatch(method) or from_.tag is None or via.branch is None:
        raise ValueError("a request needs a token method, a From tag and a Via branch")
    items = [("Via", str(via)), ("Max-Forwards", "70"), ("From", str(from_)), ("To", str(to))]
    items += [("Call-ID", call_id), ("CSeq", f"{cseq} {method}"), *headers]
    return SipRequest(method, uri, Headers(tuple(items)), body)


def build_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to ``request`` (RFC 3261 §8.2.6): Via, From, To, Call-ID, CSeq copied.

    ``to_tag`` is added if To has none (the dialog layer keeps one per INVITE); 101-299
    responses copy Record-Route (§12.1.1). Contact and the like go in ``headers``.
    """
    if not 100 <= status <= 699 or (to_tag is not None and not TOKEN.fullmatch(to_tag)):
        raise ValueError(f"status {status} outside 100-699 or to-tag {to_tag!r} not a token")
    copied = {name: request.headers.get(name) or "" for name in ("From", "To", "Call-ID", "CSeq")}
    if to_tag is not None and request.to.tag is None:
        copied["To"] += f";tag={to_tag}"
    items = [("Via", value) for value in request.headers.get_all("Via")]
    if 100 < status < 300:
        items += [("Record-Route", value) for value in request.headers.get_all("Record-Route")]
    items += [*copied.items(), *headers]
    phrase = REASONS.get(status, "Unknown") if reason is None else reason
    return SipResponse(status, phrase, Headers(tuple(items)), body)
