"""SIP header values (RFC 3261 §19, §20, §25): URIs, name-addr, Via, CSeq, parameters.

Pure: text in, frozen values out, ``str(value)`` back, and ``X.parse(str(x)) == x``.
Malformed text raises :class:`SipParseError` and nothing else.

Values keep their wire spelling: ``%``-escapes, parameter-name case and the quotes of
quoted parameter values (``Params.get`` unquotes; look-ups ignore case). Schemes other
than sip/sips are opaque: ``user`` is everything up to the first ``;``, so ``tel:`` and
``urn:`` URIs round-trip and a UAS can answer 416 by ``uri.scheme``.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from telephony.sip.message import SipRequest, SipResponse

TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
MAX_CSEQ = 2**31 - 1
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_HOSTPORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.\-]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?")
_URI_BAD = re.compile(r"[^\x21\x23-\x3b\x3d\x3f-\x7e]")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_NEEDS_ESCAPE = re.compile(r'(["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f])')
_VALUE_BAD = re.compile(r'[\s",;<>]')
_NAME_ADDR_START = re.compile(r'[<"]')
MAGIC_COOKIE = "z9hG4bK"
_FINDERS = {sep: re.compile(f'[{sep}"<]') for sep in ",;"}


class SipParseError(ValueError):
    """Text that is not well-formed SIP: the remote peer's fault (log, answer, carry on).

    ``status`` is the response a UAS should send (400, or 505 for another SIP version).
    ``framed`` is the message when its start line and header block framed but a header
    value was bad, so a UAS can still answer it with ``status``.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.framed: SipRequest | SipResponse | None = None


def new_tag() -> str:
    """A random From/To tag (RFC 3261 §19.3 wants at least 32 random bits)."""
    return secrets.token_hex(8)


def new_branch() -> str:
    """A random RFC 3261 branch: the magic cookie plus 64 random bits."""
    return MAGIC_COOKIE + secrets.token_hex(8)


def excerpt(text: str, limit: int = 60) -> str:
    """``repr`` of ``text``, cut to ``limit`` characters, for error messages."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def parse_uint(text: str, what: str, maximum: int) -> int:
    """A decimal number in ``0..maximum``; leading zeros allowed, nothing else."""
    if not (text.isascii() and text.isdigit()):
        raise SipParseError(f"{what} is not a decimal number: {excerpt(text)}")
    if len(text) > 32 or int(text) > maximum:
        raise SipParseError(f"{what} {excerpt(text)} exceeds {maximum}")
    return int(text)


def quote(text: str) -> str:
    """``text`` as a quoted-string, escaping quotes, backslashes and controls."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"CR or LF cannot be quoted: {text!r}")
    return '"' + _NEEDS_ESCAPE.sub(r"\\\1", text) + '"'


def unquote(text: str) -> str:
    """The content of a quoted-string (quotes included in ``text``), escapes undone."""
    return _QUOTED_PAIR.sub(r"\1", text[1:-1])


def split_outside(text: str, sep: str) -> list[str]:
    """Split on ``sep`` (``,`` or ``;``) except inside quoted strings and ``<...>``.

    Never fails: an unterminated quote or ``<`` runs to the end of the text, for the
    value parser to reject.
    """
    if '"' not in text and "<" not in text:
        return text.split(sep)
    parts: list[str] = []
    start = pos = 0
    finder = _FINDERS[sep]
    while (found := finder.search(text, pos)) is not None:
        char, at = found.group(), found.start()
        if char == sep:
            parts.append(text[start:at])
            start = pos = at + 1
        elif char == '"':
            quoted = _QUOTED.match(text, at)
            pos = quoted.end() if quoted else len(text)
        else:
            close = text.find(">", at)
            pos = close + 1 if close >= 0 else len(text)
    parts.append(text[start:])
    return parts


@dataclass(frozen=True, slots=True)
class Params:
    """Ordered ``;name=value`` parameters; ``None`` marks a parameter without value."""

    items: tuple[tuple[str, str | None], ...] = ()

    def get(self, name: str) -> str | None:
        """The value of the first ``name`` parameter, unquoted; ``None`` if absent or bare."""
        key = name.lower()
        for item, value in self.items:
            if item.lower() == key:
                return unquote(value) if value and value[0] == '"' else value
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(k.lower() == name.lower() for k, _ in self.items)

    def set(self, name: str, value: str | None = None) -> Params:
        """A copy with ``name`` set to ``value``, in place of any earlier ``name``."""
        kept = tuple(item for item in self.items if item[0].lower() != name.lower())
        return Params((*kept, (name, value)))

    def __str__(self) -> str:
        return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.items)


