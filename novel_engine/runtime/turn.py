"""One turn of a session, written once for both runtimes.

A turn goes through the phases of ``ARCHITECTURE.md``: perceive (fog of war over the world) +
believe + brief + decide (the cast), resolve (the director, which records into the causal graph),
narrate (the chronicler), commit (the report is kept). :class:`TurnPipeline` runs them over two
small batched interfaces:

- a :class:`Cast`, the persona side: belief stores, memories, briefs and decisions. In process it
  is one :class:`LocalCast`; on Ray, shard actors behind ``ray_cast.RayCast``;
- a :class:`Narrator`, the chronicler: :class:`LocalNarrator` in process, an actor on Ray.

The world side (world state, pending information, fog of war, director, reports) is the
pipeline's own. It also owns the session's state: :meth:`TurnPipeline.state` gathers a checkpoint
from its parts (each part serialises itself) and :meth:`TurnPipeline.restore` puts one back, so a
checkpoint taken on one runtime continues on the other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from novel_engine.agents.belief_store import BeliefStore
from novel_engine.agents.chronicler import ChroniclerAgent, WorldContext, ends_story
from novel_engine.agents.director import DirectorAgent
from novel_engine.agents.highlights import closed_threads
from novel_engine.agents.persona import PersonaPool
from novel_engine.config import SessionSettings
from novel_engine.core.events import Action, Event, InformationFragment, WorldEventSpec
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.core.world import WorldState
from novel_engine.errors import CheckpointError
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.checkpoint import FORMAT, check_format
from novel_engine.runtime.graph import ShardedGraph

__all__ = ["Cast", "Narrator", "TurnPipeline", "LocalCast", "LocalNarrator", "new_chronicler", "chronicle_impact"]


class Cast(Protocol):
    """The persona side of a session: each persona's beliefs, memories, briefs and decisions."""

    async def decide(
        self,
        world: WorldState,
        pending: Sequence[InformationFragment],
        fog: FogOfWarService,
        turn: int,
        deciders: Sequence[str],
        calls: Sequence[dict],
        timings: dict[str, float],
    ) -> tuple[dict[str, Action], list[dict]]:
        """Route the ``pending`` fragments to the personas through ``fog`` (the perceive phase),
        absorb every persona's perceptions, then brief and decide for ``deciders`` (sorted);
        return the decisions and the model-call records made (``calls``: a replay's recorded
        calls to answer from). ``timings`` gains perceive, believe, brief and decide."""

    def remember(self, events: Sequence[Event]) -> None:
        """The turn's events: each persona remembers those it took part in."""

    def ahead(self, world: WorldState, pending: Sequence[InformationFragment], fog: FogOfWarService) -> None:
        """The turn is resolved: ``world`` is the one the next turn perceives (only trait updates
        may change it before then, and perceiving reads none) and ``pending`` its fragments. A
        cast may start on the next turn's perceive phase now, without waiting for it; its
        :meth:`decide` gets the same arguments all the same."""

    def changed(self, persona_id: str) -> None:
        """A persona's state changed between turns (a trait update)."""

    async def held(self, turn: int) -> tuple[dict[str, Any], dict[str, list]]:
        """Every belief model and memory after ``turn``, as checkpoint data."""

    async def restore(self, world: WorldState, state: Mapping[str, Any], turn: int) -> None:
        """Continue from checkpoint ``state`` (taken after ``turn``; ``world`` is its world)."""

    async def beliefs_of(self, persona_id: str, limit: int) -> list:
        """A persona's leading beliefs."""

    async def model_of(self, persona_id: str) -> dict[str, Any] | None:
        """A persona's whole belief model as data."""


class Narrator(Protocol):
    """The chronicler: writes each turn's chapter and keeps the story."""

    async def narrate(
        self, events: Sequence[Event], world: WorldState, context: WorldContext, calls: Sequence[dict]
    ) -> tuple[str, list[dict]]:
        """The turn's chapter and the model-call records made."""

    async def held(self) -> dict[str, Any]:
        """The chronicler's state as checkpoint data (``ChroniclerAgent.to_dict``)."""

    async def restore(self, state: Mapping[str, Any], turn: int) -> None:
        """Continue from checkpoint data taken after ``turn``."""


