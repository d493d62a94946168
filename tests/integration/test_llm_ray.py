"""An LLM session on the Ray runtime: persona shards share one cluster-wide limiter actor."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from novel_engine.api import Engine
from novel_engine.llm.factory import quota_name
from novel_engine.llm.settings import LLMOptions
from novel_engine.scenarios.synthetic import synthetic
from novel_engine.testing.fake_llm import FakeGeminiServer

KEY = "ray-test-key"


def test_cap_holds_across_persona_shards(ray_session, monkeypatch):
    from novel_engine.runtime.ray.limiter import kill_limiter

    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    monkeypatch.delenv("NOVEL_ENGINE_REDIS_URL", raising=False)
    with FakeGeminiServer(api_key=KEY, latency_s=0.02) as server:
        # a model name of its own, so the quota (and its actor) belong to this test only
        options = {"base_url": server.url, "max_concurrency": 3, "model": "gemini-ray-test", "cache": False}
        engine = Engine("ray")
        session = engine.create_session(
            synthetic(personas=40, seed=3), seed=3, llm="gemini", llm_options=options, persona_shards=2
        )
        try:
            report = session.step()
        finally:
            session.close()
            kill_limiter(quota_name("gemini", LLMOptions(**options)))
    decisions = sum(1 for e in report.events if e.kind == "action")
    assert decisions >= 30 and not any("fallback" in e.flags for e in report.events)
    # two shards called concurrently, yet the server never saw more than the cluster-wide cap
    assert server.max_in_flight == 3
    assert server.calls == decisions + 1


def test_missing_key_fails_before_any_actor_starts(ray_session, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    from novel_engine.errors import ConfigError

    with pytest.raises(ConfigError, match="GEMINI_API_KEY"):
        Engine("ray").create_session("fantasy_world", llm="gemini")


def test_ray_limiter_keeps_the_limiter_contract(ray_session):
    from novel_engine.runtime.ray.limiter import cluster_limiter, kill_limiter
    from tests.contract.test_llm_limiters import check_cap_across_clients

    name = f"test-{uuid.uuid4().hex[:10]}"
    try:
        check_cap_across_clients(cluster_limiter(name, 2), cluster_limiter(name, 2))
    finally:
        kill_limiter(name)


def test_ray_limiter_takes_back_the_slot_of_a_caller_that_never_released(ray_session):
    """A shard that dies mid-call never releases: its lease expires and the slot returns."""
    from novel_engine.runtime.ray.limiter import cluster_limiter, kill_limiter

    name = f"test-{uuid.uuid4().hex[:10]}"
    limiter = cluster_limiter(name, 1, lease_ttl_s=0.2)
    try:

        async def main():
            lost = await limiter.acquire(1)  # never released, as if its caller died
            ticket = await limiter.acquire(1)  # admitted once the lost lease expires
            # awaited on the actor (the port's release does not wait): a late release of a reaped
            # lease must not free a second slot
            await limiter.actor.release.remote(lost, 0)
            await limiter.actor.release.remote(ticket, 0)
            return ray_session.get(limiter.actor.stats.remote())

        stats = asyncio.run(main())
        assert stats["in_flight"] == 0 and stats["peak_in_flight"] == 1
    finally:
        kill_limiter(name)


def test_ray_limiter_batches_the_waiters_of_a_process(ray_session):
    """200 calls of one process under a cap of 16: the cap holds, every call is admitted, a
    cancelled waiter's slot comes back, and the actor sees far fewer messages than calls."""
    from novel_engine.runtime.ray.limiter import cluster_limiter, kill_limiter

    name = f"test-{uuid.uuid4().hex[:10]}"
    limiter = cluster_limiter(name, 16)
    in_flight, peak = 0, 0

    async def call() -> None:
        nonlocal in_flight, peak
        ticket = await limiter.acquire(10)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        await limiter.release(ticket, 0)

    async def main():
        doomed = asyncio.ensure_future(asyncio.gather(*(limiter.acquire(1) for _ in range(20))))
        await asyncio.sleep(0)
        doomed.cancel()  # cancelled while waiting or holding leases they never see
        await asyncio.gather(*(call() for _ in range(200)))
        await asyncio.sleep(0.2)  # the last batch of releases is fire-and-forget
        return ray_session.get(limiter.actor.stats.remote())

    try:
        stats = asyncio.run(main())
    finally:
        kill_limiter(name)
    assert peak == 16
    assert stats["in_flight"] == 0 and stats["peak_in_flight"] <= 16
    assert stats["acquire_messages"] < 60 and stats["release_messages"] < 60, stats


