"""``AuthService``: logins, access tokens, API keys, rate limits and the audit trail in one place.

The FastAPI glue (:mod:`serve_app.security.fastapi`) and the CLI call only this class. Every
refusal is audited with a reason code (never the credential), and every error is one of the
engine's exceptions: :class:`AuthenticationError` (401), :class:`PermissionDeniedError` (403),
:class:`NotFoundError` (404), :class:`InvalidInputError` (422), :class:`RateLimitedError` (429).

Access tokens are stateless: a token stays valid until it expires (keep ``token_ttl_s`` short).
API keys are checked against the store on every request, so a revoked key is refused at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher

from novel_engine.errors import AuthenticationError, InvalidInputError, NotFoundError, PermissionDeniedError, StoreError
from serve_app.security.access_port import AccessPort
from serve_app.security.access_store import access_for
from serve_app.security.audit import AuditTrail
from serve_app.security.principal import Principal
from serve_app.security.ratelimit import RateLimiter
from serve_app.security.settings import AuthSettings
from serve_app.security.tokens import TokenIssuer, api_key_hash, api_key_id, looks_like_api_key, new_api_key
from serve_app.security.users import UserDirectory, canonical_username

__all__ = ["AuthService"]

log = logging.getLogger(__name__)

MAX_KEY_NAME = 64


class _Denied(Exception):
    """Internal: why a credential was refused, and what the audit entry may say about it."""

    def __init__(self, message: str, reason: str, actor: str = "anonymous", key_id: str | None = None) -> None:
        super().__init__(message)
        self.message, self.reason, self.actor, self.key_id = message, reason, actor, key_id


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


class AuthService:
    """The security layer of the serve app.

    Args:
        access: the access port (users, keys, audit log, counters), or the engine's store to
            keep them in (a ``StateStore`` opened on the caller's loop, or a started ``StoreRunner``).
        settings: secret, token lifetime, limits.
        clock: seconds since the epoch (tests inject one to expire tokens).
        password_hasher: the argon2 hasher (tests pass a cheap profile).
        max_api_keys: live API keys a user may hold.
    """

    def __init__(
        self,
        access: AccessPort | Any,
        settings: AuthSettings,
        clock: Callable[[], float] = time.time,
        *,
        password_hasher: PasswordHasher | None = None,
        max_api_keys: int = 25,
    ) -> None:
        self.settings, self.clock, self.max_api_keys = settings, clock, max_api_keys
        self.access = access if isinstance(access, AccessPort) else access_for(access)
        self.users = UserDirectory(self.access, password_hasher, clock)
        self.tokens = TokenIssuer(settings.jwt_secret, settings.token_ttl_s)
        self.limiter = RateLimiter(self.access, clock)
        self.trail = AuditTrail(self.access, clock)

    # -- users and logins ----------------------------------------------------------------------
    async def create_user(self, username: str, password: str) -> str:
        """Create a user; return its id.

        Raises:
            InvalidInputError: a bad username or a password shorter than 8 characters.
            ConflictError: the username is taken.
        """
        user_id = await self.users.create(username, password)
        await self.audit("user_created", user_id, username=canonical_username(username))
        return user_id

    async def get_user_by_name(self, username: str) -> dict[str, Any] | None:
        """``{"id", "username", "created_at"}`` of a user, or None (no password hash, ever)."""
        return await self.users.get_by_name(username)

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Check a username and password; return an access token.

        Returns:
            ``{"access_token", "token_type": "bearer", "expires_at" (ISO 8601 UTC), "expires_in" (s)}``.

        Raises:
            AuthenticationError: wrong password or unknown user (the same error for both; audited).
            RateLimitedError: too many attempts for this username in the current minute.
        """
        try:
            attempted = canonical_username(username)
        except InvalidInputError:
            attempted = str(username)[:64]
        limit = self.settings.login_attempts_per_minute
        if await self.limiter.count(f"login:{attempted}") > limit:
            await self._audit_quietly("login_throttled", attempted, limit=limit)
            raise self.limiter.exceeded(limit, "login attempts for this user")
        user = await self.users.verify(username, password)
        if user is None:
            await self._audit_quietly("login_failed", attempted, reason="bad_credentials")
            raise AuthenticationError("wrong username or password", reason="bad_credentials")
        now = self.clock()
        token, expires_at = self.tokens.issue(user["id"], user["username"], now)
        await self.audit("login", user["id"], username=user["username"], expires_at=_iso(expires_at))
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_at": _iso(expires_at),
            "expires_in": max(0, expires_at - int(now)),
        }

    # -- authentication ------------------------------------------------------------------------
    async def authenticate(self, credential: str, *, context: dict[str, Any] | None = None) -> Principal:
        """The principal behind an access token or API key.

        Args:
            credential: the JWT or the API key (without ``Bearer``).
            context: what to add to the audit entry of a refusal (e.g. method and path).

        Raises:
            AuthenticationError: missing, malformed, tampered, expired, unknown or revoked
                (``reason`` says which; the refusal is audited as ``access_denied``).
        """
        try:
            return await self._authenticate(credential)
        except _Denied as denied:
            await self._audit_quietly(
                "access_denied", denied.actor, reason=denied.reason, key_id=denied.key_id, **(context or {})
            )
            raise AuthenticationError(denied.message, reason=denied.reason) from None

    async def _authenticate(self, credential: str) -> Principal:
        credential = (credential or "").strip() if isinstance(credential, str) else ""
        if not credential:
            raise _Denied("missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'", "missing")
        if not looks_like_api_key(credential):
            try:
                claims = self.tokens.verify(credential, self.clock())
            except AuthenticationError as err:
                raise _Denied(err.message, err.details.get("reason", "invalid")) from None
            return Principal(claims.user_id, claims.username, "jwt", None)
        key_id = api_key_id(credential)
        if key_id is None:
            raise _Denied("invalid API key", "malformed_key")
        try:
            user_id, data = await self.access.get_api_key(api_key_hash(credential))
        except NotFoundError:
            raise _Denied("invalid API key", "unknown_key", key_id=key_id) from None
        if data.get("id") != key_id:
            raise _Denied("invalid API key", "unknown_key", key_id=key_id)
        if data.get("revoked_at"):
            raise _Denied("API key revoked", "revoked", actor=user_id, key_id=key_id)
        return Principal(user_id, data["username"], "api_key", key_id)

    async def check_rate(self, principal: Principal) -> None:
        """Count a request of ``principal``.

        Raises:
            RateLimitedError: over ``rate_limit_per_minute`` for this user (token callers) or
                this key (key callers); ``retry_after`` is the seconds to the next window.
        """
        limit = self.settings.rate_limit_per_minute
        count = await self.limiter.count(principal.rate_key)
        if count > limit:
            if count == limit + 1:  # one audit entry per caller and window, not one per refused request
                await self._audit_quietly("rate_limited", principal.user_id, key_id=principal.key_id, limit=limit)
            raise self.limiter.exceeded(limit, "requests")

    # -- API keys ------------------------------------------------------------------------------
    async def _live_keys(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        rows = await self.access.list_api_keys(user_id)
        return [(h, d) for h, d in rows if not d.get("revoked_at")]

    async def create_api_key(self, principal: Principal, name: str) -> dict[str, Any]:
        """Create an API key for the caller; the key itself is in the answer and nowhere else.

        Returns:
            ``{"id", "name", "key", "created_at"}``.

        Raises:
            PermissionDeniedError: the caller used an API key (keys are made after a password
                login, so a leaked key cannot mint more) or holds ``max_api_keys`` keys already.
            InvalidInputError: an empty or too long name.
        """
        if principal.via != "jwt":
            await self._audit_quietly(
                "access_denied", principal.user_id, reason="key_cannot_create_keys", key_id=principal.key_id
            )
            raise PermissionDeniedError("API keys are created with a login token, not with another API key")
        clean = " ".join(str(name or "").split())
        if not clean or len(clean) > MAX_KEY_NAME:
            raise InvalidInputError(f"name must be 1 to {MAX_KEY_NAME} characters", field="name")
        if len(await self._live_keys(principal.user_id)) >= self.max_api_keys:
            raise PermissionDeniedError(
                f"at most {self.max_api_keys} API keys per user; revoke one first", limit=self.max_api_keys
            )
        key_id, key = new_api_key()
        created_at = _iso(self.clock())
        await self.access.put_api_key(
            api_key_hash(key),
            principal.user_id,
            {"id": key_id, "name": clean, "username": principal.username, "created_at": created_at},
        )
        # Audited before the key is handed out: a key nobody saw is harmless, an unaudited one is not.
        await self.audit("api_key_created", principal.user_id, key_id=key_id, name=clean)
        return {"id": key_id, "name": clean, "key": key, "created_at": created_at}

    async def list_api_keys(self, principal: Principal) -> list[dict[str, Any]]:
        """The caller's live keys, oldest first: ``[{"id", "name", "created_at"}]`` (no key, no hash)."""
        rows = [
            {"id": d["id"], "name": d.get("name", ""), "created_at": d.get("created_at")}
            for _, d in await self._live_keys(principal.user_id)
        ]
        return sorted(rows, key=lambda r: (r["created_at"] or "", r["id"]))

    async def revoke_api_key(self, principal: Principal, key_id: str) -> None:
        """Revoke one of the caller's keys; it is refused from the next request on.

        Raises:
            NotFoundError: no live key by that id among the caller's keys (another user's key
                gets the same answer, so key ids of others cannot be probed).
        """
        for key_hash, data in await self._live_keys(principal.user_id):
            if data.get("id") == key_id:
                revoked = {**data, "revoked_at": _iso(self.clock())}
                await self.access.put_api_key(key_hash, principal.user_id, revoked)
                await self.audit("api_key_revoked", principal.user_id, key_id=key_id, via=principal.via)
                return
        await self._audit_quietly(
            "access_denied", principal.user_id, reason="revoke_unknown_key", key_id=str(key_id)[:32]
        )
        raise NotFoundError(f"no API key {str(key_id)[:32]!r}", key_id=str(key_id)[:32])

    # -- audit ---------------------------------------------------------------------------------
    async def audit(self, action: str, actor: str, **data: Any) -> None:
        """Append an audit entry (secrets are scrubbed; see :mod:`serve_app.security.audit`).

        Raises:
            StoreError: the audit log could not be written.
        """
        await self.trail.record(action, actor, **data)

    async def _audit_quietly(self, action: str, actor: str, **data: Any) -> None:
        # A refusal must stay a refusal: if the audit log is down, log it and refuse anyway
        # rather than turning a 401 into a 500.
        try:
            await self.trail.record(action, actor, **data)
        except StoreError as err:
            log.error("audit log unavailable; lost entry %s by %s: %s", action, actor, err.message)
