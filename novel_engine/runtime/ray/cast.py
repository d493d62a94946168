"""The cast and the narrator of a Ray session, as the turn pipeline sees them (director side).

:class:`RayCast` implements :class:`~novel_engine.runtime.turn.Cast` over belief-store shards and
persona shards with one batched call per shard per phase (never one Ray call per persona):
each belief shard absorbs its personas' perceptions and hands their views straight to the persona
shards (object references: the director never unpacks them); each persona shard patches its world
replica, remembers last turn's events, briefs and decides. A packed cast's persona shards hold
their personas' beliefs and perceive too: they get the turn's fragments, not the director's routes,
and each routes them over its replica (hearsay spreads over the whole cast, so every shard runs
the same spread from the same world and keeps its own personas' lists). A small cast has no belief shards
(``plan_shards``): the director absorbs its perceptions itself and sends each persona shard its
views inline with the decide call, one hop instead of two. :class:`RayNarrator` sends the
chronicler actor only the events it will tell, their people and places, and a summary of the rest.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import ray

from novel_engine.agents.belief_store import BeliefStore
from novel_engine.agents.highlights import select_highlights, untold_of
from novel_engine.agents.narration_context import WorldContext
from novel_engine.agents.narration_context import mentioned as mentioned_in  # exactly whom the prose may name
from novel_engine.core.events import Action, Event
from novel_engine.core.setup import gc_paused
from novel_engine.core.world import WorldState
from novel_engine.runtime import wire
from novel_engine.runtime.ray.patches import ReplicaTracker
from novel_engine.runtime.sharding import ShardPlan
from novel_engine.runtime.turn import chronicle_impact

__all__ = ["RayCast", "RayNarrator"]

#: a per-turn patch with up to this many personas and facts travels inline with each shard call
_INLINE_PATCH = 64


class RayCast:
    """The personas of a session spread over shard actors.

    Args:
        plan: which personas live on which shard.
        persona_shards: handles of the persona shards, in plan order.
        belief_shards: handles of the belief-store shards, in plan order (none: the plan has no
            belief shards and the beliefs live here, in the director: a small cast).
        world: the world the shards' replicas start from.
    """

    def __init__(self, plan: ShardPlan, persona_shards: Sequence[Any], belief_shards: Sequence[Any], world) -> None:
        self.plan = plan
        self.persona_shards, self.belief_shards = list(persona_shards), list(belief_shards)
        self.persona_shard_of = plan.persona_shard_of()
        self.last_events: Sequence[Event] = ()
        self._packed: tuple[Any, bytes] = (None, b"")  # (events, packed): see packed_events
        self.fused = plan.beliefs_in_persona_shards  # each persona shard holds its personas' beliefs
        # a small cast's beliefs, here: absorbing them costs less than one round trip to a shard
        self.beliefs = None if self.belief_shards or self.fused else BeliefStore(world.personas.values())
        self.tracker = ReplicaTracker(world)
        self.ahead_of: int | None = None  # the turn the shards are perceiving ahead (see ahead)
        self.ahead_refs: list[Any] = []
        self.ahead_task: asyncio.Task | None = None  # sending them (see ahead)
        self.touched: set[str] = set()  # personas changed since the shards perceived ahead

    def _memories_by_shard(self) -> list[list[Event]]:
        """Last turn's events, each sent to the shards hosting someone it involves."""
        out: list[list[Event]] = [[] for _ in self.persona_shards]
        where = self.persona_shard_of
        for ev in self.last_events:
            shards = {where[pid] for pid in (ev.actor, ev.target, *ev.participants) if pid in where}
            for i in sorted(shards):
                out[i].append(ev)
        return out

    def _memories(self) -> list[Any]:
        """Last turn's events as each shard call takes them: a large cast's packed once and put
        once for every shard (each keeps the memories of its own personas: most events involve
        personas of several shards, so packing a share per shard packed most of them K times);
        a small cast's, each shard its own share inline."""
        packed = self.packed_events(self.last_events)
        if packed is None:
            return self._memories_by_shard()
        return [self._put(packed)] * len(self.persona_shards)

    def packed_events(self, events: Sequence[Event]) -> bytes | None:
        """The turn's events (those :meth:`remember` took) packed once, for the shards' memories
        and for the turn's report alike (``wire.pack_report``); None for a few (they go inline)."""
        if len(events) <= _INLINE_PATCH:
            return None
        if self._packed[0] is not events:
            self._packed = (events, wire.pack(list(events)))
        return self._packed[1]

    async def decide(self, world, pending, fog, turn, deciders, calls, timings):
        clock = time.perf_counter
        t = clock()
        # a packed cast's shards route the fragments themselves over their replicas (the same
        # world: the patch below brings them to it), in parallel, and no perception crosses a
        # process; otherwise the director routes them for the belief side
        routes = None if self.fused else fog.route(pending, world)
        timings["perceive"], t = clock() - t, clock()
        deciding = set(deciders)
        shard_of, n = self.persona_shard_of, len(self.persona_shards)
        view_refs: list[list[Any]] = [[] for _ in range(n)]
        if self.beliefs is not None:  # the same absorb_views as a belief shard's, over the whole cast
            views = self.beliefs.absorb_views(routes, turn, deciders)
            for j, ids in enumerate(self.plan.persona_shards):
                view_refs[j].append({pid: views[pid] for pid in ids if pid in views})
            timings["believe"] = clock() - t
        for shard, ids in zip(self.belief_shards, self.plan.belief_shards):
            part = {pid: routes[pid] for pid in ids if pid in routes}
            split: list[list[str]] = [[] for _ in range(n)]
            for pid in ids:
                if pid in deciding:
                    split[shard_of[pid]].append(pid)
            refs = shard.absorb_for.options(num_returns=n).remote(part, turn, split)
            for j, ref in enumerate(refs if n > 1 else [refs]):
                view_refs[j].append(ref)
        replay: list[list[dict]] = [[] for _ in range(n)]
        for rec in calls:
            replay[shard_of[rec["agent"]]].append(rec)
        fragments: Any = None  # perceived ahead
        if self.fused and self.ahead_of == turn:  # the shards routed this turn's fragments ahead
            await self._ahead_done()  # long done, unless the driver came straight back
            patch_arg = self._shared(self.tracker.patch(world, self.touched))  # trait updates since
            memories: list[Any] = [[] for _ in range(n)]  # sent ahead too
        else:
            patch_arg = self._shared(self.tracker.patch(world))
            memories = self._memories()
            fragments = self._fragments(pending) if self.fused else None
        self.ahead_of = None
        if self.fused:  # each shard perceives and believes for its personas: only the fragments in transit
            waiting = [
                shard.believe_and_decide.remote(
                    patch_arg,
                    fragments,
                    fog,
                    [p for p in ids if p in deciding],
                    memories[i],
                    turn,
                    replay[i] or None,
                )
                for i, (shard, ids) in enumerate(zip(self.persona_shards, self.plan.persona_shards))
            ]
        else:
            waiting = [
                shard.decide.remote(
                    patch_arg, [p for p in ids if p in deciding], memories[i], turn, replay[i] or None, *view_refs[i]
                )
                for i, (shard, ids) in enumerate(zip(self.persona_shards, self.plan.persona_shards))
            ]
        decisions: dict[str, Action] = {}
        records: list[dict] = []
        for answer in await asyncio.gather(*waiting):
            with gc_paused():  # tens of thousands of decisions: nothing for the collector to free
                d, recs = wire.unpack(answer)
            decisions.update(d)
            records.extend(recs)
        # perceiving (packed), believing and briefing overlap deciding across the shards: one figure here
        believe = timings.get("believe", 0.0)
        timings["believe"], timings["brief"], timings["decide"] = believe, 0.0, clock() - t - believe
        return decisions, records

    def _shared(self, patch: dict[str, Any]) -> Any:
        """A patch as the shard calls take it: a large one packed (``wire.pack``: Ray's own
        serialiser calls back into Python per object) and, with several shards, put once into
        the object store, not once per call (every shard reads the same); a small one (a small
        cast) inline with each call, which spares every shard a read from the object store."""
        big = len(patch["personas"]) + len(patch["updates"]) + len(patch.get("facts_set", ())) > _INLINE_PATCH
        return self._put(wire.pack(patch)) if big else patch

    def _fragments(self, pending: Sequence[Any]) -> Any:
        """The turn's fragments as the shard calls take them (see :meth:`_shared`)."""
        fragments = list(pending)
        return self._put(wire.pack(fragments)) if len(fragments) > _INLINE_PATCH else fragments

    def _put(self, packed: bytes) -> Any:
        return ray.put(packed) if len(self.persona_shards) > 1 else packed

    def ahead(self, world: WorldState, pending: Sequence[Any], fog: Any) -> None:
        """The turn just resolved: a packed cast's shards perceive the next one now (patch their
        replicas to ``world``, route ``pending`` through ``fog`` and take this turn's events into
        memory) while the driver commits this one; the next :meth:`decide` waits for them and
        sends only what changed since (trait updates). Nothing to do for an unpacked cast."""
        if not self.fused:
            return
        self.ahead_of, self.touched = world.turn + 1, set()
        # on the director's event loop once the turn has gone back to the driver: the patch and
        # the fragments are then sent while the driver commits the turn, not before it has it
        self.ahead_task = asyncio.get_running_loop().create_task(self._send_ahead(world, pending, fog, self.ahead_of))

    async def _send_ahead(self, world: WorldState, pending: Sequence[Any], fog: Any, turn: int) -> None:
        patch, fragments = self._shared(self.tracker.patch(world)), self._fragments(pending)
        memories = self._memories()
        self.ahead_refs = [
            shard.perceive_ahead.remote(patch, fragments, fog, memories[i], turn)
            for i, shard in enumerate(self.persona_shards)
        ]

    async def _ahead_done(self, raising: bool = True) -> None:
        """Wait until the shards have perceived ahead (``raising``: their errors raise)."""
        task, self.ahead_task = self.ahead_task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=not raising)
        refs, self.ahead_refs = self.ahead_refs, []
        await asyncio.gather(*refs, return_exceptions=not raising)

    def remember(self, events: Sequence[Event]) -> None:
        self.last_events = events  # sent with the next turn's decide call
        self._packed = (None, b"")

    def changed(self, persona_id: str) -> None:
        self.tracker.forget(persona_id)  # the next patch carries it to its shard
        self.touched.add(persona_id)

    async def held(self, turn: int) -> tuple[dict[str, Any], dict[str, list]]:
        memories = self._memories_by_shard()
        # one wave over every shard, persona and belief alike: a checkpoint waits for the slowest
        # shard once, not for the slowest persona shard and then the slowest belief shard
        calls = [s.snapshot.remote(m, turn) for s, m in zip(self.persona_shards, memories)]
        calls += [s.snapshot.remote() for s in self.belief_shards]
        if self.fused:
            calls += [s.belief_snapshot.remote() for s in self.persona_shards]
        answers = await asyncio.gather(*calls)
        parts, beliefs = answers[: len(self.persona_shards)], answers[len(self.persona_shards) :]
        if self.beliefs is not None:
            beliefs = [self.beliefs.to_dict()]
        return {k: v for b in beliefs for k, v in b.items()}, {k: v for m in parts for k, v in m.items()}

    async def restore(self, world: WorldState, state: Mapping[str, Any], turn: int) -> None:
        # a shard still perceiving ahead must be done before it is restored, not patch the restored
        # replica afterwards; a shard that failed at it is restored all the same
        await self._ahead_done(raising=False)
        self.ahead_of = None
        mem, beliefs = state["memory"], state["beliefs"]
        fused = self.fused
        calls = [
            s.restore.remote(
                state["world"],
                {p: mem[p] for p in ids if p in mem},
                turn,
                ids,
                {p: beliefs[p] for p in ids if p in beliefs} if fused else None,
            )
            for s, ids in zip(self.persona_shards, self.plan.persona_shards)
        ]
        calls += [
            s.restore.remote({p: beliefs[p] for p in ids if p in beliefs}, turn)
            for s, ids in zip(self.belief_shards, self.plan.belief_shards)
        ]
        await asyncio.gather(*calls)
        if self.beliefs is not None:
            self.beliefs.restore(beliefs)
        self.last_events = ()  # the restored memories hold them already
        self.tracker.track(world)

    async def beliefs_of(self, persona_id: str, limit: int) -> list:
        if self.beliefs is not None:
            return self.beliefs.beliefs_of(persona_id, limit)
        i = self.plan.belief_shard_of().get(persona_id)
        shards = self.persona_shards if self.fused else self.belief_shards
        return [] if i is None else await shards[i].beliefs_of.remote(persona_id, limit)

    async def model_of(self, persona_id: str) -> dict[str, Any] | None:
        if self.beliefs is not None:
            return self.beliefs.model_of(persona_id)
        i = self.plan.belief_shard_of().get(persona_id)
        shards = self.persona_shards if self.fused else self.belief_shards
        return None if i is None else await shards[i].model_of.remote(persona_id)


