"""The public driver API: ``Engine`` and ``Session``, used by scripts, notebooks, the CLI and the server.

>>> from novel_engine import Engine
>>> session = Engine().create_session("fantasy_world", seed=7)
>>> report = session.step()                      # one turn
>>> reports = session.run(9)                     # nine more
>>> print(session.narrative())                   # the whole story so far

Player actions and world events are validated before the turn starts, so a bad one is rejected
with a clear error and changes nothing. Every method has an async form (``astep``...); a server
opens its engine on its own loop with :meth:`Engine.aopen`.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from novel_engine.config import SessionSettings, parse_settings
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.core.setup import gc_paused
from novel_engine.errors import ConfigError, NotFoundError, SessionError, StateLostError
from novel_engine.event_loop import EngineLoop
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.checkpoint import genesis
from novel_engine.runtime.durability import DurableSession, session_record
from novel_engine.runtime.port import Runtime, Runtimes
from novel_engine.runtime.rebuild import rebuild
from novel_engine.scenarios import load_scenario
from novel_engine.session import Session
from novel_engine.storage.runner import StoreRunner
from novel_engine.storage.settings import StoreSettings
from novel_engine.tracing import configure_tracing

__all__ = ["Engine", "Session", "TurnReport", "RUNTIMES"]

T = TypeVar("T")

RUNTIMES = ("local", "ray")
IMPLICIT_CHECKPOINT_EVERY = 10  #: the checkpoint period of the in-memory store a Ray engine keeps when given none


def _runtimes(
    name: str, address: str | None, actor_options: Mapping[str, Any] | None, dashboard: bool, hosts: Any
) -> Runtimes:
    if name not in RUNTIMES:
        raise ConfigError(f"unknown runtime {name!r}; available: {', '.join(RUNTIMES)}", setting="runtime")
    if name == "ray":
        from novel_engine.runtime.ray.runtimes import RayRuntimes  # Ray is imported only when used

        return RayRuntimes(address, actor_options=actor_options, dashboard=dashboard, hosts=hosts)
    from novel_engine.runtime.local import LocalRuntimes

    return LocalRuntimes()


class Engine:
    """Creates, holds and re-attaches sessions.

    Args:
        runtime: ``local`` (every phase in this process) or ``ray`` (actors on a Ray cluster; the
            same stories, spread over processes and nodes).
        address: Ray only: the cluster to connect to (None: a running local one, or start one).
        model: a language model to use instead of the one named by each session's ``llm`` setting.
        actor_options: Ray only: options for the shard actors (``num_cpus``, ``resources``...).
        store: keep sessions in a state store, so they survive a restart (:meth:`resume`): a
            database URL (``sqlite:///path``, ``postgresql://...``), ``"memory"``, a
            :class:`~novel_engine.storage.StoreSettings` (``StoreSettings.from_env()`` reads the
            ``NOVEL_ENGINE_*`` variables) or a ``UnifiedStateManager``. None: this process only
            (on Ray, the in-memory store: lost actors are rebuilt from it).
        dashboard: Ray only: start Ray's dashboard (on loopback) with the local instance this
            engine starts; :meth:`ray_info` says where it is and where the actors' logs are.
        loop: a running event loop to run on (see :meth:`aopen`); default: a background thread's.
        hosts: Ray only: the session-host pool, a
            :class:`~novel_engine.runtime.residency.HostSettings` (small casts share warm host
            actors; idle sessions leave memory and come back from the store). None: only sessions
            with ``placement="host"`` use the default pool.
    """

    def __init__(
        self,
        runtime: str = "local",
        *,
        address: str | None = None,
        model: LanguageModel | None = None,
        actor_options: Mapping[str, Any] | None = None,
        store: Any = None,
        dashboard: bool = False,
        loop: asyncio.AbstractEventLoop | None = None,
        hosts: Any = None,
    ) -> None:
        self._runtimes = _runtimes(runtime, address, actor_options, dashboard, hosts)
        self.runtime = runtime
        self._model = model
        self._sessions: dict[str, Session] = {}
        self._loop = EngineLoop(loop)
        self._runner: StoreRunner | None = None
        configure_tracing()  # OTLP export of turn spans when OTEL_EXPORTER_OTLP_ENDPOINT is set
        if store is None and self._runtimes.needs_store:
            # Kept only to rebuild lost actors in this process: no archives, and a checkpoint every
            # IMPLICIT_CHECKPOINT_EVERY turns (gathering one asks every shard of the session; a
            # rebuild replays at most that many turns, milliseconds each for a small cast).
            store = replace(StoreSettings.memory(), checkpoint_every=IMPLICIT_CHECKPOINT_EVERY, archive_every=0)
        if store is not None:
            from novel_engine.storage.manager import UnifiedStateManager, open_store

            manager = store if isinstance(store, UnifiedStateManager) else open_store(store)
            self._runner = StoreRunner(manager, self._loop)
            if loop is None:
                self._runner.start()

    @classmethod
    async def aopen(cls, runtime: str = "local", **kwargs: Any) -> Engine:
        """An engine on the running event loop (a server's): its sessions' turns and its store run
        on that loop, with no thread between them. Use the async methods from that loop."""
        engine = cls(runtime, loop=asyncio.get_running_loop(), **kwargs)
        if engine._runner is not None:
            await engine._runner.astart()
        return engine

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run(coro)

    def ray_info(self) -> dict[str, str | None]:
        """Where to look at the Ray instance: ``dashboard_url`` (None when the instance runs none: a
        local one started without ``dashboard=True``),
        ``token_file`` (the token the dashboard asks for) and ``logs_dir`` (every actor's output).

        Raises:
            ConfigError: the engine runs in process (no Ray).
        """
        return self._runtimes.info()

    def _model_for(self, settings: SessionSettings, session_id: str = "") -> LanguageModel:
        if self._model is not None:
            return self._model
        from novel_engine.runtime.language_models import session_model  # adapters, wrappers, limiter, call records

        return session_model(settings, session_id, runtime=self.runtime, runner=self._runner)

    async def _stored(self, session_id: str) -> Any:
        try:
            return await self._require_store("this").acall(lambda st: st.get_session(session_id))
        except NotFoundError:
            raise SessionError(f"no session {session_id!r} in the state store", session_id=session_id) from None

    def _durable(self, session_id: str, scenario: Scenario, settings: SessionSettings, model, version: int, turn: int):
        if self._runner is None:
            return None
        return DurableSession(self._runner, session_id, version, turn, len(scenario.personas), settings, model)

    def create_session(
        self,
        scenario: str | os.PathLike | Mapping | Scenario,
        seed: int | None = None,
        *,
        settings: SessionSettings | Mapping | None = None,
        session_id: str | None = None,
        detached: bool = False,
        **overrides: Any,
    ) -> Session:
        """Start a session of ``scenario`` (a built-in name, a YAML path, a mapping or a Scenario).

        Args:
            seed: the session seed (default: the scenario's).
            settings: session settings (see :class:`~novel_engine.config.SessionSettings`).
            session_id: an explicit id (default: a new random one).
            detached: Ray only: the session outlives this driver (close it explicitly).
            **overrides: individual settings, e.g. ``verbosity=0.3``.
        Raises:
            ScenarioError: the scenario is invalid or unknown.
            ConfigError: a setting is invalid, e.g. a seed outside ``0 <= seed < 2**63``
                (:data:`novel_engine.config.SEED_LIMIT`).
        """
        return self._run(
            self.acreate_session(
                scenario, seed, settings=settings, session_id=session_id, detached=detached, **overrides
            )
        )

    async def acreate_session(
        self,
        scenario: str | os.PathLike | Mapping | Scenario,
        seed: int | None = None,
        *,
        settings: SessionSettings | Mapping | None = None,
        session_id: str | None = None,
        detached: bool = False,
        **overrides: Any,
    ) -> Session:
        """Async :meth:`create_session`."""
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        s = parse_settings(settings if settings is not None else None, seed=seed, **overrides)
        if s.seed is None:
            s = s.model_copy(update={"seed": sc.seed})
        if s.llm is None:  # the scenario may name its model; the session's setting wins
            s = s.model_copy(update={"llm": sc.llm or "offline"})
        sid = session_id or uuid.uuid4().hex[:12]
        if sid in self._sessions:
            raise SessionError(f"session {sid!r} already exists", session_id=sid)
        return await self._start(sid, sc, s, self._model_for(s, sid), None, 0, detached)

    async def _start(
        self,
        sid: str,
        scenario: Scenario,
        settings: SessionSettings,
        model: LanguageModel,
        state: Mapping[str, Any] | None,
        version: int,
        detached: bool,
        rt: Runtime | None = None,
    ) -> Session:
        """Bring up a session's runtime (new, or ``rt``), restore ``state`` into it if given, and
        store a new session (``state`` None and a store: its turn-0 checkpoint)."""
        # The scenario's JSON (a second at 100,000 personas) is made once, by whichever needs it
        # first: a Ray session's director keeps a copy, and the store record is that JSON.
        scenario_json = functools.cache(scenario.model_dump_json)
        if rt is None:
            rt = await asyncio.to_thread(
                self._runtimes.create,
                sid,
                scenario,
                settings,
                model,
                detached=detached,
                restoring=state is not None,
                scenario_json=scenario_json,
            )
        try:
            if state is not None:
                await rt.restore(state)
            elif self._runner is not None:
                # turn 0 is stored as a reference to the record (checkpoint.genesis), not gathered
                # from the runtime: a rebuild builds it again from the scenario, settings and seed
                text = await asyncio.to_thread(scenario_json)
                head = session_record(sid, scenario, settings, scenario_json=text)
                version = (await self._runner.acall(lambda st: st.create_session(head, genesis()))).version
        except BaseException:
            rt.close()
            raise
        turn = int(state["turn"]) if state is not None else 0
        durable = self._durable(sid, scenario, settings, model, version, turn)
        session = Session(self, sid, scenario, settings, rt, model, durable)
        self._sessions[sid] = session
        return session

    # -- the state store -------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The engine's :class:`~novel_engine.storage.UnifiedStateManager`, or None."""
        return self._runner.store if self._runner is not None else None

    @property
    def store_runner(self) -> StoreRunner | None:
        """The engine's store with the loop it runs on: ``await engine.store_runner.acall(lambda
        st: st.method(...))`` from any loop, ``.call(...)`` from sync code (None without a store)."""
        return self._runner

    def _require_store(self, what: str) -> StoreRunner:
        if self._runner is None:
            raise SessionError(f"{what} needs a state store: create the engine with Engine(store=...)")
        return self._runner

    async def aresume(self, session_id: str, *, detached: bool = False) -> Session:
        """Async :meth:`resume`."""
        runner = self._require_store("resume")
        # A large cast's stored scenario and checkpoint are millions of objects read at once: with
        # the cyclic collector on, it walked them again and again (validating a 100,000-persona
        # scenario took 8.4 s against 2.2 s without it; see build_world). They are long-lived or
        # acyclic: frozen out of its sight afterwards.
        with gc_paused(freeze=True):
            head = await self._stored(session_id)
            settings = SessionSettings.model_validate(head.settings).model_copy(update={"seed": head.seed})
            scenario, model = Scenario.model_validate(head.scenario), self._model_for(settings, session_id)
            durable = self._durable(session_id, scenario, settings, model, head.version, head.turn)
            state, head = await rebuild(runner, session_id, await durable.rebuild_model())
        state["scenario"] = head.scenario  # a live director that restarted empty is loaded with it again
        rt = await asyncio.to_thread(self._runtimes.attach, session_id)
        session = await self._start(session_id, scenario, settings, model, state, head.version, detached, rt)
        await session._durable.apply_pending(session._rt)
        await session.afinished()  # a story that has ended is known to have ended (run plays no more)
        return session

    def resume(self, session_id: str, *, detached: bool = False) -> Session:
        """Reopen a stored session where its last committed turn left it (e.g. after a restart),
        with the trait updates made since (they are inputs of its next turn).

        ``detached``: Ray only: new actors (when the session's are gone) outlive this driver.

        Raises:
            SessionError: the engine has no store, or the store has no such session.
            CheckpointError: the stored state cannot be continued faithfully.
        """
        return self._run(self.aresume(session_id, detached=detached))

    def stored_sessions(self) -> list[Any]:
        """Every session in the state store, as :class:`~novel_engine.storage.port.SessionRecord` heads
        (id, scenario, turn, ``played_at``...), by id.

        Raises:
            SessionError: the engine has no store.
        """
        return self._require_store("stored_sessions").call(lambda st: st.list_sessions())

    def close(self) -> None:
        """Close the state store (everything committed stays in it). The sessions stay readable."""
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    async def aclose(self) -> None:
        """:meth:`close` from the engine's own loop (an engine of :meth:`aopen`)."""
        if self._runner is not None:
            await self._runner.astop()
            self._runner = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    async def aattach(self, session_id: str) -> Session:
        """Async :meth:`attach`."""
        if session_id in self._sessions:
            return self._sessions[session_id]
        rt = await asyncio.to_thread(self._runtimes.attach, session_id)
        if rt is None:
            raise SessionError(f"no live session {session_id!r}", session_id=session_id)
        head = None
        if self._runner is not None:
            try:
                head = await self._runner.acall(lambda st: st.get_session(session_id))
            except NotFoundError:
                pass  # a session created without a store stays out of it
        try:
            scenario, settings = await rt.scenario_and_settings()
        except StateLostError:  # its director restarted empty: the store knows the session
            if head is None:
                raise
            scenario = Scenario.model_validate(head.scenario)
            settings = SessionSettings.model_validate(head.settings).model_copy(update={"seed": head.seed})
        model = self._model_for(settings, session_id)
        durable = self._durable(session_id, scenario, settings, model, head.version, head.turn) if head else None
        session = self._sessions[session_id] = Session(self, session_id, scenario, settings, rt, model, durable)
        return session

    def attach(self, session_id: str) -> Session:
        """Re-attach to a live session, e.g. one created by another driver, notebook or server.

        Raises:
            SessionError: there is no live session by that id.
        """
        return self._run(self.aattach(session_id))

    def forget(self, session_id: str) -> None:
        """Drop this engine's handle on a session (the session itself is not touched)."""
        self._sessions.pop(session_id, None)

    def end(self, session_id: str) -> int:
        """End a session for good: close this engine's handle on it and, with Ray, kill every actor
        of it found by name, without asking any of them (a director restarting after a crash cannot
        answer, and must not come back). What is stored stays stored. Returns the actors killed."""
        session = self._sessions.pop(session_id, None)
        killed = self._runtimes.end(session_id)
        if session is not None and not killed:
            session.close()
        return killed

    def get_session(self, session_id: str) -> Session:
        """Return a session created or attached by this engine; ``SessionError`` if there is none."""
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionError(f"no session {session_id!r}", session_id=session_id) from None

    def list_sessions(self) -> list[str]:
        """Ids of the live sessions: this engine's, and with Ray every session on the cluster."""
        return sorted(set(self._sessions) | set(self._runtimes.live()))
