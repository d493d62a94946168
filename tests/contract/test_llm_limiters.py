"""Contract of the Limiter port (model quotas), for every backend: one process, Redis, the Ray actor.

Two *clients* of one quota stand for two processes (two persona shards, two Serve replicas): the
cap on concurrent calls must hold across both, and a release must let the next caller in. The Ray
actor runs the same contract from ``tests/integration/test_llm_ray.py`` (contract tests start no
Ray: a cluster started this early would be found by the CLI tests' own ``ray.init()``).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.contract.conftest import REDIS_URL, require_service

BACKENDS = ["local", "redis"]


@pytest.fixture(params=BACKENDS)
def clients(request):
    """Two limiter clients sharing one quota with a cap of 2 concurrent calls."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    if request.param == "local":
        from novel_engine.llm.limits import LocalLimiter

        one = LocalLimiter(2)
        yield one, one
    elif request.param == "redis":
        require_service("redis")
        from novel_engine.llm.redis_limiter import RedisLimiter

        a, b = RedisLimiter(REDIS_URL, name, 2), RedisLimiter(REDIS_URL, name, 2)
        yield a, b
        asyncio.run(a.reset())


def test_cap_holds_across_clients_and_release_admits_the_next(clients):
    check_cap_across_clients(*clients)


def check_cap_across_clients(a, b) -> None:
    """The contract: two clients of one quota with a cap of 2 concurrent calls."""

    async def main():
        t1 = asyncio.ensure_future(a.acquire(10))
        t2 = asyncio.ensure_future(b.acquire(10))
        tickets = await asyncio.gather(t1, t2)
        third = asyncio.ensure_future(a.acquire(10))
        done, _ = await asyncio.wait([third], timeout=0.3)
        assert not done  # both slots are taken, by two different clients
        await b.release(tickets[1])
        ticket3 = await third  # the freed slot goes to the waiter
        await a.release(tickets[0])
        await a.release(ticket3)
        # everything released: two fresh calls fit at once again
        again = await asyncio.gather(a.acquire(1), b.acquire(1))
        await a.release(again[0])
        await b.release(again[1])

    asyncio.run(main())


def test_requests_per_minute_bucket_is_shared(request):
    """One shared bucket of 2 requests a minute: the third caller, on another client, must wait."""
    require_service("redis")
    from novel_engine.llm.redis_limiter import RedisLimiter

    name = f"test-{uuid.uuid4().hex[:10]}"
    a, b = RedisLimiter(REDIS_URL, name, 10, requests_per_minute=2), RedisLimiter(REDIS_URL, name, 10, 2)

    async def main():
        for t in await asyncio.gather(a.acquire(1), b.acquire(1)):
            await a.release(t)
        third = asyncio.ensure_future(b.acquire(1))
        done, _ = await asyncio.wait([third], timeout=0.3)
        third.cancel()
        await a.reset()
        return done

    assert not asyncio.run(main())
