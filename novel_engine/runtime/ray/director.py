"""The director actor: a thin shell around the session's turn pipeline on Ray.

The turn is :class:`~novel_engine.runtime.turn.TurnPipeline`'s, the same code as in process,
over a :class:`~novel_engine.runtime.ray.cast.RayCast` (the shards) and a
:class:`~novel_engine.runtime.ray.cast.RayNarrator` (the chronicler actor), so both runtimes tell
byte-identical stories for any shard count. The actor adds what only a shared, restartable
process needs: turns never overlap, each call names the turn it expects (a restarted director is
back at turn 0 and refuses), and committed turns go to the session's event hub.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import ray

from novel_engine.agents.director import PROTAGONISTS
from novel_engine.config import SessionSettings
from novel_engine.core.causal_shards import ShardedCausalGraph
from novel_engine.core.events import Action, InformationFragment, WorldEventSpec
from novel_engine.core.report import TurnReport, page_of
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import gc_paused
from novel_engine.core.world import PersonaState, WorldState
from novel_engine.errors import SessionError, StateLostError
from novel_engine.runtime import wire
from novel_engine.runtime.checkpoint import encode
from novel_engine.runtime.event_log import hub_window
from novel_engine.runtime.graph import ShardedGraph
from novel_engine.runtime.ray.actors import UNLOADED
from novel_engine.runtime.ray.cast import RayCast, RayNarrator
from novel_engine.runtime.ray.graph import RayGraphParts
from novel_engine.runtime.ray.metrics import record_coherence
from novel_engine.runtime.ray.names import _PREFIX, NAMESPACE, kill_session_actors
from novel_engine.runtime.ray.resolvers import RayResolvers
from novel_engine.runtime.sharding import ShardPlan, plan_shards, waits_on_model
from novel_engine.runtime.turn import TurnPipeline

__all__ = [
    "DirectorActor",
    "DirectorSetup",
    "director_scenario",
    "packed_scenario",
    "unpacked_scenario",
    "belief_personas",
    "session_roles",
    "setup_again",
]


def director_scenario(scenario: Scenario) -> Scenario:
    """The scenario as the director's turn pipeline reads it: every rule, goal, complication and
    fragment, but only the leads of the cast (``PROTAGONISTS``: the personas themselves come in
    the world). At 100,000 personas the whole pydantic scenario took seconds to pickle and
    unpickle and hundreds of MiB in the director, for a cast it never read."""
    return scenario.model_copy(update={"personas": scenario.personas[:PROTAGONISTS]})


def packed_scenario(scenario_json: str) -> bytes:
    """The whole scenario (its ``model_dump_json()``) compressed, kept by the director only to hand
    back on ``scenario_and_settings`` (another driver attaching); a few MiB where the model took
    hundreds."""
    return zlib.compress(scenario_json.encode("utf-8"), 1)


def unpacked_scenario(packed: bytes) -> Scenario:
    """The scenario of :func:`packed_scenario`."""
    return Scenario.model_validate_json(zlib.decompress(packed))


def belief_personas(world: WorldState, ids: Sequence[str]) -> list[PersonaState]:
    """What a belief shard builds its personas' models from (``new_belief_model``: their
    relationships and biases), without their traits, goals, descriptions and voices."""
    personas = world.personas
    out = []
    for pid in ids:
        p = personas[pid]
        out.append(PersonaState(pid, p.name, p.location, {}, relationships=p.relationships, biases=p.biases))
    return out


@dataclass(frozen=True)
class DirectorSetup:
    """What a director runs a session with, handed over in :meth:`DirectorActor.load` (never as a
    constructor argument: see there).

    Args:
        scenario: the validated scenario, as :func:`director_scenario` trims it.
        packed: the whole scenario (:func:`packed_scenario`), for ``scenario_and_settings``; None:
            it follows in :meth:`DirectorActor.keep_scenario` (a new session's driver makes it
            while the actors load).
        settings: the session settings (seed resolved).
        initial: the information fragments of turn 0.
        plan: which personas live on which shard.
        persona_shards: handles of the persona shards, in plan order.
        belief_shards: handles of the belief-store shards, in plan order.
        chronicler: the chronicler actor.
        hub: the event hub actor.
        graph_shards: handles of the causal-graph shards (none: the director holds the graph).
        resolver_shards: handles of the resolver shards (none: the director settles the regions).
    """

    scenario: Scenario
    packed: bytes | None
    settings: SessionSettings
    initial: Sequence[InformationFragment]
    plan: ShardPlan
    persona_shards: Sequence[Any]
    belief_shards: Sequence[Any]
    chronicler: Any
    hub: Any
    graph_shards: Sequence[Any] = ()
    resolver_shards: Sequence[Any] = ()


def session_roles(session_id: str, names: Sequence[str]) -> dict[str, list[Any]]:
    """The handles of a session's numbered actors (``ne:<session>:<role>:<i>``), by role, in order."""
    prefix = _PREFIX + session_id + ":"
    found: dict[str, dict[int, str]] = {}
    for name in names:
        role, _, index = name[len(prefix) :].partition(":") if name.startswith(prefix) else ("", "", "")
        if index.isdigit():
            found.setdefault(role, {})[int(index)] = name
    return {role: [ray.get_actor(by[i], namespace=NAMESPACE) for i in sorted(by)] for role, by in found.items()}


