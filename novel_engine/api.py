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
from pathlib import Path
from typing import Any, Callable, Coroutine, Mapping, Sequence, TypeVar

from pydantic import ValidationError

from novel_engine.agents.director import validate_action
from novel_engine.config import SessionSettings, parse_settings
from novel_engine.core.events import Action, Decision, Event, WorldEventSpec
from novel_engine.core.perception import BeliefSummary
from novel_engine.core.scenario import Scenario
from novel_engine.errors import ConfigError, InvalidActionError, SessionError
from novel_engine.llm.offline import OfflineModel
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.local import LocalRuntime, TurnReport
from novel_engine.scenarios import load_scenario

__all__ = ["Engine", "Session", "TurnReport"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, also inside Jupyter's running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def worker() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    th = threading.Thread(target=worker, name="novel-engine-sync")
    th.start()
    th.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class Engine:
    """Creates and holds sessions.

    Args:
        runtime: ``local`` (in this process). The Ray runtime plugs in behind the same API.
        model: a language model to use instead of the one named by each session's ``llm`` setting.
    """

    def __init__(self, runtime: str = "local", *, model: LanguageModel | None = None) -> None:
        if runtime != "local":
            raise ConfigError(f"unknown runtime {runtime!r}; available: local", setting="runtime")
        self.runtime = runtime
        self._model = model
        self._sessions: dict[str, Session] = {}

    def _model_for(self, settings: SessionSettings) -> LanguageModel:
        if self._model is not None:
            return self._model
        return OfflineModel()

    def create_session(self, scenario: str | os.PathLike | Mapping | Scenario, seed: int | None = None, *,
                       settings: SessionSettings | Mapping | None = None, session_id: str | None = None,
                       **overrides: Any) -> "Session":
        """Start a session of ``scenario`` (a built-in name, a YAML path, a mapping or a Scenario).

        Args:
            seed: the session seed (default: the scenario's).
            settings: session settings (see :class:`~novel_engine.config.SessionSettings`).
            session_id: an explicit id (default: a new random one).
            **overrides: individual settings, e.g. ``verbosity=0.3``.
        Raises:
            ScenarioError: the scenario is invalid or unknown.
            ConfigError: a setting is invalid.
        """
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        s = parse_settings(settings if settings is not None else None, seed=seed, **overrides)
        if s.seed is None:
            s = s.model_copy(update={"seed": sc.seed})
        sid = session_id or uuid.uuid4().hex[:12]
        if sid in self._sessions:
            raise SessionError(f"session {sid!r} already exists", session_id=sid)
        session = Session(sid, sc, s, LocalRuntime(sc, s, self._model_for(s)))
        self._sessions[sid] = session
        return session

    def get_session(self, session_id: str) -> "Session":
        """Return a session created by this engine; ``SessionError`` if there is none by that id."""
        try:
            return self._sessions[session_id]
        except KeyError:
            raise SessionError(f"no session {session_id!r}", session_id=session_id) from None

    def list_sessions(self) -> list[str]:
        """Ids of this engine's sessions."""
        return sorted(self._sessions)


class Session:
    """One running story. Create it with :meth:`Engine.create_session`."""

    def __init__(self, session_id: str, scenario: Scenario, settings: SessionSettings, runtime: LocalRuntime) -> None:
        self.id = session_id
        self.scenario = scenario
        self.settings = settings
        self._rt = runtime

    @property
    def seed(self) -> int:
        return self._rt.seed

    @property
    def turn(self) -> int:
        """The last completed turn (0 before the first)."""
        return self._rt.turn

    @property
    def world(self):
        """The world state as the director sees it (read it; do not change it)."""
        return self._rt.world

    # -- playing -------------------------------------------------------------------------------
    def _parse(self, agent_actions: Mapping[str, Any] | None,
               world_events: Sequence[Any] | None) -> tuple[dict[str, Action], list[WorldEventSpec]]:
        actions: dict[str, Action] = {}
        for agent, raw in (agent_actions or {}).items():
            try:
                decision = raw if isinstance(raw, Decision) else Decision.model_validate(raw)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(map(str, e["loc"]))
                raise InvalidActionError(f"agent_actions.{agent}.{where}: {e['msg']}",
                                         field=f"agent_actions.{agent}.{where}") from None
            actions[agent] = validate_action(self._rt.world, agent, decision)
        events: list[WorldEventSpec] = []
        for i, raw in enumerate(world_events or ()):
            try:
                spec = raw if isinstance(raw, WorldEventSpec) else WorldEventSpec.model_validate(raw)
            except ValidationError as exc:
                e = exc.errors()[0]
                where = ".".join(map(str, e["loc"]))
                raise InvalidActionError(f"world_events[{i}].{where}: {e['msg']}",
                                         field=f"world_events[{i}].{where}") from None
            if spec.location is not None and spec.location not in self._rt.world.locations:
                raise InvalidActionError(f"world_events[{i}].location: unknown location {spec.location!r}",
                                         field=f"world_events[{i}].location")
            events.append(spec)
        return actions, events

    async def astep(self, agent_actions: Mapping[str, Any] | None = None,
                    world_events: Sequence[Any] | None = None) -> TurnReport:
        """Async :meth:`step`."""
        actions, events = self._parse(agent_actions, world_events)
        return await self._rt.step(actions, events)

    def step(self, agent_actions: Mapping[str, Any] | None = None,
             world_events: Sequence[Any] | None = None) -> TurnReport:
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
        """Play ``turns`` turns, calling ``on_turn`` after each; return their reports."""
        if turns < 0:
            raise SessionError("turns must be zero or more", turns=turns)
        out = []
        for _ in range(turns):
            report = self.step()
            out.append(report)
            if on_turn is not None:
                on_turn(report)
        return out

    # -- reading -------------------------------------------------------------------------------
    def narrative(self) -> str:
        """The whole story so far, as prose."""
        return self._rt.chronicler.narrative()

    def export_markdown(self, path: str | os.PathLike) -> Path:
        """Write the story as Markdown to ``path``; return the path."""
        p = Path(path)
        p.write_text(self._rt.chronicler.export_markdown(), encoding="utf-8")
        return p

    def reports(self) -> list[TurnReport]:
        """Every turn's report so far."""
        return list(self._rt.history)

    def events(self) -> list[Event]:
        """Every event so far, in order."""
        return [e for r in self._rt.history for e in r.events]

    def export_events(self, path: str | os.PathLike) -> Path:
        """Write every event as JSON lines to ``path``; return the path."""
        p = Path(path)
        with p.open("w", encoding="utf-8") as fh:
            for e in self.events():
                fh.write(json.dumps(e.to_dict(), sort_keys=True) + "\n")
        return p

    def tension_curve(self) -> list[float]:
        """The tension after each turn."""
        return [r.tension for r in self._rt.history]

    def causal_graph(self) -> dict:
        """The causal graph as node-link JSON."""
        return self._rt.director.causal_graph.to_node_link()

    def explain(self, event_id: str) -> list:
        """The chain of causes behind an event, root causes first."""
        return self._rt.director.causal_graph.explain(event_id)

    def beliefs(self, agent_id: str, limit: int = 20) -> list[BeliefSummary]:
        """A persona's leading beliefs, most salient first."""
        if agent_id not in self._rt.world.personas:
            raise SessionError(f"unknown agent {agent_id!r}", agent_id=agent_id)
        return self._rt.beliefs.beliefs_of(agent_id, limit)