def chronicle_impact(ev: Event) -> float:
    """How much an event deserves the chronicler's attention this turn."""
    bonus = 0.5 if "player" in ev.flags else 0.0
    if ev.kind != "action":
        bonus += 0.3
    if ev.data.get("incapacitated"):
        bonus += 0.3
    return ev.intensity + bonus


def new_chronicler(model: LanguageModel, scenario: Scenario, settings: SessionSettings) -> ChroniclerAgent:
    """The chronicler of a new session (``settings.seed`` resolved)."""
    return ChroniclerAgent(
        model,
        style=settings.narrative_style or scenario.style,
        verbosity=settings.verbosity,
        focus_areas=settings.focus_areas,
        seed=settings.seed,
        highlight_limit=settings.highlight_limit,
        title=scenario.title,
    )


class TurnPipeline:
    """The phases of a turn over a cast and a narrator, and the world side of the session.

    Args:
        scenario: the validated scenario.
        settings: the session settings, seed resolved.
        world: the world, built from the scenario (``build_world``).
        pending: the information fragments waiting for the first turn's perceive phase.
        cast: the persona side.
        narrator: the chronicler.
        graph: the causal graph's shards (None: the director holds the graph whole).
        resolvers: resolver shards that settle the regions (``runtime.ray.resolvers.RayResolvers``;
            None: the director settles them in this process).
    """

    def __init__(
        self,
        scenario: Scenario,
        settings: SessionSettings,
        world: WorldState,
        pending: Sequence[InformationFragment],
        cast: Cast,
        narrator: Narrator,
        graph: ShardedGraph | None = None,
        resolvers: Any = None,
    ) -> None:
        self.scenario, self.settings, self.seed = scenario, settings, int(settings.seed)
        self.world = world
        self.pending: list[InformationFragment] = list(pending)
        self.fog = FogOfWarService(attention=settings.attention)
        self.graph, self.resolvers = graph, resolvers
        if graph is None:
            self.director = DirectorAgent(world, scenario, self.seed, difficulty=settings.difficulty)
        else:
            for rule in scenario.causal_rules:
                graph.graph.add_rule(rule)
            self.director = DirectorAgent(world, scenario, self.seed, graph.graph, difficulty=settings.difficulty)  # type: ignore[arg-type]
        self.director.resolver_shards = settings.resolver_shards or 1
        self.cast, self.narrator = cast, narrator
        self.history: list[TurnReport] = []
        self.updates: dict[str, dict[str, float]] = {}  # trait changes waiting for the next turn

    @property
    def turn(self) -> int:
        """The last played turn (0 before the first)."""
        return self.world.turn

    def update_traits(self, persona_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits from the next turn on; the change is an input of that turn."""
        self.world.personas[persona_id].traits.update(traits)
        self.updates.setdefault(persona_id, {}).update(traits)
        self.cast.changed(persona_id)
        if self.resolvers is not None:
            self.resolvers.changed(persona_id)

    async def play(
        self,
        players: Mapping[str, Action] | None = None,
        world_events: Sequence[WorldEventSpec] = (),
        calls: Sequence[dict] = (),
    ) -> TurnReport:
        """Play one turn. Player actions must already be validated (``validate_action``).

        ``calls``: a replay's recorded model calls of this turn. The report's ``calls`` are the
        model-call records the turn made (the Ray actors hand them back to the driver).
        """
        timings: dict[str, float] = {}
        clock = time.perf_counter
        world, turn, players = self.world, self.world.turn + 1, players or {}
        deciders = [pid for pid in sorted(world.personas) if pid not in players and world.personas[pid].can_act]
        persona_calls = [c for c in calls if c.get("agent") in world.personas]
        decisions, records = await self.cast.decide(
            world, self.pending, self.fog, turn, deciders, persona_calls, timings
        )
        t = clock()
        if self.graph is not None:  # the due effects and recorded motives, one call per graph shard
            acts = (*decisions.values(), *players.values())
            await self.graph.prepare(turn, {m for a in acts for m in getattr(a, "motivated_by", ())})
        if self.resolvers is None:
            result = self.director.resolve_turn(players, world_events, decisions=decisions)
            timings.update(getattr(self.director, "shard_timings", {}))
        else:  # the regions on resolver shards (agents/regional.py)
            plan = self.director.begin_turn(players, world_events, decisions=decisions)
            parts = await self.resolvers.settle(self.director, plan)
            result = self.director.finish_turn(plan, parts)
            timings.update(self.resolvers.timings)
        self.cast.remember(result.events)
        timings["resolve"], t = clock() - t, clock()
        context = WorldContext(
            title=self.scenario.title,
            turn=turn,
            locations=world.locations,
            tension=result.tension,
            ending=ends_story(self.scenario, self.director.reached, result.milestones),
            closed=closed_threads(self.scenario, self.director.reached),
            peril=bool(self.scenario.peril and world.facts.get(self.scenario.peril)),
        )
        prose, told = await self.narrator.narrate(
            result.events, world, context, [c for c in calls if c.get("agent") not in world.personas]
        )
        timings["narrate"], t = clock() - t, clock()
        self.pending = list(result.fragments)
        updates, self.updates = self.updates, {}
        report = TurnReport.of(turn, result, prose, decisions, timings, updates)
        self.history.append(report)
        timings["commit"] = clock() - t
        # the next turn's perceive may start: on Ray the shards perceive while the driver commits this one
        self.cast.ahead(world, result.fragments, self.fog)
        records.extend(told)
        return report if not records else _with_calls(report, records)

    # -- the session's state -------------------------------------------------------------------
    async def state(self, *, history: bool = False, scenario: bool = False) -> dict[str, Any]:
        """The session after its last turn as a checkpoint dict (``checkpoint.encode`` stores it).

        ``history``: include every turn report (the state store keeps them as turn records
        instead); ``scenario``: include the scenario (the store keeps it in the session record).
        """
        turn = self.world.turn
        # the cast's, the chronicler's and the graph shards' parts in one wave (on Ray each is a
        # call to other actors; nothing here changes between turns, so the order does not matter)
        held, chronicler, graph = await asyncio.gather(
            self.cast.held(turn), self.narrator.held(), self.graph.to_dict() if self.graph is not None else _none()
        )
        beliefs, memory = held
        if self.graph is not None:
            self.graph.graph.gathered(graph)
        state: dict[str, Any] = {
            "format": FORMAT,
            "turn": turn,
            "seed": self.seed,
            "settings": self.settings.model_dump(mode="json"),
            "world": self.world.to_dict(),
            "pending": [f.to_dict() for f in self.pending],
            "beliefs": beliefs,
            "memory": memory,
            "director": self.director.to_state(),  # with the graph gathered above
            "chronicler": chronicler,
        }
        if scenario:
            state["scenario"] = self.scenario.model_dump(mode="json")
        if history:
            state["history"] = [r.to_dict() for r in self.history]
        return state

    async def restore(self, state: Mapping[str, Any]) -> int:
        """Continue from checkpoint ``state`` (its turn reports, if it has them, become the history);
        return its turn. The turns to come draw from this pipeline's seed (a fork may set a new one).

        Raises:
            CheckpointError: the checkpoint has an unknown format or is malformed.
        """
        check_format(state)
        try:
            world = WorldState.from_dict(state["world"])
            turn = int(state["turn"])
            pending = [InformationFragment.from_dict(f) for f in state["pending"]]
            director = DirectorAgent.from_state(state["director"], world, self.scenario, self.seed)
            history = [TurnReport.from_dict(r) for r in state.get("history", ())]
            chronicler = {**state["chronicler"], "seed": self.seed}
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"malformed checkpoint: {type(err).__name__}: {err}", error=str(err)) from None
        if world.turn != turn:
            raise CheckpointError(
                "malformed checkpoint: world turn and checkpoint turn differ", turn=turn, world_turn=world.turn
            )
        await self.cast.restore(world, state, turn)
        await self.narrator.restore(chronicler, turn)
        if self.graph is not None:
            await self.graph.load(state["director"]["causal_graph"], turn)
            director.causal_graph = self.graph.graph  # type: ignore[assignment]
        director.resolver_shards = self.director.resolver_shards
        if self.resolvers is not None:
            self.resolvers.reset()  # the shards' replicas are loaded whole before the next turn
        self.world, self.pending, self.director, self.history = world, pending, director, history
        self.updates = {}
        return turn

    async def causal_graph(self) -> dict[str, Any]:
        """The recorded events and links as node-link data, wherever the graph is held."""
        if self.graph is None:
            return self.director.causal_graph.to_node_link()
        return await self.graph.node_link()

    async def explain(self, event_id: str) -> list:
        """The chain of causes behind an event (``CausalGraph.explain``), across graph shards if any."""
        if self.graph is None:
            return self.director.causal_graph.explain(event_id)
        return await self.graph.explain(event_id)


async def _none() -> None:
    return None


def _with_calls(report: TurnReport, records: list[dict]) -> TurnReport:
    from dataclasses import replace

    return replace(report, calls=tuple(records))


class LocalCast:
    """The whole cast in this process: one belief store and one persona pool."""

    def __init__(self, world: WorldState, model: LanguageModel, seed: int) -> None:
        self.model, self.seed = model, seed
        self.beliefs = BeliefStore(world.personas.values())
        self.pool = PersonaPool(world.personas.values(), model, seed)

    async def decide(self, world, pending, fog, turn, deciders, calls, timings):
        beliefs = self.beliefs
        t = time.perf_counter()
        routes = fog.route(pending, world)
        timings["perceive"], t = time.perf_counter() - t, time.perf_counter()
        beliefs.absorb_others(routes, turn, deciders)  # those who get no view this turn
        timings["believe"] = time.perf_counter() - t
        decisions = await self.pool.brief_and_decide(
            world, deciders, lambda ids: beliefs.absorb_views(routes, turn, ids, others=False), timings
        )
        return decisions, []

    def remember(self, events: Sequence[Event]) -> None:
        self.pool.remember(events)

    def ahead(self, world, pending, fog) -> None:
        pass  # in process the next turn perceives when it comes: nothing runs in parallel here

    def changed(self, persona_id: str) -> None:
        pass  # the pool reads the world itself

    async def held(self, turn: int) -> tuple[dict[str, Any], dict[str, list]]:
        return self.beliefs.to_dict(), self.pool.memory_rows()

    async def restore(self, world: WorldState, state: Mapping[str, Any], turn: int) -> None:
        pool = PersonaPool(world.personas.values(), self.model, self.seed)
        pool.restore_memory(state["memory"])
        self.beliefs.restore(state["beliefs"])
        self.pool = pool

    async def beliefs_of(self, persona_id: str, limit: int) -> list:
        return self.beliefs.beliefs_of(persona_id, limit)

    async def model_of(self, persona_id: str) -> dict[str, Any] | None:
        return self.beliefs.model_of(persona_id)


class LocalNarrator:
    """The chronicler in this process."""

    def __init__(self, chronicler: ChroniclerAgent) -> None:
        self.chronicler = chronicler

    async def narrate(self, events, world, context, calls):
        prose = await self.chronicler.create_narrative(events, world.personas, context, impact=chronicle_impact)
        return prose, []

    async def held(self) -> dict[str, Any]:
        return self.chronicler.to_dict()

    async def restore(self, state: Mapping[str, Any], turn: int) -> None:
        self.chronicler = ChroniclerAgent.from_dict(state, self.chronicler.model)
