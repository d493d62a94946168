"""Security settings: the token-signing secret, token lifetime and rate limits, read from the environment.

The server refuses to start with a missing, known-default or weak signing secret: anyone who
knows the secret can mint tokens for any user. Dev mode (``dev_mode=True``) lifts the refusal for
a laptop and says so loudly in the log; without a secret it signs with a random one, so tokens do
not survive a restart and are not shared between replicas.

Environment:

- ``NOVEL_ENGINE_JWT_SECRET``: the HS256 signing secret, at least 32 characters
  (``python -c "import secrets; print(secrets.token_urlsafe(48))"`` makes a good one).
- ``NOVEL_ENGINE_TOKEN_TTL_S``: access-token lifetime in seconds (default 3600).
- ``NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE``: requests per minute per user token or API key (default 600).
- ``NOVEL_ENGINE_LOGIN_ATTEMPTS_PER_MINUTE``: login attempts per minute per username (default 10).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from novel_engine.errors import ConfigError

__all__ = ["AuthSettings", "ENV_JWT_SECRET", "MIN_SECRET_LENGTH"]

log = logging.getLogger(__name__)

ENV_JWT_SECRET = "NOVEL_ENGINE_JWT_SECRET"
ENV_TOKEN_TTL = "NOVEL_ENGINE_TOKEN_TTL_S"
ENV_RATE = "NOVEL_ENGINE_RATE_LIMIT_PER_MINUTE"
ENV_LOGIN_RATE = "NOVEL_ENGINE_LOGIN_ATTEMPTS_PER_MINUTE"
MIN_SECRET_LENGTH = 32

# Placeholders people copy from docs and sample .env files; never acceptable outside dev mode.
_KNOWN_DEFAULTS = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "default",
        "dev",
        "development",
        "test",
        "jwt-secret",
        "jwt_secret",
        "your-secret-key",
        "your-super-secure-secret-key",
        "supersecret",
        "please-change-me",
        "insecure",
        "novel-engine",
        "novel_engine",
    }
)


def secret_problem(secret: str | None) -> str | None:
    """Why ``secret`` is unfit to sign tokens, or None when it is fine."""
    if not secret:
        return f"{ENV_JWT_SECRET} is not set"
    if secret.strip().lower() in _KNOWN_DEFAULTS or ("change" in secret.lower() and "me" in secret.lower()):
        return f"{ENV_JWT_SECRET} is a well-known placeholder value"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"{ENV_JWT_SECRET} is too short ({len(secret)} characters, need at least {MIN_SECRET_LENGTH})"
    if len(set(secret)) < 8:
        return f"{ENV_JWT_SECRET} is too repetitive (fewer than 8 distinct characters)"
    return None


def _int_env(env: Mapping[str, str], name: str, default: int, lowest: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}", setting=name) from None
    if value < lowest:
        raise ConfigError(f"{name} must be at least {lowest}, got {value}", setting=name)
    return value


@dataclass(frozen=True)
class AuthSettings:
    """How the security layer signs tokens and limits callers.

    Attributes:
        jwt_secret: the HS256 signing secret (see the module docstring for the rules).
        token_ttl_s: access-token lifetime in seconds.
        dev_mode: accept a weak or random secret (loudly); never for a shared deployment.
        rate_limit_per_minute: requests per minute per user (token callers) or per API key.
        login_attempts_per_minute: login attempts per minute per username (slows password guessing).

    Raises:
        ConfigError: a weak or default secret outside dev mode, or a non-positive limit.
    """

    jwt_secret: str
    token_ttl_s: int = 3600
    dev_mode: bool = False
    rate_limit_per_minute: int = 600
    login_attempts_per_minute: int = 10

    def __post_init__(self) -> None:
        problem = secret_problem(self.jwt_secret)
        if problem and not self.dev_mode:
            raise ConfigError(
                f"refusing to start: {problem}. Set {ENV_JWT_SECRET} to a random string of at least "
                f"{MIN_SECRET_LENGTH} characters, or start in dev mode on a private machine",
                setting=ENV_JWT_SECRET,
            )
        if not self.jwt_secret:
            raise ConfigError(
                "jwt_secret must not be empty (from_env(dev_mode=True) picks a random one)", setting=ENV_JWT_SECRET
            )
        for name in ("token_ttl_s", "rate_limit_per_minute", "login_attempts_per_minute"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}", setting=name)

    def __repr__(self) -> str:  # never print the secret (logs, tracebacks)
        return (
            f"AuthSettings(jwt_secret='***', token_ttl_s={self.token_ttl_s}, dev_mode={self.dev_mode}, "
            f"rate_limit_per_minute={self.rate_limit_per_minute}, "
            f"login_attempts_per_minute={self.login_attempts_per_minute})"
        )

    @classmethod
    def from_env(cls, dev_mode: bool = False, env: Mapping[str, str] | None = None) -> AuthSettings:
        """Read the settings from the environment (or ``env``).

        Args:
            dev_mode: allow a missing or weak secret, with a loud warning; a missing one is
                replaced by a random secret for this process only.
            env: the variables to read (default ``os.environ``).

        Raises:
            ConfigError: the secret is missing, a placeholder or weak (outside dev mode), or a
                number is malformed; the message names the variable and how to fix it.
        """
        env = os.environ if env is None else env
        secret = env.get(ENV_JWT_SECRET) or ""
        problem = secret_problem(secret)
        if problem and dev_mode:
            if not secret:
                secret = secrets.token_urlsafe(48)
            log.warning(
                "!" * 78 + "\nDEV MODE: %s. Tokens are signed with a %s secret: anyone may forge them. "
                "Never run a shared or public server like this; set %s.\n" + "!" * 78,
                problem,
                "random per-process" if not env.get(ENV_JWT_SECRET) else "weak",
                ENV_JWT_SECRET,
            )
        return cls(
            jwt_secret=secret,
            dev_mode=dev_mode,
            token_ttl_s=_int_env(env, ENV_TOKEN_TTL, 3600, 1),
            rate_limit_per_minute=_int_env(env, ENV_RATE, 600, 1),
            login_attempts_per_minute=_int_env(env, ENV_LOGIN_RATE, 10, 1),
        )
