"""Test doubles of the LanguageModel port, shipped so users can test their own scenarios and tools."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse

__all__ = ["ScriptedModel", "SlowModel"]

Reply = str | BaseException | ModelResponse


class ScriptedModel(LanguageModel):
    """Answers ``decide`` requests from a script; ``narrate`` requests go to the offline model.

    Args:
        script: replies in order, or a function ``(request) -> reply``. A reply is raw text (the
            model's output), an exception to raise, or a full ModelResponse. When a list runs out,
            the offline model answers.
    """

    name = "scripted"

    def __init__(self, script: Sequence[Reply] | Callable[[ModelRequest], Reply]) -> None:
        self._script = script if callable(script) else list(script)
        self._offline = OfflineModel()
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        if request.purpose != "decide":
            return self._offline.answer(request)
        if callable(self._script):
            reply = self._script(request)
        elif self._script:
            reply = self._script.pop(0)
        else:
            return self._offline.answer(request)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, ModelResponse):
            return reply
        return ModelResponse(text=reply, model=self.name)


class SlowModel(LanguageModel):
    """The offline model behind a fixed latency per call, counting concurrent calls (for batching tests).

    A call takes ``latency_s`` in all, like a remote model: the answer is made at once and the rest
    of the time is waited, so the answer's own CPU time (the remote side's work) is not added to it.
    """

    name = "slow"

    def __init__(self, latency_s: float = 0.05) -> None:
        self.latency_s = latency_s
        self._offline = OfflineModel()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            loop = asyncio.get_running_loop()
            until = loop.time() + self.latency_s
            answer = self._offline.answer(request)
            await asyncio.sleep(max(0.0, until - loop.time()))
            return answer
        finally:
            self.in_flight -= 1
