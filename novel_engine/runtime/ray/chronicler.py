"""The chronicler actor: a thin shell around a :class:`~novel_engine.agents.chronicler.ChroniclerAgent`
that writes each turn's prose and keeps the story (the shard actors are in ``ray.actors``)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from novel_engine.agents.chronicler import ChroniclerAgent, WorldContext
from novel_engine.agents.highlights import Untold
from novel_engine.core.events import Event
from novel_engine.core.setup import gc_paused
from novel_engine.core.world import PersonaState
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import learn_calls, take_calls
from novel_engine.runtime import wire
from novel_engine.runtime.ray.actors import _check_turn, _spent

__all__ = ["ChroniclerActor"]


@ray.remote
class ChroniclerActor:
    """Writes the prose of each turn and keeps the story."""

    def __init__(
        self,
        model: LanguageModel,
        style: str,
        verbosity: float,
        focus: Sequence[str],
        seed: int,
        highlight_limit: int,
        title: str,
    ) -> None:
        self.model = model
        self.chronicler = ChroniclerAgent(
            model,
            style=style,
            verbosity=verbosity,
            focus_areas=focus,
            seed=seed,
            highlight_limit=highlight_limit,
            title=title,
        )
        self.last_turn = 0
        self.epoch = 0  # bumped by restore (see PersonaShard)
        self.timings: dict[str, float] = {}  # where the last narrate call spent its time (benchmarks)

    async def narrate(
        self,
        events: Sequence[Event],
        characters: Mapping[str, PersonaState],
        context: WorldContext,
        impact=None,
        check: bool = False,
        calls: Sequence[dict] | None = None,
        untold: Untold | None = None,
    ) -> tuple[str, list[dict]]:
        """The turn's prose, and the turn's model-call records (``calls``: recorded calls to answer
        from; ``untold``: see ``ChroniclerAgent.create_narrative``)."""
        learn_calls(self.model, calls)
        if check:
            _check_turn("chronicler", self.last_turn, context.turn)
        chronicler, epoch = self.chronicler, self.epoch
        t0, c0 = time.perf_counter(), time.thread_time()
        with gc_paused(freeze=True):
            prose = await chronicler.create_narrative(events, characters, context, impact=impact, untold=untold)
        if epoch == self.epoch:
            self.last_turn = context.turn
        wire.settle_gc()
        self.timings = _spent(t0, time.perf_counter(), c0, time.thread_time())
        return prose, take_calls(self.model, context.turn)

    def narrative(self) -> str:
        return self.chronicler.narrative()

    def last_timings(self) -> dict[str, float]:
        """The last narrate call's wall and CPU seconds and this process's CPU clock (see ``_spent``)."""
        return dict(self.timings)

    def node(self) -> str:
        """The id of the Ray node this actor runs on."""
        return ray.get_runtime_context().get_node_id()

    def narration_fallbacks(self) -> list[tuple[int, str]]:
        return [(f.turn, f.error) for f in self.chronicler.fallbacks]

    def export_markdown(self) -> str:
        return self.chronicler.export_markdown()

    def snapshot(self) -> dict[str, Any]:
        """The chronicler's state, as checkpoint data."""
        return self.chronicler.to_dict()

    def restore(self, state: Mapping[str, Any], turn: int) -> None:
        """Continue from a checkpoint taken after ``turn``."""
        self.chronicler = ChroniclerAgent.from_dict(state, self.model)
        self.last_turn = turn
        self.epoch += 1
