"""The public driver API: ``Engine`` and ``Session``, used by scripts, notebooks, the CLI and the server.

>>> from novel_engine import Engine
>>> session = Engine().create_session("fantasy_world", seed=7)
>>> report = session.step()                      # one turn
>>> reports = session.run(9)                     # nine more
>>> print(session.narrative())                   # the whole story so far

Player actions and world events are validated before the turn starts, so a bad one is rejected
with a clear error and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from novel_engine.agents.director import validate_action
from novel_engine.agents.highlights import main_goals
from novel_engine.agents.point_of_view import PovChapter, pov_chapters
from novel_engine.config import SessionSettings, parse_settings
from novel_engine.core.events import Action, Decision, Event, WorldEventSpec
from novel_engine.core.perception import BeliefSummary
from novel_engine.core.rng import check_seed
from novel_engine.core.scenario import Scenario
from novel_engine.errors import ConfigError, InvalidActionError, SessionError
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.local import LocalRuntime, TurnReport
from novel_engine.scenarios import load_scenario
from novel_engine.tracing import configure_tracing, turn_span

__all__ = ["Engine", "Session", "TurnReport"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter's running event loop."""
    box: dict[str, Any] = {}

    async def boxed() -> None:
        # The result goes through a box, not as the main task's result: in the main thread
        # asyncio.run restores its SIGINT handler at the end, and Python 3.11 then formats an error
        # message with the repr of that handler, the task and so its result: a whole TurnReport,
        # 0.25 s for the 20,000 events of a 20,000-persona turn.
        box["value"] = await coro

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(boxed())
        return box["value"]

    def worker() -> None:
        try:
            asyncio.run(boxed())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    th = threading.Thread(target=worker, name="novel-engine-sync")
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


