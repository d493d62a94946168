"""Users: name rules, password policy and argon2 hashing, stored through the access port.

A user's id is derived from the canonical (NFKC, lower-case) username, so looking a user up by
name is one keyed read and needs no extra index; a name can therefore exist only once. Passwords
are hashed with argon2id (``argon2-cffi``), on a worker thread so a login never stalls the event
loop. A login for an unknown name still verifies against a dummy hash, so the response time
does not tell which names exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from novel_engine.errors import ConflictError, InvalidInputError, NotFoundError
from serve_app.security.access_port import AccessPort

__all__ = [
    "UserDirectory",
    "canonical_username",
    "user_id_for",
    "check_password",
    "default_hasher",
    "MIN_PASSWORD_LENGTH",
    "MAX_PASSWORD_LENGTH",
]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # argon2 takes any length; the cap keeps a request from burning CPU
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@+-]{2,63}")


def canonical_username(username: str) -> str:
    """The canonical form of a username (NFKC, trimmed, lower case).

    Raises:
        InvalidInputError: not 3-64 characters of letters, digits and ``. _ @ + -`` starting
            with a letter or digit (e-mail addresses fit).
    """
    name = unicodedata.normalize("NFKC", username if isinstance(username, str) else "").strip().lower()
    if not _USERNAME.fullmatch(name):
        raise InvalidInputError(
            "username must be 3 to 64 characters: letters, digits and . _ @ + -, starting with a letter or digit",
            field="username",
        )
    return name


def user_id_for(canonical: str) -> str:
    """The stable user id of a canonical username (opaque, URL-safe)."""
    return "u_" + hashlib.sha256(f"novel-engine-user:{canonical}".encode()).hexdigest()[:24]


def check_password(password: str) -> None:
    """Check the password policy.

    Raises:
        InvalidInputError: shorter than 8 or longer than 1024 characters, or only whitespace.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH or not password.strip():
        raise InvalidInputError(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInputError(f"password must be at most {MAX_PASSWORD_LENGTH} characters", field="password")


def default_hasher() -> PasswordHasher:
    """argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 30 ms per hash
    here, where argon2-cffi's default (64 MiB, 3 passes, 4 lanes) took 150-400 ms of a 2-core
    replica per login. Hashes made with other parameters still verify and are upgraded at login."""
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def public_user(user_id: str, data: dict[str, Any]) -> dict[str, Any]:
    """What may leave the security layer about a user: never the password hash."""
    return {"id": user_id, "username": data["username"], "created_at": data.get("created_at")}


class UserDirectory:
    """Create users and check their passwords.

    Args:
        access: where users are kept.
        hasher: the argon2 hasher (default: :func:`default_hasher`).
        clock: seconds since the epoch (injectable for tests).
    """

    def __init__(
        self, access: AccessPort, hasher: PasswordHasher | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.access = access
        self.hasher = hasher or default_hasher()
        self.clock = clock
        self._dummy_hash: str | None = None

    async def create(self, username: str, password: str) -> str:
        """Create a user; return its id.

        Raises:
            InvalidInputError: a bad username or a password outside the policy.
            ConflictError: the username is taken.
        """
        name = canonical_username(username)
        check_password(password)
        password_hash = await asyncio.to_thread(self.hasher.hash, password)
        user_id = user_id_for(name)
        try:
            await self.access.create_user(
                user_id, {"username": name, "password_hash": password_hash, "created_at": _iso(self.clock())}
            )
        except ConflictError:
            raise ConflictError(f"username {name!r} is taken", field="username") from None
        return user_id

    async def delete(self, username: str) -> bool:
        """Delete a user (and its API keys) by name; whether there was one. Its sessions stay
        (delete them first through the API)."""
        try:
            name = canonical_username(username)
        except InvalidInputError:
            return False
        return await self.access.delete_user(user_id_for(name))

    async def _record(self, username: str) -> tuple[str, dict[str, Any]] | None:
        try:
            name = canonical_username(username)
        except InvalidInputError:
            return None
        user_id = user_id_for(name)
        try:
            return user_id, await self.access.get_user(user_id)
        except NotFoundError:
            return None

    async def get_by_name(self, username: str) -> dict[str, Any] | None:
        """``{"id", "username", "created_at"}`` of a user, or None if there is none by that name."""
        found = await self._record(username)
        return public_user(*found) if found else None

    async def verify(self, username: str, password: str) -> dict[str, Any] | None:
        """The user (as :meth:`get_by_name`) if the password is right, else None.

        Takes about as long for an unknown name as for a wrong password.
        """
        found = await self._record(username)
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            password = ""
        if found is None:
            if self._dummy_hash is None:
                self._dummy_hash = await asyncio.to_thread(self.hasher.hash, "no such user, no such password")
            await asyncio.to_thread(self._verify, self._dummy_hash, password)
            return None
        user_id, data = found
        if not await asyncio.to_thread(self._verify, data.get("password_hash", ""), password):
            return None
        if self.hasher.check_needs_rehash(data["password_hash"]):
            # Hashing parameters were raised since this password was set: upgrade it now, while we know it.
            new_hash = await asyncio.to_thread(self.hasher.hash, password)
            await self.access.put_user(user_id, {**data, "password_hash": new_hash})
        return public_user(user_id, data)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self.hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