class RayNarrator:
    """The chronicler actor of a session, with ``highlight_limit`` from the session's settings."""

    def __init__(self, chronicler: Any, highlight_limit: int) -> None:
        self.chronicler, self.highlight_limit = chronicler, highlight_limit

    async def narrate(self, events, world: WorldState, context: WorldContext, calls):
        # Only the people and places of the events the chronicler will tell cross to it (with a
        # large cast that is a few dozen, not every persona); it picks the same highlights.
        told, omitted = select_highlights(events, self.highlight_limit, chronicle_impact)
        people, where = mentioned_in(told)
        characters = {pid: world.personas[pid] for pid in people if pid in world.personas}
        places = {loc: world.locations[loc] for loc in where if loc in world.locations}
        context = replace(context, locations=places)  # every other field as the driver made it (ending, closed...)
        # only the told events cross, and what the chronicler must know of the rest (not tens of
        # thousands of events): the same chapter as from the whole turn
        untold = untold_of(events, told) if omitted else None
        return await self.chronicler.narrate.remote(
            told, characters, context, chronicle_impact, True, calls or None, untold
        )

    async def held(self) -> dict[str, Any]:
        return await self.chronicler.snapshot.remote()

    async def restore(self, state: Mapping[str, Any], turn: int) -> None:
        await self.chronicler.restore.remote(dict(state), turn)
