"""The cluster-wide model quota: one named limiter actor that every persona shard asks.

A session on Ray has many persona shards, each calling the model concurrently; a per-process cap
would multiply the quota by the number of shards. :class:`RayLimiter` is the
:class:`~novel_engine.llm.limits.Limiter` port over one async actor, named after the quota it
guards (``ne:llm-limiter:<name>``), so every shard of every session using that quota shares it.
The actor holds a :class:`~novel_engine.llm.limits.LocalLimiter`; ``acquire_many`` waits inside the
actor until a call fits, ``release`` frees the slot without the caller waiting for the answer.

Calls of one process are batched: the acquirers waiting in a shard go to the actor as one
``acquire_many`` (the first waits its FIFO turn, the rest get whatever fits at that moment), and
the releases of one event-loop pass as one ``release_many``. A wave of 64 calls ending together
then costs the actor two messages per shard instead of 128, which was a visible part of an
LLM-bound turn (the limiter actor is one Python process granting every call of the cluster).

When the quota counts only concurrent calls (no requests or tokens per minute to charge per
call), a shard may also hand a finished call's slot straight to its next waiting call, up to
``HANDOFFS`` times per grant before the slot goes back to the actor: the cap holds, slots do not
sit idle for a round trip at every wave, and other shards wait at most a few calls longer. A
hand-over itself sends nothing: the actor hears of it (to renew the lease and count the grant)
with the next slot the shard gives back, or at once when a quarter of the lease period is gone.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any

import ray

from novel_engine.llm.limits import Limiter, LocalLimiter

__all__ = ["LimiterActor", "RayLimiter", "cluster_limiter", "kill_limiter"]

_PREFIX = "ne:llm-limiter:"
_BATCH = 256  # acquirers asked for in one message at most
HANDOFFS = 4  # local hand-overs of a slot before it returns to the actor (concurrency-only quotas)
LEASE_TTL_S = 600.0  # longer than any call with its retries; then the slot counts as lost


@ray.remote(num_cpus=0, max_restarts=-1, max_concurrency=100_000)
class LimiterActor:
    """Holds one quota for the whole cluster.

    One event loop on purpose (no concurrency groups: each group would get its own loop and the
    quota's condition must live on one); ``max_concurrency`` is far above any number of waiting
    acquirers, so a release always finds a slot to run in.
    """

    def __init__(
        self,
        max_concurrency: int,
        requests_per_minute: int | None,
        tokens_per_minute: int | None,
        lease_ttl_s: float = LEASE_TTL_S,
    ) -> None:
        # the same FIFO admission as in one process; the actor's single event loop makes it cluster-wide
        self.limiter = LocalLimiter(max_concurrency, requests_per_minute, tokens_per_minute)
        self.lease_ttl_s = lease_ttl_s
        self._leases: dict[int, float] = {}  # lease -> when it expires
        self._next = 0
        self._reaper: asyncio.Task | None = None
        self._messages = {"acquire_messages": 0, "release_messages": 0}  # how well callers batch

    async def acquire_many(self, tokens: list[int]) -> tuple[list[int], int]:
        """Leases for a prefix of ``tokens`` (at least the first, which waits its FIFO turn; then
        as many of the following as fit right now, without waiting), and how many times the caller
        may hand each one on to its own next call (0 when every call must be charged here)."""
        self._messages["acquire_messages"] += 1
        await self.limiter.acquire(tokens[0])
        leases = [self._lease()]
        for t in tokens[1:]:
            if self.limiter.quota.try_take(t) != 0.0:
                break
            leases.append(self._lease())
        q = self.limiter.quota
        return leases, (HANDOFFS if not q.rpm and not q.tpm else 0)

    def _lease(self) -> int:
        self._next += 1
        self._leases[self._next] = time.monotonic() + self.lease_ttl_s
        if self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._reap())
        return self._next

    async def release(self, lease: int | None = None, correction: int = 0) -> None:
        # a lease already reaped (its caller was presumed dead) must not free a second slot
        if lease is None or self._leases.pop(lease, None) is not None:
            await self.limiter.release(None, correction)

    async def release_many(self, returns: list[tuple[int | None, int]], handed_on: list[int] = ()) -> None:
        """``release`` for each ``(lease, correction)``; ``handed_on``: leases a caller gave to
        another of its calls (each counts as a grant and lives another lease period)."""
        self._messages["release_messages"] += 1
        until = time.monotonic() + self.lease_ttl_s
        for lease in handed_on:
            if lease in self._leases:
                self._leases[lease] = until
        self.limiter.quota.granted += len(handed_on)
        for lease, correction in returns:
            await self.release(lease, correction)

    async def _reap(self) -> None:
        # a shard that dies mid-call never releases its slot; take it back when its lease expires
        while True:
            await asyncio.sleep(max(self.lease_ttl_s / 4, 0.05))
            now = time.monotonic()
            for lease in [k for k, until in self._leases.items() if until < now]:
                del self._leases[lease]
                await self.limiter.release(None, 0)

    async def stats(self) -> dict[str, Any]:
        return {**self.limiter.quota.stats(), **self._messages}

    async def configure(
        self, max_concurrency: int, requests_per_minute: int | None, tokens_per_minute: int | None
    ) -> float:
        """Change the limits (a later session with other settings); calls in flight still count.
        Returns the lease period (the actor's: the one it was made with)."""
        q = self.limiter.quota
        q.max_concurrency, q.rpm, q.tpm = max_concurrency, requests_per_minute, tokens_per_minute
        return self.lease_ttl_s


class RayLimiter(Limiter):
    """The :class:`Limiter` port over a :class:`LimiterActor` (picklable: shards get a copy).

    Acquirers and releases of this process are batched (see the module docstring); the batches
    belong to one event loop and start afresh in a new one.
    """

    def __init__(self, actor: Any, name: str, lease_ttl_s: float = LEASE_TTL_S) -> None:
        self.actor = actor
        self.name = name
        self.lease_ttl_s = lease_ttl_s  # the actor's: a lease it does not hear of for this long is reaped
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting: deque[tuple[int, asyncio.Future]] = deque()  # FIFO: (tokens, future of the lease)
        self._asking = False
        self._returns: list[tuple[Any, int]] = []
        self._handed_on: list[int] = []
        self._hops: dict[int, int] = {}  # lease -> hand-overs it has left
        self._told: dict[int, float] = {}  # lease -> when the actor last heard of it (its lease period's start)
        self._due = False  # a hand-over the actor must hear of soon
        self._flushing = False

    def __getstate__(self) -> dict[str, Any]:
        return {"actor": self.actor, "name": self.name, "lease_ttl_s": self.lease_ttl_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # waiters of a finished loop cannot still be waiting
            self._flush(everything=True)  # but its unsent releases still free their slots
            self._loop, self._waiting, self._asking, self._hops, self._told = loop, deque(), False, {}, {}
        return loop

    async def acquire(self, tokens: int) -> int:
        loop = self._bind()
        lease = loop.create_future()
        self._waiting.append((tokens, lease))
        if not self._asking:
            self._asking = True
            loop.create_task(self._ask())
        return await lease

    def _next_waiter(self) -> asyncio.Future | None:
        while self._waiting and self._waiting[0][1].done():  # served by a hand-over, or cancelled
            self._waiting.popleft()
        return self._waiting[0][1] if self._waiting else None

    async def _ask(self) -> None:
        try:
            while self._next_waiter() is not None:
                tokens = [t for t, _ in itertools.islice(self._waiting, _BATCH)]
                try:
                    leases, hops = await self.actor.acquire_many.remote(tokens)
                except Exception as err:  # noqa: BLE001 - the waiters asked for get the failure
                    for _, fut in itertools.islice(self._waiting, len(tokens)):
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                # to the waiters in order (some asked for may have been served by a hand-over meanwhile)
                for lease in leases:
                    fut = self._next_waiter()
                    if fut is None:
                        self._returns.append((lease, 0))
                    else:
                        self._waiting.popleft()
                        if hops:
                            self._hops[lease] = hops
                            self._told[lease] = time.monotonic()
                        fut.set_result(lease)
                self._flush()
        finally:
            self._asking = False

    async def release(self, ticket: Any = None, correction: int = 0) -> None:
        # fire and forget: the caller does not wait for the slot; releases of one loop pass go together
        self._bind()
        left = self._hops.pop(ticket, 0)
        fut = self._next_waiter() if left else None
        if fut is not None:
            self._waiting.popleft()
            self._hops[ticket] = left - 1
            self._handed_on.append(ticket)
            fut.set_result(ticket)
            # the actor must hear of a hand-over before the lease could expire there; until then it
            # rides with the next message that goes anyway (a slot given back: every lease ends so)
            if time.monotonic() - self._told.get(ticket, 0.0) < self.lease_ttl_s / 4:
                return
            self._due = True
        else:
            self._told.pop(ticket, None)
            self._returns.append((ticket, correction))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self, everything: bool = False) -> None:
        self._flushing = False
        if not (self._returns or self._due or (everything and self._handed_on)):
            return  # hand-overs alone wait for the next message
        returns, handed_on, self._returns, self._handed_on, self._due = self._returns, self._handed_on, [], [], False
        now = time.monotonic()
        for lease in handed_on:
            if lease in self._told:
                self._told[lease] = now
        self.actor.release_many.remote(returns, handed_on)

    def stats(self) -> dict[str, Any]:
        """The actor's counters (from the driver)."""
        return ray.get(self.actor.stats.remote())


def cluster_limiter(
    name: str,
    max_concurrency: int,
    requests_per_minute: int | None = None,
    tokens_per_minute: int | None = None,
    namespace: str | None = None,
    lease_ttl_s: float = LEASE_TTL_S,
) -> RayLimiter:
    """Get or create the limiter actor of quota ``name`` and apply these limits to it.

    The actor is detached: it outlives the driver that made it, so every later driver and Serve
    replica shares the same quota. :func:`kill_limiter` removes it.
    """
    from novel_engine.runtime.ray.runtime import NAMESPACE

    actor = LimiterActor.options(
        name=_PREFIX + name, namespace=namespace or NAMESPACE, get_if_exists=True, lifetime="detached"
    ).remote(max_concurrency, requests_per_minute, tokens_per_minute, lease_ttl_s)
    ttl = ray.get(actor.configure.remote(max_concurrency, requests_per_minute, tokens_per_minute))
    return RayLimiter(actor, name, ttl)


def kill_limiter(name: str, namespace: str | None = None) -> bool:
    """Kill the limiter actor of quota ``name``; return whether there was one."""
    from novel_engine.runtime.ray.runtime import NAMESPACE

    try:
        actor = ray.get_actor(_PREFIX + name, namespace=namespace or NAMESPACE)
    except ValueError:
        return False
    ray.kill(actor)
    return True