def setup_again(
    session_id: str, names: Sequence[str], scenario: Scenario, state: Mapping[str, Any], chronicler: Any, hub: Any
) -> DirectorSetup:
    """The setup of a session whose director restarted empty, from its actors' ``names`` and
    checkpoint ``state`` (whose restore follows the load). The plan is made again from the cast and
    the shards there are: any plan serves, since restore tells every shard its personas.

    Raises:
        SessionError: the session's shards are gone (it must be resumed on new actors).
    """
    settings = SessionSettings.model_validate(state["settings"]).model_copy(update={"seed": int(state["seed"])})
    roles = session_roles(session_id, names)
    persona_shards, belief_shards = roles.get("persona", []), roles.get("belief", [])
    ids = [p.id for p in scenario.personas]
    shards, beliefs = max(1, len(persona_shards)), len(belief_shards) or None
    plan = plan_shards(ids, settings.personas_per_actor, shards, beliefs, waits_on_model(settings))
    beliefs_apart = 0 if plan.beliefs_in_persona_shards else len(plan.belief_shards)  # belief actors
    if len(plan.persona_shards) > len(persona_shards) or beliefs_apart != len(belief_shards):
        raise SessionError("the session's shards are gone: it must be resumed", session_id=session_id)
    return DirectorSetup(
        director_scenario(scenario),
        packed_scenario(scenario.model_dump_json()),
        settings,
        (),
        plan,
        persona_shards,
        belief_shards,
        chronicler,
        hub,
        roles.get("graph", []),
        roles.get("resolve", []),
    )


