"""Reach the engine's state store from the serving loop, wherever the store runs.

A Serve replica holds one store, the Engine's, on the engine's loop (its
:attr:`~novel_engine.api.Engine.store_runner`); a store opened on the caller's loop (tests,
scripts) is called directly. :class:`StoreCall` runs ``fn(store)`` on the right loop in both cases, so the
access adapters and the serve context never care which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from novel_engine.errors import ConfigError
from novel_engine.storage import StoreRunner

__all__ = ["StoreCall"]

T = TypeVar("T")


class StoreCall:
    """Run ``fn(store)`` on the loop the store belongs to.

    Args:
        store: a ``StateStore`` (e.g. ``UnifiedStateManager``) opened on the caller's loop, or a
            started ``StoreRunner``.
    """

    def __init__(self, store: Any) -> None:
        self.target = store

    @classmethod
    def of_engine(cls, engine: Any) -> StoreCall:
        """The engine's own store (the serve app never opens a second one).

        Raises:
            ConfigError: the engine was made without a store (``Engine(store=...)``).
        """
        runner = engine.store_runner
        if runner is not None:
            return cls(runner)
        if getattr(engine, "store", None) is None:
            raise ConfigError("the serve app needs an engine with a state store: Engine(store=...)", setting="store")
        return cls(engine.store)

    @property
    def store(self) -> Any:
        """The store itself (for its attributes; call its coroutines through ``self(fn)``)."""
        return self.target.store if isinstance(self.target, StoreRunner) else self.target

    async def __call__(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        if isinstance(self.target, StoreRunner):
            return await self.target.acall(fn)
        return await fn(self.target)
