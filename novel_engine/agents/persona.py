"""Persona agents: a character's memory, beliefs and decision making through the LanguageModel port.

``PersonaAgent`` is one character. ``PersonaPool`` hosts many (a shard): it applies a turn's
perceptions to their beliefs, builds their briefs and asks the model for all their decisions in
one batch, so a shard costs one call per phase whatever its size.

A model's decision must validate against the :class:`~novel_engine.core.events.Decision` schema
*and* fit the brief (an available action, a target that is really there). An invalid answer is
sent back once for repair; if the repair fails too, the offline policy decides and the action is
flagged ``fallback`` with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import operator
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from novel_engine.agents.belief_store import BeliefView
from novel_engine.core.briefs import BriefLimits, MemoryItem, TurnBrief, TurnBriefFactory, memory_from_event
from novel_engine.core.events import Action, Decision, Event
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import PersonaState, WorldState
from novel_engine.errors import ModelFailedError
from novel_engine.llm.offline_policy import decide as offline_decide
from novel_engine.llm.port import LanguageModel, ModelRequest, ModelResponse, build_request

__all__ = ["PersonaAgent", "PersonaPool", "check_decision"]

#: Memories a persona keeps: as many as its brief shows (more were never read, and cost ~100 bytes
#: each per persona: 150 MB over a long 100,000-persona session).
MEMORY_LIMIT = BriefLimits().memories
#: Personas briefed before their model calls go out (see :meth:`PersonaPool.brief_and_decide`).
DECIDE_CHUNK = 64
_MOVES = ("move", "flee")
# a memory as a checkpoint row: its fields in declaration order
_memory_row = operator.attrgetter(*(f.name for f in dataclasses.fields(MemoryItem)))


def check_decision(brief: TurnBrief, decision: Decision) -> str | None:
    """Return why ``decision`` does not fit ``brief`` (None when it does)."""
    action = decision.action_type.value
    targets = brief.available_actions.get(action)
    if targets is None:
        return f"action {action!r} is not available; choose one of {sorted(brief.available_actions)}"
    if targets:
        if decision.target not in targets:
            return f"target {decision.target!r} is not possible for {action!r}; choose one of {list(targets)}"
    elif decision.target not in (None, "", brief.location):
        return f"action {action!r} takes no target"
    return None


class PersonaAgent:
    """One character: its memory of recent events and its decision making (its beliefs live in a
    :class:`~novel_engine.agents.belief_store.BeliefStore`).

    Args:
        persona: the persona's state at the start.
        model: the language model it decides through.
        seed: the session seed (keys its random streams).
    """

    __slots__ = ("persona_id", "model", "streams", "memory", "flags")

    def __init__(self, persona: PersonaState, model: LanguageModel, seed: int) -> None:
        self.persona_id = persona.id
        self.model = model
        self.streams = RandomStreams(seed)
        self.memory: deque[MemoryItem] = deque(maxlen=MEMORY_LIMIT)
        self.flags: tuple[str, ...] = ()

    def remember(self, event: Event) -> None:
        """Keep an event the persona took part in or witnessed.

        When memory is full, the oldest memory goes, except the persona's own last two moves that
        got somewhere (one turned back at a sealed door went nowhere): they say where it came from,
        which keeps it from bouncing between two places."""
        memory = self.memory
        if len(memory) == memory.maxlen:
            moves = [m for m in memory if m.role == "actor" and m.action_type in _MOVES and m.outcome != "blocked"][-2:]
            if moves and memory[0] in moves:
                for m in memory:
                    if m not in moves:
                        memory.remove(m)
                        break
        memory.append(memory_from_event(self.persona_id, event))

    def request(self, brief: TurnBrief, repair_of: tuple[str, str] | None = None) -> ModelRequest:
        """The model request for this persona's decision on ``brief``."""
        return build_request("decide", brief, Decision, self.streams.seed, brief.turn, self.persona_id, repair_of)

    def parse(self, brief: TurnBrief, response: ModelResponse | BaseException) -> tuple[Decision | None, str]:
        """Validate a model response against the schema and the brief; return (decision, problem).

        Raises:
            ModelFailedError: the response is that error (``on_model_failure="fail"``): the turn stops.
        """
        if isinstance(response, ModelFailedError):  # on_model_failure="fail": the turn stops here
            raise response
        if isinstance(response, BaseException):
            return None, f"{type(response).__name__}: {response}"
        try:
            decision = (
                response.parsed
                if isinstance(response.parsed, Decision)
                else Decision.model_validate_json(response.text)
            )
        except ValidationError as exc:
            return None, "output does not fit the Decision schema: " + "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
            )
        problem = check_decision(brief, decision)
        return (None, problem) if problem else (decision, "")

    def fallback(self, brief: TurnBrief, reason: str) -> Action:
        """The offline policy's action, flagged as a fallback with its reason."""
        decision = offline_decide(brief, self.streams)
        return Action.from_decision(
            self.persona_id, decision, origin="fallback", flags=("fallback", f"fallback_reason:{reason[:200]}")
        )

    async def make_decision(self, brief: TurnBrief) -> Decision:
        """Decide what to do this turn through the model (repair once, then fall back offline).

        Returns the decision; ``self.flags`` tells whether it was repaired or a fallback.
        """
        action = await self.act(brief)
        return Decision(
            action_type=action.action_type,
            target=action.target,
            parameters=action.parameters,
            dialogue=action.dialogue,
            rationale=action.rationale,
            motivated_by=list(action.motivated_by),
        )

    async def act(self, brief: TurnBrief) -> Action:
        """Like :meth:`make_decision`, but return the bound :class:`Action` with its flags."""
        response: ModelResponse | BaseException
        try:
            response = await self.model.complete(self.request(brief))
        except Exception as exc:  # noqa: BLE001 - any model failure becomes a flagged fallback
            response = exc
        action = await self.finish(brief, response)
        self.flags = action.flags
        return action

    async def finish(self, brief: TurnBrief, response: ModelResponse | BaseException) -> Action:
        """Turn a first response into an action: accept, repair once, or fall back."""
        decision, problem = self.parse(brief, response)
        if decision is not None:
            return Action.from_decision(self.persona_id, decision)
        if isinstance(response, BaseException):  # transport failures are not worth a repair prompt
            return self.fallback(brief, problem)
        try:
            repaired = await self.model.complete(self.request(brief, repair_of=(response.text, problem)))
        except Exception as exc:  # noqa: BLE001
            repaired = exc
        decision, problem2 = self.parse(brief, repaired)
        if decision is not None:
            return Action.from_decision(self.persona_id, decision, flags=("repaired",))
        return self.fallback(brief, f"{problem}; after repair: {problem2}")


