"""The security audit trail: logins, failed logins, key creation and revocation, denied access.

Entries go to the access port's audit log (``append_audit``) with a UTC timestamp. Nothing secret may
reach it: fields named like secrets are dropped, and any value that looks like a credential
(an API key or a JWT, e.g. pasted into the username field) is replaced by ``[redacted]``. Free
text is capped, so a caller cannot flood the log with one request.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from serve_app.security.access_port import AccessPort
from serve_app.security.tokens import API_KEY_PREFIX

__all__ = ["AuditTrail", "scrub", "SECRET_FIELDS"]

SECRET_FIELDS = frozenset(
    {
        "password",
        "new_password",
        "password_hash",
        "token",
        "access_token",
        "refresh_token",
        "key",
        "api_key",
        "secret",
        "jwt",
        "jwt_secret",
        "credential",
        "credentials",
        "authorization",
        "key_hash",
    }
)
_JWT_LIKE = re.compile(r"[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*")
_MAX_TEXT = 200
REDACTED = "[redacted]"


def _clean(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    text = value if isinstance(value, str) else str(value)
    if API_KEY_PREFIX in text or _JWT_LIKE.search(text):
        return REDACTED
    return text[:_MAX_TEXT]


def scrub(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` fit for the audit log: no secret fields, no credential-like values."""
    return {k: _clean(v) for k, v in data.items() if k.lower() not in SECRET_FIELDS}


class AuditTrail:
    """Append scrubbed entries to the store's audit log.

    Args:
        access: where the audit log is kept.
        clock: seconds since the epoch.
    """

    def __init__(self, access: AccessPort, clock: Callable[[], float] = time.time) -> None:
        self.access, self.clock = access, clock

    async def record(self, action: str, actor: str, **data: Any) -> int:
        """Append one entry; return its id.

        Args:
            action: what happened (``login``, ``login_failed``, ``api_key_created``,
                ``api_key_revoked``, ``access_denied``, ``rate_limited``...).
            actor: who did it: a user id, or the attempted username / ``anonymous`` when unknown.
            **data: context (reason, key id, path...); scrubbed before it is stored.

        Raises:
            StoreError: the store failed (the caller decides whether that fails the request).
        """
        entry = scrub(data)
        entry["at"] = datetime.fromtimestamp(self.clock(), UTC).isoformat(timespec="milliseconds")
        return await self.access.append_audit(str(_clean(actor)), action, entry)