RUNTIMES = ("local", "ray")


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
            ``NOVEL_ENGINE_*`` variables) or a ``UnifiedStateManager``. None: this process only.
        dashboard: Ray only: start Ray's dashboard (on loopback) with the local instance this
            engine starts; :meth:`ray_info` says where it is and where the actors' logs are.
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
    ) -> None:
        if runtime not in RUNTIMES:
            raise ConfigError(f"unknown runtime {runtime!r}; available: {', '.join(RUNTIMES)}", setting="runtime")
        self.runtime = runtime
        self._model = model
        self._actor_options = dict(actor_options or {})
        self._sessions: dict[str, Session] = {}
        self._runner = None
        configure_tracing()  # OTLP export of turn spans when OTEL_EXPORTER_OTLP_ENDPOINT is set
        if store is not None:
            from novel_engine.runtime import durable

            self._runner = durable.start_store(store)
        if runtime == "ray":
            from novel_engine.runtime.ray_runtime import connect

            connect(address, dashboard=dashboard)

    def ray_info(self) -> dict[str, str | None]:
        """Where to look at the Ray instance: ``dashboard_url`` (None when the instance runs none: a
        local one started without ``dashboard=True``),
        ``token_file`` (the token the dashboard asks for) and ``logs_dir`` (every actor's output).

        Raises:
            ConfigError: the engine runs in process (no Ray).
        """
        if self.runtime != "ray":
            raise ConfigError("ray_info: this engine runs in process; create it with Engine('ray')", setting="runtime")
        from novel_engine.runtime.ray_runtime import where_to_look

        return where_to_look()

    def _model_for(self, settings: SessionSettings, session_id: str = "") -> LanguageModel:
        if self._model is not None:
            return self._model
        from novel_engine.runtime.models import session_model  # adapters, wrappers, limiter, call records

        return session_model(settings, session_id, runtime=self.runtime, runner=self._runner)

    def _stored_model(self, runner: Any, session_id: str) -> LanguageModel:
        from novel_engine.runtime.models import stored_settings  # the session's own model and call records

        return self._model_for(stored_settings(runner, session_id), session_id)

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
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        s = parse_settings(settings if settings is not None else None, seed=seed, **overrides)
        if s.seed is None:
            s = s.model_copy(update={"seed": sc.seed})
        if s.llm is None:  # the scenario may name its model; the session's setting wins
            s = s.model_copy(update={"llm": sc.llm or "offline"})
        sid = session_id or uuid.uuid4().hex[:12]
        if sid in self._sessions:
            raise SessionError(f"session {sid!r} already exists", session_id=sid)
        if self.runtime == "ray":
            from novel_engine.runtime.ray_runtime import RayRuntime

            if s.processes > 1:
                raise ConfigError(
                    "processes is a local-runtime setting; a Ray session spreads its personas "
                    "over persona_shards actors instead",
                    setting="processes",
                )
            rt: Any = RayRuntime.create(
                sid, sc, s, self._model_for(s, sid), detached=detached, actor_options=self._actor_options
            )
        else:
            if detached:
                raise ConfigError("detached sessions need the ray runtime", setting="detached")
            rt = LocalRuntime(sc, s, self._model_for(s, sid))
        session = Session(sid, sc, s, rt)
        if self._runner is not None:
            from novel_engine.runtime import durable

            session._engine, session._version = self, durable.register(self._runner, sid, rt)
        self._sessions[sid] = session
        return session

    # -- the state store -------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        """The engine's :class:`~novel_engine.storage.UnifiedStateManager`, or None."""
        return self._runner.store if self._runner is not None else None

    def _require_store(self, what: str) -> Any:
        if self._runner is None:
            raise SessionError(f"{what} needs a state store: create the engine with Engine(store=...)")
        return self._runner

    def resume(self, session_id: str, *, detached: bool = False) -> Session:
        """Reopen a stored session where its last committed turn left it (e.g. after a restart).

        ``detached``: Ray only: new actors (when the session's are gone) outlive this driver.

        Raises:
            SessionError: the engine has no store, or the store has no such session.
            CheckpointError: the stored state cannot be continued faithfully.
        """
        from novel_engine.runtime import durable

        runner = self._require_store("resume")
        if self.runtime == "ray":  # the stored state, in the session's live actors or in new ones
            from novel_engine.runtime import ray_durable

            rt, head = run_sync(
                ray_durable.resume(
                    runner,
                    session_id,
                    self._stored_model(runner, session_id),
                    detached=detached,
                    actor_options=self._actor_options,
                )
            )
            sc, s = rt.scenario_and_settings()
            session = Session(session_id, sc, s, rt)
            session._engine, session._version = self, head.version
            self._sessions[session_id] = session
            return session
        rt, head = run_sync(durable.load(runner, session_id, self._stored_model(runner, session_id)))
        session = Session(session_id, rt.scenario, rt.settings, rt)
        session._engine, session._version = self, head.version
        self._sessions[session_id] = session  # replaces a stale handle of the same session
        return session

    def stored_sessions(self) -> list[Any]:
        """Every session in the state store, as :class:`~novel_engine.storage.port.SessionRecord` heads
        (id, scenario, turn, ``played_at``...), by id.

        Raises:
            SessionError: the engine has no store.
        """
        return self._require_store("stored_sessions").call(lambda st: st.list_sessions())

    def close(self) -> None:
        """Close the state store (everything committed stays in it)."""
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def attach(self, session_id: str) -> Session:
        """Re-attach to a live session, e.g. one created by another driver, notebook or server.

        Raises:
            SessionError: there is no live session by that id.
        """
        if session_id in self._sessions:
            return self._sessions[session_id]
        if self.runtime != "ray":
            raise SessionError(f"no session {session_id!r} in this process", session_id=session_id)
        from novel_engine.runtime.ray_runtime import RayRuntime

        rt = RayRuntime.attach(session_id)
        sc, s = rt.scenario_and_settings()
        session = self._sessions[session_id] = Session(session_id, sc, s, rt)
        if self._runner is not None:  # a stored session: this handle commits its turns too
            from novel_engine.errors import NotFoundError

            try:
                head = self._runner.call(lambda st: st.get_session(session_id))
                session._engine, session._version = self, head.version
            except NotFoundError:
                pass  # a session created without a store stays out of it
        return session

    def forget(self, session_id: str) -> None:
        """Drop this engine's handle on a session (the session itself is not touched)."""
        self._sessions.pop(session_id, None)

    def end(self, session_id: str) -> int:
        """End a session for good: close this engine's handle on it and, with Ray, kill every actor
        of it found by name, without asking any of them (a director restarting after a crash cannot
        answer, and must not come back). What is stored stays stored. Returns the actors killed."""
        session = self._sessions.pop(session_id, None)
        if self.runtime != "ray":
            if session is not None:
                session.close()
            return 0
        from novel_engine.runtime.ray_runtime import kill_session_actors

        return kill_session_actors(session_id)

    def get_session(self, session_id: str) -> Session:
        """Return a session created or attached by this engine; ``SessionError`` if there is none."""
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionError(f"no session {session_id!r}", session_id=session_id) from None

    def list_sessions(self) -> list[str]:
        """Ids of the live sessions: this engine's, and with Ray every session on the cluster."""
        ids = set(self._sessions)
        if self.runtime == "ray":
            from novel_engine.runtime.ray_runtime import list_sessions

            ids.update(list_sessions())
        return sorted(ids)


