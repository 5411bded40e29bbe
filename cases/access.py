"""Who may see which records: a pure function of the user.

An agent sees only the cases assigned to them; a client auditor only its own
client's records; staff roles see every client the agency serves.
"""

from __future__ import annotations

from dataclasses import dataclass

from cases.domain import Role, User
from cases.errors import Forbidden, NotFound

# Roles that may ask for an unmasked national ID (and only with clearance).
REVEAL_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CLIENT_AUDITOR})


@dataclass(frozen=True, slots=True)
class Scope:
    client_id: int | None = None
    agent_id: int | None = None


def scope_for(user: User) -> Scope:
    if user.role is Role.AGENT:
        return Scope(agent_id=user.id)
    if user.role is Role.CLIENT_AUDITOR:
        return Scope(client_id=user.client_id)
    return Scope()


def check_case_visible(user: User, client_id: int, assigned_agent_id: int | None) -> None:
    """Raise NotFound for a case outside the user's scope (its existence is not told)."""
    scope = scope_for(user)
    if scope.client_id is not None and scope.client_id != client_id:
        raise NotFound("case.not_found", "no such case")
    if scope.agent_id is not None and scope.agent_id != assigned_agent_id:
        raise NotFound("case.not_found", "no such case")


def check_client_visible(user: User, client_id: int) -> None:
    scope = scope_for(user)
    if scope.client_id is not None and scope.client_id != client_id:
        raise NotFound("client.not_found", "no such client")


def check_may_reveal(user: User) -> None:
    if user.role not in REVEAL_ROLES or not user.pii_clearance:
        raise Forbidden(
            "pii.no_clearance", "your account is not cleared to see unmasked personal data"
        )
