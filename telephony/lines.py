"""Work lines: the registered trunks outbound calls must go through.

Pure. A call names its line; `WorkLines.get` refuses any name that is not a
configured, active line, so nothing can be dialled on a private phone or an
unknown trunk. The trunk password is kept out of `repr`. A line has two limits from
the carrier: calls up at once (`max_channels`) and new calls a second
(`calls_per_second`), which the dialer keeps (`dialer.line_rate`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class LineRefused(ValueError):
    """An origination named a line that is not a registered, active work line."""

    error_id = "telephony.line_refused"


@dataclass(frozen=True, slots=True)
class WorkLine:
    name: str
    trunk_host: str
    trunk_port: int
    caller_id: str
    transport: str = "udp"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    max_channels: int = 30
    active: bool = True
    calls_per_second: float | None = None  # the carrier's limit on new calls; None: none

    def request_uri(self, number: str) -> str:
        """The SIP URI of `number` (E.164, '+' kept) at this line's trunk."""
        if not number.lstrip("+").isdigit():
            raise ValueError(f"not a phone number: {number!r}")
        return f"sip:{number}@{self.trunk_host}:{self.trunk_port};user=phone"

    @property
    def from_uri(self) -> str:
        return f"sip:{self.caller_id}@{self.trunk_host}"


@dataclass(frozen=True, slots=True)
class WorkLines:
    lines: tuple[WorkLine, ...] = ()

    def get(self, name: str) -> WorkLine:
        for line in self.lines:
            if line.name == name:
                if not line.active:
                    raise LineRefused(f"work line {name!r} is disabled")
                return line
        raise LineRefused(f"{name!r} is not a registered work line")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(line.name for line in self.lines if line.active)
