"""Rate limits of the security layer on the hot store: in process, and shared through Redis.

With Redis configured, two replicas (two stores, two connections) count against one budget, so a
caller cannot multiply their limit by spreading requests over replicas.
"""

from __future__ import annotations

import asyncio
import types
import uuid

import pytest

from novel_engine.errors import RateLimitedError
from novel_engine.storage import StoreRunner, open_store
from serve_app.security import AuthService, AuthSettings, Principal

SECRET = "Zp4Kx9Lq2Rv7Tw1Ys6Ub3Nc8Md5Fe0Gh-counters"
NOW = 1_800_000_020.0


@pytest.fixture(params=["embedded", "redis"])
def backend(request) -> str:
    """The hot-store backends (overrides the suite-wide parametrisation for this module)."""
    return request.param


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    # Counters window on the wall clock; pin it so no minute boundary falls inside a test.
    import novel_engine.storage.hot as hot

    monkeypatch.setattr(hot, "time", types.SimpleNamespace(time=lambda: NOW, monotonic=hot.time.monotonic))


def _service(runner: StoreRunner, limit: int) -> AuthService:
    return AuthService(runner, AuthSettings(jwt_secret=SECRET, rate_limit_per_minute=limit), lambda: NOW)


def _hits(auth: AuthService, who: Principal, n: int) -> list[int | None]:
    """Retry-After of each of ``n`` requests (None when let through)."""

    async def go():
        out = []
        for _ in range(n):
            try:
                await auth.check_rate(who)
                out.append(None)
            except RateLimitedError as err:
                out.append(err.retry_after)
        return out

    return asyncio.run(go())


def test_a_caller_over_the_limit_gets_retry_after(runner):
    who = Principal(f"u_{uuid.uuid4().hex[:12]}", "ada", "jwt")
    assert _hits(_service(runner, 2), who, 4) == [None, None, 40, 40]


@pytest.mark.parametrize("backend", ["redis"])
def test_replicas_share_one_budget_through_redis(store_settings):
    who = Principal(f"u_{uuid.uuid4().hex[:12]}", "ada", "api_key", uuid.uuid4().hex[:16])
    with StoreRunner(open_store(store_settings)) as a, StoreRunner(open_store(store_settings)) as b:
        first, second = _service(a, 3), _service(b, 3)
        assert _hits(first, who, 2) + _hits(second, who, 2) == [None, None, None, 40]
