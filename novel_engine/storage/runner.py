"""Run a state store on one long-lived event loop, so sync and async callers can share it.

Connection pools (asyncpg, redis.asyncio) belong to the loop they were opened on. The store lives
on the engine's loop (``novel_engine/event_loop.py``) when it has one, else on a loop thread of its own, and
callers submit coroutines to it; a caller already on that loop awaits them directly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from novel_engine.event_loop import EngineLoop
from novel_engine.storage.manager import UnifiedStateManager

__all__ = ["StoreRunner"]

T = TypeVar("T")


class StoreRunner:
    """Own a store and the loop thread it runs on.

    Args:
        store: the (not yet opened) store; :meth:`start` opens it.
    """

    def __init__(self, store: UnifiedStateManager, loop: EngineLoop | None = None) -> None:
        self.store = store
        self._own = loop is None  # a loop thread of its own, stopped with the store
        self._runner = loop if loop is not None else None
        self._started = False

    def start(self) -> StoreRunner:
        """Start the loop and open the store (raising its ``StoreError`` if it cannot)."""
        if not self._started:
            if self._runner is None:
                self._runner = EngineLoop()
            self._started = True
            try:
                self.call(lambda s: s.open())
            except BaseException:
                self.stop()
                raise
        return self

    async def astart(self) -> StoreRunner:
        """:meth:`start` from the loop the store runs on (a server's)."""
        if not self._started:
            if self._runner is None:
                self._runner = EngineLoop()
            self._started = True
            try:
                await self.acall(lambda s: s.open())
            except BaseException:
                self.stop()
                raise
        return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the store runs on (None before :meth:`start`)."""
        return self._runner.loop if self._runner is not None else None

    def call(self, fn: Callable[[UnifiedStateManager], Awaitable[T]]) -> T:
        """Run ``fn(store)`` on the store loop and wait for its result (from any thread but that loop)."""
        return self._runner.run(self._wrap(fn))

    async def acall(self, fn: Callable[[UnifiedStateManager], Awaitable[T]]) -> T:
        """Like :meth:`call`, awaited (on the store's loop or another)."""
        return await self._runner.arun(self._wrap(fn))

    async def _wrap(self, fn: Callable[[UnifiedStateManager], Awaitable[T]]) -> T:
        return await fn(self.store)

    def stop(self) -> None:
        """Close the store and stop its own loop, if it has one (idempotent)."""
        runner = self._runner
        if not self._started or runner is None or runner.loop.is_closed():
            return
        self._started = False
        try:
            asyncio.run_coroutine_threadsafe(self.store.close(), runner.loop).result(timeout=30)
        except Exception:  # noqa: BLE001 - closing is best-effort at shutdown
            pass
        if self._own:
            runner.close()

    async def astop(self) -> None:
        """:meth:`stop` from the loop the store runs on."""
        if self._started:
            self._started = False
            await self.store.close()

    def __enter__(self) -> StoreRunner:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
