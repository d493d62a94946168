"""The in-process runtime: every phase of a turn in this process, no Ray needed.

It is the reference the Ray runtime must match byte for byte, and the fastest way to run small
stories and tests. A turn goes through the phases of ``ARCHITECTURE.md``: perceive, believe,
brief, decide, resolve (which records into the causal graph), narrate, commit; the time spent in
each is kept in the turn's report. With ``settings.processes`` > 1 the per-persona phases are
shared with forked replicas of the runtime (``replicas.py``), and the story stays the same.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from novel_engine.agents.belief_store import BeliefStore
from novel_engine.agents.chronicler import ChroniclerAgent, WorldContext, ends_story
from novel_engine.agents.director import DirectorAgent, TurnResult
from novel_engine.agents.persona import PersonaPool
from novel_engine.config import SessionSettings
from novel_engine.core.events import Action, Event, InformationFragment, WorldEventSpec
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import build_world, gc_paused
from novel_engine.core.world import WorldState
from novel_engine.errors import ConfigError
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.checkpoint import memory_rows
from novel_engine.runtime.replicas import Replicas, Split, turn_digest

__all__ = ["LocalRuntime", "TurnReport", "PHASES", "page_of"]

PHASES = ("perceive", "believe", "brief", "decide", "resolve", "narrate", "commit")
DECIDE_CHUNK = 64  # personas briefed before their calls go out (a model with latency; see _decide_as_briefed)


@dataclass(frozen=True, slots=True)
class TurnReport:
    """One committed turn: its events, its prose and how it went."""

    turn: int
    events: tuple[Event, ...]
    prose: str
    tension: float
    coherence: float
    milestones: tuple[str, ...] = ()
    rejected: int = 0
    fallbacks: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    repaired: int = 0  # acts the coherence check repaired before commit (flagged on their events)
    violations: dict[str, int] = field(default_factory=dict)  # coherence violations caught, by kind
    # Ray: the turn's model-call records, on their way from the actors to the driver's store
    calls: tuple[dict, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def of(cls, turn: int, result: Any, prose: str, decisions: dict, timings: dict[str, float]) -> TurnReport:
        """The report of a resolved turn (``result``: the director's TurnResult), as both runtimes make it."""
        return cls(
            turn=turn,
            events=result.events,
            prose=prose,
            tension=result.tension,
            coherence=result.coherence,
            milestones=result.milestones,
            rejected=len(result.rejected),
            fallbacks=sum(1 for a in decisions.values() if "fallback" in a.flags),
            timings=timings,
            repaired=len(result.revised),
            violations=result.violation_counts(),
        )

    def to_dict(self) -> dict:
        return {
            "turn": self.turn,
            "events": [e.to_dict() for e in self.events],
            "prose": self.prose,
            "tension": self.tension,
            "coherence": self.coherence,
            "milestones": list(self.milestones),
            "rejected": self.rejected,
            "fallbacks": self.fallbacks,
            "repaired": self.repaired,
            "violations": dict(self.violations),
        }


def page_of(history: Sequence[TurnReport], after: int, limit: int | None) -> list[TurnReport]:
    """The reports of turns after ``after`` in a history of consecutive turns, at most ``limit``."""
    start = max(0, after - history[0].turn + 1) if history else 0
    return list(history[start:] if limit is None else history[start : start + max(0, limit)])


class LocalRuntime:
    """Runs a session's turns in this process.

    Args:
        scenario: the validated scenario.
        settings: the session settings (seed already resolved).
        model: the language model personas and chronicler use.
    """

    def __init__(
        self, scenario: Scenario, settings: SessionSettings, model: LanguageModel, *, replicate: bool = True
    ) -> None:
        seed = settings.seed if settings.seed is not None else scenario.seed
        self.scenario = scenario
        self.settings = settings
        self.seed = seed
        self.split: Split | None = None  # processes > 1: which personas this process decides for
        self.narrates = True  # False in a replica process: the driver writes the prose
        with gc_paused(freeze=True):  # the session's state: millions of long-lived objects in a large cast
            self.world, initial = build_world(scenario)
            self.pending: list[InformationFragment] = list(initial)
            self.fog = FogOfWarService(attention=settings.attention)
            self.beliefs = BeliefStore(self.world.personas.values())
            self.pool = PersonaPool(self.world.personas.values(), model, seed)
            self.director = DirectorAgent(self.world, scenario, seed, difficulty=settings.difficulty)
            self.chronicler = ChroniclerAgent(
                model,
                style=settings.narrative_style or scenario.style,
                verbosity=settings.verbosity,
                focus_areas=settings.focus_areas,
                seed=seed,
                highlight_limit=settings.highlight_limit,
                title=scenario.title,
            )
        self.history: list[TurnReport] = []
        if replicate:
            self.replicate()

    def replicate(self) -> None:
        """Start the replica processes ``settings.processes`` asks for, each a copy of this
        runtime as it is now (call it once the state is final: built, or restored)."""
        if self.settings.processes > 1 and self.split is None:
            self.join(Replicas(self, _check_processes(self.settings, self.pool.model)))

    def join(self, split: Split) -> None:
        """Share the turns with other processes: from now on this one perceives for, decides for
        and keeps the beliefs and memories of the personas ``split`` gives it."""
        split.assign(self.world.personas)
        self.split = split
        owner, part = split.owner, split.part
        self.beliefs.models = {pid: m for pid, m in self.beliefs.models.items() if owner(pid) == part}
        self.pool.agents = {pid: a for pid, a in self.pool.agents.items() if owner(pid) == part}

    @property
    def turn(self) -> int:
        """The last committed turn (0 before the first)."""
        return self.world.turn

    async def step(
        self, agent_actions: Mapping[str, Action] | None = None, world_events: Sequence[WorldEventSpec] = ()
    ) -> TurnReport:
        """Run one turn. Player actions must already be validated (see ``validate_action``)."""
        # A turn allocates hundreds of thousands of short-lived, acyclic records; the cyclic
        # collector would walk the whole heap again and again while freeing nothing. What the turn
        # keeps is long-lived: frozen out of the collector's sight (as the Ray actors do).
        with gc_paused(freeze=True):
            return await self._step(agent_actions, world_events)

    async def _step(
        self, agent_actions: Mapping[str, Action] | None, world_events: Sequence[WorldEventSpec]
    ) -> TurnReport:
        timings: dict[str, float] = {}
        clock = time.perf_counter
        world, turn = self.world, self.world.turn + 1
        players = agent_actions or {}
        split = self.split
        if split is not None:  # the replicas start the turn too
            split.begin(players, world_events)
        t = clock()
        routes = self.fog.route(self.pending, world, None if split is None else split.own)
        timings["perceive"], t = clock() - t, clock()
        deciders = [pid for pid in sorted(world.personas) if pid not in players and world.personas[pid].can_act]
        if isinstance(self.pool.model, OfflineModel):  # no latency to hide: one phase after another
            mine = deciders if split is None else split.mine(deciders)
            views = self.beliefs.absorb_views(routes, turn, mine)  # the views too: see absorb_views
            timings["believe"], t = clock() - t, clock()
            briefs = self.pool.briefs(world, views, mine)
            timings["brief"], t = clock() - t, clock()
            decisions = await self.pool.decide(briefs)
            timings["decide"], t = clock() - t, clock()
            if split is not None:  # the other processes' decisions (and the wait for the slowest)
                decisions = split.exchange(decisions)
                timings["exchange"], t = clock() - t, clock()
        else:
            decisions = await self._decide_as_briefed(routes, turn, deciders, timings)
            t = clock()
        result: TurnResult = self.director.resolve_turn(players, world_events, decisions=decisions)
        self.pool.remember(result.events)
        if split is not None:
            split.check(turn_digest(turn, result.events, result.tension, len(result.fragments)))
        timings["resolve"], t = clock() - t, clock()
        if not self.narrates:  # a replica: the driver narrates and keeps the history
            self.pending = list(result.fragments)
            return TurnReport(
                turn=turn,
                events=result.events,
                prose="",
                tension=result.tension,
                coherence=result.coherence,
                timings=timings,
            )
        prose = await self.chronicler.create_narrative(
            result.events,
            world.personas,
            WorldContext(
                title=self.scenario.title,
                turn=turn,
                locations=world.locations,
                tension=result.tension,
                ending=ends_story(self.scenario, self.director.reached, result.milestones),
            ),
            impact=chronicle_impact,
        )
        timings["narrate"], t = clock() - t, clock()
        self.pending = list(result.fragments)
        report = TurnReport.of(turn, result, prose, decisions, timings)
        self.history.append(report)
        timings["commit"] = clock() - t
        return report

    async def _decide_as_briefed(
        self, routes: Mapping[str, Sequence], turn: int, deciders: list[str], timings: dict[str, float]
    ) -> dict[str, Action]:
        """Beliefs, briefs and model calls chunk by chunk, for a model with latency: a chunk's
        calls go out while the next chunk is briefed, instead of every call waiting for every brief.

        The same updates, briefs and requests as the phases one after another (each persona's
        own, in id order), so the same story; ``timings`` gets the time spent believing and
        briefing, and ``decide`` the rest.
        """
        clock = time.perf_counter
        start = t = clock()
        self.beliefs.absorb_others(routes, turn, deciders)
        believe = brief = 0.0
        tasks: list[asyncio.Task] = []
        try:
            for i in range(0, len(deciders), DECIDE_CHUNK):
                ids = deciders[i : i + DECIDE_CHUNK]
                views = self.beliefs.absorb_views(routes, turn, ids, others=False)
                t2 = clock()
                believe += t2 - t
                briefs = self.pool.briefs(self.world, views, ids, new_turn=i == 0)
                t = clock()
                brief += t - t2
                tasks.append(asyncio.ensure_future(self.pool.decide(briefs)))
                # let this chunk's calls go out: one turn of the loop starts its task, the next
                # the calls it gathers (tasks of their own) up to their first wait on the network
                await asyncio.sleep(0)
                await asyncio.sleep(0)
                t = clock()
            decisions: dict[str, Action] = {}
            for task in tasks:
                decisions.update(await task)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        timings["believe"], timings["brief"] = believe, brief
        timings["decide"] = clock() - start - believe - brief
        return decisions

    # -- the runtime interface Session uses (RayRuntime offers the same) -------------------------
    def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        """The committed turns' reports after turn ``after``, oldest first (at most ``limit``)."""
        return page_of(self.history, after, limit)

    def world_state(self) -> WorldState:
        """The live world (the director's own; read it, do not change it)."""
        return self.world

    def narrative(self) -> str:
        return self.chronicler.narrative()

    def export_markdown(self) -> str:
        return self.chronicler.export_markdown()

    def narration_fallbacks(self) -> list[tuple[int, str]]:
        return [(f.turn, f.error) for f in self.chronicler.fallbacks]

    def causal_graph(self) -> dict:
        return self.director.causal_graph.to_node_link()

    def explain(self, event_id: str) -> list:
        return self.director.causal_graph.explain(event_id)

    def beliefs_of(self, persona_id: str, limit: int = 20) -> list:
        split = self.split
        if isinstance(split, Replicas) and split.owner(persona_id) != split.part:
            return split.beliefs_of(persona_id, limit)
        return self.beliefs.beliefs_of(persona_id, limit)

    def belief_model_of(self, persona_id: str) -> dict[str, Any] | None:
        """A persona's whole belief model as data (point-of-view chapters read its evidence)."""
        split = self.split
        if isinstance(split, Replicas) and split.owner(persona_id) != split.part:
            return split.ask(split.owner(persona_id), ("model_of", persona_id))
        return self.beliefs.model_of(persona_id)

    def held(self) -> tuple[dict[str, Any], dict[str, list]]:
        """Every persona's belief model and memories as checkpoint data (``BeliefStore.to_dict``,
        ``memory_rows``), gathered from whichever process holds them."""
        beliefs, memory = self.beliefs.to_dict(), memory_rows(self.pool.agents)
        if isinstance(self.split, Replicas):
            for b, m in self.split.held():  # (checkpoints are encoded with sorted keys)
                beliefs.update(b)
                memory.update(m)
        return beliefs, memory

    def close(self) -> None:
        """Stop the replica processes, if any (nothing else to release in process)."""
        if isinstance(self.split, Replicas):
            self.split.close()


def _check_processes(settings: SessionSettings, model: LanguageModel) -> int:
    """The number of processes to share turns with, or a clear error why it cannot be done."""
    n = settings.processes
    if not isinstance(model, OfflineModel):
        raise ConfigError(
            f"processes={n} needs the offline model: turns decided by a model behind a network "
            "wait on its latency, which one process hides already",
            setting="processes",
        )
    cpus = os.cpu_count() or 1
    if n > cpus:
        raise ConfigError(f"processes={n} is more than this machine's {cpus} CPUs", setting="processes")
    return n


def chronicle_impact(ev: Event) -> float:
    """How much an event deserves the chronicler's attention this turn."""
    bonus = 0.5 if "player" in ev.flags else 0.0
    if ev.kind != "action":
        bonus += 0.3
    if ev.data.get("incapacitated"):
        bonus += 0.3
    return ev.intensity + bonus
