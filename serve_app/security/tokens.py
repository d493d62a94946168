"""Access tokens (JWT, HS256) and API keys: how they are made, checked and stored.

Access tokens are signed with the secret from :class:`AuthSettings`; only HS256 is accepted, so a
token claiming ``alg: none`` or another algorithm is rejected. Expiry is checked against the
injected clock (not PyJWT's), so tests can move time.

An API key looks like ``nek_<id>_<secret>``: ``id`` (16 hex digits) is public and names the key in
listings, the audit log and the revoke route; ``secret`` is 256 random bits. The store keeps only
the SHA-256 of the whole key: with that much entropy a fast hash is enough (no dictionary to
attack), and it keeps key checks cheap on every request.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import jwt

from novel_engine.errors import AuthenticationError

__all__ = [
    "TokenIssuer",
    "TokenClaims",
    "new_api_key",
    "api_key_id",
    "api_key_hash",
    "looks_like_api_key",
    "API_KEY_PREFIX",
]

ISSUER = "novel-engine"
ALGORITHM = "HS256"
API_KEY_PREFIX = "nek_"
_KEY = re.compile(r"nek_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_MAX_TOKEN = 4096
_VERIFIED_CACHE = 4096  # tokens whose signature was checked: a GET should not pay an HMAC and a JSON parse


@dataclass(frozen=True)
class TokenClaims:
    """What a valid access token says: who, and until when (epoch seconds)."""

    user_id: str
    username: str
    expires_at: int


class TokenIssuer:
    """Issue and verify access tokens.

    Args:
        secret: the HS256 secret.
        ttl_s: token lifetime in seconds.
    """

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._secret, self.ttl_s = secret, ttl_s
        # Only tokens with a valid signature get in (nobody can fill it without the secret);
        # expiry is still checked on every call.
        self._verified: dict[str, TokenClaims] = {}

    def issue(self, user_id: str, username: str, now: float) -> tuple[str, int]:
        """A signed token for a user; returns ``(token, expires_at)`` (epoch seconds)."""
        iat = int(now)
        exp = iat + self.ttl_s
        claims = {
            "iss": ISSUER,
            "sub": user_id,
            "name": username,
            "iat": iat,
            "exp": exp,
            "typ": "access",
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), exp

    def verify(self, token: str, now: float) -> TokenClaims:
        """The claims of a valid, unexpired token.

        Raises:
            AuthenticationError: ``reason`` is ``expired`` or ``invalid`` (bad signature, wrong
                algorithm or issuer, missing claims, garbage).
        """
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= _VERIFIED_CACHE:
                self._verified.pop(next(iter(self._verified)))  # the oldest entry
            self._verified[token] = claims
        if claims.expires_at <= now:
            raise AuthenticationError("access token expired; log in again", reason="expired")
        return claims

    def _decode(self, token: str) -> TokenClaims:
        if len(token) > _MAX_TOKEN:
            raise AuthenticationError("invalid access token", reason="invalid")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.InvalidTokenError:
            raise AuthenticationError("invalid access token", reason="invalid") from None
        if (
            claims.get("typ") != "access"
            or not isinstance(claims.get("exp"), int)
            or not isinstance(claims.get("sub"), str)
            or not isinstance(claims.get("name"), str)
        ):
            raise AuthenticationError("invalid access token", reason="invalid")
        return TokenClaims(claims["sub"], claims["name"], claims["exp"])


def new_api_key() -> tuple[str, str]:
    """A fresh API key: ``(key_id, key)``. Show ``key`` once; store only :func:`api_key_hash`."""
    key_id = secrets.token_hex(8)
    return key_id, f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def looks_like_api_key(credential: str) -> bool:
    """True if a credential is meant as an API key (rather than a JWT)."""
    return credential.startswith(API_KEY_PREFIX)


def api_key_id(key: str) -> str | None:
    """The public id of a well-formed key, or None."""
    m = _KEY.fullmatch(key)
    return m.group(1) if m else None


def api_key_hash(key: str) -> str:
    """The stored form of a key (hex SHA-256)."""
    return hashlib.sha256(key.encode()).hexdigest()
