"""Run a state store on its own event loop thread, so sync and async callers can share it.

Connection pools (asyncpg, redis.asyncio) belong to the loop they were opened on, while
``Session.step`` runs each turn in a fresh loop (``asyncio.run``). The store therefore lives on
one long-lived background loop, and callers submit coroutines to it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from novel_engine.storage.manager import UnifiedStateManager

__all__ = ["StoreRunner"]

T = TypeVar("T")


class StoreRunner:
    """Own a store and the loop thread it runs on.

    Args:
        store: the (not yet opened) store; :meth:`start` opens it.
    """

    def __init__(self, store: UnifiedStateManager) -> None:
        self.store = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="novel-engine-store", daemon=True)
        self._started = False

    def start(self) -> StoreRunner:
        """Start the loop and open the store (raising its ``StoreError`` if it cannot)."""
        if not self._started:
            self._thread.start()
            self._started = True
            try:
                self.call(lambda s: s.open())
            except BaseException:
                self.stop()
                raise
        return self

    def call(self, fn: Callable[[UnifiedStateManager], Awaitable[T]]) -> T:
        """Run ``fn(store)`` on the store loop and wait for its result (from any thread but that loop)."""
        return asyncio.run_coroutine_threadsafe(self._wrap(fn), self._loop).result()

    async def acall(self, fn: Callable[[UnifiedStateManager], Awaitable[T]]) -> T:
        """Like :meth:`call`, awaited from another event loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._wrap(fn), self._loop))

    async def _wrap(self, fn: Callable[[UnifiedStateManager], Awaitable[T]]) -> T:
        return await fn(self.store)

    def stop(self) -> None:
        """Close the store and stop the loop (idempotent)."""
        if not self._started or self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.store.close(), self._loop).result(timeout=30)
        except Exception:  # noqa: BLE001 - closing is best-effort at shutdown
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> StoreRunner:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