class Session:
    """One running story. Create it with :meth:`Engine.create_session`."""

    _engine: Engine | None = None  # set when the session lives in a state store
    _version = 0  # the store version this handle last committed or loaded

    def __init__(self, session_id: str, scenario: Scenario, settings: SessionSettings, runtime: Any) -> None:
        self.id = session_id
        self.scenario = scenario
        self.settings = settings
        self._rt = runtime
        self._reached: tuple[int, frozenset[str]] = (0, frozenset())  # (up to turn, narrative goals reached)

    @property
    def seed(self) -> int:
        return self._rt.seed

    @property
    def turn(self) -> int:
        """The last completed turn (0 before the first)."""
        return self._rt.turn

    @property
    def world(self):
        """The world state as the director sees it (read it; do not change it; a copy on Ray)."""
        return self._rt.world_state()

    # -- playing -------------------------------------------------------------------------------
    def _parse(
        self, agent_actions: Mapping[str, Any] | None, world_events: Sequence[Any] | None
    ) -> tuple[dict[str, Action], list[WorldEventSpec]]:
        actions: dict[str, Action] = {}
        world = self._rt.world_state() if (agent_actions or world_events) else None
        for agent, raw in (agent_actions or {}).items():
            try:
                decision = raw if isinstance(raw, Decision) else Decision.model_validate(raw)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(map(str, e["loc"]))
                raise InvalidActionError(
                    f"agent_actions.{agent}.{where}: {e['msg']}", field=f"agent_actions.{agent}.{where}"
                ) from None
            actions[agent] = validate_action(world, agent, decision)
        events: list[WorldEventSpec] = []
        for i, raw in enumerate(world_events or ()):
            try:
                spec = raw if isinstance(raw, WorldEventSpec) else WorldEventSpec.model_validate(raw)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(map(str, e["loc"]))
                raise InvalidActionError(
                    f"world_events[{i}].{where}: {e['msg']}", field=f"world_events[{i}].{where}"
                ) from None
            if spec.location is not None and spec.location not in world.locations:
                raise InvalidActionError(
                    f"world_events[{i}].location: unknown location {spec.location!r}",
                    field=f"world_events[{i}].location",
                )
            events.append(spec)
        return actions, events

    async def astep(
        self, agent_actions: Mapping[str, Any] | None = None, world_events: Sequence[Any] | None = None
    ) -> TurnReport:
        """Async :meth:`step` (traced: a span for the turn, one per phase; see :mod:`novel_engine.tracing`)."""
        with turn_span(self.id, "local" if isinstance(self._rt, LocalRuntime) else "ray") as add_phases:
            report = await self._astep(agent_actions, world_events)
            add_phases(report)
            return report

    async def _astep(self, agent_actions: Mapping[str, Any] | None, world_events: Sequence[Any] | None) -> TurnReport:
        actions, events = self._parse(agent_actions, world_events)
        runner = self._engine._runner if self._engine is not None else None
        if runner is not None:
            from novel_engine.runtime import durable

            return await durable.step(runner, self, agent_actions, actions, events)
        if hasattr(self._rt, "played"):  # a Ray session without a store: the driver keeps its inputs
            from novel_engine.runtime import ray_durable

            return await ray_durable.step_unstored(self, agent_actions, actions, events)
        return await self._rt.step(actions, events)

    def step(
        self, agent_actions: Mapping[str, Any] | None = None, world_events: Sequence[Any] | None = None
    ) -> TurnReport:
        """Play one turn.

        Args:
            agent_actions: player actions by persona id, each ``{"action_type", "target", "parameters",
                "dialogue"}``; they override that persona's own decision.
            world_events: world events for this turn, each ``{"description", "location", ...}``.
        Returns:
            The turn's :class:`TurnReport` (events, prose, tension, timings).
        Raises:
            InvalidActionError: an action or event is invalid (nothing has changed).
        """
        return run_sync(self.astep(agent_actions, world_events))

    def run(self, turns: int, on_turn: Callable[[TurnReport], None] | None = None) -> list[TurnReport]:
        """Play ``turns`` turns, calling ``on_turn`` after each; return their reports. The run stops
        early when the story ends (see :attr:`finished`)."""
        if turns < 0:
            raise SessionError("turns must be zero or more", turns=turns)
        out = []
        for _ in range(turns):
            report = self.step()
            out.append(report)
            if on_turn is not None:
                on_turn(report)
            if self.finished:
                break
        return out

    @property
    def finished(self) -> bool:
        """Whether the story has ended: every main narrative goal of the scenario is reached (its
        last chapter ends with an epilogue). A scenario without main goals never ends by itself;
        more turns may still be played."""
        main = main_goals(self.scenario)
        if not main:
            return False
        upto, reached = self._reached
        turn = self.turn
        if turn != upto:
            reached = frozenset(m for r in self._rt.reports(after=upto if turn > upto else 0) for m in r.milestones) | (
                reached if turn > upto else frozenset()
            )
            self._reached = (turn, reached)
        return main <= reached

    # -- reading -------------------------------------------------------------------------------
    def narrative(self, pov: str | None = None) -> str:
        """The whole story so far, as prose; with ``pov``, as that persona saw it (see :meth:`pov_chapters`).

        Raises:
            SessionError: ``pov`` is not a persona of this story.
        """
        if pov is None:
            return self._rt.narrative()
        return "\n\n".join(chapter.text for chapter in self.pov_chapters(pov))

    def pov_chapters(self, persona_id: str) -> list[PovChapter]:
        """Every chapter told from ``persona_id``'s perceptions and beliefs only (misconceptions
        included), by the offline grammar whatever model narrates the story.

        Raises:
            SessionError: ``persona_id`` is not a persona of this story.
        """
        spec = next((p for p in self.scenario.personas if p.id == persona_id), None)
        if spec is None:
            raise SessionError(f"unknown persona {persona_id!r} for a point of view", agent_id=persona_id)
        world, s = self._rt.world_state(), self.settings
        return pov_chapters(
            persona_id,
            spec.location,
            ((r.turn, r.events, r.tension) for r in self.reports()),
            world.personas,
            world.locations,
            self._rt.belief_model_of(persona_id),
            title=self.scenario.title,
            style=s.narrative_style or self.scenario.style,
            verbosity=s.verbosity,
            focus=s.focus_areas,
            seed=self.seed,
            highlight_limit=s.highlight_limit,
        )

    def narration_fallbacks(self) -> list[tuple[int, str]]:
        """The chapters the offline grammar wrote instead of the model, as (turn, why): the model
        failed, or its prose did not hold against the events (``ungrounded: ...``)."""
        return self._rt.narration_fallbacks()

    def markdown(self) -> str:
        """The story as a Markdown document."""
        return self._rt.export_markdown()

    def export_markdown(self, path: str | os.PathLike) -> Path:
        """Write the story as Markdown to ``path``; return the path."""
        return self.export(path, format="markdown")

    def export_epub(self, path: str | os.PathLike) -> Path:
        """Write the story as an EPUB 3 e-book (a chapter per turn) to ``path``; return the path."""
        return self.export(path, format="epub")

    def export_html(self, path: str | os.PathLike) -> Path:
        """Write the story as one standalone HTML page with its tension curve to ``path``; return the path."""
        return self.export(path, format="html")

    def render(self, format: str = "markdown") -> bytes:
        """The story as the bytes of a ``markdown``, ``epub`` or ``html`` file.

        Raises:
            ConfigError: unknown format.
        """
        from novel_engine.story_formats import StoryDocument, format_for_path, render_epub, render_html

        fmt = format_for_path("", format)
        if fmt == "markdown":
            return self.markdown().encode("utf-8")
        doc = StoryDocument(self.markdown(), self.tension_curve(), self.scenario.description, self.id, self.seed)
        return render_epub(doc) if fmt == "epub" else render_html(doc).encode("utf-8")

    def export(self, path: str | os.PathLike, format: str | None = None) -> Path:
        """Write the story to ``path`` as ``format`` (``markdown``, ``epub`` or ``html``; default: by the
        extension, ``.epub``, ``.html``/``.htm``, else Markdown); return the path.

        Raises:
            ConfigError: unknown format.
        """
        from novel_engine.story_formats import format_for_path

        p = Path(path)
        p.write_bytes(self.render(format_for_path(p, format)))
        return p

    def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        """The turns' reports so far, oldest first; ``after``/``limit`` page them (the turns
        after turn ``after``, at most ``limit``), so a page of a long story is all that moves."""
        if after < 0 or (limit is not None and limit < 0):
            raise SessionError("after and limit must be zero or more", after=after, limit=limit)
        return self._rt.reports(after, limit)

    def events(self) -> list[Event]:
        """Every event so far, in order."""
        return [e for r in self._rt.reports() for e in r.events]

    def export_events(self, path: str | os.PathLike) -> Path:
        """Write every event as JSON lines to ``path``; return the path."""
        p = Path(path)
        with p.open("w", encoding="utf-8") as fh:
            for e in self.events():
                fh.write(json.dumps(e.to_dict(), sort_keys=True) + "\n")
        return p

    @property
    def version(self) -> int:
        """The session's version in the state store (each committed turn bumps it; 0 without a store)."""
        return self._version

    def fork(
        self,
        at_turn: int | None = None,
        seed: int | None = None,
        *,
        session_id: str | None = None,
        detached: bool = False,
    ) -> Session:
        """A new session that continues this story from the end of ``at_turn`` (default: now).

        The fork shares no mutable state with this session. With ``seed``, its turns after
        ``at_turn`` draw from that seed instead. On Ray the fork runs in new actors (``detached``:
        it outlives this driver), built from the state store when the session is stored, else by
        replaying the recorded inputs its director holds.

        Raises:
            SessionError: ``at_turn`` is not a played turn, or it is a past one and there is no store.
            ConfigError: ``seed`` is not a whole number with ``0 <= seed < 2**63``.
        """
        from novel_engine.runtime import durable
        from novel_engine.runtime.checkpoint import capture, restore

        if seed is not None:
            check_seed(seed)
        now = self.turn
        at = now if at_turn is None else at_turn
        if not 0 <= at <= now:
            raise SessionError(f"cannot fork at turn {at}: the session has turns 0..{now}", turn=at)
        engine = self._engine
        sid = session_id or uuid.uuid4().hex[:12]
        if hasattr(self._rt, "fork"):  # Ray: replay the recorded inputs into a new set of actors
            if seed is not None:
                raise SessionError("a fork with a new seed needs the local runtime and a state store", seed=seed)
            if engine is not None:  # stored: from the store's checkpoint (a restored director lacks the inputs)
                from novel_engine.runtime import ray_durable

                model = self._rt.model or engine._stored_model(engine._runner, self.id)
                rt, version = run_sync(
                    ray_durable.fork(
                        engine._runner, self.id, model, at, sid, detached=detached, actor_options=engine._actor_options
                    )
                )
                fork = Session(sid, self.scenario, self.settings, rt)
                fork._engine, fork._version = engine, version
                engine._sessions[sid] = fork
                return fork
            rt = self._rt.fork(sid, at, self._rt.model or OfflineModel(), detached=detached)
            return Session(sid, self.scenario, self.settings, rt)
        model = durable._local(self._rt).pool.model
        if engine is None:
            if at != self.turn:
                raise SessionError("forking at a past turn needs a state store: Engine(store=...)", turn=at)
            rt = restore(capture(self._rt), model, seed=seed)
            return Session(sid, rt.scenario, rt.settings, rt)
        rt, version = run_sync(durable.fork(engine._runner, self.id, model, at, seed, sid))
        fork = Session(sid, rt.scenario, rt.settings, rt)
        fork._engine, fork._version = engine, version
        engine._sessions[sid] = fork
        return fork

    def events_table(self) -> Any:
        """Every committed event as a pyarrow Table: the Parquet archives plus the recent events.

        Raises:
            SessionError: the session is not in a state store.
        """
        if self._engine is None:
            raise SessionError("events_table needs a state store: Engine(store=...)")
        return self._engine._require_store("events_table").call(lambda st: st.events_table(self.id))

    async def asummary(self) -> dict[str, Any]:
        """Where the session stands: ``{"turn", "tension", "restarted"}`` (on Ray one small actor call).

        ``restarted`` is true while a restarted director waits to be restored from the store.
        """
        if hasattr(self._rt, "asummary"):
            return await self._rt.asummary()
        reports = self._rt.reports()
        return {"turn": self._rt.turn, "tension": reports[-1].tension if reports else 0.0, "restarted": False}

    def event_hub(self) -> Any:
        """Ray only: the session's event-hub actor, ``subscribe(after_seq, event_types, timeout_s)``."""
        if not hasattr(self._rt, "hub"):
            raise SessionError("the event hub needs the ray runtime", session_id=self.id)
        return self._rt.hub()

    def update_agent(self, agent_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits (each in [0, 1]) from the next turn on.

        Raises:
            SessionError: unknown agent, or the runtime cannot change personas (the local one).
            InvalidActionError: a trait value is not a number in [0, 1].
        """
        if not any(p.id == agent_id for p in self.scenario.personas):
            raise SessionError(f"unknown agent {agent_id!r}", agent_id=agent_id)
        for name, value in traits.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InvalidActionError(
                    f"parameters.{name}: must be a number between 0 and 1", field=f"parameters.{name}"
                )
        if not hasattr(self._rt, "update_persona"):
            raise SessionError("changing a persona's traits needs the ray runtime", agent_id=agent_id)
        self._rt.update_persona(agent_id, {k: float(v) for k, v in traits.items()})

    def tension_curve(self) -> list[float]:
        """The tension after each turn."""
        return [r.tension for r in self._rt.reports()]

    def causal_graph(self) -> dict:
        """The causal graph as node-link JSON."""
        return self._rt.causal_graph()

    def explain(self, event_id: str) -> list:
        """The chain of causes behind an event, root causes first."""
        return self._rt.explain(event_id)

    def beliefs(self, agent_id: str, limit: int = 20) -> list[BeliefSummary]:
        """A persona's leading beliefs, most salient first."""
        if not any(p.id == agent_id for p in self.scenario.personas):
            raise SessionError(f"unknown agent {agent_id!r}", agent_id=agent_id)
        return self._rt.beliefs_of(agent_id, limit)

    def close(self) -> None:
        """End the session and release what it holds (on Ray: kill its actors)."""
        self._rt.close()
