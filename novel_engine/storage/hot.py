"""Hot state: the read cache, rate-limit counters and cross-process event notices.

:class:`MemoryHot` keeps them in this process (the default); :class:`RedisHot` in Redis, so
several processes (Serve replicas) share them. Both are best-effort accelerators: the SQL store is
the source of truth, so a notice only says *"session S has events up to seq N"* and subscribers
read the events themselves. A lost notice therefore delays a subscriber but loses nothing.

Redis connections are retried with backoff, so a Redis restart costs the calls made while it is
down a short wait (or a :class:`StoreError` once the retries run out), never a lost turn.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from typing import Any

from novel_engine.errors import StoreError

__all__ = ["HotStore", "MemoryHot", "RedisHot"]


class HotStore(ABC):
    """Cache, counters and notices (see the module docstring)."""

    @abstractmethod
    async def open(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def cache_get(self, key: str) -> bytes | None:
        """A cached value, or None."""

    @abstractmethod
    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        """Cache a value for ``ttl_s`` seconds."""

    @abstractmethod
    async def cache_delete(self, key: str) -> None:
        """Drop a cached value."""

    @abstractmethod
    async def cache_set_versioned(self, key: str, value: bytes, version: int, ttl_s: int) -> bool:
        """Cache ``value`` as ``version`` of ``key`` unless a newer version is cached; return
        whether it was stored.

        A read-through fill that read SQL just before a commit must not overwrite the commit's
        newer entry, or readers would be served a stale head until the entry expires.
        """

    @abstractmethod
    async def hit(self, counter: str, window_s: int) -> int:
        """Count a hit in the current fixed window; return the window's count."""

    @abstractmethod
    async def notify(self, channel: str, last_seq: int) -> None:
        """Tell listeners of ``channel`` that events up to ``last_seq`` are committed."""

    @abstractmethod
    async def wait(self, channel: str, after_seq: int, timeout_s: float) -> int | None:
        """Wait for a notice of a seq above ``after_seq``; return it, or None on timeout."""


