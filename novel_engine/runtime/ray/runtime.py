"""The Ray runtime, driver side: create a session's actors by name, re-attach, close (joining Ray
itself: :mod:`novel_engine.runtime.ray.connection`).

Every actor of a session is named ``ne:<session>:<role>[:<i>]`` in one explicit namespace, so any
driver, notebook or Serve replica connected to the same cluster can find a running session with
:meth:`RayRuntime.attach`. Sessions created with ``detached=True`` outlive the driver that made them
(and must be closed explicitly).

Placement: shards are created with ``scheduling_strategy="SPREAD"`` and the CPU / custom-resource
requests given in ``actor_options`` (default: ``num_cpus=0``, so a shard never asks more than a
node has; add e.g. ``resources={"persona_slot": 1}`` to cap how many land on one node).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ray

from novel_engine.config import SessionSettings
from novel_engine.core.events import Action, WorldEventSpec
from novel_engine.core.perception import BeliefSummary
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import build_world, gc_paused
from novel_engine.core.world import WorldState
from novel_engine.errors import SessionError, StateLostError
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime import wire
from novel_engine.runtime.ray.actors import UNLOADED, BeliefStoreShard, EventHub, PersonaShard
from novel_engine.runtime.ray.chronicler import ChroniclerActor
from novel_engine.runtime.ray.director import (
    DirectorActor,
    DirectorSetup,
    belief_personas,
    director_scenario,
    packed_scenario,
    setup_again,
)
from novel_engine.runtime.ray.graph import GraphShard
from novel_engine.runtime.ray.names import (
    _PREFIX,
    NAMESPACE,
    _name,
    _named_actors,
    kill_session_actors,
    list_sessions,
)
from novel_engine.runtime.ray.publisher import HubPublisher
from novel_engine.runtime.ray.resolvers import ResolverShard
from novel_engine.runtime.sharding import plan_shards, waits_on_model

__all__ = ["RayRuntime", "list_sessions", "NAMESPACE"]


_INLINE_BYTES = 90_000  # under Ray's inline limit for task arguments (100 KB)


class RayRuntime:
    """A session running on Ray: a thin driver-side handle on its director actor."""

    def __init__(self, session_id: str, director: Any, names: Sequence[str], seed: int) -> None:
        self.session_id = session_id
        self.director = director
        self.names = list(names)
        self.seed = seed
        self.model: LanguageModel | None = None  # known when this driver created the session
        self.kind = "ray"
        self.shared = True  # any driver connected to the cluster plays through these actors
        self.always_there = False  # its actors may have ended (idle) or died for good
        self.actor_options: dict[str, Any] = {}
        self._hub: Any = None
        self.publisher = HubPublisher(self)
        self._taken: bytes | None = None  # the checkpoint taken with the last step, not yet asked for

    @classmethod
    def create(
        cls,
        session_id: str,
        scenario: Scenario,
        settings: SessionSettings,
        model: LanguageModel,
        *,
        detached: bool = False,
        actor_options: Mapping[str, Any] | None = None,
        idle_s: float = 0.0,
        scenario_json: Callable[[], str] | None = None,
    ) -> RayRuntime:
        """Create the actors of a new session and return its handle (``idle_s``: they end
        themselves after that many idle seconds; see ``DirectorActor``; ``scenario_json``: the
        scenario's ``model_dump_json()``, for the director's copy, see ``packed_scenario``).

        Raises:
            SessionError: a live session already has this id.
        """
        if session_id in list_sessions():
            raise SessionError(f"session {session_id!r} already exists", session_id=session_id)
        seed = settings.seed if settings.seed is not None else scenario.seed
        settings = settings.model_copy(update={"seed": seed})
        # Restart after a crash or a lost node; __init__ re-runs (turn-0 state), so calls check the
        # turn they expect and the driver restores the session from its store (ray_durable).
        base = {"namespace": NAMESPACE, "max_restarts": -1}
        if detached:
            base["lifetime"] = "detached"
        shard_opts = {"num_cpus": 0, "scheduling_strategy": "SPREAD", **dict(actor_options or {})}
        names: list[str] = []

        def named(actor_cls, name: str, opts: Mapping[str, Any], *args):
            names.append(name)
            return actor_cls.options(name=name, **base, **opts).remote(*args)

        # the parts that need no world first: their processes start while the world is built and stored
        chronicler = named(
            ChroniclerActor,
            _name(session_id, "chronicler"),
            {"num_cpus": 0},
            model,
            settings.narrative_style or scenario.style,
            settings.verbosity,
            settings.focus_areas,
            seed,
            settings.highlight_limit,
            scenario.title,
        )
        # its calls are idempotent (a turn is published once, reads are reads): retried across a restart,
        # where the new, empty hub refuses to publish until the director restores its window
        hub = named(EventHub, _name(session_id, "hub"), {"num_cpus": 0, "max_task_retries": -1})
        graph_shards = [
            named(GraphShard, _name(session_id, "graph", i), shard_opts) for i in range(settings.graph_shards or 0)
        ]
        resolver_shards = [
            named(ResolverShard, _name(session_id, "resolve", i), shard_opts, list(scenario.fragments), seed)
            for i in range(settings.resolver_shards or 0)
        ]
        cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
        plan = plan_shards(
            [p.id for p in scenario.personas],  # the world's personas, in the same order
            settings.personas_per_actor,
            settings.persona_shards or max(2, cpus),
            settings.belief_shards,
            waits_on_model(settings),
        )
        # The shards start empty, so their processes start while the world is built and packed;
        # they load it afterwards (and a shard Ray restarts comes back empty, to be restored).
        persona_shards = [
            named(PersonaShard, _name(session_id, "persona", i), shard_opts, model, seed)
            for i in range(len(plan.persona_shards))
        ]
        belief_shards = [
            named(BeliefStoreShard, _name(session_id, "belief", i), shard_opts)
            for i in range(0 if plan.beliefs_in_persona_shards else len(plan.belief_shards))
        ]
        # nothing large is an argument of the director's constructor either (see DirectorActor)
        director = named(DirectorActor, _name(session_id, "director"), {"num_cpus": 0}, idle_s)
        # The world is built, pickled and sent with the collector off: millions of objects, all
        # garbage here once sent, which each collection would walk again (seconds at 100,000).
        with gc_paused():
            world, initial = build_world(scenario)
            # Pickled once (wire.pack) into the object store, and the director and every persona
            # shard read that one copy in their load call: nobody rebuilds it from the scenario,
            # and nobody converts it to dicts and back.
            packed = wire.pack(world)
            world_ref = ray.put(packed) if len(packed) > _INLINE_BYTES else packed
            setup = DirectorSetup(
                director_scenario(scenario),
                None,  # kept below: its JSON is made while the actors load
                settings,
                initial,
                plan,
                persona_shards,
                belief_shards,
                chronicler,
                hub,
                graph_shards,
                resolver_shards,
            )
            # the director first: its load (the setup's arguments too) is the longest
            loaded = [director.load.remote(setup, world_ref)]
            fused = plan.beliefs_in_persona_shards
            loaded += [s.load.remote(ids, world_ref, fused) for s, ids in zip(persona_shards, plan.persona_shards)]
            loaded += [
                s.load.remote(wire.pack(belief_personas(world, ids)))
                for s, ids in zip(belief_shards, plan.belief_shards)
            ]
            del world, packed
        text = scenario_json() if scenario_json is not None else scenario.model_dump_json()
        loaded.append(director.keep_scenario.remote(packed_scenario(text)))
        ray.get(loaded)
        rt = cls(session_id, director, names, seed)
        rt.model, rt.actor_options = model, dict(actor_options or {})
        # The creating driver owns the actors: if only the director held the shards' handles, a
        # director crash would drop their last reference and Ray would destroy them for good.
        rt._owned = [*persona_shards, *belief_shards, *graph_shards, *resolver_shards, chronicler, hub]
        return rt

    @classmethod
    def attach(cls, session_id: str) -> RayRuntime:
        """Re-attach to a live session by id (from any driver connected to the cluster).

        Raises:
            SessionError: no live session has this id.
        """
        try:
            director = ray.get_actor(_name(session_id, "director"), namespace=NAMESPACE)
        except ValueError:
            raise SessionError(f"no live session {session_id!r}", session_id=session_id) from None
        prefix = _PREFIX + session_id + ":"
        names = [n for n in _named_actors() if n.startswith(prefix)]
        try:
            _, settings = ray.get(director.scenario_and_settings.remote())
        except StateLostError:  # a restarted director, empty until the store restores it
            return cls(session_id, director, names, None)
        return cls(session_id, director, names, settings.seed)

    # -- the Runtime protocol ---------------------------------------------------------------------
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
        """Play one turn (see ``DirectorActor.step``); with ``checkpoint``, the director encodes the
        checkpoint after it in the same call, and the next :meth:`checkpoint` returns that."""
        self._taken = None
        # The report (every event of the turn) is unpickled here: as in process, the cyclic
        # collector stays off meanwhile (it would walk this process's whole heap again and again
        # while freeing nothing) and what the turn keeps is frozen out of its sight afterwards.
        answer = await self.director.step.remote(
            dict(agent_actions or {}), list(world_events), turn, list(calls) or None, publish, checkpoint
        )
        packed, self._taken = wire.unpack(answer) if checkpoint else (answer, None)
        with gc_paused(freeze=True):
            report = wire.unpack(packed)
        self.publisher.played(report.turn, None if publish else packed)
        return report

    async def publish(self, turn: int) -> None:
        """Put the committed turn ``turn`` on the session's event hub (see ``HubPublisher``)."""
        await self.publisher.publish(turn)

    async def settle(self) -> None:
        """Wait until the hub holds every turn this handle published."""
        await self.publisher.settle()

    async def update_traits(self, persona_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits from the next turn on."""
        self._taken = None
        await self.director.update_traits.remote(persona_id, dict(traits))

    async def subscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ):
        """Long-poll the session's event hub (see ``EventHub.subscribe``)."""
        await self.publisher.settle()
        return await self.hub().subscribe.remote(after_seq, event_types, timeout_s, limit)

    async def checkpoint(self) -> bytes:
        """The session's encoded checkpoint after its last turn (the in-process runtime's layout):
        the one taken with the last step if it was asked for there, else the director's now."""
        taken, self._taken = self._taken, None
        return taken if taken is not None else await self.director.checkpoint.remote()

    async def state(self, *, history: bool = False) -> dict[str, Any]:
        """The checkpoint dict after the last turn (``history``: with every turn report)."""
        from novel_engine.runtime.checkpoint import decode

        state = decode(await self.checkpoint())
        if history:
            state["history"] = [r.to_dict() for r in await self.reports()]
        return state

    async def restore(self, state: Mapping[str, Any], attempts: int = 40) -> int:
        """Put every actor of the session back to checkpoint ``state``; return its turn.

        Actors that are restarting (after a crash or a lost node) are waited for, ``attempts`` times.
        """
        self._taken = None
        state = dict(state)
        scenario = state.pop("scenario", None)  # shipped only to a director that must be loaded again
        self.seed = int(state["seed"])  # unknown to a handle that attached to an empty director
        delay = 0.05
        for attempt in range(attempts):
            try:
                return await self.director.restore.remote(state)
            except StateLostError as err:
                lost = getattr(err, "cause", None) or err  # Ray's wrapper holds the director's error
                if lost.details.get("have") != UNLOADED or scenario is None:
                    raise
                await self._reload_director(Scenario.model_validate(scenario), state)
                return await self.director.restore.remote(state)
            except ray.exceptions.RayActorError:
                self._actor("director")  # raises if it ended for good: no restart to wait for
                if attempt == attempts - 1:
                    raise
            await asyncio.sleep(delay)  # an actor is still restarting: Ray offers no event to await
            delay = min(1.0, delay * 2)
        raise SessionError("cannot restore the session", session_id=self.session_id)

    async def _reload_director(self, scenario: Scenario, state: Mapping[str, Any]) -> None:
        """Load a director that restarted empty with the session again (see ``setup_again``)."""
        names = [*self.names, *_named_actors()]
        setup = setup_again(self.session_id, names, scenario, state, self._actor("chronicler"), self.hub())
        await self.director.load.remote(setup, wire.pack(WorldState.from_dict(state["world"])))

    async def turn(self) -> int:
        return await self._ask("turn")

    async def summary(self) -> dict:
        """The turn, the tension after it and whether the director restarted, in one small call."""
        return await self._ask("summary")

    async def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        return await self._ask("reports", after, limit)

    async def world(self):
        return await self._ask("world_state")

    async def narrative(self) -> str:
        return await self._actor("chronicler").narrative.remote()

    async def markdown(self) -> str:
        return await self._actor("chronicler").export_markdown.remote()

    async def narration_fallbacks(self) -> list[tuple[int, str]]:
        return await self._actor("chronicler").narration_fallbacks.remote()

    async def causal_graph(self) -> dict:
        return await self._ask("causal_graph")

    async def explain(self, event_id: str) -> list:
        return await self._ask("explain", event_id)

    async def beliefs_of(self, persona_id: str, limit: int = 20) -> list[BeliefSummary]:
        return await self._ask("beliefs_of", persona_id, limit)

    async def belief_model_of(self, persona_id: str) -> dict | None:
        return await self._ask("belief_model_of", persona_id)

    async def scenario_and_settings(self) -> tuple[Scenario, SessionSettings]:
        """The session's scenario and settings (as the director holds them)."""
        return await self._ask("scenario_and_settings")

    def placement(self) -> dict[str, str]:
        """Which node each shard runs on: actor name -> node id."""
        shards = [n for n in self.names if ":persona:" in n or ":belief:" in n]
        nodes = ray.get([ray.get_actor(n, namespace=NAMESPACE).node.remote() for n in shards])
        return dict(zip(shards, nodes))

    def hub(self) -> Any:
        """The session's event hub actor (``subscribe(after_seq, event_types, timeout_s)``)."""
        if self._hub is None:  # a name lookup asks the GCS; the handle stays valid across restarts
            self._hub = self._actor("hub")
        return self._hub

    def _actor(self, role: str) -> Any:
        try:
            return ray.get_actor(_name(self.session_id, role), namespace=NAMESPACE)
        except ValueError:  # Ray's "Failed to look up actor": no such actor, live or restarting
            raise self._ended(role) from None

    async def _ask(self, method: str, *args: Any) -> Any:
        """``self.director.<method>.remote(*args)``, awaited; if the director has ended for good
        (the session's actors ended when idle, or were closed) the error says so (:meth:`_ended`)."""
        try:
            return await getattr(self.director, method).remote(*args)
        except ray.exceptions.RayActorError:
            self._actor("director")  # ended for good (a restarting one is still found by name): say so
            raise

    def _ended(self, role: str) -> StateLostError:
        """The error of a call to a session whose actors have ended: a state loss (a Serve replica
        resumes the session from the store), saying how a script brings it back."""
        return StateLostError(
            f"the {role} of session {self.session_id!r} has ended (its actors end after idling "
            f"actors_idle_s, or when the session is closed): resume the session from the state "
            f"store with Engine.resume({self.session_id!r})",
            session_id=self.session_id,
            role=role,
        )

    def close(self) -> None:
        """Kill every actor of the session (the session is gone afterwards)."""
        self.publisher.drop()
        kill_session_actors(self.session_id, self.names)
