"""The in-process runtime: every phase of a turn in this process, no Ray needed.

It is the reference the Ray runtime must match byte for byte, and the fastest way to run small
stories and tests. The turn itself is :class:`~novel_engine.runtime.turn.TurnPipeline`'s, over a
:class:`~novel_engine.runtime.turn.LocalCast` and a :class:`~novel_engine.runtime.turn.LocalNarrator`;
this class only holds them and answers the :class:`~novel_engine.runtime.port.Runtime` calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from novel_engine.config import SessionSettings
from novel_engine.core.causal_shards import ShardedCausalGraph
from novel_engine.core.events import Action, WorldEventSpec
from novel_engine.core.report import TurnReport, page_of
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import build_world, gc_paused
from novel_engine.core.world import WorldState
from novel_engine.errors import ConfigError, StateLostError
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import learn_calls, take_calls
from novel_engine.runtime.checkpoint import encode
from novel_engine.runtime.event_log import EventLog, hub_items, hub_window
from novel_engine.runtime.graph import LocalGraphParts, ShardedGraph
from novel_engine.runtime.turn import LocalCast, LocalNarrator, TurnPipeline, new_chronicler

__all__ = ["LocalRuntime", "LocalRuntimes"]


class LocalRuntime:
    """Runs a session's turns in this process.

    Args:
        scenario: the validated scenario.
        settings: the session settings (seed resolved or None for the scenario's).
        model: the language model personas and chronicler use.
    """

    kind = "local"
    shared = False  # this process's own: a store head that moved on is another writer's
    always_there = True

    def __init__(self, scenario: Scenario, settings: SessionSettings, model: LanguageModel) -> None:
        seed = settings.seed if settings.seed is not None else scenario.seed
        settings = settings.model_copy(update={"seed": seed})
        self.scenario, self.settings, self.seed, self.model = scenario, settings, seed, model
        with gc_paused(freeze=True):  # the session's state: millions of long-lived objects in a large cast
            world, initial = build_world(scenario)
            self.cast = LocalCast(world, model, seed)
            self.narrator = LocalNarrator(new_chronicler(model, scenario, settings))
            graph = None
            if settings.graph_shards:
                graph = ShardedGraph(ShardedCausalGraph(settings.graph_shards), LocalGraphParts(settings.graph_shards))
            self.pipeline = TurnPipeline(scenario, settings, world, initial, self.cast, self.narrator, graph)
        self._published = 0
        self.log = EventLog()  # what subscribers read: committed turns, numbered as a Ray hub numbers them

    # -- playing -------------------------------------------------------------------------------
    async def step(
        self,
        agent_actions: Mapping[str, Action] | None = None,
        world_events: Sequence[WorldEventSpec] = (),
        *,
        turn: int | None = None,
        calls: Sequence[dict] = (),
        publish: bool = True,
        checkpoint: bool = False,
    ) -> TurnReport:
        """Play one turn (``turn``: the turn the caller expects it to be). Player actions must
        already be validated (see ``validate_action``). ``checkpoint``: ignored (taking it later
        costs the same here)."""
        if turn is not None and turn != self.pipeline.turn + 1:
            raise StateLostError(
                f"the session is at turn {self.pipeline.turn}, not {turn - 1}", turn=turn, have=self.pipeline.turn
            )
        # A turn allocates hundreds of thousands of short-lived, acyclic records; the cyclic
        # collector would walk the whole heap again and again while freeing nothing. What the turn
        # keeps is long-lived: frozen out of the collector's sight (as the Ray actors do).
        # a model that keeps each turn's call records for its driver (a session host's, shipped
        # from the driver like a Ray actor's) answers a replay from ``calls`` and hands its records back
        learn_calls(self.model, calls)
        with gc_paused(freeze=True):
            report = await self.pipeline.play(agent_actions, world_events, calls)
        records = take_calls(self.model, report.turn)
        if records:
            report = replace(report, calls=(*report.calls, *records))
        if publish:
            await self.publish(report.turn)
        return report

    async def publish(self, turn: int) -> None:
        """Put turn ``turn`` (the last one played) on the session's event log, once."""
        history = self.pipeline.history
        if history and history[-1].turn == turn and turn > self._published:
            self.log.publish(hub_items(history[-1]))
            self._published = turn

    async def settle(self) -> None:
        """Nothing to wait for: a turn is on the log once :meth:`publish` returns."""

    async def subscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ):
        """Long-poll the session's event log (see ``EventLog.subscribe``)."""
        return await self.log.subscribe(after_seq, event_types, timeout_s, limit)

    async def update_traits(self, persona_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits from the next turn on."""
        self.pipeline.update_traits(persona_id, traits)

    async def state(self, *, history: bool = False) -> dict[str, Any]:
        """The session's checkpoint dict after its last turn."""
        return await self.pipeline.state(history=history)

    async def checkpoint(self) -> bytes:
        """The encoded checkpoint after the last turn (the state store's form)."""
        return encode(await self.pipeline.state())

    async def restore(self, state: Mapping[str, Any]) -> int:
        """Continue from checkpoint ``state``; return its turn."""
        with gc_paused(freeze=True):
            turn = await self.pipeline.restore(state)
        # numbered on from the restored history, as a Ray hub given back its window
        items, first = hub_window(self.pipeline.history, self.log.capacity)
        self.log.reset(items, first)
        self._published = turn
        return turn

    # -- reading -------------------------------------------------------------------------------
    async def turn(self) -> int:
        """The last committed turn (0 before the first)."""
        return self.pipeline.turn

    async def summary(self) -> dict[str, Any]:
        """The turn, the tension after it, and ``restarted`` (never, in process)."""
        history = self.pipeline.history
        return {"turn": self.pipeline.turn, "tension": history[-1].tension if history else 0.0, "restarted": False}

    async def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        """The committed turns' reports after turn ``after``, oldest first (at most ``limit``)."""
        return page_of(self.pipeline.history, after, limit)

    async def world(self) -> WorldState:
        """The live world (read it, do not change it)."""
        return self.pipeline.world

    async def scenario_and_settings(self) -> tuple[Scenario, SessionSettings]:
        return self.scenario, self.settings

    async def narrative(self) -> str:
        return self.narrator.chronicler.narrative()

    async def markdown(self) -> str:
        return self.narrator.chronicler.export_markdown()

    async def narration_fallbacks(self) -> list[tuple[int, str]]:
        return [(f.turn, f.error) for f in self.narrator.chronicler.fallbacks]

    async def causal_graph(self) -> dict:
        return await self.pipeline.causal_graph()

    async def explain(self, event_id: str) -> list:
        return await self.pipeline.explain(event_id)

    async def beliefs_of(self, persona_id: str, limit: int = 20) -> list:
        return await self.cast.beliefs_of(persona_id, limit)

    async def belief_model_of(self, persona_id: str) -> dict[str, Any] | None:
        """A persona's whole belief model as data (point-of-view chapters read its evidence)."""
        return await self.cast.model_of(persona_id)

    def hub(self) -> None:
        """No event hub in process (readers page the reports)."""
        return None

    def close(self) -> None:
        """Nothing to release in process."""


class LocalRuntimes:
    """The in-process kind of runtime: sessions live in this process only."""

    name = "local"
    needs_store = False

    def create(
        self,
        session_id: str,
        scenario: Scenario,
        settings: SessionSettings,
        model: LanguageModel,
        *,
        detached: bool,
        restoring: bool = False,
        scenario_json: Callable[[], str] | None = None,
    ) -> LocalRuntime:
        if detached:
            raise ConfigError("detached sessions need the ray runtime", setting="detached")
        return LocalRuntime(scenario, settings, model)

    def attach(self, session_id: str) -> None:
        return None  # another driver's in-process session is out of reach

    def live(self) -> list[str]:
        return []

    def end(self, session_id: str) -> int:
        return 0

    def info(self) -> dict[str, str | None]:
        raise ConfigError("ray_info: this engine runs in process; create it with Engine('ray')", setting="runtime")
