"""The runtime seam: what the public API asks of a session's runtime, and of a kind of runtime.

Two implementations: in process (:mod:`novel_engine.runtime.local`) and on Ray
(:mod:`novel_engine.runtime.ray.runtime`). ``Engine(runtime=...)`` picks a :class:`Runtimes`; the
facade (``novel_engine.api``) talks to these protocols only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from novel_engine.config import SessionSettings
from novel_engine.core.events import Action, WorldEventSpec
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.core.world import WorldState
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.event_log import HubRead

__all__ = ["Runtime", "Runtimes"]


class Runtime(Protocol):
    """One session's runtime. Every method is async; none blocks the event loop."""

    kind: str  #: "local" or "ray"
    seed: int
    #: other drivers play through the same runtime (Ray actors): a store head that moved on is
    #: theirs, not a conflict
    shared: bool
    #: the runtime's process is always there (a session host restarts, empty): a step that finds the
    #: session's state lost rebuilds it in place, so a caller need not check it is live first
    always_there: bool

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
        """Play one turn: ``turn`` is the turn the caller expects (a runtime elsewhere refuses with
        ``StateLostError``), ``calls`` a replay's recorded model calls, ``publish`` False when the
        caller publishes once the turn is stored, ``checkpoint`` True when the caller will ask for
        the checkpoint after this turn (:meth:`checkpoint`): a runtime elsewhere takes it with the
        turn, so that call costs no second round trip; one in this process may ignore it."""

    async def publish(self, turn: int) -> None:
        """Put committed turn ``turn`` on the session's event hub (if it has one)."""

    async def settle(self) -> None:
        """Wait until the event hub holds every turn published through this runtime (a runtime
        elsewhere may send a publish without waiting for it)."""

    async def update_traits(self, persona_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits from the next turn on."""

    async def subscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ) -> HubRead:
        """Long-poll the committed turns' items after ``after_seq`` (events, prose, turn_complete)."""

    async def checkpoint(self) -> bytes:
        """The encoded checkpoint after the last turn (the state store's form)."""

    async def state(self, *, history: bool = False) -> dict[str, Any]:
        """The checkpoint dict after the last turn (``history``: with every turn report)."""

    async def restore(self, state: Mapping[str, Any]) -> int:
        """Continue from a checkpoint dict (with ``history``: those reports); return its turn."""

    async def turn(self) -> int: ...
    async def summary(self) -> dict[str, Any]: ...
    async def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]: ...
    async def world(self) -> WorldState: ...
    async def scenario_and_settings(self) -> tuple[Scenario, SessionSettings]: ...
    async def narrative(self) -> str: ...
    async def markdown(self) -> str: ...
    async def narration_fallbacks(self) -> list[tuple[int, str]]: ...
    async def causal_graph(self) -> dict: ...
    async def explain(self, event_id: str) -> list: ...
    async def beliefs_of(self, persona_id: str, limit: int = 20) -> list: ...
    async def belief_model_of(self, persona_id: str) -> dict[str, Any] | None: ...

    def hub(self) -> Any:
        """The session's event-hub actor, or None (in process)."""

    def close(self) -> None:
        """Release what the session holds (on Ray: kill its actors)."""


class Runtimes(Protocol):
    """A kind of runtime: creates sessions' runtimes and finds live ones."""

    name: str  #: "local" or "ray"
    needs_store: bool  #: sessions keep a state store even when the engine has none (the in-memory one)

    def create(
        self,
        session_id: str,
        scenario: Scenario,
        settings: SessionSettings,
        model: LanguageModel,
        *,
        detached: bool,
        restoring: bool = False,
        scenario_json: Callable[[], str] | None = None,
    ) -> Runtime:
        """A new session's runtime (``settings.seed`` resolved); ``restoring``: the caller restores a
        stored state into it next (a resume), which another driver may be doing at the same time;
        ``scenario_json``: the scenario's ``model_dump_json()``, made once for the runtime and the
        store (a runtime that keeps the scenario as JSON calls it)."""

    def attach(self, session_id: str) -> Runtime | None:
        """The runtime of a live session another driver created, or None."""

    def live(self) -> list[str]:
        """Ids of the live sessions this kind can attach to."""

    def end(self, session_id: str) -> int:
        """End a live session for good without asking it; return how many parts were stopped."""

    def info(self) -> dict[str, str | None]:
        """Where to look at the runtime (dashboard, logs)."""
