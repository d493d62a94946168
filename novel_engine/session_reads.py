"""What a session tells about its story: reports, prose, exports, events, graph, beliefs, the live feed.

:class:`SessionReads` is the reading half of :class:`~novel_engine.session.Session` (which adds
playing, forks and closing): every method here only reads the story through the session's
:class:`~novel_engine.runtime.port.Runtime` (and, for the events table, its state store), each in
an async form and a sync form run on the engine's loop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from novel_engine.agents.point_of_view import PovChapter, pov_chapters
from novel_engine.config import SessionSettings
from novel_engine.core.events import Event
from novel_engine.core.perception import BeliefSummary
from novel_engine.core.report import TurnReport
from novel_engine.core.scenario import Scenario
from novel_engine.errors import SessionError
from novel_engine.runtime.durability import DurableSession
from novel_engine.runtime.event_log import HubRead
from novel_engine.runtime.port import Runtime

__all__ = ["SessionReads"]

T = TypeVar("T")


class SessionReads:
    """The reading methods of a :class:`~novel_engine.session.Session` (a base class, not used alone)."""

    if TYPE_CHECKING:  # pragma: no cover - set and defined by Session
        id: str
        scenario: Scenario
        settings: SessionSettings
        seed: int
        _rt: Runtime
        _durable: DurableSession | None

        def _sync(self, coro: Coroutine[Any, Any, T]) -> T: ...

    async def areports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        """Async :meth:`reports`."""
        if after < 0 or (limit is not None and limit < 0):
            raise SessionError("after and limit must be zero or more", after=after, limit=limit)
        return await self._rt.reports(after, limit)

    def reports(self, after: int = 0, limit: int | None = None) -> list[TurnReport]:
        """The turns' reports so far, oldest first; ``after``/``limit`` page them (the turns
        after turn ``after``, at most ``limit``), so a page of a long story is all that moves."""
        return self._sync(self.areports(after, limit))

    async def anarrative(self, pov: str | None = None) -> str:
        """Async :meth:`narrative`."""
        if pov is None:
            return await self._rt.narrative()
        return "\n\n".join(chapter.text for chapter in await self.apov_chapters(pov))

    def narrative(self, pov: str | None = None) -> str:
        """The whole story so far, as prose; with ``pov``, as that persona saw it (see :meth:`pov_chapters`).

        Raises:
            SessionError: ``pov`` is not a persona of this story.
        """
        return self._sync(self.anarrative(pov))

    async def apov_chapters(self, persona_id: str) -> list[PovChapter]:
        """Async :meth:`pov_chapters`."""
        spec = next((p for p in self.scenario.personas if p.id == persona_id), None)
        if spec is None:
            raise SessionError(f"unknown persona {persona_id!r} for a point of view", agent_id=persona_id)
        world, s = await self._rt.world(), self.settings
        reports = await self._rt.reports()
        return pov_chapters(
            persona_id,
            spec.location,
            ((r.turn, r.events, r.tension) for r in reports),
            world.personas,
            world.locations,
            await self._rt.belief_model_of(persona_id),
            title=self.scenario.title,
            style=s.narrative_style or self.scenario.style,
            verbosity=s.verbosity,
            focus=s.focus_areas,
            seed=self.seed,
            highlight_limit=s.highlight_limit,
        )

    def pov_chapters(self, persona_id: str) -> list[PovChapter]:
        """Every chapter told from ``persona_id``'s perceptions and beliefs only (misconceptions
        included), by the offline grammar whatever model narrates the story.

        Raises:
            SessionError: ``persona_id`` is not a persona of this story.
        """
        return self._sync(self.apov_chapters(persona_id))

    def narration_fallbacks(self) -> list[tuple[int, str]]:
        """The chapters the offline grammar wrote instead of the model, as (turn, why): the model
        failed, or its prose did not hold against the events (``ungrounded: ...``)."""
        return self._sync(self._rt.narration_fallbacks())

    def markdown(self) -> str:
        """The story as a Markdown document."""
        return self._sync(self._rt.markdown())

    async def amarkdown(self) -> str:
        """Async :meth:`markdown`."""
        return await self._rt.markdown()

    async def arender(self, format: str = "markdown") -> bytes:
        """Async :meth:`render`."""
        from novel_engine.story_formats import StoryDocument, format_for_path, render_epub, render_html

        fmt = format_for_path("", format)
        text = await self._rt.markdown()
        if fmt == "markdown":
            return text.encode("utf-8")
        curve = [r.tension for r in await self._rt.reports()]
        doc = StoryDocument(text, curve, self.scenario.description, self.id, self.seed)
        return render_epub(doc) if fmt == "epub" else render_html(doc).encode("utf-8")

    def render(self, format: str = "markdown") -> bytes:
        """The story as the bytes of a ``markdown``, ``epub`` or ``html`` file.

        Raises:
            ConfigError: unknown format.
        """
        return self._sync(self.arender(format))

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

    def export_markdown(self, path: str | os.PathLike) -> Path:
        """Write the story as Markdown to ``path``; return the path."""
        return self.export(path, format="markdown")

    def export_epub(self, path: str | os.PathLike) -> Path:
        """Write the story as an EPUB 3 e-book (a chapter per turn) to ``path``; return the path."""
        return self.export(path, format="epub")

    def export_html(self, path: str | os.PathLike) -> Path:
        """Write the story as one standalone HTML page with its tension curve to ``path``; return the path."""
        return self.export(path, format="html")

    def events(self) -> list[Event]:
        """Every event so far, in order."""
        return [e for r in self.reports() for e in r.events]

    def export_events(self, path: str | os.PathLike) -> Path:
        """Write every event as JSON lines to ``path``; return the path."""
        p = Path(path)
        with p.open("w", encoding="utf-8") as fh:
            for e in self.events():
                fh.write(json.dumps(e.to_dict(), sort_keys=True) + "\n")
        return p

    def events_table(self) -> Any:
        """Every committed event as a pyarrow Table: the Parquet archives plus the recent events.

        Raises:
            SessionError: the session is not in a state store.
        """
        if self._durable is None:
            raise SessionError("events_table needs a state store: Engine(store=...)")
        return self._durable.runner.call(lambda st: st.events_table(self.id))

    async def asummary(self) -> dict[str, Any]:
        """Where the session stands: ``{"turn", "tension", "restarted"}`` (on Ray one small actor call).

        ``restarted`` is true while a restarted director waits to be restored from the store.
        """
        return await self._rt.summary()

    async def asubscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 10.0, limit: int = 1000
    ) -> HubRead:
        """The session's committed items after sequence number ``after_seq``, waiting up to ``timeout_s``
        for some: each event (``agent_action``, ``world_event``, ``causal_event``), the turn's
        ``narrative_update`` and ``turn_complete``, numbered 1, 2, 3... with no gaps, the same on both
        runtimes. Pass the answer's ``last_seq`` back to read on; ``truncated`` says the cursor left
        the kept window (read the reports instead)."""
        return await self._rt.subscribe(after_seq, event_types, timeout_s, limit)

    def subscribe(
        self, after_seq: int = 0, event_types: Sequence[str] | None = None, timeout_s: float = 0.0, limit: int = 1000
    ) -> HubRead:
        """Sync :meth:`asubscribe` (default: no waiting)."""
        return self._sync(self.asubscribe(after_seq, event_types, timeout_s, limit))

    def event_hub(self) -> Any:
        """Ray only: the session's event-hub actor, ``subscribe(after_seq, event_types, timeout_s)``,
        holding every turn this handle has played."""
        hub = self._rt.hub()
        if hub is None:
            raise SessionError("the event hub needs the ray runtime", session_id=self.id)
        self._sync(self._rt.settle())
        return hub

    def tension_curve(self) -> list[float]:
        """The tension after each turn."""
        return [r.tension for r in self.reports()]

    def causal_graph(self) -> dict:
        """The causal graph as node-link JSON."""
        return self._sync(self._rt.causal_graph())

    async def acausal_graph(self) -> dict:
        """Async :meth:`causal_graph`."""
        return await self._rt.causal_graph()

    def explain(self, event_id: str) -> list:
        """The chain of causes behind an event, root causes first."""
        return self._sync(self._rt.explain(event_id))

    async def aexplain(self, event_id: str) -> list:
        """Async :meth:`explain`."""
        return await self._rt.explain(event_id)

    async def abeliefs(self, agent_id: str, limit: int = 20) -> list[BeliefSummary]:
        """Async :meth:`beliefs`."""
        if not any(p.id == agent_id for p in self.scenario.personas):
            raise SessionError(f"unknown agent {agent_id!r}", agent_id=agent_id)
        return await self._rt.beliefs_of(agent_id, limit)

    def beliefs(self, agent_id: str, limit: int = 20) -> list[BeliefSummary]:
        """A persona's leading beliefs, most salient first."""
        return self._sync(self.abeliefs(agent_id, limit))
