"""Domain errors: a stable `error_id`, a message for people, details for machines.

They carry no HTTP; the API's error middleware maps each kind to a status code.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    kind = "invalid"

    def __init__(
        self, error_id: str, message: str, details: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.error_id = error_id
        self.message = message
        self.details: dict[str, object] = dict(details or {})


class InvalidInput(DomainError):
    kind = "invalid"


class NotFound(DomainError):
    kind = "not_found"


class Forbidden(DomainError):
    kind = "forbidden"


class Unauthenticated(DomainError):
    kind = "unauthenticated"


class Conflict(DomainError):
    kind = "conflict"
