"""Reach the state store from the security layer, whether it is a store or a :class:`StoreRunner`.

A Serve replica may hold the store directly (opened on the replica's loop) or through a
``StoreRunner`` (the store on its own loop thread, as ``Session.step`` uses it); every call of
the security layer goes through :class:`StoreAccess`, so both work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from novel_engine.storage import StoreRunner

__all__ = ["StoreAccess"]

T = TypeVar("T")


class StoreAccess:
    """Run ``fn(store)`` on the right loop.

    Args:
        store: a ``StateStore`` (e.g. ``UnifiedStateManager``), opened on the caller's loop, or a
            started ``StoreRunner``.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    async def __call__(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        if isinstance(self.store, StoreRunner):
            return await self.store.acall(fn)
        return await fn(self.store)
