"""Quota limits on model calls: concurrent calls, requests per minute and tokens per minute.

The :class:`Limiter` port is what :class:`RateLimitedModel` asks before every attempt. Backends:

- :class:`LocalLimiter`: one process (the in-process runtime, a single script).
- ``novel_engine.runtime.ray.limiter.RayLimiter``: one named limiter actor that every persona
  shard of a cluster asks, so a thousand personas on many nodes share one quota.
- :class:`~novel_engine.llm.redis_limiter.RedisLimiter`: a token bucket in Redis, shared by every
  process that reaches the same Redis (Serve replicas, several clusters).

:class:`Quota` is the pure bookkeeping (token buckets refilled continuously, a count of calls in
flight) that the local limiter and the limiter actor both use.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from novel_engine.errors import ConfigError
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse

__all__ = ["Limiter", "Quota", "LocalLimiter", "RateLimitedModel", "PROMPT_TOKENS"]

PROMPT_TOKENS = {"decide": 1200, "narrate": 2500}  # typical prompt sizes (bounded by llm.prompts)


class Limiter(ABC):
    """Admission to the model API under a shared quota."""

    @abstractmethod
    async def acquire(self, tokens: int) -> Any:
        """Wait until one more call of about ``tokens`` tokens fits the quota, take it, and return
        the ticket to give back to :meth:`release`."""

    @abstractmethod
    async def release(self, ticket: Any = None, correction: int = 0) -> None:
        """The call ended: free its slot; ``correction`` = actual tokens minus the estimate."""


class Quota:
    """Token buckets for requests and tokens per minute plus a concurrency count (no I/O, no waiting).

    Args:
        max_concurrency: the most calls in flight.
        requests_per_minute / tokens_per_minute: None for no limit. Buckets start full, so a quota
            allows a burst of one minute's worth, then the steady rate.
        clock: seconds, monotonic.
    """

    def __init__(
        self,
        max_concurrency: int,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}", setting="max_concurrency")
        self.max_concurrency = max_concurrency
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        self._clock = clock
        self.in_flight = 0
        self.peak_in_flight = 0
        self.granted = 0
        self._requests = float(requests_per_minute or 0)
        self._tokens = float(tokens_per_minute or 0)
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        dt, self._at = now - self._at, now
        if self.rpm:
            self._requests = min(float(self.rpm), self._requests + dt * self.rpm / 60.0)
        if self.tpm:
            self._tokens = min(float(self.tpm), self._tokens + dt * self.tpm / 60.0)

    def try_take(self, tokens: int) -> float | None:
        """Take one call of ``tokens`` tokens if it fits now and return 0.0; else return the seconds
        until the buckets could allow it, or None when only the concurrency cap stands in the way."""
        if self.in_flight >= self.max_concurrency:
            return None
        self._refill()
        need = min(float(tokens), float(self.tpm)) if self.tpm else 0.0
        wait = 0.0
        if self.rpm and self._requests < 1.0:
            wait = max(wait, (1.0 - self._requests) * 60.0 / self.rpm)
        if self.tpm and self._tokens < need:
            wait = max(wait, (need - self._tokens) * 60.0 / self.tpm)
        if wait > 0.0:
            return wait
        if self.rpm:
            self._requests -= 1.0
        if self.tpm:
            self._tokens -= need
        self.in_flight += 1
        self.granted += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return 0.0

    def give_back(self, correction: int = 0) -> None:
        """End one call; charge (or refund) the difference between actual and estimated tokens."""
        self.in_flight = max(0, self.in_flight - 1)
        if self.tpm and correction:
            self._refill()
            self._tokens = min(float(self.tpm), self._tokens - correction)

    def stats(self) -> dict[str, Any]:
        """In flight now, the peak, calls granted."""
        return {"in_flight": self.in_flight, "peak_in_flight": self.peak_in_flight, "granted": self.granted}


class LocalLimiter(Limiter):
    """A :class:`Quota` guarded for the coroutines of one process (FIFO among waiters).

    The asyncio primitives belong to one event loop; when a sync caller runs the next turn in a
    fresh loop, they are rebuilt (the quota's counts carry over).
    """

    def __init__(
        self, max_concurrency: int, requests_per_minute: int | None = None, tokens_per_minute: int | None = None
    ) -> None:
        self.quota = Quota(max_concurrency, requests_per_minute, tokens_per_minute)
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __getstate__(self) -> dict[str, Any]:
        q = self.quota
        return {"max_concurrency": q.max_concurrency, "requests_per_minute": q.rpm, "tokens_per_minute": q.tpm}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._cond is None or self._loop is not loop:
            self._cond, self._loop = asyncio.Condition(), loop
            self.quota.in_flight = 0  # calls of a finished loop cannot still be running
        return self._cond

    async def acquire(self, tokens: int) -> None:
        cond = self._condition()
        async with cond:
            while True:
                wait = self.quota.try_take(tokens)
                if wait == 0.0:
                    return
                try:
                    await asyncio.wait_for(cond.wait(), wait)  # woken by a release, or when the bucket refills
                except TimeoutError:
                    pass

    async def release(self, ticket: Any = None, correction: int = 0) -> None:
        cond = self._condition()
        async with cond:
            self.quota.give_back(correction)
            cond.notify(1)


class RateLimitedModel(LanguageModel):
    """Ask ``limiter`` before every call of ``model`` (each retry asks again).

    Args:
        model: the adapter to wrap.
        limiter: the shared limiter.
        max_output_tokens: what an answer may cost at most; the estimate charges half of it and
            the actual usage corrects the bucket afterwards.
        local_cap: also admit at most this many calls of this process to the shared limiter. A
            process can never use more than the whole cap, so this changes no limit; it keeps a
            thousand waiting calls queued here instead of as a thousand calls on the limiter actor.
    """

    def __init__(
        self,
        model: LanguageModel,
        limiter: Limiter,
        max_output_tokens: int = 512,
        local_cap: int | None = None,
        sink: Any = None,
    ) -> None:
        self.model = model
        self.name = model.name
        self.limiter = limiter
        self.max_output_tokens = max_output_tokens
        self.local_cap = local_cap
        self.sink = sink  # a UsageSink: how long each call waited for the quota (saturation)
        self._gates: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "limiter": self.limiter,
            "max_output_tokens": self.max_output_tokens,
            "local_cap": self.local_cap,
            "sink": self.sink,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _gate(self) -> asyncio.Semaphore | None:
        if self.local_cap is None:
            return None
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:  # a semaphore belongs to one loop; sync callers run each turn in a fresh one
            self._gates = {lp: g for lp, g in self._gates.items() if not lp.is_closed()}
            gate = self._gates[loop] = asyncio.Semaphore(self.local_cap)
        return gate

    async def complete(self, request: ModelRequest) -> ModelResponse:
        gate = self._gate()
        queued = time.monotonic()
        if gate is None:
            return await self._admitted(request, queued)
        async with gate:
            return await self._admitted(request, queued)

    async def _admitted(self, request: ModelRequest, queued: float) -> ModelResponse:
        # a typical prompt's size, not the rendered one: rendering twice per call costs more CPU than a
        # guess corrected by the actual usage right after the call
        estimate = PROMPT_TOKENS.get(request.purpose, 1500) + self.max_output_tokens // 2
        ticket = await self.limiter.acquire(estimate)
        if self.sink is not None:
            self.sink.admitted(self.name, time.monotonic() - queued)
        used = estimate
        try:
            response = await self.model.complete(request)
            if response.input_tokens or response.output_tokens:
                used = response.input_tokens + response.output_tokens
            return response
        finally:
            await self.limiter.release(ticket, used - estimate)
