"""Wrappers that add cross-cutting behaviour to any LanguageModel while implementing the same port."""

from __future__ import annotations

import asyncio

from novel_engine.errors import ConfigError
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse

__all__ = ["ConcurrencyLimit"]


class ConcurrencyLimit(LanguageModel):
    """At most ``limit`` calls of the wrapped model in flight at once (per process).

    Args:
        model: the model to wrap.
        limit: the most concurrent calls.
    """

    def __init__(self, model: LanguageModel, limit: int) -> None:
        if limit < 1:
            raise ConfigError(f"a concurrency limit must be at least 1, got {limit}", setting="limit")
        self.model = model
        self.limit = limit
        self.name = f"{model.name}(max {limit})"
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _gate(self) -> asyncio.Semaphore:
        # a semaphore belongs to one event loop; sync callers run each turn in a fresh loop
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._loop is not loop:
            self._semaphore, self._loop = asyncio.Semaphore(self.limit), loop
        return self._semaphore

    async def complete(self, request: ModelRequest) -> ModelResponse:
        async with self._gate():
            return await self.model.complete(request)

    def __getstate__(self) -> dict:
        # semaphores do not cross processes; each actor gets its own gate
        return {"model": self.model, "limit": self.limit, "name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"], state["limit"])