class MemoryHot(HotStore):
    """Hot state in this process (one event loop)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._versions: dict[str, int] = {}  # the version of each versioned cache entry
        self._counters: dict[tuple[str, int], tuple[int, int]] = {}  # (counter, window_s) -> (window, count)
        self._swept: dict[int, int] = {}  # window_s -> the window last swept
        self._latest: dict[str, int] = {}
        self._changed: dict[str, asyncio.Condition] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def cache_get(self, key: str) -> bytes | None:
        hit = self._cache.get(key)
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        self._cache[key] = (time.monotonic() + ttl_s, value)
        self._versions.pop(key, None)

    async def cache_delete(self, key: str) -> None:
        self._cache.pop(key, None)
        self._versions.pop(key, None)

    async def cache_set_versioned(self, key: str, value: bytes, version: int, ttl_s: int) -> bool:
        if key in self._cache and self._cache[key][0] >= time.monotonic() and self._versions.get(key, -1) > version:
            return False
        self._cache[key] = (time.monotonic() + ttl_s, value)
        self._versions[key] = version
        return True

    async def hit(self, counter: str, window_s: int) -> int:
        window = int(time.time() // window_s)
        if self._swept.get(window_s) != window:
            # Once per window, forget counters of past windows: callers (e.g. login attempts under
            # arbitrary usernames) must not be able to grow this dict without bound.
            self._swept[window_s] = window
            self._counters = {k: v for k, v in self._counters.items() if k[1] != window_s or v[0] == window}
        seen, n = self._counters.get((counter, window_s), (window, 0))
        n = n + 1 if seen == window else 1
        self._counters[(counter, window_s)] = (window, n)
        return n

    def _cond(self, channel: str) -> asyncio.Condition:
        cond = self._changed.get(channel)
        if cond is None:
            cond = self._changed[channel] = asyncio.Condition()
        return cond

    async def notify(self, channel: str, last_seq: int) -> None:
        self._latest[channel] = max(last_seq, self._latest.get(channel, 0))
        cond = self._cond(channel)
        async with cond:
            cond.notify_all()

    async def wait(self, channel: str, after_seq: int, timeout_s: float) -> int | None:
        cond = self._cond(channel)
        async with cond:
            try:
                await asyncio.wait_for(cond.wait_for(lambda: self._latest.get(channel, 0) > after_seq), timeout_s)
            except TimeoutError:
                return None
        return self._latest[channel]


class RedisHot(HotStore):
    """Hot state in Redis (``redis.asyncio``), shared by every process using the same URL.

    Args:
        url: a ``redis://`` URL.
        prefix: a namespace for every key and channel.
    """

    def __init__(self, url: str, prefix: str = "ne") -> None:
        self.url, self.prefix = url, prefix
        self._r: Any = None

    async def open(self) -> None:
        try:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff
            from redis.exceptions import ConnectionError as RConnErr
            from redis.exceptions import TimeoutError as RTimeout
        except ImportError:  # pragma: no cover - depends on the install
            raise StoreError(
                "Redis needs the redis package, a dependency of novel-engine that is missing: reinstall it (pip install novel-engine)",
                backend="redis",
            ) from None
        # About a second of retries rides out a quick restart of a local Redis; longer outages
        # surface as StoreError (best-effort callers count them and carry on without Redis).
        self._r = aioredis.Redis.from_url(
            self.url,
            retry=Retry(ExponentialBackoff(cap=0.25, base=0.02), 6),
            retry_on_error=[RConnErr, RTimeout, OSError],
            socket_connect_timeout=1,
        )
        await self._call(self._r.ping)

    async def close(self) -> None:
        if self._r is not None:
            r, self._r = self._r, None
            await r.aclose()

    async def _call(self, fn, *args, **kw):
        from redis.exceptions import RedisError

        if self._r is None:
            raise StoreError("the Redis store is not open", backend="redis")
        try:
            return await fn(*args, **kw)
        except (RedisError, OSError) as err:
            raise StoreError(
                f"Redis at {self.url} is unavailable: {err}; check NOVEL_ENGINE_REDIS_URL and that "
                "the server is running",
                backend="redis",
            ) from None

    def _k(self, kind: str, key: str) -> str:
        return f"{self.prefix}:{kind}:{key}"

    async def cache_get(self, key: str) -> bytes | None:
        return await self._call(self._r.get, self._k("cache", key))

    async def cache_set(self, key: str, value: bytes, ttl_s: int) -> None:
        await self._call(self._r.set, self._k("cache", key), value, ex=ttl_s)

    async def cache_delete(self, key: str) -> None:
        await self._call(self._r.delete, self._k("cache", key), self._k("cachever", key))

    # value and version are set together, only if no newer version is cached (one atomic script)
    _SET_NEWER = """
local cur = redis.call('GET', KEYS[2])
if cur and redis.call('EXISTS', KEYS[1]) == 1 and tonumber(cur) > tonumber(ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""

    async def cache_set_versioned(self, key: str, value: bytes, version: int, ttl_s: int) -> bool:
        done = await self._call(
            self._r.eval, self._SET_NEWER, 2, self._k("cache", key), self._k("cachever", key), value, version, ttl_s
        )
        return bool(done)

    async def hit(self, counter: str, window_s: int) -> int:
        key = self._k("rate", f"{counter}:{int(time.time() // window_s)}")

        async def incr() -> int:
            async with self._r.pipeline(transaction=True) as p:
                p.incr(key)
                p.expire(key, window_s * 2)
                n, _ = await p.execute()
            return int(n)

        return await self._call(incr)

    async def notify(self, channel: str, last_seq: int) -> None:
        async def publish() -> None:
            # The latest seq is also kept as a key, so a listener that (re)subscribes late sees it.
            await self._r.set(self._k("seq", channel), last_seq)
            await self._r.publish(self._k("events", channel), str(last_seq))

        await self._call(publish)

    async def wait(self, channel: str, after_seq: int, timeout_s: float) -> int | None:
        async def listen() -> int | None:
            pubsub = self._r.pubsub()
            try:
                await pubsub.subscribe(self._k("events", channel))
                latest = await self._r.get(self._k("seq", channel))
                if latest is not None and int(latest) > after_seq:
                    return int(latest)
                deadline = time.monotonic() + timeout_s
                while (left := deadline - time.monotonic()) > 0:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
                    if msg is not None and int(msg["data"]) > after_seq:
                        return int(msg["data"])
                return None
            finally:
                await pubsub.aclose()

        return await self._call(listen)
