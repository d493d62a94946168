"""The engine's event loop: where every session's async work and the state store run.

The API is async first (``Session.astep``...). Its sync methods submit to one long-lived loop, a
daemon thread's, rather than starting a loop per call (``asyncio.run``): the store's connection
pools (asyncpg, redis.asyncio) belong to the loop they were opened on, so the store runs on that
same loop and a turn needs no hop between loops. A server passes its own running loop instead
(``Engine.aopen``), so an HTTP turn runs on the server's loop alone.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

from novel_engine.errors import SessionError

__all__ = ["EngineLoop"]

T = TypeVar("T")


class EngineLoop:
    """One event loop for an engine: a background thread's (default) or a running one adopted.

    Args:
        loop: a running loop to use (the caller's thread then must not call :meth:`run`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._finalizer = None
        if loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=_serve, args=(loop,), name="novel-engine-loop", daemon=True).start()
            # stopped when nothing uses it any more (sessions outlive a closed engine's store)
            self._finalizer = weakref.finalize(self, _stop, loop)
        self.loop = loop

    def _here(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it (from any thread but the loop's own).

        Raises:
            SessionError: called from the loop itself (await the async method instead).
        """
        if self._here():
            coro.close()
            raise SessionError("a sync engine method was called on the engine's own event loop; await its a... form")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the loop, from it or from another loop."""
        if self._here():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def close(self) -> None:
        """Stop the background thread's loop (an adopted loop is its owner's to stop)."""
        if self._finalizer is not None:
            self._finalizer()


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_forever()
    loop.close()


def _stop(loop: asyncio.AbstractEventLoop) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