@ray.remote
class DirectorActor:
    """The session's game master on Ray: the turn pipeline, its lock and the event hub.

    It starts empty and runs a session once :meth:`load` has given it one. Nothing large is an
    argument of its constructor, so Ray can always restart it: an actor whose constructor
    arguments went through the object store cannot come back once their owner let go of them
    (ray-project/ray#53727). A restarted director is empty: it refuses turns and reads
    (``StateLostError``) until the driver loads it again and restores it from the store.

    Args:
        idle_s: after this many seconds without a call, end the whole session (its state is in
            the store; a Serve replica resumes it on the next request); 0: never.
    """

    def __init__(self, idle_s: float = 0.0) -> None:
        self.pipeline: TurnPipeline | None = None
        self.scenario: Scenario | None = None
        self.settings: SessionSettings | None = None
        self._packed = b""
        self.hub: Any = None
        self._parts: list[Any] = []
        # A restarted director holds no session until the driver restores it: readers (the Serve
        # app) learn that from ``summary`` without a store read per request.
        self._restarted = ray.get_runtime_context().was_current_actor_reconstructed
        self._lock = asyncio.Lock()
        self._idle_s, self._used, self._reaper = idle_s, time.monotonic(), None

    def load(self, setup: DirectorSetup, world: bytes) -> None:
        """Run the session ``setup`` from ``world`` (its turn-0 world, or any world a checkpoint
        then replaces, packed by ``wire.pack``; a top-level argument, so an object reference to
        it is read before the call runs)."""
        with gc_paused(freeze=True):  # see PersonaShard.load
            world = wire.unpack(world)
            graph = None
            if setup.graph_shards:
                graph = ShardedGraph(ShardedCausalGraph(len(setup.graph_shards)), RayGraphParts(setup.graph_shards))
            resolvers = RayResolvers(setup.resolver_shards) if setup.resolver_shards else None
            self.pipeline = TurnPipeline(
                setup.scenario,
                setup.settings,
                world,
                setup.initial,
                RayCast(setup.plan, setup.persona_shards, setup.belief_shards, world),
                RayNarrator(setup.chronicler, setup.settings.highlight_limit),
                graph,
                resolvers,
            )
        self.scenario, self.settings, self.hub = setup.scenario, setup.settings, setup.hub
        if setup.packed is not None:
            self._packed = setup.packed
        self._parts = [*setup.persona_shards, *setup.belief_shards, *setup.resolver_shards, setup.chronicler, setup.hub]
        wire.settle_gc()

    def keep_scenario(self, packed: bytes) -> None:
        """Keep the whole scenario (:func:`packed_scenario`) for ``scenario_and_settings``."""
        self._packed = packed

    def _loaded(self, turn: int | None = None) -> TurnPipeline:
        """The pipeline; ``StateLostError`` for a director that holds no session (restarted)."""
        if self.pipeline is None:
            raise StateLostError(
                "the director restarted and holds no session: it must be loaded and restored",
                role="director",
                turn=turn,
                have=UNLOADED,
            )
        return self.pipeline

    def _touch(self) -> None:
        self._used = time.monotonic()
        if self._idle_s > 0 and self._reaper is None:
            self._reaper = asyncio.get_running_loop().create_task(self._end_when_idle())

    async def _end_when_idle(self) -> None:
        """End the session's actors once it has been idle ``idle_s`` (it lives on in the store)."""
        while True:
            await asyncio.sleep(max(1.0, min(30.0, self._idle_s / 4)))
            if time.monotonic() - self._used >= self._idle_s and not self._lock.locked():
                for part in self._parts:
                    ray.kill(part, no_restart=True)
                if not self._parts:  # restarted and never loaded: its parts are known by name only
                    name = ray.get_runtime_context().get_actor_name() or ""
                    kill_session_actors(name[len(_PREFIX) :].rpartition(":")[0])
                ray.kill(ray.get_runtime_context().current_actor, no_restart=True)
                return

    async def step(
        self,
        agent_actions: Mapping[str, Action] | None = None,
        world_events: Sequence[WorldEventSpec] = (),
        turn: int | None = None,
        calls: Sequence[dict] | None = None,
        publish: bool = True,
        checkpoint: bool = False,
    ) -> bytes:
        """Run one turn (turns never overlap). Player actions must already be validated.

        Args:
            turn: the turn the caller expects this to be; a director that restarted (and so is
                back at turn 0) raises ``StateLostError`` instead of playing the wrong turn.
            calls: a replay: the recorded model calls of this turn.
            publish: put the turn on the event hub now; a stored session's driver passes False
                and calls :meth:`publish` once the store has committed the turn.
            checkpoint: also return the checkpoint after the turn (:meth:`checkpoint`), taken
                under the same lock: a driver whose store wants one saves a round trip.
        Returns:
            The report, whose ``calls`` are the model-call records the actors made or used,
            packed by ``wire.pack``; with ``checkpoint``, ``(packed report, encoded checkpoint)``
            packed again.
        """
        self._touch()
        async with self._lock:
            pipeline = self._loaded(turn)
            have = pipeline.turn
            if turn is not None and turn != have + 1:
                raise StateLostError(
                    f"the director is at turn {have}, not {turn - 1}: it restarted and must be restored",
                    role="director",
                    turn=turn,
                    have=have,
                )
            with gc_paused(freeze=True):
                report = await pipeline.play(agent_actions or {}, world_events, calls or ())
            if report.violations:
                record_coherence(report.violations)  # by kind only: a label per session would grow without bound
            wire.settle_gc()
            # pickled here, by the standard library's pickler, before this call returns: Ray's own
            # serialisation of a return value runs on another thread after it, beside the cast's
            # perceive-ahead work started above (one GIL), and calls back into Python per object.
            # The event hub takes the same bytes (it makes its items itself).
            events = pipeline.cast.packed_events(report.events)
            packed = wire.pack_report(report, events)
            if events is not None:  # the history keeps a large cast's events packed (wire.PackedEvents)
                kept = pipeline.history[-1]
                pipeline.history[-1] = replace(kept, events=wire.PackedEvents(events, len(kept.events)))
            if publish:
                await self._publish(packed, report.turn)
            self._used = time.monotonic()  # idle from the end of a turn, not from its start
            return wire.pack((packed, encode(await pipeline.state()))) if checkpoint else packed

    async def publish(self, turn: int) -> None:
        """Put turn ``turn`` on the event hub; a turn already there is not added again. The last
        turn played is published; an earlier one (the hub refused it, and a turn has been played
        since) comes back with the hub's window up to it."""
        self._touch()
        async with self._lock:
            history = self._loaded(turn).history
            if history and history[-1].turn == turn:
                await self._publish(wire.pack(history[-1]), turn)
            elif any(r.turn == turn for r in history):
                await self._restore_hub([r for r in history if r.turn <= turn])

    async def _publish(self, packed: bytes, turn: int) -> None:
        """Put the last turn played, ``turn`` (its report, packed), on the event hub."""
        try:
            await self.hub.publish.remote(packed, turn)
        except StateLostError:  # the hub restarted empty: give it back its window first
            await self._restore_hub(self.pipeline.history[:-1])
            await self.hub.publish.remote(packed, turn)

    async def _restore_hub(self, reports: Sequence[TurnReport]) -> None:
        items, first = hub_window(reports, await self.hub.window_size.remote())
        await self.hub.restore.remote(items, first, reports[-1].turn if reports else 0)

    # -- state -------------------------------------------------------------------------------
    async def checkpoint(self) -> bytes:
        """The session's state after the last turn, encoded as the store keeps it (between turns);
        the same layout as in process, so either runtime can resume it."""
        self._touch()
        async with self._lock:
            return encode(await self._loaded().state())

    async def restore(self, state: Mapping[str, Any]) -> int:
        """Put the whole session (the pipeline and every shard) back to checkpoint ``state``, whose
        ``history`` holds the reports of its turns; return its turn."""
        self._touch()
        async with self._lock:
            with gc_paused(freeze=True):  # see load
                turn = await self._loaded().restore(state)
            await self._restore_hub(self.pipeline.history)  # a new or restarted hub numbers on from here
            self._restarted = False
            wire.settle_gc()
            return turn

    async def update_traits(self, persona_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits from the next turn on (between turns, never during one)."""
        self._touch()
        async with self._lock:
            self._loaded().update_traits(persona_id, traits)

    # -- reads -------------------------------------------------------------------------------
    def turn(self) -> int:
        """The last played turn (0 before the first, and for a director that holds no session)."""
        return self.pipeline.turn if self.pipeline is not None else 0

    def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        return page_of(self._loaded().history, after, limit)

    def summary(self) -> dict[str, Any]:
        """Where the session stands, in one small answer: the turn, the tension after it, and whether
        this director restarted and has not been restored yet (its state is then not the session's)."""
        self._used = time.monotonic()  # a Serve request asks this first
        if self.pipeline is None:
            return {"turn": 0, "tension": 0.0, "restarted": True}
        history = self.pipeline.history
        return {
            "turn": self.pipeline.turn,
            "tension": history[-1].tension if history else 0.0,
            "restarted": self._restarted,
        }

    def world_state(self) -> WorldState:
        return self._loaded().world

    async def causal_graph(self) -> dict:
        async with self._lock:  # the graph shards hold it between turns
            return await self._loaded().causal_graph()

    async def explain(self, event_id: str) -> list:
        async with self._lock:
            return await self._loaded().explain(event_id)

    def scenario_and_settings(self) -> tuple[Scenario, SessionSettings]:
        """The whole scenario (rebuilt from its packed form: only an attaching driver asks) and
        the settings."""
        self._loaded()
        return unpacked_scenario(self._packed), self.settings

    async def beliefs_of(self, persona_id: str, limit: int = 20) -> list:
        return await self._loaded().cast.beliefs_of(persona_id, limit)

    async def belief_model_of(self, persona_id: str) -> dict | None:
        return await self._loaded().cast.model_of(persona_id)