def _header_params(text: str, where: str) -> Params:
    """``;name=value`` header parameters (LWS allowed around ``;`` and ``=``)."""
    text = text.strip(" \t")
    if not text:
        return Params()
    if text[0] != ";":
        raise SipParseError(f"{where}: expected ';' before {excerpt(text)}")
    items: list[tuple[str, str | None]] = []
    for segment in split_outside(text[1:], ";"):
        name, eq, value = (part.strip(" \t") for part in segment.partition("="))
        if not TOKEN.fullmatch(name):
            raise SipParseError(f"{where}: bad parameter name {excerpt(name)}")
        if eq and not _param_value_ok(value):
            raise SipParseError(f"{where}: bad value {excerpt(value)} for parameter {name}")
        items.append((name, value if eq else None))
    return Params(tuple(items))


def _param_value_ok(value: str) -> bool:
    if value[:1] == '"':
        return _QUOTED.fullmatch(value) is not None
    return bool(value) and _VALUE_BAD.search(value) is None


def _uri_params(text: str, where: str) -> Params:
    items: list[tuple[str, str | None]] = []
    for segment in text.split(";"):
        name, eq, value = segment.partition("=")
        if not name or (eq and not value):
            raise SipParseError(f"{where}: empty parameter name or value in {excerpt(text)}")
        items.append((name, value if eq else None))
    return Params(tuple(items))


def _hostport(text: str, where: str) -> tuple[str, int | None]:
    match = _HOSTPORT.fullmatch(text)
    if match is None:
        raise SipParseError(f"{where}: bad host or port {excerpt(text)}")
    port = match.group(2)
    return match.group(1), None if port is None else parse_uint(port, f"{where} port", 65535)


@dataclass(frozen=True, slots=True)
class SipUri:
    """A SIP/SIPS URI (RFC 3261 §19.1), or another scheme kept opaque in ``user``."""

    scheme: str = "sip"
    user: str | None = None
    host: str = ""
    port: int | None = None
    password: str | None = None
    params: Params = Params()
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def is_sip(self) -> bool:
        return self.scheme in ("sip", "sips")

    @property
    def transport(self) -> str | None:
        return self.params.get("transport")

    @classmethod
    def parse(cls, text: str) -> SipUri:
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME.fullmatch(scheme):
            raise SipParseError(f"URI has no valid scheme: {excerpt(text)}")
        if not rest or _URI_BAD.search(rest):
            raise SipParseError(f'URI is empty or has a space, control or <>": {excerpt(text)}')
        scheme = scheme.lower()
        if scheme not in ("sip", "sips"):
            opaque, semi, params = rest.partition(";")
            if not opaque:
                raise SipParseError(f"URI has nothing after the scheme: {excerpt(text)}")
            return cls(scheme, opaque, params=_uri_params(params, "URI") if semi else Params())
        return cls._parse_sip(scheme, rest)

    @classmethod
    def _parse_sip(cls, scheme: str, rest: str) -> SipUri:
        user = password = None
        userinfo, at, hostpart = rest.partition("@") if "@" in rest else ("", "", rest)
        if at:
            user, colon, password_text = userinfo.partition(":")
            password = password_text if colon else None
            if not user:
                raise SipParseError(f"URI has an empty user part: {excerpt(rest)}")
        hostpart, question, header_text = hostpart.partition("?")
        hostport, semi, param_text = hostpart.partition(";")
        host, port = _hostport(hostport, "URI")
        params = _uri_params(param_text, "URI") if semi else Params()
        headers = _uri_headers(header_text) if question else ()
        return cls(scheme, user, host, port, password, params, headers)

    def __str__(self) -> str:
        if not self.is_sip:
            return f"{self.scheme}:{self.user}{self.params}"
        text = f"{self.scheme}:"
        if self.user is not None:
            text += self.user if self.password is None else f"{self.user}:{self.password}"
            text += "@"
        text += f"[{self.host}]" if ":" in self.host and self.host[0] != "[" else self.host
        if self.port is not None:
            text += f":{self.port}"
        text += str(self.params)
        if self.headers:
            text += "?" + "&".join(f"{name}={value}" for name, value in self.headers)
        return text


