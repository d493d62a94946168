"""``Session``: one running story, as scripts, notebooks, the CLI and the server use it.

Every method has an async form (``astep``, ``areports``...) that runs on the caller's loop when it
is the engine's, and a sync form that runs it on the engine's loop. A session talks to its runtime
through the :class:`~novel_engine.runtime.port.Runtime` protocol only; when the engine has a state
store, its turns go through :class:`~novel_engine.runtime.durability.DurableSession`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from novel_engine.agents.highlights import THREADS_CLOSED, main_goals
from novel_engine.config import SessionSettings
from novel_engine.core.report import TurnReport
from novel_engine.core.rng import check_seed
from novel_engine.core.scenario import Scenario
from novel_engine.core.world import WorldState
from novel_engine.errors import InvalidActionError, SessionError
from novel_engine.inputs import parse_inputs
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.durability import DurableSession, is_state_loss
from novel_engine.runtime.port import Runtime
from novel_engine.runtime.rebuild import fork_record, reseed
from novel_engine.session_reads import SessionReads
from novel_engine.tracing import turn_span

if TYPE_CHECKING:  # pragma: no cover - the engine creates sessions; sessions only call back
    from novel_engine.api import Engine

__all__ = ["Session"]

T = TypeVar("T")


class Session(SessionReads):
    """One running story. Create it with :meth:`Engine.create_session`.

    Playing, forks and closing are here; reading the story (reports, prose, exports, events,
    causal graph, beliefs, the live feed) is inherited from :class:`~novel_engine.session_reads.SessionReads`.
    """

    def __init__(
        self,
        engine: Engine,
        session_id: str,
        scenario: Scenario,
        settings: SessionSettings,
        runtime: Runtime,
        model: LanguageModel | None,
        durable: DurableSession | None = None,
    ) -> None:
        self.id = session_id
        self.scenario = scenario
        self.settings = settings
        self._engine, self._rt, self._model, self._durable = engine, runtime, model, durable
        self._reached: tuple[int, frozenset[str]] = (0, frozenset())  # (up to turn, narrative goals reached)

    def _sync(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._engine._loop.run(coro)

    @property
    def always_there(self) -> bool:
        """Whether the session's runtime is never gone for good (in process, or on a session host):
        its next step rebuilds any state it lost, so there is no need to check it first."""
        return self._rt.always_there

    @property
    def shared(self) -> bool:
        """Whether the session's runtime lives outside this process (Ray actors or a session
        host), where other drivers may play it too."""
        return self._rt.shared

    @property
    def seed(self) -> int:
        return self._rt.seed

    @property
    def turn(self) -> int:
        """The last completed turn (0 before the first)."""
        return self._sync(self._rt.turn())

    @property
    def world(self) -> WorldState:
        """The world state as the director sees it (read it; do not change it; a copy on Ray)."""
        return self._sync(self._rt.world())

    async def aworld(self) -> WorldState:
        """Async :attr:`world`."""
        return await self._rt.world()

    @property
    def version(self) -> int:
        """The session's version in the state store (each committed turn bumps it; 0 without a store)."""
        return self._durable.version if self._durable is not None else 0

    # -- playing -------------------------------------------------------------------------------
    async def astep(
        self, agent_actions: Mapping[str, Any] | None = None, world_events: Sequence[Any] | None = None
    ) -> TurnReport:
        """Async :meth:`step` (traced: a span for the turn, one per phase; see :mod:`novel_engine.tracing`)."""
        with turn_span(self.id, self._rt.kind) as add_phases:
            world = await self._rt.world() if (agent_actions or world_events) else None
            actions, events = parse_inputs(world, agent_actions, world_events)
            if self._durable is not None and self._engine.store is not None:  # (a closed store: memory only)
                report = await self._durable.play(self._rt, agent_actions, actions, events)
            else:
                report = await self._rt.step(actions, events)
            add_phases(report)
            upto, reached = self._reached
            if report.turn == upto + 1:  # what the ending needs is in hand: no reports call for it
                self._reached = (report.turn, reached | frozenset(report.milestones))
            return report

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
        return self._sync(self.astep(agent_actions, world_events))

    def run(self, turns: int, on_turn: Callable[[TurnReport], None] | None = None) -> list[TurnReport]:
        """Play ``turns`` turns, calling ``on_turn`` after each; return their reports. The run stops
        when the story ends (see :attr:`finished`), and plays nothing on a story that has ended (a
        resumed one, say)."""
        if turns < 0:
            raise SessionError("turns must be zero or more", turns=turns)
        out: list[TurnReport] = []
        for _ in range(turns):
            # what is known of the ending, without a call: a runtime that is recovering (a
            # restarted director) answers only the next step, which rebuilds it
            if self._ended():
                break
            report = self.step()
            out.append(report)
            if on_turn is not None:
                on_turn(report)
            if self.finished:
                break
        return out

    async def afinished(self, turn: int | None = None) -> bool:
        """Async :attr:`finished`; ``turn``: the session's turn if the caller just read it (saves a call)."""
        main = main_goals(self.scenario)
        if not main and not self.scenario.complications:
            return False  # nothing can end it: no main goal, and no thread the director can close
        upto, reached = self._reached
        turn = await self._recovering(self._rt.turn) if turn is None else turn
        if turn != upto:
            newer = await self._recovering(lambda: self._rt.reports(after=upto if turn > upto else 0))
            reached = frozenset(m for r in newer for m in r.milestones) | (reached if turn > upto else frozenset())
            self._reached = (turn, reached)
        return self._ended(reached)

    async def _recovering(self, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """``await call()``; if the runtime lost the session's state (a restarted actor or host
        that a step has not yet rebuilt), put it back to the stored state and call again."""
        try:
            return await call()
        except Exception as err:  # noqa: BLE001 - only lost state is recovered, the rest re-raised
            if self._durable is None or self._engine.store is None or not is_state_loss(err):
                raise
            await self._durable.recover(self._rt)
            return await call()

    def _ended(self, reached: frozenset[str] | None = None) -> bool:
        """Whether the milestones reached end the story (``None``: those known so far, no call)."""
        reached = self._reached[1] if reached is None else reached
        main = main_goals(self.scenario)
        return (bool(main) and main <= reached) or THREADS_CLOSED in reached

    @property
    def finished(self) -> bool:
        """Whether the story has ended: every main narrative goal of the scenario is reached, or
        every thread has closed (milestone ``threads_closed``); its last chapter ends with an epilogue. A scenario without main goals never ends by itself;
        more turns may still be played."""
        return self._sync(self.afinished())

    async def aupdate_agent(self, agent_id: str, traits: Mapping[str, float]) -> None:
        """Async :meth:`update_agent`."""
        if not any(p.id == agent_id for p in self.scenario.personas):
            raise SessionError(f"unknown agent {agent_id!r}", agent_id=agent_id)
        for name, value in traits.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise InvalidActionError(
                    f"parameters.{name}: must be a number between 0 and 1", field=f"parameters.{name}"
                )
        clean = {k: float(v) for k, v in traits.items()}
        if self._durable is not None:  # stored first: an input of the next turn, kept across a crash
            await self._durable.add_update(self._rt, agent_id, clean)
        else:
            await self._rt.update_traits(agent_id, clean)

    def update_agent(self, agent_id: str, traits: Mapping[str, float]) -> None:
        """Change a persona's traits (each in [0, 1]) from the next turn on. The change is an input
        of that turn: a resume, a recovery or a fork replays it at the same point of the story.

        Raises:
            SessionError: unknown agent.
            InvalidActionError: a trait value is not a number in [0, 1].
        """
        self._sync(self.aupdate_agent(agent_id, traits))

    # -- forks ---------------------------------------------------------------------------------
    async def afork(
        self,
        at_turn: int | None = None,
        seed: int | None = None,
        *,
        session_id: str | None = None,
        detached: bool = False,
    ) -> Session:
        """Async :meth:`fork`."""
        if seed is not None:
            check_seed(seed)
        now = await self._rt.turn()
        at = now if at_turn is None else at_turn
        if not 0 <= at <= now:
            raise SessionError(f"cannot fork at turn {at}: the session has turns 0..{now}", turn=at)
        engine, sid = self._engine, session_id or uuid.uuid4().hex[:12]
        version = 0
        if self._durable is not None:
            state, version = await fork_record(
                self._durable.runner, self.id, await self._durable.rebuild_model(), at, sid, seed
            )
        else:
            if at != now:
                raise SessionError("forking at a past turn needs a state store: Engine(store=...)", turn=at)
            state = await self._rt.state(history=True)
            if seed is not None:
                state = reseed(state, seed)
        settings = self.settings.model_copy(update={"seed": int(state["seed"])})
        return await engine._start(sid, self.scenario, settings, self._model, state, version, detached)

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
        ``at_turn`` draw from that seed instead. A past turn needs a state store (the fork is
        rebuilt from it); on Ray the fork runs in new actors (``detached``: it outlives this driver).

        Raises:
            SessionError: ``at_turn`` is not a played turn, or it is a past one and there is no store.
            ConfigError: ``seed`` is not a whole number with ``0 <= seed < 2**63``.
        """
        return self._sync(self.afork(at_turn, seed, session_id=session_id, detached=detached))

    def close(self) -> None:
        """End the session and release what it holds (on Ray: kill its actors)."""
        self._rt.close()
