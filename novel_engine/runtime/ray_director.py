"""The director actor: owns the world and runs the turn loop over the session's shards.

One turn, with one batched call per shard per phase (never one Ray call per persona):

perceive (here: fog of war over the world) -> believe (each belief shard absorbs its personas'
perceptions and returns their belief views) -> brief + decide (each persona shard patches its world
replica, remembers last turn's events, briefs and decides its personas) -> resolve and record
(here) -> narrate (the chronicler actor) -> commit (the report is kept, events go to the hub).

The phases run the same pure code as the in-process runtime, in the same order per persona, so
both runtimes tell byte-identical stories for any shard count.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from novel_engine.agents.chronicler import WorldContext, ends_story, select_highlights
from novel_engine.agents.chronicler import _mentioned as mentioned_in  # exactly whom the prose may name
from novel_engine.agents.director import DirectorAgent
from novel_engine.config import SessionSettings
from novel_engine.core.events import Action, Event, InformationFragment, WorldEventSpec
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import build_world, gc_paused
from novel_engine.core.world import WorldState
from novel_engine.errors import StateLostError
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime import wire
from novel_engine.runtime.checkpoint import assemble, encode
from novel_engine.runtime.checkpoint import restore as restore_runtime
from novel_engine.runtime.local import TurnReport, chronicle_impact, page_of
from novel_engine.runtime.ray_metrics import record_coherence
from novel_engine.runtime.sharding import ShardPlan

__all__ = ["DirectorActor", "hub_items"]


def _signature(p) -> tuple:
    return (p.location, p.health, p.hidden, tuple((k, r.trust, r.affinity) for k, r in p.relationships.items()))


def hub_items(report: TurnReport, committed_at: float | None = None) -> list[dict[str, Any]]:
    """What a turn publishes on the event hub: its events, its prose, then ``turn_complete``.

    ``committed_at``: when the turn was committed (default now).
    """
    kinds = {"action": "agent_action", "world": "world_event", "causal": "causal_event"}
    items: list[dict[str, Any]] = [
        {"type": kinds.get(e.kind, "world_event"), "turn": report.turn, "event": e.to_dict()} for e in report.events
    ]
    items.append({"type": "narrative_update", "turn": report.turn, "prose": report.prose})
    items.append(
        {
            "type": "turn_complete",
            "turn": report.turn,
            "tension": report.tension,
            "events": len(report.events),
            "milestones": list(report.milestones),
            "rejected": report.rejected,
            "repaired": report.repaired,
            # wall clock, so subscribers can measure delivery
            "committed_at": time.time() if committed_at is None else committed_at,
        }
    )
    return items


def hub_window(reports: Sequence[TurnReport], capacity: int) -> tuple[list[dict[str, Any]], int]:
    """The items a hub that saw every turn of ``reports`` would hold (its newest ``capacity``),
    and the sequence number of the first: a turn publishes ``len(events) + 2`` items."""
    total = sum(len(r.events) + 2 for r in reports)
    tail: list[list[dict[str, Any]]] = []
    kept = 0
    for report in reversed(reports):
        if kept >= capacity:
            break
        tail.append(hub_items(report, committed_at=0.0))  # the commit time of an old turn is not kept
        kept += len(tail[-1])
    items = [item for turn in reversed(tail) for item in turn][-capacity:] if tail else []
    return items, total - len(items) + 1


@ray.remote
class DirectorActor:
    """The session's game master: world state, fog of war, resolution, and the turn loop.

    Args:
        scenario: the validated scenario.
        settings: the session settings (seed resolved).
        plan: which personas live on which shard.
        persona_shards: handles of the persona shards, in plan order.
        belief_shards: handles of the belief-store shards, in plan order.
        chronicler: the chronicler actor.
        hub: the event hub actor.
    """

    def __init__(
        self,
        scenario: Scenario,
        settings: SessionSettings,
        plan: ShardPlan,
        persona_shards: Sequence[Any],
        belief_shards: Sequence[Any],
        chronicler: Any,
        hub: Any,
    ) -> None:
        self.scenario = scenario
        self.settings = settings
        self.seed = settings.seed if settings.seed is not None else scenario.seed
        self.world, initial = build_world(scenario)
        self.pending: list[InformationFragment] = list(initial)
        # A restarted director is back at turn 0 until the driver restores it: readers (the Serve
        # app) learn that from ``summary`` without a store read per request.
        self._restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.fog = FogOfWarService(attention=settings.attention)
        self.director = DirectorAgent(self.world, scenario, self.seed, difficulty=settings.difficulty)
        self.plan = plan
        self.persona_shards, self.belief_shards = list(persona_shards), list(belief_shards)
        self.persona_shard_of = plan.persona_shard_of()
        self.chronicler, self.hub = chronicler, hub
        self.history: list[TurnReport] = []
        self.last_events: tuple[Event, ...] = ()
        self._signatures = {pid: _signature(p) for pid, p in self.world.personas.items()}
        self._facts = dict(self.world.facts)
        self._lock = asyncio.Lock()
        wire.settle_gc()
        # Every committed turn's inputs (player actions, world events, trait updates made before
        # it), so a fork can replay the story deterministically up to any turn.
        self.inputs: list[tuple[dict[str, Action], list[WorldEventSpec], dict[str, dict[str, float]]]] = []
        self._updates: dict[str, dict[str, float]] = {}

    def _patch(self) -> dict[str, Any]:
        """The personas (and facts) that changed since the last patch, for the shards' replicas."""
        changed = []
        sigs = self._signatures
        for pid, p in self.world.personas.items():
            sig = _signature(p)
            if sigs.get(pid) != sig:
                sigs[pid] = sig
                changed.append(p.to_dict())
        patch: dict[str, Any] = {"turn": self.world.turn, "personas": changed}
        facts, old = self.world.facts, self._facts
        if facts != old:
            # only what changed: consequences keep a fact per persona or place (goals reached,
            # places searched out), too many to resend whole every turn in a large cast
            patch["facts_set"] = {k: v for k, v in facts.items() if k not in old or old[k] != v}
            removed = [k for k in old if k not in facts]
            if removed:
                patch["facts_removed"] = removed
            self._facts = dict(facts)
        return patch

    async def step(
        self,
        agent_actions: Mapping[str, Action] | None = None,
        world_events: Sequence[WorldEventSpec] = (),
        turn: int | None = None,
        calls: Sequence[dict] | None = None,
        publish: bool = True,
    ) -> TurnReport:
        """Run one turn (turns never overlap). Player actions must already be validated.

        Args:
            turn: the turn the caller expects this to be; a director that restarted (and so is
                back at turn 0) raises ``StateLostError`` instead of playing the wrong turn.
            calls: a replay: the recorded model calls of this turn, each sent to the actor that
                made it (the chronicler's, and each persona's to its shard).
            publish: put the turn on the event hub now; a stored session's driver passes False
                and calls :meth:`publish` once the store has committed the turn.
        Returns:
            The report, whose ``calls`` are the model-call records the actors made or used.
        """
        async with self._lock:
            if turn is not None and turn != self.world.turn + 1:
                raise StateLostError(
                    f"the director is at turn {self.world.turn}, not {turn - 1}: it restarted and must be restored",
                    role="director",
                    turn=turn,
                    have=self.world.turn,
                )
            with gc_paused():
                report = await self._step(agent_actions or {}, world_events, calls or ())
            if publish:
                await self._publish(report)
            return report

    async def publish(self, turn: int) -> None:
        """Put turn ``turn`` (the last one played) on the event hub; a turn already there is not
        added again."""
        async with self._lock:
            if self.history and self.history[-1].turn == turn:
                await self._publish(self.history[-1])

    async def _publish(self, report: TurnReport) -> None:
        try:
            await self.hub.publish.remote(hub_items(report))
        except StateLostError:  # the hub restarted empty: give it back its window first
            before = [r for r in self.history if r.turn < report.turn]
            await self._restore_hub(before)
            await self.hub.publish.remote(hub_items(report))

    async def _restore_hub(self, reports: Sequence[TurnReport]) -> None:
        items, first = hub_window(reports, await self.hub.window_size.remote())
        await self.hub.restore.remote(items, first, reports[-1].turn if reports else 0)

    def _route_calls(self, calls: Sequence[dict]) -> tuple[list[list[dict]], list[dict]]:
        """Recorded calls by persona shard, and the chronicler's."""
        shards: list[list[dict]] = [[] for _ in self.persona_shards]
        chron: list[dict] = []
        for rec in calls:
            i = self.persona_shard_of.get(rec.get("agent"))
            (chron if i is None else shards[i]).append(rec)
        return shards, chron

    async def _step(
        self, players: Mapping[str, Action], world_events: Sequence[WorldEventSpec], calls: Sequence[dict]
    ) -> TurnReport:
        timings: dict[str, float] = {}
        clock = time.perf_counter
        world, turn = self.world, self.world.turn + 1
        t = clock()
        routes = self.fog.route(self.pending, world)
        timings["perceive"], t = clock() - t, clock()
        deciders = [pid for pid in sorted(world.personas) if pid not in players and world.personas[pid].can_act]
        deciding = set(deciders)
        # Belief views go from each belief shard straight to the persona shards (one object per
        # persona shard, passed by reference): the director never unpacks or re-sends them.
        shard_of, n = self.persona_shard_of, len(self.persona_shards)
        view_refs: list[list[Any]] = [[] for _ in range(n)]
        for shard, ids in zip(self.belief_shards, self.plan.belief_shards):
            part = {pid: routes[pid] for pid in ids if pid in routes}
            split: list[list[str]] = [[] for _ in range(n)]
            for pid in ids:
                if pid in deciding:
                    split[shard_of[pid]].append(pid)
            refs = shard.absorb_for.options(num_returns=n).remote(part, turn, split)
            for j, ref in enumerate(refs if n > 1 else [refs]):
                view_refs[j].append(ref)
        timings["believe"], t = 0.0, clock()  # overlaps the decide phase now
        patch = self._patch()
        memories = self._memories_by_shard()
        replay_shards, replay_chron = self._route_calls(calls)
        pending = []
        for i, (shard, ids) in enumerate(zip(self.persona_shards, self.plan.persona_shards)):
            mine = [pid for pid in ids if pid in deciding]
            pending.append(shard.decide.remote(patch, view_refs[i], mine, memories[i], turn, replay_shards[i] or None))
        decisions: dict[str, Action] = {}
        records: list[dict] = []
        for d, recs in await asyncio.gather(*pending):
            decisions.update(d)
            records.extend(recs)
        timings["brief"], timings["decide"], t = 0.0, clock() - t, clock()
        result = self.director.resolve_turn(players, world_events, decisions=decisions)
        self.last_events = result.events
        timings["resolve"], t = clock() - t, clock()
        # Only the people and places of the events the chronicler will tell cross to it (with a
        # large cast that is a few dozen, not every persona); it picks the same highlights.
        told, _ = select_highlights(result.events, self.settings.highlight_limit, chronicle_impact)
        people, where = mentioned_in(told)
        characters = {pid: world.personas[pid] for pid in people if pid in world.personas}
        places = {l: world.locations[l] for l in where if l in world.locations}
        prose, recs = await self.chronicler.narrate.remote(
            result.events,
            characters,
            WorldContext(
                title=self.scenario.title,
                turn=turn,
                locations=places,
                tension=result.tension,
                ending=ends_story(self.scenario, self.director.reached, result.milestones),
            ),
            chronicle_impact,
            True,
            replay_chron or None,
        )
        records.extend(recs)
        timings["narrate"], t = clock() - t, clock()
        self.pending = list(result.fragments)
        report = TurnReport.of(turn, result, prose, decisions, timings)
        if report.violations:
            record_coherence(report.violations)  # by kind only: a label per session would grow without bound
        self.history.append(report)
        self.inputs.append((dict(players), list(world_events), self._updates))
        self._updates = {}
        timings["commit"] = clock() - t
        wire.settle_gc()
        # the records go to the driver with this answer only; the kept report does not hold them
        return dataclasses.replace(report, calls=tuple(records)) if records else report

    def _memories_by_shard(self) -> list[list[Event]]:
        """Last turn's events, each sent to the shards hosting someone it involves."""
        out: list[list[Event]] = [[] for _ in self.persona_shards]
        where = self.persona_shard_of
        for ev in self.last_events:
            shards = {where[pid] for pid in (ev.actor, ev.target, *ev.participants) if pid in where}
            for i in sorted(shards):
                out[i].append(ev)
        return out

    # -- checkpoints -------------------------------------------------------------------------
    async def checkpoint(self) -> bytes:
        """The session's state after the last turn, encoded as the store keeps it (between turns).

        The same layout as the in-process runtime's checkpoint, so either runtime can resume it.
        """
        async with self._lock:
            turn = self.world.turn
            memories = self._memories_by_shard()
            parts = await asyncio.gather(*(s.snapshot.remote(m, turn) for s, m in zip(self.persona_shards, memories)))
            beliefs = await asyncio.gather(*(s.snapshot.remote() for s in self.belief_shards))
            chronicle = await self.chronicler.snapshot.remote()
            state = assemble(
                turn=turn,
                seed=self.seed,
                scenario=self.scenario,
                settings=self.settings,
                world=self.world,
                pending=self.pending,
                beliefs={k: v for b in beliefs for k, v in b.items()},
                memory={k: v for m in parts for k, v in m.items()},
                director=self.director,
                chronicler=chronicle,
                with_scenario=False,
            )
            return encode(state)

    async def restore(self, state: Mapping[str, Any]) -> int:
        """Put the whole session (this director and every shard) back to a checkpoint; return its turn.

        ``state`` is a checkpoint dict (``checkpoint.capture``), with the reports of its turns.
        """
        async with self._lock:
            rt = restore_runtime(state, OfflineModel(), scenario=self.scenario)  # the director's parts of it
            turn = rt.turn
            mem, beliefs = state["memory"], state["beliefs"]
            calls = [
                s.restore.remote(state["world"], {p: mem[p] for p in ids if p in mem}, turn)
                for s, ids in zip(self.persona_shards, self.plan.persona_shards)
            ]
            calls += [
                s.restore.remote({p: beliefs[p] for p in ids if p in beliefs}, turn)
                for s, ids in zip(self.belief_shards, self.plan.belief_shards)
            ]
            calls.append(self.chronicler.restore.remote(state["chronicler"], turn))
            await asyncio.gather(*calls)
            self.world, self.pending, self.director, self.history = rt.world, rt.pending, rt.director, rt.history
            self.last_events = self.history[-1].events if self.history else ()
            self._signatures = {pid: _signature(p) for pid, p in self.world.personas.items()}
            self._facts = dict(self.world.facts)
            await self._restore_hub(self.history)  # a new or restarted hub numbers on from here
            self._restarted = False
            wire.settle_gc()
            return turn

    # -- reads -------------------------------------------------------------------------------
    def turn(self) -> int:
        return self.world.turn

    def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        return page_of(self.history, after, limit)

    def summary(self) -> dict[str, Any]:
        """Where the session stands, in one small answer: the turn, the tension after it, and whether
        this director restarted and has not been restored yet (its state is then not the session's)."""
        return {
            "turn": self.world.turn,
            "tension": self.history[-1].tension if self.history else 0.0,
            "restarted": self._restarted,
        }

    def turn_inputs(self, upto: int) -> list:
        """The inputs of turns 1..``upto`` (what a fork replays)."""
        return self.inputs[:upto]

    async def update_persona(self, persona_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits from the next turn on (between turns, never during one)."""
        async with self._lock:
            self.world.personas[persona_id].traits.update(traits)
            self._signatures.pop(persona_id, None)  # the next patch carries it to its shard
            self._updates.setdefault(persona_id, {}).update(traits)

    def world_state(self) -> WorldState:
        return self.world

    def causal_graph(self) -> dict:
        return self.director.causal_graph.to_node_link()

    def explain(self, event_id: str) -> list:
        return self.director.causal_graph.explain(event_id)

    def scenario_and_settings(self) -> tuple[Scenario, SessionSettings]:
        return self.scenario, self.settings

    async def beliefs_of(self, persona_id: str, limit: int = 20) -> list:
        i = self.plan.belief_shard_of().get(persona_id)
        if i is None:
            return []
        return await self.belief_shards[i].beliefs_of.remote(persona_id, limit)

    async def belief_model_of(self, persona_id: str) -> dict | None:
        i = self.plan.belief_shard_of().get(persona_id)
        return None if i is None else await self.belief_shards[i].model_of.remote(persona_id)
