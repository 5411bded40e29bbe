"""Registrar bindings (RFC 3261 §10.3): one contact per agent extension, with expiry.

Pure: times are passed in (aware UTC). An agent has one softphone, so a REGISTER
replaces the extension's binding instead of adding a contact beside it. The requested
expiry (Contact ``expires`` parameter, else the Expires header, else the default) is
clamped to ``maximum``; below ``minimum`` it is refused (423 Interval Too Brief with
Min-Expires), except 0, which removes the binding. Within one Call-ID a REGISTER must
carry a higher CSeq than the binding it updates (§10.3 step 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from telephony.sip.headers import SipUri

Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ExpiryPolicy:
    minimum: int = 60
    maximum: int = 3600
    default: int = 3600

    def grant(self, requested: int | None) -> int | None:
        """Seconds granted; 0 to unregister; ``None`` when too brief (answer 423)."""
        seconds = self.default if requested is None else requested
        if seconds == 0:
            return 0
        if seconds < self.minimum:
            return None
        return min(seconds, self.maximum)


@dataclass(frozen=True, slots=True)
class Binding:
    """Where an extension's softphone is: its Contact, the address REGISTER came
    from (send there: it is what a NAT opened), and until when."""

    extension: str
    contact: SipUri
    source: Address
    expires_at: datetime
    call_id: str
    cseq: int
    user_agent: str | None = None

    def seconds_left(self, now: datetime) -> int:
        return max(0, int((self.expires_at - now).total_seconds()))


class Bindings:
    """The current binding of each extension."""

    def __init__(self) -> None:
        self._by_extension: dict[str, Binding] = {}

    def __len__(self) -> int:
        return len(self._by_extension)

    def lookup(self, extension: str, now: datetime) -> Binding | None:
        binding = self._by_extension.get(extension)
        if binding is not None and binding.expires_at <= now:
            del self._by_extension[extension]
            return None
        return binding

    def in_order(self, extension: str, call_id: str, cseq: int) -> bool:
        """False when the request repeats or precedes the one that made the binding."""
        binding = self._by_extension.get(extension)
        return binding is None or binding.call_id != call_id or cseq > binding.cseq

    def put(self, binding: Binding) -> None:
        self._by_extension[binding.extension] = binding

    def remove(self, extension: str) -> Binding | None:
        return self._by_extension.pop(extension, None)

    def expire(self, now: datetime) -> list[str]:
        """Remove every expired binding; their extensions."""
        gone = [ext for ext, b in self._by_extension.items() if b.expires_at <= now]
        for extension in gone:
            del self._by_extension[extension]
        return gone


def expiry_of(granted: int, now: datetime) -> datetime:
    return now + timedelta(seconds=granted)
