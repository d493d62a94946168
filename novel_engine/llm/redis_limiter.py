"""The model quota as a Redis token bucket, shared by every process that reaches the same Redis.

One Lua script admits a call atomically: it refills the requests and tokens buckets from the
server's clock, drops expired leases, and takes a lease (a member of a sorted set scored by its
expiry) when a concurrency slot and the buckets allow. A process that dies mid-call loses its lease
after ``lease_ttl_s``, so a crash never shrinks the quota for good.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

from novel_engine.errors import ModelError
from novel_engine.llm.limits import Limiter

__all__ = ["RedisLimiter"]

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tokens, lease, ttl = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= cap then return -1 end
local st = redis.call('HMGET', KEYS[1], 'req', 'tok', 'at')
local req = tonumber(st[1]) or rpm
local tok = tonumber(st[2]) or tpm
local at = tonumber(st[3]) or now
local dt = math.max(0, now - at) / 1000
if rpm > 0 then req = math.min(rpm, req + dt * rpm / 60) end
if tpm > 0 then tok = math.min(tpm, tok + dt * tpm / 60) end
local need = math.min(tokens, tpm)
local wait = 0
if rpm > 0 and req < 1 then wait = math.max(wait, (1 - req) * 60000 / rpm) end
if tpm > 0 and tok < need then wait = math.max(wait, (need - tok) * 60000 / tpm) end
if wait == 0 then
  if rpm > 0 then req = req - 1 end
  if tpm > 0 then tok = tok - need end
  redis.call('ZADD', KEYS[2], now + ttl, lease)
end
redis.call('HSET', KEYS[1], 'req', tostring(req), 'tok', tostring(tok), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
redis.call('PEXPIRE', KEYS[2], ttl * 2)
if wait > 0 then return math.ceil(wait) end
return 0
"""

_RELEASE = """
redis.call('ZREM', KEYS[2], ARGV[1])
local tpm, correction = tonumber(ARGV[2]), tonumber(ARGV[3])
if tpm > 0 and correction ~= 0 then
  local tok = tonumber(redis.call('HGET', KEYS[1], 'tok') or tpm)
  redis.call('HSET', KEYS[1], 'tok', tostring(math.min(tpm, tok - correction)))
end
return 1
"""


class RedisLimiter(Limiter):
    """The :class:`~novel_engine.llm.limits.Limiter` port over Redis.

    Args:
        url: ``redis://host:port/db``.
        name: the quota's name (keys ``ne:llm-quota:<name>:*``).
        max_concurrency / requests_per_minute / tokens_per_minute: the limits (None: no limit).
        lease_ttl_s: how long a call may hold its slot before it counts as lost.
    """

    def __init__(
        self,
        url: str,
        name: str,
        max_concurrency: int,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
        lease_ttl_s: float = 300.0,
    ) -> None:
        self.url, self.name = url, name
        self.limits = (max_concurrency, requests_per_minute or 0, tokens_per_minute or 0)
        self.lease_ttl_s = lease_ttl_s
        self._keys = [f"ne:llm-quota:{name}:state", f"ne:llm-quota:{name}:leases"]
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "name": self.name,
            "max_concurrency": self.limits[0],
            "requests_per_minute": self.limits[1] or None,
            "tokens_per_minute": self.limits[2] or None,
            "lease_ttl_s": self.lease_ttl_s,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def _client(self) -> Any:
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            for old in [lp for lp in self._clients if lp.is_closed()]:
                del self._clients[old]
            client = self._clients[loop] = aioredis.from_url(self.url, max_connections=64)
        return client

    async def _eval(self, script: str, *args: Any) -> int:
        import redis.exceptions

        try:
            return int(await self._client().eval(script, 2, *self._keys, *args))
        except (redis.exceptions.RedisError, OSError) as exc:
            raise ModelError(f"the Redis rate limiter at {self.url} failed: {exc}", limiter="redis") from None

    async def acquire(self, tokens: int) -> str:
        lease = uuid.uuid4().hex
        cap, rpm, tpm = self.limits
        pause = 0.005
        while True:
            result = await self._eval(_ACQUIRE, cap, rpm, tpm, int(tokens), lease, int(self.lease_ttl_s * 1000))
            if result == 0:
                break
            if result > 0:  # the buckets say when
                await asyncio.sleep(result / 1000.0)
            else:  # every slot is taken: poll, backing off, with jitter so waiters spread out
                await asyncio.sleep(pause * (0.5 + random.random()))
                pause = min(pause * 1.5, 0.05)
        return lease

    async def release(self, ticket: Any = None, correction: int = 0) -> None:
        if ticket is not None:
            await self._eval(_RELEASE, ticket, self.limits[2], int(correction))

    async def reset(self) -> None:
        """Forget the quota's state and leases (tests)."""
        await self._client().delete(*self._keys)
