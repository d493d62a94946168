"""Thin Ray actor shells around the pure cores: each holds one core object and only routes calls.

- ``PersonaShard``: a :class:`~novel_engine.agents.persona.PersonaPool` plus a replica of the world
  (kept in step by a per-turn patch), so it builds its personas' briefs and decides locally; in a
  packed cast it also holds its personas' :class:`~novel_engine.agents.belief_store.BeliefStore`.
- ``BeliefStoreShard``: a :class:`~novel_engine.agents.belief_store.BeliefStore`.
- ``ChroniclerActor`` (in ``ray.chronicler``): a :class:`~novel_engine.agents.chronicler.ChroniclerAgent`.
- ``EventHub`` (in ``ray.hub``): an :class:`~novel_engine.runtime.event_log.EventLog` that subscribers long-poll.

The director actor, which owns the world and the turn loop, is in ``ray.director``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import ray

from novel_engine.agents.belief_store import BeliefStore, BeliefView
from novel_engine.agents.persona import PersonaPool
from novel_engine.core.events import Event, InformationFragment
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.perception import BeliefSummary, Perception
from novel_engine.core.setup import gc_paused
from novel_engine.core.world import WorldState
from novel_engine.errors import StateLostError
from novel_engine.llm.port import LanguageModel
from novel_engine.llm.recording import learn_calls, take_calls
from novel_engine.runtime import wire  # records cross actors as constructor calls
from novel_engine.runtime.ray.hub import EventHub  # re-exported: it was defined here
from novel_engine.runtime.ray.patches import apply_patch  # re-exported: it was defined here

__all__ = ["PersonaShard", "BeliefStoreShard", "EventHub", "apply_patch", "UNLOADED"]


def _check_turn(role: str, have: int, turn: int) -> None:
    # A restarted actor re-runs __init__ and is back at turn 0: refuse to go on from the wrong
    # state (the driver then restores the session from its last committed checkpoint).
    if have != turn - 1:
        raise StateLostError(
            f"{role} holds the state of turn {have}, not of turn {turn - 1}: it restarted and must be restored",
            role=role,
            turn=turn,
            have=have,
        )


def _spent(
    t0: float, t1: float, c0: float, c1: float, wait_cpu: float = 0.0, began: float | None = None
) -> dict[str, float]:
    """A call's work from ``t0`` to ``t1`` (wall, ``perf_counter``) and ``c0`` to ``c1`` (this
    thread's CPU), for the benchmarks: ``wall``, ``cpu``, the CPU spent before the work while
    waiting for inputs (``wait_cpu``), this process's CPU clock now (``process_cpu``: what Ray's
    own threads spend on the call, unpickling arguments and pickling results, shows in its growth
    beyond ``cpu``) and the wall clock when the call began running here (``start``; ``began``: its
    ``perf_counter`` then, default ``t0``) and at the end (``end``), by ``time.time``, comparable
    across processes on one machine. Kept on the actor, read with ``last_timings`` only by a benchmark:
    a turn makes no extra call for it."""
    now = time.time()
    return {
        "wall": t1 - t0,
        "cpu": c1 - c0,
        "wait_cpu": wait_cpu,
        "process_cpu": time.process_time(),
        "start": now - (time.perf_counter() - (t0 if began is None else began)),
        "end": now,
    }


#: the turn of a shard that holds no state yet: new (before ``load``) or restarted by Ray; it
#: refuses every turn until it is loaded or restored
UNLOADED = -1


@ray.remote
class PersonaShard:
    """Hosts some personas: their memories, briefs and decisions.

    It starts empty, so its process starts while the driver still builds the world, and holds
    its personas once :meth:`load` (a new session) or :meth:`restore` has run. Nothing large is
    an argument of its constructor: a shard that Ray restarts comes back empty and is restored
    from the state store, never from an object-store copy that may be gone (ray-project/ray#53727).

    A packed cast's shard also holds its personas' belief models (``load(..., beliefs=True)``):
    it absorbs their perceptions itself, so no belief view crosses a process, and a turn is one
    hop from the director instead of two (belief shard, then persona shard).

    Args:
        model: the language model to decide through.
        seed: the session seed.
    """

    def __init__(self, model: LanguageModel, seed: int) -> None:
        self.ids: list[str] = []
        self.model, self.seed = model, seed
        self.world: WorldState | None = None
        self.pool = PersonaPool([], model, seed)
        self.beliefs: BeliefStore | None = None  # its personas' belief models, when it holds them
        self.last_turn = UNLOADED  # the last turn decided here (its state is that of the end of that turn)
        self.remembered = 0  # the last turn whose events the personas remember
        self.epoch = 0  # bumped by restore: a decide still awaiting its model then leaves no trace
        self.timings: dict[str, float] = {}  # where the last decide call spent its time (benchmarks)
        self.ahead: tuple | None = None  # (turn, epoch, routes, memories, timings) of perceive_ahead

    def load(self, persona_ids: Sequence[str], world: bytes, beliefs: bool = False) -> None:
        """Take the personas ``persona_ids`` of a new session, and ``world`` (turn 0, packed by
        ``wire.pack``; one object-store copy for every shard) as this shard's replica;
        ``beliefs``: hold their belief models too (see :meth:`believe_and_decide`)."""
        self.ids = list(persona_ids)
        # the collector stays off while the state is built (millions of new, long-lived objects
        # it would walk again and again, freeing nothing), which is then frozen out of its sight
        with gc_paused(freeze=True):
            self.world = wire.unpack(world)
            personas = [self.world.personas[p] for p in self.ids]
            self.pool = PersonaPool(personas, self.model, self.seed)
            self.beliefs = BeliefStore(personas) if beliefs else None
        self.last_turn = self.remembered = 0
        wire.settle_gc()

    def _remember(self, memories: Sequence[Event], turn: int) -> None:
        if turn > self.remembered:  # idempotent: a checkpoint may have remembered them already
            self.pool.remember(memories)
            self.remembered = turn

    async def decide(
        self,
        patch: dict,
        deciders: Sequence[str],
        memories: Sequence[Event],
        turn: int | None = None,
        calls: Sequence[dict] | None = None,
        *views: Mapping[str, BeliefView],
    ) -> bytes:
        """The brief and decide phases for this shard's deciding personas, in one call.

        ``views`` are the parts of the belief views each belief shard made for this shard (see
        ``BeliefStoreShard.absorb_for``), passed as the references that call returned: Ray hands
        the call to this shard once they are ready, with small ones inlined, so no round trip
        back to their owner is needed to read them. ``memories`` are the events of turn
        ``turn - 1`` (some or all: each persona keeps those it took part in); ``turn`` None skips the state check. ``calls``: recorded model calls to
        answer from (a replay). ``patch`` and ``memories`` may come packed (``wire.pack``).
        Returns the decisions and the turn's model-call records, packed by ``wire.pack``.
        """
        t0, c0 = time.perf_counter(), time.thread_time()
        merged: dict[str, BeliefView] = {}
        for part in views:
            merged.update(part)
        return await self._decide(patch, deciders, memories, turn, calls, lambda ids: merged, t0, c0)

    async def believe_and_decide(
        self,
        patch: dict,
        fragments: Sequence[InformationFragment] | None,
        fog: FogOfWarService,
        deciders: Sequence[str],
        memories: Sequence[Event],
        turn: int,
        calls: Sequence[dict] | None = None,
    ) -> bytes:
        """The perceive, believe, brief and decide phases for this shard's personas, whose belief
        models live here (``load(..., beliefs=True)``): once ``patch`` has brought the replica to
        the director's world, ``fog`` routes the turn's ``fragments`` over it for this shard's
        personas (hearsay flows through the whole cast, as in process), and their perceptions are
        absorbed as in process (those who do not decide first, then the deciders chunk by chunk as
        they are briefed). ``fragments`` None: :meth:`perceive_ahead` routed them, and took the
        memories, before this call. Otherwise as :meth:`decide`."""
        t0, c0 = time.perf_counter(), time.thread_time()
        if self.beliefs is None:  # never loaded with its beliefs, or restarted empty
            _check_turn("persona shard", UNLOADED, turn)
        store, spent = self.beliefs, [0.0]  # the believe phase's CPU here (benchmarks)
        routes: dict[str, list[Perception]] = {}
        perceived: dict[str, float] = {}  # the perceive phase's wall and CPU here (benchmarks)
        if fragments is None:  # perceived ahead (see perceive_ahead)
            routes, memories, perceived = self._take_ahead(turn)

        def perceive_and_absorb_others() -> None:
            if fragments is not None:
                w, c = time.perf_counter(), time.thread_time()
                routes.update(fog.route(wire.opened(fragments), self.world, self.ids))
                perceived.update(perceive_wall=time.perf_counter() - w, perceive_cpu=time.thread_time() - c)
            c = time.thread_time()
            store.absorb_others(routes, turn, deciders)
            spent[0] += time.thread_time() - c

        def views(ids: Sequence[str]) -> Mapping[str, BeliefView]:
            c = time.thread_time()
            out = store.absorb_views(routes, turn, ids, others=False)
            spent[0] += time.thread_time() - c
            return out

        out = await self._decide(patch, deciders, memories, turn, calls, views, t0, c0, perceive_and_absorb_others)
        self.timings.update(perceived, believe_cpu=spent[0])
        return out

    async def perceive_ahead(
        self,
        patch: dict,
        fragments: Sequence[InformationFragment],
        fog: FogOfWarService,
        memories: Sequence[Event],
        turn: int,
    ) -> None:
        """The perceive phase of turn ``turn`` ahead of its :meth:`believe_and_decide` call (which
        then gets no ``fragments``): the director sends it as soon as the turn before is resolved,
        so it runs while the driver commits that turn. ``patch`` brings the replica to the world
        turn ``turn`` perceives (what may still change before the turn, traits, a later patch
        carries: perceiving reads none), ``fog`` routes ``fragments`` over it for this shard's
        personas, and the personas' ``memories`` (the events of turn ``turn - 1``) are kept for the call.

        Raises:
            StateLostError: the shard is not at turn ``turn - 1`` (it restarted).
        """
        _check_turn("persona shard", self.last_turn, turn)
        w, c = time.perf_counter(), time.thread_time()
        with gc_paused(freeze=True):
            apply_patch(self.world, wire.opened(patch))
            routes = fog.route(wire.opened(fragments), self.world, self.ids)
        perceived = {"perceive_wall": time.perf_counter() - w, "perceive_cpu": time.thread_time() - c}
        perceived["perceived_ahead"] = 1.0
        self.ahead = (turn, self.epoch, routes, wire.opened(memories), perceived)
        wire.settle_gc()

    def _take_ahead(self, turn: int) -> tuple[dict[str, list[Perception]], Sequence[Event], dict[str, float]]:
        """What :meth:`perceive_ahead` did for ``turn``: the routes, the memories and its timings."""
        ahead, self.ahead = self.ahead, None
        if ahead is None or ahead[0] != turn or ahead[1] != self.epoch:
            raise StateLostError(
                f"the persona shard did not perceive turn {turn} ahead: it must be restored",
                role="persona shard",
                turn=turn,
            )
        return ahead[2], ahead[3], ahead[4]

    async def _decide(self, patch, deciders, memories, turn, calls, views_for, t0, c0, believe=None):
        learn_calls(self.model, calls)
        if turn is not None:
            _check_turn("persona shard", self.last_turn, turn)
        epoch = self.epoch
        deciders = sorted(deciders)
        t1, c1 = time.perf_counter(), time.thread_time()
        timings: dict[str, float] = {}
        with gc_paused(freeze=True):  # as in process: a turn's short-lived records need no cyclic collection
            apply_patch(self.world, wire.opened(patch))
            if believe is not None:  # after the patch: perceiving reads the world of this turn
                believe()
            self._remember(wire.opened(memories), self.world.turn)
            out = await self.pool.brief_and_decide(self.world, deciders, views_for, timings)
        if epoch == self.epoch:
            self.last_turn = self.world.turn + 1
        wire.settle_gc()
        # pickled here by the standard library's pickler (see DirectorActor.step): Ray's own
        # serialiser calls back into Python for every decision
        answer = wire.pack((out, take_calls(self.model, self.world.turn + 1)))
        t2, c2 = time.perf_counter(), time.thread_time()
        self.timings = {
            "wait_views": t1 - t0,
            "brief": timings["brief"],
            "decide": timings["decide"],
            **_spent(t1, t2, c1, c2, c1 - c0, began=t0),
        }
        return answer

    def snapshot(self, memories: Sequence[Event], turn: int) -> dict[str, list]:
        """The personas' memories after turn ``turn`` (whose events are ``memories``), as checkpoint rows."""
        _check_turn("persona shard", self.last_turn, turn + 1)  # a restarted shard has none to give
        self._remember(memories, turn)
        return self.pool.memory_rows()

    def restore(
        self,
        world: dict,
        memory: Mapping[str, list],
        turn: int,
        persona_ids: Sequence[str] = (),
        beliefs: Mapping[str, Any] | None = None,
    ) -> None:
        """Continue from a checkpoint: the world after ``turn`` and the personas' memories then
        (``persona_ids``: the personas hosted here, which a restarted shard no longer knows;
        ``beliefs``: their belief models, for a shard that holds them)."""
        if persona_ids:
            self.ids = list(persona_ids)
        with gc_paused(freeze=True):  # see load
            self.world = WorldState.from_dict(world)
            self.pool = PersonaPool([self.world.personas[p] for p in self.ids], self.model, self.seed)
            self.pool.restore_memory(memory)
            if beliefs is not None:
                self.beliefs = BeliefStore(())
                self.beliefs.restore(beliefs)
        self.last_turn = self.remembered = turn
        self.epoch += 1
        self.ahead = None
        wire.settle_gc()

    def belief_snapshot(self) -> dict[str, Any]:
        """The belief models held here, as checkpoint data (see ``BeliefStoreShard.snapshot``)."""
        if self.last_turn == UNLOADED or self.beliefs is None:
            raise StateLostError("the persona shard restarted and must be restored", role="persona shard")
        return self.beliefs.to_dict()

    def beliefs_of(self, persona_id: str, limit: int = 20) -> list[BeliefSummary]:
        return self.beliefs.beliefs_of(persona_id, limit) if self.beliefs is not None else []

    def model_of(self, persona_id: str) -> dict[str, Any] | None:
        return self.beliefs.model_of(persona_id) if self.beliefs is not None else None

    def ping(self) -> str:
        return "ok"

    def last_timings(self) -> dict[str, float]:
        """Where the last decide call spent its time: ``wait_views``, ``brief`` and ``decide`` (wall
        seconds), and the work's wall and CPU seconds and this process's CPU clock (see ``_spent``)."""
        return dict(self.timings)

    def node(self) -> str:
        """The id of the Ray node this shard runs on (placement checks)."""
        return ray.get_runtime_context().get_node_id()


@ray.remote
class BeliefStoreShard:
    """Holds the belief models of the personas hashed to it.

    It starts empty (see :class:`PersonaShard`): :meth:`load` or :meth:`restore` fill it.
    """

    def __init__(self) -> None:
        self.store = BeliefStore(())
        self.last_turn = UNLOADED
        self.timings: dict[str, float] = {}  # where the last absorb call spent its time (benchmarks)

    def load(self, personas: bytes) -> None:
        """Take the personas of a new session, packed (``wire.pack``; their relationships and
        biases are what a belief model starts from, see ``ray.director.belief_personas``)."""
        with gc_paused(freeze=True):  # see PersonaShard.load
            self.store = BeliefStore(wire.unpack(personas))
        self.last_turn = 0
        wire.settle_gc()

    def absorb_for(
        self, perceptions: Mapping[str, Sequence[Perception]], turn: int, deciders: Sequence[Sequence[str]]
    ) -> Any:
        """The believe phase, with the views split by persona shard: one return value per shard
        (call with ``num_returns=len(deciders)``), so each goes straight to its persona shard."""
        _check_turn("belief shard", self.last_turn, turn)
        t0, c0 = time.perf_counter(), time.thread_time()
        with gc_paused(freeze=True):
            views = self.store.absorb_views(perceptions, turn, [pid for ids in deciders for pid in ids])
            self.last_turn = turn
            t1 = time.perf_counter()
            parts = [{pid: views[pid] for pid in ids if pid in views} for ids in deciders]
        wire.settle_gc()
        t2 = time.perf_counter()
        self.timings = {"absorb": t1 - t0, "views": t2 - t1, **_spent(t0, t2, c0, time.thread_time())}
        return parts if len(parts) > 1 else parts[0]

    def beliefs_of(self, persona_id: str, limit: int = 20) -> list[BeliefSummary]:
        return self.store.beliefs_of(persona_id, limit)

    def model_of(self, persona_id: str) -> dict[str, Any] | None:
        return self.store.model_of(persona_id)

    def last_timings(self) -> dict[str, float]:
        """Where the last absorb call spent its time: ``absorb`` and ``views`` (wall seconds), and the
        work's wall and CPU seconds and this process's CPU clock (see ``_spent``)."""
        return dict(self.timings)

    def snapshot(self) -> dict[str, Any]:
        """Every belief model here, as checkpoint data.

        Raises:
            StateLostError: the shard restarted and holds none (it must be restored first).
        """
        if self.last_turn == UNLOADED:
            raise StateLostError("the belief shard restarted and must be restored", role="belief shard")
        return self.store.to_dict()

    def restore(self, beliefs: Mapping[str, Any], turn: int) -> None:
        """Continue from a checkpoint taken after ``turn``."""
        with gc_paused(freeze=True):  # see PersonaShard.load
            self.store.restore(beliefs)
        self.last_turn = turn
        wire.settle_gc()

    def node(self) -> str:
        """The id of the Ray node this shard runs on (placement checks)."""
        return ray.get_runtime_context().get_node_id()
