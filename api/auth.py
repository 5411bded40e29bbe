"""Passwords (argon2) and token sessions that expire.

A token is 32 random bytes shown once at login; the database keeps only its
SHA-256, so a copy of the sessions table opens no account. Unknown user, wrong
password and disabled account all get the same answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cases import store
from cases.domain import User
from cases.errors import Unauthenticated

_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("callcase-no-such-user")
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_BAD_LOGIN = Unauthenticated("auth.bad_credentials", "wrong username or password")


async def login(
    pool: asyncpg.Pool, username: str, password: str, *, now: datetime, ttl: timedelta,
    ip: str | None,
) -> tuple[str, User, datetime]:
    found = await store.user_with_hash(pool, username)
    # argon2 takes most of a second of CPU: off the event loop, which may be the media
    # clock's too (`serve all`)
    if found is None:
        await asyncio.to_thread(_verify, _DUMMY_HASH, password)
        raise _BAD_LOGIN
    user, password_hash = found
    if not await asyncio.to_thread(_verify, password_hash, password) or not user.active:
        raise _BAD_LOGIN
    token, expires = await issue_session(pool, user.id, now=now, ttl=ttl, ip=ip)
    return token, user, expires


async def issue_session(
    pool: asyncpg.Pool, user_id: int, *, now: datetime, ttl: timedelta, ip: str | None
) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = now + ttl
    await pool.execute(
        "INSERT INTO api_sessions (token_sha256, user_id, created_at, expires_at, ip)"
        " VALUES ($1, $2, $3, $4, $5)", _digest(token), user_id, now, expires, ip,
    )
    return token, expires


async def user_for_token(pool: asyncpg.Pool, token: str, now: datetime) -> User:
    row = await pool.fetchrow(
        "SELECT u.* FROM api_sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
        " AND u.active", _digest(token), now,
    )
    if row is None:
        raise Unauthenticated("auth.invalid_token", "the session is unknown or has expired")
    return store.user_from_row(row)


async def logout(pool: asyncpg.Pool, token: str, now: datetime) -> None:
    await pool.execute(
        "UPDATE api_sessions SET revoked_at = $2 WHERE token_sha256 = $1"
        " AND revoked_at IS NULL", _digest(token), now,
    )