def test_slots_are_handed_on_only_when_the_quota_counts_nothing_per_call(ray_session):
    """With requests or tokens per minute every call must be charged at the actor: no hand-overs."""
    from novel_engine.runtime.ray.limiter import HANDOFFS, cluster_limiter, kill_limiter

    name = f"test-{uuid.uuid4().hex[:10]}"
    try:
        actor = cluster_limiter(name, 4).actor
        leases, hops = ray_session.get(actor.acquire_many.remote([1, 1, 1, 1, 1]))
        assert len(leases) == 4 and hops == HANDOFFS  # the fifth does not fit: a prefix is granted
        ray_session.get(actor.release_many.remote([(lease, 0) for lease in leases]))
        actor = cluster_limiter(name, 4, requests_per_minute=600).actor
        leases, hops = ray_session.get(actor.acquire_many.remote([1]))
        assert hops == 0
    finally:
        kill_limiter(name)


def test_a_hand_over_alone_sends_the_actor_nothing(ray_session):
    """A slot handed on to the next call of the same process costs no message; the actor hears of
    it with the next slot given back, and counts it then."""
    from novel_engine.runtime.ray.limiter import cluster_limiter, kill_limiter

    name = f"test-{uuid.uuid4().hex[:10]}"
    limiter = cluster_limiter(name, 2)

    async def main():
        first = await asyncio.gather(limiter.acquire(1), limiter.acquire(1))
        later = [asyncio.ensure_future(limiter.acquire(1)) for _ in range(2)]
        await asyncio.sleep(0.05)  # both wait: the cap of 2 is taken
        for ticket in first:
            await limiter.release(ticket)
        handed = await asyncio.gather(*later)  # the same two slots, handed on here
        await asyncio.sleep(0.2)
        quiet = await limiter.actor.stats.remote()
        for ticket in handed:
            await limiter.release(ticket)
        await asyncio.sleep(0.2)  # releases are fire-and-forget
        return quiet, await limiter.actor.stats.remote()

    try:
        quiet, after = asyncio.run(main())
    finally:
        kill_limiter(name)
    assert quiet["release_messages"] == 0 and quiet["in_flight"] == 2
    assert after["in_flight"] == 0 and after["granted"] >= 4 and after["release_messages"] >= 1


def test_a_handed_on_lease_is_renewed_before_it_could_expire(ray_session):
    """A lease the actor has not heard of for a quarter of its period is reported when handed on,
    so it does not expire under its second call: another process never gets that slot meanwhile."""
    from novel_engine.runtime.ray.limiter import cluster_limiter, kill_limiter

    name = f"test-{uuid.uuid4().hex[:10]}"
    ttl = 2.0
    a = cluster_limiter(name, 1, lease_ttl_s=ttl)
    b = cluster_limiter(name, 1, lease_ttl_s=ttl)

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        ticket = await a.acquire(1)
        second = asyncio.ensure_future(a.acquire(1))
        await asyncio.sleep(ttl / 2)
        await a.release(ticket)  # handed on to ``second``, half a period after the grant
        ticket = await second
        other = asyncio.ensure_future(b.acquire(1))  # another process waits for the only slot
        # past the lease's first expiry and the reaper's next pass after it
        await asyncio.sleep(max(0.0, start + 1.35 * ttl - loop.time()))
        kept = not other.done()
        await a.release(ticket)
        await b.release(await other)
        return kept

    try:
        assert asyncio.run(main())
    finally:
        kill_limiter(name)
