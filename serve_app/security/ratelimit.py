"""Fixed-window rate limits on the store's hot counters (Redis when configured, in process otherwise).

Each caller has one counter per minute: a user for access-token callers, an API key for key
callers (see :attr:`Principal.rate_key`), and a username for login attempts. Going over the limit
raises :class:`RateLimitedError` with the seconds left in the window, which the app sends as
``Retry-After``.

If the hot store fails (Redis down), requests are let through and the failure is logged: a
counter outage should not take the whole API down, and the SQL store stays the guard of data.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from novel_engine.errors import RateLimitedError, StoreError
from serve_app.security.access_port import AccessPort

__all__ = ["RateLimiter"]

log = logging.getLogger(__name__)


class RateLimiter:
    """Count hits per counter and refuse those over the limit.

    Args:
        access: where the counters are kept (the store's hot part).
        clock: seconds since the epoch (the hot store windows on the same wall clock).
        window_s: the window length in seconds.
    """

    def __init__(self, access: AccessPort, clock: Callable[[], float] = time.time, window_s: int = 60) -> None:
        self.access, self.clock, self.window_s = access, clock, window_s
        self.store_errors = 0

    def retry_after(self) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        return max(1, math.ceil(self.window_s - self.clock() % self.window_s))

    async def count(self, counter: str) -> int:
        """Count one hit on ``counter``; return the window's count (0 if the hot store is down)."""
        try:
            return await self.access.hit(f"ratelimit:{counter}", self.window_s)
        except StoreError as err:
            self.store_errors += 1
            log.warning("rate limit counter unavailable, letting the request through: %s", err.message)
            return 0

    def exceeded(self, limit: int, what: str) -> RateLimitedError:
        """The error for a caller over ``limit``, with the seconds left in the window."""
        return RateLimitedError(
            f"too many {what}: at most {limit} per {self.window_s} s; retry later",
            retry_after=self.retry_after(),
            limit=limit,
            window_s=self.window_s,
        )
