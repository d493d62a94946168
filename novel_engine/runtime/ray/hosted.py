"""Hosted sessions, driver side: :class:`HostedRuntime`, a session on a session host.

The pool (:class:`~novel_engine.runtime.ray.runtimes.HostPool`) finds a session's host from its id
alone, so any driver or Serve replica reaches a hosted session without asking anyone. A
:class:`HostedRuntime` answers the :class:`~novel_engine.runtime.port.Runtime` protocol with one
host call per method. A session the host dropped (idle, memory pressure, host restart) answers
``StateLostError``, which the durability layer already turns into a rebuild from the store and a
``restore`` on the same host.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ray

from novel_engine.config import SessionSettings
from novel_engine.core.events import Action, WorldEventSpec
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.errors import SessionError
from novel_engine.llm.port import LanguageModel
from novel_engine.runtime.residency import host_name

__all__ = ["HostedRuntime", "HostedHub"]


class _HostMethod:
    def __init__(self, method: Any, session_id: str) -> None:
        self.method, self.session_id = method, session_id

    def remote(self, *args: Any) -> Any:
        return self.method.remote(self.session_id, *args)


class HostedHub:
    """A hosted session's event log as an ``EventHub`` handle looks to its readers:
    ``subscribe.remote(after_seq, types, timeout_s, limit)`` and ``last_seq.remote()``."""

    def __init__(self, host: Any, session_id: str) -> None:
        self.subscribe = _HostMethod(host.subscribe, session_id)
        self.last_seq = _HostMethod(host.last_seq, session_id)


class HostedRuntime:
    """A session running on a session host: a thin driver-side handle.

    Args:
        session_id: the session.
        host: its host's handle; ``index`` its place in the pool.
        seed: the session seed.
        scenario / settings / model: what a restore needs when the host no longer holds the session.
        pool: the name of the host's pool.
    """

    kind = "ray"
    shared = True  # any driver reaches the same host
    always_there = True  # a detached host restarts (empty) after a crash

    def __init__(
        self,
        session_id: str,
        host: Any,
        index: int,
        seed: int,
        scenario: Scenario | None = None,
        settings: SessionSettings | None = None,
        model: LanguageModel | None = None,
        *,
        pool: str = "default",
    ) -> None:
        self.session_id, self.host, self.index, self.seed, self.pool = session_id, host, index, seed, pool
        self.scenario, self.settings, self.model = scenario, settings, model
        #: a session created here and not yet on its host: (scenario, settings, model) to open it with
        self._unplaced: tuple[Scenario, SessionSettings, LanguageModel] | None = None
        self._taken: bytes | None = None  # the checkpoint taken with the last step, not yet asked for

    @classmethod
    def create(
        cls,
        pool: Any,
        session_id: str,
        scenario: Scenario,
        settings: SessionSettings,
        model: LanguageModel,
        *,
        restoring: bool = False,
    ) -> HostedRuntime:
        """A new session for its host, with no call to the host (the store keeps turn 0 as a
        reference to the session's record): the session opens on its host with its first call. The
        host may be busy playing other sessions' turns, and creating a session is on a request's
        path; a session created and never played takes no memory there.

        ``restoring``: the caller restores a checkpoint next (a resume), and that restore brings the
        session into its host's memory; two drivers resuming the same session at once both succeed
        (the second restore finds the first's copy and resets it).
        """
        index, host = pool.host_for(session_id)
        seed = settings.seed if settings.seed is not None else scenario.seed
        settings = settings.model_copy(update={"seed": seed})
        rt = cls(session_id, host, index, seed, scenario, settings, model, pool=pool.settings.pool)
        if not restoring:
            rt._unplaced = (scenario, settings, model)
        return rt

    @classmethod
    def attach(cls, pool: Any, session_id: str) -> HostedRuntime | None:
        """The session if its host holds it in memory, else None."""
        index, host = pool.host_for(session_id)
        if not ray.get(host.has.remote(session_id)):
            return None
        scenario, settings = ray.get(host.call.remote(session_id, "scenario_and_settings"))
        return cls(session_id, host, index, settings.seed, scenario, settings, pool=pool.settings.pool)

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self._unplaced is not None:
            await self._place()
        return await self.host.call.remote(self.session_id, method, args, kwargs)

    async def _place(self) -> None:
        """Open a session created here on its host, at turn 0 (see :meth:`create`)."""
        scenario, settings, model = self._unplaced
        self._unplaced = None
        try:
            await self.host.open.remote(self.session_id, scenario, settings, model)
        except SessionError:
            pass  # another driver brought it there first (a resume): it holds the stored state

    # -- the Runtime protocol -------------------------------------------------------------------
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
        """Play one turn on the host (see ``LocalRuntime.step``); with ``checkpoint``, the host
        encodes the checkpoint after it in the same call, and the next :meth:`checkpoint` returns
        that."""
        self._taken = None
        answer = await self._call(
            "step",
            dict(agent_actions or {}),
            list(world_events),
            turn=turn,
            calls=list(calls),
            publish=publish,
            checkpoint=checkpoint,
        )
        report, self._taken = answer if checkpoint else (answer, None)
        return report

    async def publish(self, turn: int) -> None:
        await self._call("publish", turn)

    async def settle(self) -> None:
        """Nothing to wait for: the host has published the turn once :meth:`publish` returns."""

    async def update_traits(self, persona_id: str, traits: Mapping[str, float]) -> None:
        self._taken = None
        await self._call("update_traits", persona_id, dict(traits))

    async def subscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ):
        """Long-poll the session's event log on its host."""
        types = list(event_types) if event_types is not None else None
        if self._unplaced is not None:
            await self._place()
        return await self.host.subscribe.remote(self.session_id, after_seq, types, timeout_s, limit)

    async def checkpoint(self) -> bytes:
        """The encoded checkpoint after the last turn: the one taken with the last step if it was
        asked for there, else the host's now."""
        taken, self._taken = self._taken, None
        return taken if taken is not None else await self._call("checkpoint")

    async def state(self, *, history: bool = False) -> dict[str, Any]:
        return await self._call("state", history=history)

    async def restore(self, state: Mapping[str, Any]) -> int:
        """Put the session back to checkpoint ``state`` on its host, bringing it back into memory."""
        self._unplaced = self._taken = None
        state = {k: v for k, v in state.items() if k != "scenario"}  # the host is given it below
        return await self.host.restore.remote(self.session_id, state, self.scenario, self.settings, self.model)

    async def turn(self) -> int:
        return await self._call("turn")

    async def summary(self) -> dict[str, Any]:
        return await self._call("summary")

    async def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        return await self._call("reports", after, limit)

    async def world(self):
        return await self._call("world")

    async def scenario_and_settings(self) -> tuple[Scenario, SessionSettings]:
        if self.scenario is not None and self.settings is not None:
            return self.scenario, self.settings
        self.scenario, self.settings = await self._call("scenario_and_settings")
        return self.scenario, self.settings

    async def narrative(self) -> str:
        return await self._call("narrative")

    async def markdown(self) -> str:
        return await self._call("markdown")

    async def narration_fallbacks(self) -> list[tuple[int, str]]:
        return await self._call("narration_fallbacks")

    async def causal_graph(self) -> dict:
        return await self._call("causal_graph")

    async def explain(self, event_id: str) -> list:
        return await self._call("explain", event_id)

    async def beliefs_of(self, persona_id: str, limit: int = 20) -> list:
        return await self._call("beliefs_of", persona_id, limit)

    async def belief_model_of(self, persona_id: str) -> dict[str, Any] | None:
        return await self._call("belief_model_of", persona_id)

    @property
    def host_name(self) -> str:
        """The actor name of the session's host."""
        return host_name(self.pool, self.index)

    def placement(self) -> dict[str, str]:
        """Where the session runs: its host's actor name."""
        return {self.session_id: self.host_name}

    def hub(self) -> HostedHub:
        """The session's event log on its host, shaped as an event-hub handle."""
        return HostedHub(self.host, self.session_id)

    def close(self) -> None:
        """End the session on its host (what is stored stays stored)."""
        ray.get(self.host.drop.remote(self.session_id))