def _uri_headers(text: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for field in text.split("&"):
        name, eq, value = field.partition("=")
        if not name or not eq:
            raise SipParseError(f"URI header is not name=value: {excerpt(field)}")
        headers.append((name, value))
    return tuple(headers)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """From, To, Contact, Route, Record-Route: display name, URI, header parameters."""

    uri: SipUri
    display_name: str | None = None
    params: Params = Params()

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    @property
    def expires(self) -> int | None:
        """Contact ``expires``; ``None`` if absent or malformed (RFC 4475 §3.1.2.4)."""
        return lenient_delta(self.params.get("expires"))

    def with_tag(self, tag: str) -> NameAddr:
        return replace(self, params=self.params.set("tag", tag))

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip(" \t")
        first = _NAME_ADDR_START.search(text)
        if first is None or (first.group() == '"' and first.start() > 0):
            uri_text, semi, param_text = text.partition(";")
            uri = _addr_uri(uri_text.rstrip(" \t"))
            return cls(uri, None, _header_params(semi + param_text, "name-addr"))
        if first.start() == 0 and text[0] == '"':
            quoted = _QUOTED.match(text)
            if quoted is None:
                raise SipParseError(f"unterminated quoted display name in {excerpt(text)}")
            rest = text[quoted.end() :].lstrip(" \t")
            if rest[:1] != "<":
                raise SipParseError(f"expected '<' after the display name in {excerpt(text)}")
            return cls._angle(rest, unquote(quoted.group()))
        tokens = text[: first.start()].split()
        if not all(TOKEN.fullmatch(token) for token in tokens):
            raise SipParseError(f"display name needs quotes: {excerpt(text)}")
        return cls._angle(text[first.start() :], " ".join(tokens) or None)

    @classmethod
    def _angle(cls, text: str, display_name: str | None) -> NameAddr:
        close = text.find(">")
        if close < 0:
            raise SipParseError(f"'<' without '>' in {excerpt(text)}")
        uri = _addr_uri(text[1:close])
        return cls(uri, display_name, _header_params(text[close + 1 :], "name-addr"))

    def __str__(self) -> str:
        name = "" if self.display_name is None else quote(self.display_name) + " "
        return f"{name}<{self.uri}>{self.params}"


def _addr_uri(text: str) -> SipUri:
    try:
        return SipUri.parse(text)
    except SipParseError as err:
        raise SipParseError(f"name-addr: {err}") from None


def lenient_delta(text: str | None) -> int | None:
    """Delta-seconds in ``0..2**32-1``; ``None`` when absent, malformed or overlarge.

    RFC 4475 §3.1.2.4: a bad expiry may be treated as absent, i.e. the caller's default.
    """
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 32:
        return None
    value = int(text)
    return value if value < 2**32 else None


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (RFC 3261 §20.42): transport, sent-by, parameters."""

    transport: str
    host: str
    port: int | None = None
    params: Params = Params()
    protocol: str = "SIP/2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def transaction_branch(self) -> str | None:
        """The branch if it is an RFC 3261 transaction id (magic cookie plus more)."""
        branch = self.branch
        ok = branch is not None and len(branch) > 7 and branch.startswith(MAGIC_COOKIE)
        return branch if ok else None

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value a server filled in; ``None`` if absent, bare or malformed."""
        value = self.params.get("rport") or ""
        return int(value) if value.isascii() and value.isdigit() and len(value) < 6 else None

    @classmethod
    def parse(cls, text: str) -> Via:
        head, semi, param_text = text.partition(";")
        parts = head.split("/")
        if len(parts) != 3:
            raise SipParseError(f"Via has no SIP/2.0/transport: {excerpt(text)}")
        name, version = parts[0].strip(" \t"), parts[1].strip(" \t")
        fields = parts[2].split(None, 1)
        transport, sent_by = fields if len(fields) == 2 else ("", "")
        if not all(TOKEN.fullmatch(part) for part in (name, version, transport)):
            raise SipParseError(f"Via has a bad protocol or transport: {excerpt(text)}")
        host, port = _hostport(sent_by.strip(" \t"), "Via sent-by")
        params = _header_params(semi + param_text, "Via")
        return cls(transport.upper(), host, port, params, f"{name.upper()}/{version}")

    def __str__(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        return f"{self.protocol}/{self.transport} {self.host}{port}{self.params}"


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq (RFC 3261 §20.16): sequence number below 2**31 and method."""

    number: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2 or not TOKEN.fullmatch(parts[1]):
            raise SipParseError(f"CSeq is not 'number METHOD': {excerpt(text)}")
        return cls(parse_uint(parts[0], "CSeq number", MAX_CSEQ), parts[1])

    def __str__(self) -> str:
        return f"{self.number} {self.method}"