class PersonaPool:
    """A shard of personas: batched briefs and decisions for all of them.

    Args:
        personas: the personas this pool hosts.
        model: the language model they decide through.
        seed: the session seed.
    """

    def __init__(self, personas: Iterable[PersonaState], model: LanguageModel, seed: int) -> None:
        self.model = model
        self.seed = seed
        self.agents: dict[str, PersonaAgent] = {p.id: PersonaAgent(p, model, seed) for p in personas}
        self.factory = TurnBriefFactory()

    def briefs(
        self,
        world: WorldState,
        views: Mapping[str, BeliefView],
        ids: Iterable[str] | None = None,
        new_turn: bool = True,
    ) -> list[TurnBrief]:
        """Briefs for the given personas (default: every hosted persona that can act), in id order.

        Args:
            world: the world (or a replica of it).
            views: each persona's belief view of the turn (from its belief store).
            ids: the personas to brief.
            new_turn: the first briefs of a turn (False for the next chunk of the same turn: the
                per-turn caches stay).
        """
        if new_turn:
            self.factory.begin_turn(world)
        out = []
        create = self.factory.create_personalized_brief
        for pid in sorted(self.agents if ids is None else ids):
            p = world.personas[pid]
            if not p.can_act:
                continue
            view = views.get(pid)
            out.append(
                create(
                    pid,
                    world,
                    self.agents[pid].memory,
                    perceptions=view.perceived if view else (),
                    belief_summary=view.beliefs if view else (),
                    ordered=True,
                )
            )
        return out

    async def decide(self, briefs: Sequence[TurnBrief]) -> dict[str, Action]:
        """Every brief's decision in one batch of model calls (repairs batched too)."""
        agents = [self.agents[b.agent_id] for b in briefs]
        responses = await self.model.complete_many([a.request(b) for a, b in zip(agents, briefs)])
        out: dict[str, Action] = {}
        retry: list[tuple[PersonaAgent, TurnBrief, ModelResponse | BaseException]] = []
        for agent, brief, response in zip(agents, briefs, responses):
            decision, _ = agent.parse(brief, response)
            if decision is not None:
                out[agent.persona_id] = Action.from_decision(agent.persona_id, decision)
            else:
                retry.append((agent, brief, response))
        for agent, brief, response in retry:
            out[agent.persona_id] = await agent.finish(brief, response)
        return out

    async def brief_and_decide(
        self,
        world: WorldState,
        ids: Sequence[str],
        views_for: Callable[[Sequence[str]], Mapping[str, BeliefView]],
        timings: dict[str, float],
    ) -> dict[str, Action]:
        """Brief ``ids`` (sorted) and decide for them, chunk by chunk: a chunk's model calls go out
        while the next chunk is briefed, so a model with latency is not kept waiting for every
        brief of a large cast (for the offline model it changes nothing but the bookkeeping).

        ``views_for(chunk)`` returns the chunk's belief views (in process it absorbs the chunk's
        perceptions first). Every persona gets the same view, brief and request as if the phases
        ran one after another, so the story does not depend on the chunking. ``timings`` gains
        ``believe`` (time in ``views_for``), ``brief`` and ``decide`` (the rest).
        """
        clock = time.perf_counter
        start = t = clock()
        believe = brief = 0.0
        tasks: list[asyncio.Task] = []
        try:
            for i in range(0, len(ids), DECIDE_CHUNK):
                chunk = ids[i : i + DECIDE_CHUNK]
                views = views_for(chunk)
                t2 = clock()
                believe += t2 - t
                briefs = self.briefs(world, views, chunk, new_turn=i == 0)
                t = clock()
                brief += t - t2
                tasks.append(asyncio.ensure_future(self.decide(briefs)))
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
        timings["believe"] = timings.get("believe", 0.0) + believe
        timings["brief"] = timings.get("brief", 0.0) + brief
        timings["decide"] = timings.get("decide", 0.0) + clock() - start - believe - brief
        return decisions

    def memory_rows(self) -> dict[str, list[list[Any]]]:
        """Every hosted persona's memories as JSON-friendly checkpoint rows (``{id: [row, ...]}``)."""
        return {pid: [list(_memory_row(m)) for m in a.memory] for pid, a in self.agents.items()}

    def restore_memory(self, rows: Mapping[str, Sequence[Sequence[Any]]]) -> None:
        """Give the hosted personas the memories of :meth:`memory_rows` data (others keep theirs)."""
        for pid, items in rows.items():
            agent = self.agents.get(pid)
            if agent is not None:
                agent.memory = deque((MemoryItem(*m) for m in items), maxlen=MEMORY_LIMIT)

    def remember(self, events: Iterable[Event]) -> None:
        """Give each hosted persona the memory of the events it acted in, suffered or joined."""
        agents = self.agents
        for ev in events:
            seen = set()
            for pid in (ev.actor, ev.target, *ev.participants):
                if pid is not None and pid not in seen and pid in agents:
                    seen.add(pid)
                    agents[pid].remember(ev)
