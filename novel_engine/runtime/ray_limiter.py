"""The cluster-wide model quota: one named limiter actor that every persona shard asks.

A session on Ray has many persona shards, each calling the model concurrently; a per-process cap
would multiply the quota by the number of shards. :class:`RayLimiter` is the
:class:`~novel_engine.llm.limits.Limiter` port over one async actor, named after the quota it
guards (``ne:llm-limiter:<name>``), so every shard of every session using that quota shares it.
The actor holds a :class:`~novel_engine.llm.limits.LocalLimiter`; ``acquire`` waits inside the actor
until the call fits, ``release`` frees the slot without the caller waiting for the answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import ray

from novel_engine.llm.limits import Limiter, LocalLimiter

__all__ = ["LimiterActor", "RayLimiter", "cluster_limiter", "kill_limiter"]

_PREFIX = "ne:llm-limiter:"
LEASE_TTL_S = 600.0  # longer than any call with its retries; then the slot counts as lost


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=100_000)
class LimiterActor:
    """Holds one quota for the whole cluster.

    One event loop on purpose (no concurrency groups: each group would get its own loop and the
    quota's condition must live on one); ``max_concurrency`` is far above any number of waiting
    acquirers, so a release always finds a slot to run in.
    """

    def __init__(self, max_concurrency: int, requests_per_minute: int | None, tokens_per_minute: int | None,
                 lease_ttl_s: float = LEASE_TTL_S) -> None:
        # the same FIFO admission as in one process; the actor's single event loop makes it cluster-wide
        self.limiter = LocalLimiter(max_concurrency, requests_per_minute, tokens_per_minute)
        self.lease_ttl_s = lease_ttl_s
        self._leases: dict[int, float] = {}  # lease -> when it expires
        self._next = 0
        self._reaper: asyncio.Task | None = None

    async def acquire(self, tokens: int) -> int:
        await self.limiter.acquire(tokens)
        self._next += 1
        self._leases[self._next] = time.monotonic() + self.lease_ttl_s
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        return self._next

    async def release(self, lease: int | None = None, correction: int = 0) -> None:
        # a lease already reaped (its caller was presumed dead) must not free a second slot
        if lease is None or self._leases.pop(lease, None) is not None:
            await self.limiter.release(None, correction)

    async def _reap(self) -> None:
        # a shard that dies mid-call never releases its slot; take it back when its lease expires
        while True:
            await asyncio.sleep(max(self.lease_ttl_s / 4, 0.05))
            now = time.monotonic()
            for lease in [k for k, until in self._leases.items() if until < now]:
                del self._leases[lease]
                await self.limiter.release(None, 0)

    async def stats(self) -> dict[str, Any]:
        return self.limiter.quota.stats()

    async def configure(self, max_concurrency: int, requests_per_minute: int | None,
                        tokens_per_minute: int | None) -> None:
        """Change the limits (a later session with other settings); calls in flight still count."""
        q = self.limiter.quota
        q.max_concurrency, q.rpm, q.tpm = max_concurrency, requests_per_minute, tokens_per_minute


class RayLimiter(Limiter):
    """The :class:`Limiter` port over a :class:`LimiterActor` (picklable: shards get a copy)."""

    def __init__(self, actor: Any, name: str) -> None:
        self.actor = actor
        self.name = name

    async def acquire(self, tokens: int) -> int:
        return await self.actor.acquire.remote(tokens)

    async def release(self, ticket: Any = None, correction: int = 0) -> None:
        self.actor.release.remote(ticket, correction)  # fire and forget: the caller does not wait for the slot

    def stats(self) -> dict[str, Any]:
        """The actor's counters (from the driver)."""
        return ray.get(self.actor.stats.remote())


def cluster_limiter(name: str, max_concurrency: int, requests_per_minute: int | None = None,
                    tokens_per_minute: int | None = None, namespace: str | None = None,
                    lease_ttl_s: float = LEASE_TTL_S) -> RayLimiter:
    """Get or create the limiter actor of quota ``name`` and apply these limits to it.

    The actor is detached: it outlives the driver that made it, so every later driver and Serve
    replica shares the same quota. :func:`kill_limiter` removes it.
    """
    from novel_engine.runtime.ray_runtime import NAMESPACE

    actor = LimiterActor.options(name=_PREFIX + name, namespace=namespace or NAMESPACE, get_if_exists=True,
                                 lifetime="detached").remote(max_concurrency, requests_per_minute, tokens_per_minute,
                                                             lease_ttl_s)
    ray.get(actor.configure.remote(max_concurrency, requests_per_minute, tokens_per_minute))
    return RayLimiter(actor, name)


def kill_limiter(name: str, namespace: str | None = None) -> bool:
    """Kill the limiter actor of quota ``name``; return whether there was one."""
    from novel_engine.runtime.ray_runtime import NAMESPACE

    try:
        actor = ray.get_actor(_PREFIX + name, namespace=namespace or NAMESPACE)
    except ValueError:
        return False
    ray.kill(actor)
    return True
