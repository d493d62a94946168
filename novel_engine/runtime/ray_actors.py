"""Thin Ray actor shells around the pure cores: each holds one core object and only routes calls.

- ``PersonaShard``: a :class:`~novel_engine.agents.persona.PersonaPool` plus a replica of the world
  (kept in step by a per-turn patch), so it builds its personas' briefs and decides locally.
- ``BeliefStoreShard``: a :class:`~novel_engine.agents.belief_store.BeliefStore`.
- ``ChroniclerActor``: a :class:`~novel_engine.agents.chronicler.ChroniclerAgent`.
- ``EventHub``: an :class:`~novel_engine.runtime.event_log.EventLog` that subscribers long-poll.

The director actor, which owns the world and the turn loop, is in ``ray_director``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import ray

from novel_engine.agents.belief_store import BeliefStore, BeliefView
from novel_engine.agents.chronicler import ChroniclerAgent, WorldContext
from novel_engine.agents.persona import PersonaPool
from novel_engine.core.events import Action, Event
from novel_engine.core.perception import BeliefSummary, Perception
from novel_engine.core.world import PersonaState, WorldState
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.event_log import EventLog, HubRead

__all__ = ["PersonaShard", "BeliefStoreShard", "ChroniclerActor", "EventHub", "apply_patch"]


def apply_patch(world: WorldState, patch: Mapping[str, Any]) -> None:
    """Bring a world replica in step with the director's: changed personas, facts and the turn."""
    for d in patch.get("personas", ()):
        p = PersonaState.from_dict(d)
        old = world.personas.get(p.id)
        if old is not None and old.location != p.location:
            world.occupants[old.location].discard(p.id)
        world.personas[p.id] = p
        world.occupants.setdefault(p.location, set()).add(p.id)
    if "facts" in patch:
        world.facts = dict(patch["facts"])
    world.turn = patch.get("turn", world.turn)


@ray.remote
class PersonaShard:
    """Hosts some personas: their memories, briefs and decisions.

    Args:
        persona_ids: the personas hosted here.
        world: the world as a ``WorldState.to_dict`` snapshot (the shard keeps a replica).
        model: the language model to decide through.
        seed: the session seed.
    """

    def __init__(self, persona_ids: Sequence[str], world: dict, model: LanguageModel, seed: int) -> None:
        self.world = WorldState.from_dict(world)
        self.pool = PersonaPool([self.world.personas[p] for p in persona_ids], model, seed)

    async def decide(self, patch: dict, views: Mapping[str, BeliefView], deciders: Sequence[str],
                     memories: Sequence[Event]) -> dict[str, Action]:
        """The brief and decide phases for this shard's deciding personas, in one call."""
        apply_patch(self.world, patch)
        self.pool.remember(memories)
        briefs = self.pool.briefs(self.world, views, deciders)
        return await self.pool.decide(briefs)

    def ping(self) -> str:
        return "ok"

    def node(self) -> str:
        """The id of the Ray node this shard runs on (placement checks)."""
        return ray.get_runtime_context().get_node_id()


@ray.remote
class BeliefStoreShard:
    """Holds the belief models of the personas hashed to it."""

    def __init__(self, personas: Sequence[dict]) -> None:
        self.store = BeliefStore(PersonaState.from_dict(p) for p in personas)

    def absorb(self, perceptions: Mapping[str, Sequence[Perception]], turn: int,
               deciders: Sequence[str]) -> dict[str, BeliefView]:
        """The believe phase for this shard; returns the belief views of its deciding personas."""
        self.store.absorb(perceptions, turn)
        return self.store.views(perceptions, deciders)

    def beliefs_of(self, persona_id: str, limit: int = 20) -> list[BeliefSummary]:
        return self.store.beliefs_of(persona_id, limit)

    def node(self) -> str:
        """The id of the Ray node this shard runs on (placement checks)."""
        return ray.get_runtime_context().get_node_id()


@ray.remote
class ChroniclerActor:
    """Writes the prose of each turn and keeps the story."""

    def __init__(self, model: LanguageModel, style: str, verbosity: float, focus: Sequence[str], seed: int,
                 highlight_limit: int, title: str) -> None:
        self.chronicler = ChroniclerAgent(model, style=style, verbosity=verbosity, focus_areas=focus, seed=seed,
                                          highlight_limit=highlight_limit, title=title)

    async def narrate(self, events: Sequence[Event], characters: Mapping[str, PersonaState],
                      context: WorldContext, impact=None) -> str:
        return await self.chronicler.create_narrative(events, characters, context, impact=impact)

    def narrative(self) -> str:
        return self.chronicler.narrative()

    def export_markdown(self) -> str:
        return self.chronicler.export_markdown()


@ray.remote
class EventHub:
    """The session's ordered event log; subscribers long-poll it from a cursor."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.log = EventLog(capacity)

    async def publish(self, items: Sequence[dict]) -> int:
        return self.log.publish(items)

    async def subscribe(self, after_seq: int = 0, event_types: Sequence[str] | None = None,
                        timeout_s: float = 10.0, limit: int = 1000) -> HubRead:
        return await self.log.subscribe(after_seq, event_types, timeout_s, limit)

    async def last_seq(self) -> int:
        return self.log.last_seq
