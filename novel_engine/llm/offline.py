"""The offline model: the default LanguageModel, deterministic and free, needing no key or network.

Persona decisions come from :mod:`novel_engine.llm.offline_policy` (a trait- and goal-weighted
utility); prose comes from :mod:`novel_engine.llm.offline_prose` (per-style template grammars).
Both draw only from the session's random streams, keyed by (seed, turn, agent, purpose), so the
same scenario and seed give byte-identical stories.
"""

from __future__ import annotations

from collections.abc import Sequence

from novel_engine.core.briefs import TurnBrief
from novel_engine.core.rng import RandomStreams
from novel_engine.errors import ModelError
from novel_engine.llm.offline_policy import decide
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse, NarrationInput, build_response

__all__ = ["OfflineModel"]


class OfflineModel(LanguageModel):
    """Deterministic decisions and prose computed locally from the request's structured context."""

    name = "offline"

    def __init__(self) -> None:
        self._streams: dict[int, RandomStreams] = {}

    def _rng(self, seed: int) -> RandomStreams:
        streams = self._streams.get(seed)
        if streams is None:
            streams = self._streams[seed] = RandomStreams(seed)
        return streams

    def answer(self, request: ModelRequest) -> ModelResponse:
        """Answer synchronously (the offline model never waits on anything)."""
        if request.purpose == "decide":
            if not isinstance(request.context, TurnBrief):
                raise ModelError("the offline model decides from a TurnBrief", got=type(request.context).__name__)
            decision = decide(request.context, self._rng(request.seed))
            return build_response("", self.name, decision, 0, 0)
        if request.purpose == "narrate":
            if not isinstance(request.context, NarrationInput):
                raise ModelError("the offline model narrates from a NarrationInput", got=type(request.context).__name__)
            from novel_engine.llm.offline_prose import narrate  # grammars load on first use

            rng = self._rng(request.seed).stream(request.turn, request.agent, "narrate")
            return ModelResponse(text=narrate(request.context, rng), model=self.name)
        raise ModelError(f"unknown purpose {request.purpose!r}", purpose=request.purpose)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return self.answer(request)

    async def complete_many(self, requests: Sequence[ModelRequest]) -> list[ModelResponse | BaseException]:
        # No I/O to overlap: a plain loop is many times cheaper than one coroutine per persona.
        out: list[ModelResponse | BaseException] = []
        for r in requests:
            try:
                out.append(self.answer(r))
            except ModelError as exc:
                out.append(exc)
        return out
