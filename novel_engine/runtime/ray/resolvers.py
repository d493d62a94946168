"""Resolver shard actors: phase B of the resolve phase (the regions) settled in parallel on Ray.

Each :class:`ResolverShard` (``ne:<sid>:resolve:<i>``) holds a
:class:`~novel_engine.agents.region_settler.RegionSettler` over a world replica. Per turn the
director (:class:`RayResolvers`) sends every shard, in one call each and all in flight at once,
the same patch (``ray.put`` once: what changed in the world since the shards last saw it, i.e.
last turn's regions, this turn's central events and moves), the relationships indexed since, last
turn's action events, and that shard's regions; each answers its regions' outcomes and the new
state of their people, which the director writes into its world before merging in event-id order.

A replica is loaded whole when the session starts or is restored. A restarted shard is empty and
refuses the next turn (``StateLostError``), and a shard that dies mid-turn fails the turn: either
way the session rebuilds from its store, as with graph shards, and the story goes on unchanged.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import ray

from novel_engine.agents.region_settler import RegionSettler, priors, take_changes
from novel_engine.agents.regional import RegionOutcome, TurnPlan
from novel_engine.core.regions import assign_regions
from novel_engine.core.setup import gc_paused
from novel_engine.runtime import wire
from novel_engine.runtime.ray.actors import _check_turn
from novel_engine.runtime.ray.patches import ReplicaTracker, apply_patch

__all__ = ["ResolverShard", "RayResolvers"]


@ray.remote
class ResolverShard:
    """Settles whole regions of a session's map over a world replica (see the module doc)."""

    def __init__(self, fragments: Sequence[Any], seed: int) -> None:
        self.fragments, self.seed = list(fragments), seed
        self.settler: RegionSettler | None = None
        self.last_turn = -1  # nothing held: a (re)started shard waits for ``load``
        self.fail_at: int | None = None
        self.restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self.timings: dict[str, float] = {}

    def load(self, world: bytes, difficulty: float, fans: dict, recent: list, turn: int) -> None:
        """Hold a replica of the world after ``turn`` (packed by ``wire.pack``) and the director's
        fans index and recent action events (:class:`~novel_engine.agents.region_settler.Prior`)."""
        with gc_paused(freeze=True):  # a large cast's world: millions of long-lived objects
            replica = wire.unpack(world)
        self.settler = RegionSettler(replica, self.fragments, self.seed, difficulty, fans, recent)
        self.last_turn = turn
        wire.settle_gc()

    def settle(self, patch: Any, turn: int, inputs: Any) -> bytes:
        """Bring the replica up to this turn's phase B and settle this shard's regions.

        ``patch``: what changed in the world; ``inputs``: ``(new relationships, recent action
        events, work, known, hidden)``; each may come packed (``wire.pack``). Returns the
        outcomes, the changed people and the CPU seconds spent, packed by ``wire.pack`` (Ray's
        own serialiser calls back into Python per object: about a second a turn each way at
        100,000 personas)."""
        _check_turn("resolver shard", self.last_turn, turn)
        if self.fail_at == turn:  # a fault test: die in the middle of a turn, as a lost node would
            os._exit(1)
        cpu = time.process_time()
        settler: RegionSettler = self.settler  # type: ignore[assignment]  # held: _check_turn passed
        with gc_paused(freeze=True):  # tens of thousands of acts and outcomes, nothing cyclic
            new_relationships, recent, work, known, hidden = wire.opened(inputs)
            apply_patch(settler.world, wire.opened(patch))
            settler.follow(new_relationships, recent, turn)
            outcomes, changed = settler.settle(work, turn, known, hidden)
        self.last_turn = turn
        wire.settle_gc()
        return wire.pack((outcomes, changed, time.process_time() - cpu))

    def fail_during(self, turn: int) -> None:
        """For fault tests: exit the process while settling ``turn``."""
        self.fail_at = turn

    def ping(self) -> str:
        return "ok"

    def was_restarted(self) -> bool:
        """Whether this is a restart of the shard (fault tests)."""
        return self.restarted


class RayResolvers:
    """The resolver shard actors of a session, as the director sees them.

    Args:
        shards: the shard actors, in order.
    """

    def __init__(self, shards: Sequence[Any]) -> None:
        self.shards = list(shards)
        self.loaded = False
        self.tracker: ReplicaTracker | None = None  # made with the first load
        self.new_relationships: list[tuple[str, str]] = []
        self.timings: dict[str, float] = {}

    def reset(self) -> None:
        """The session was restored: load every shard whole before the next turn."""
        self.loaded = False

    def changed(self, persona_id: str) -> None:
        """A persona changed beyond what patches follow (its traits): the next patch carries it whole."""
        if self.tracker is not None:
            self.tracker.forget(persona_id)

    async def _load(self, director: Any) -> None:
        world = director.world
        self.tracker = ReplicaTracker(world)
        self.new_relationships = []
        ref = ray.put(wire.pack(world))
        fans = {k: sorted(v) for k, v in director.resolver.fans.items()}
        recent = priors(director.recent)
        await asyncio.gather(*(s.load.remote(ref, director.difficulty, fans, recent, world.turn) for s in self.shards))
        self.loaded = True

    async def settle(self, director: Any, plan: TurnPlan) -> list[RegionOutcome]:
        """Phase B on the shards: whole regions per shard, every shard at once."""
        # every shard hears of every turn, with regions to settle or not: each patch holds only
        # what changed since the last one, so a shard that missed one would fall out of step
        if not self.loaded:
            await self._load(director)
            recent: list = []
        else:
            recent = priors(e for e in director.recent if e.turn == plan.turn - 1)
        clock = time.perf_counter
        t0 = clock()
        world = director.world
        hidden = plan.hidden
        if hidden is None:  # one region: the shard still needs who stands hidden around it
            hidden = frozenset(pid for pid, p in world.personas.items() if p.hidden)
        patch = ray.put(wire.pack(self.tracker.patch(world)))  # type: ignore[union-attr]  # made by _load
        news, self.new_relationships = self.new_relationships, []
        split = assign_regions([len(w.acts) for w in plan.work], len(self.shards))
        calls = [
            shard.settle.remote(
                patch, plan.turn, wire.pack((news, recent, [plan.work[i] for i in regions], plan.known, hidden))
            )
            for shard, regions in zip(self.shards, split)
        ]
        t1 = clock()
        answers = [wire.unpack(a) for a in await asyncio.gather(*calls)]
        t2 = clock()
        fans = director.resolver.fans
        outcomes: list[RegionOutcome] = []
        cpu = []
        for part, changed, seconds in answers:
            outcomes.extend(part)
            self.new_relationships.extend(take_changes(world, fans, changed))
            cpu.append(seconds)
        self.timings = {
            "resolve_shards_cpu": sum(cpu),
            "resolve_shards_critical": max(cpu, default=0.0),
            # the director's side: the patch and the calls out, the wait, the answers taken in
            "resolve_shards_send": t1 - t0,
            "resolve_shards_wait": t2 - t1,
            "resolve_shards_take": clock() - t2,
        }
        return outcomes

    async def ping(self) -> Iterable[str]:
        return await asyncio.gather(*(s.ping.remote() for s in self.shards))
