"""The chronicler: turns each turn's events into prose and keeps the story as chapters.

``ChroniclerAgent.create_narrative`` picks the turn's highlights (all of them for a small cast; the
most important ``highlight_limit`` for a large one, always keeping player events), builds a
:class:`~novel_engine.llm.port.NarrationInput` and asks the language model for the chapter. If the
model fails, the offline grammar writes the chapter instead, from the same random stream the
offline model would use, so a story always completes and the failure is recorded.

Chapters are keyed by turn: narrating a turn again (a retried turn) replaces its chapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from novel_engine.agents.grounding import check_prose
from novel_engine.agents.highlights import Untold, ends_story, main_goals, select_highlights, untold_of
from novel_engine.agents.narration_context import WorldContext, character_sketch, mentioned
from novel_engine.agents.standing_notes import Kept, advance, choose, condition_text, kept_from_dict, kept_to_dict
from novel_engine.core.events import Event
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import PersonaState
from novel_engine.errors import ConfigError, ModelError, NovelEngineError
from novel_engine.llm.offline_prose import narrate, recap
from novel_engine.llm.port import CharacterSketch, LanguageModel, ModelRequest, NarrationInput
from novel_engine.llm.prose_grammar import STYLES

__all__ = [
    "ChroniclerAgent",
    "WorldContext",
    "NarrationFallback",
    "FOCUS_AREAS",
    "select_highlights",
    "ends_story",
    "main_goals",
]

FOCUS_AREAS = ("action", "dialogue", "atmosphere")
_STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class NarrationFallback:
    """A turn whose chapter the offline grammar wrote because the model failed (``error`` says how)."""

    turn: int
    error: str


class ChroniclerAgent:
    """Writes the story: one chapter of prose per turn, through the LanguageModel port.

    Args:
        model: the language model asked for prose (``purpose="narrate"``).
        style: ``epic_fantasy``, ``noir`` or ``sci_fi``.
        verbosity: in [0, 1]; 0 is one terse sentence per event, 1 is lavish.
        focus_areas: any of ``action``, ``dialogue``, ``atmosphere``: what the prose dwells on.
        seed: the session seed (keys the model call and the fallback's random stream).
        highlight_limit: the most events told per turn; the rest are summed up in one line.
        title: the story's title (else the title of the first world context seen).

    Raises:
        ConfigError: a setting is invalid (the message names it and the allowed values).
    """

    def __init__(
        self,
        model: LanguageModel,
        *,
        style: str = "epic_fantasy",
        verbosity: float = 0.6,
        focus_areas: Sequence[str] = FOCUS_AREAS,
        seed: int = 0,
        highlight_limit: int = 12,
        title: str = "",
    ) -> None:
        if style not in STYLES:
            raise ConfigError(
                f"unknown narrative style {style!r}; choose one of {', '.join(STYLES)}", setting="style", value=style
            )
        if (
            isinstance(verbosity, bool)
            or not isinstance(verbosity, (int, float))
            or math.isnan(verbosity)
            or not 0.0 <= verbosity <= 1.0
        ):
            raise ConfigError(
                f"verbosity must be a number between 0 and 1, got {verbosity!r}",
                setting="verbosity",
                value=repr(verbosity),
            )
        if isinstance(focus_areas, str):
            raise ConfigError(
                "focus_areas must be a list such as ['action', 'dialogue'], not a string",
                setting="focus_areas",
                value=focus_areas,
            )
        unknown = [f for f in focus_areas if f not in FOCUS_AREAS]
        if unknown:
            raise ConfigError(
                f"unknown focus area(s) {', '.join(map(repr, unknown))}; choose from {', '.join(FOCUS_AREAS)}",
                setting="focus_areas",
                value=unknown,
            )
        if isinstance(highlight_limit, bool) or not isinstance(highlight_limit, int) or highlight_limit < 1:
            raise ConfigError(
                f"highlight_limit must be a whole number of at least 1, got {highlight_limit!r}",
                setting="highlight_limit",
                value=repr(highlight_limit),
            )
        self.model = model
        self.style = style
        self.verbosity = float(verbosity)
        self.focus_areas = tuple(dict.fromkeys(focus_areas))
        self.seed = int(seed)
        self.highlight_limit = highlight_limit
        self.title = title
        self.fallbacks: list[NarrationFallback] = []
        # who is down, as the story has told it (id -> (name, place name)): the standing conditions
        # a model is given and checked against; kept by turn so a retried turn starts from the same
        self._down: dict[int, dict[str, tuple[str, str]]] = {}
        # by turn, the last two: the beats told (actor|action|target -> chapters in a row) and what
        # the chapter came to in a clause (the next chapter's "previously")
        self._beats: dict[int, dict[str, int]] = {}
        self._recaps: dict[int, str] = {}
        self._chapters: dict[int, str] = {}
        self._chapter_titles: dict[int, str] = {}
        # by turn, the last two: the consequences the story has told that still stand (see standing_notes)
        self._standing: dict[int, dict[str, Kept]] = {}

    async def create_narrative(
        self,
        events: Sequence[Event],
        characters: Mapping[str, PersonaState | CharacterSketch],
        world_context: WorldContext,
        impact: Callable[[Event], float] | None = None,
        untold: Untold | None = None,
    ) -> str:
        """Write (or rewrite) the chapter of ``world_context.turn`` and return it.

        Args:
            events: the turn's events, in the order they happened; with ``untold``, only the
                ones to tell (``select_highlights`` of the whole turn, chosen by the caller).
            characters: everyone who may be mentioned, by id (only those mentioned are passed on).
            world_context: the title, turn, places and tension.
            impact: how much each event matters, for choosing highlights (default: its intensity).
            untold: what the caller left out of ``events`` (``untold_of``): the same chapter as
                from the whole turn, without shipping it.

        Returns:
            The chapter's prose. A turn without events gets a short quiet-turn passage.
        """
        turn = world_context.turn
        if not self.title and world_context.title:
            self.title = world_context.title
        if untold is None:
            highlights, omitted = select_highlights(events, self.highlight_limit, impact)
            untold = untold_of(events, highlights) if omitted else None
        else:
            highlights, omitted = list(events), untold.count
        down = self._down_before(turn)
        beats, repeats = self._repeats(turn, highlights)
        inp = self._narration_input(highlights, omitted, characters, world_context, down)
        kept = self._standing_before(turn)
        standing = choose(kept, turn, highlights)
        inp = replace(
            inp,
            standing=standing,
            # who is down is there already: the dangers and orders that stand are added
            conditions=inp.conditions + tuple(condition_text(n) for n in standing if n.kind != "fallen"),
            previously=self._recaps.get(turn - 1, ""),
            repeats=repeats,
            omitted_kinds=untold.kinds if untold is not None else (),
            ending=bool(world_context.ending),
            closed=tuple(world_context.closed) if world_context.ending else (),
            peril=bool(world_context.peril),
        )
        # a retried turn starts from a clean slate: its earlier chapter and fallback record go
        self.fallbacks = [f for f in self.fallbacks if f.turn != turn]
        if not highlights:
            text = narrate(inp, self._stream(turn))  # nothing to ask a model about
        else:
            request = ModelRequest(
                purpose="narrate", context=inp, schema=None, seed=self.seed, turn=turn, agent="chronicler"
            )
            try:
                response = await self.model.complete(request)
                text = (response.text or "").strip()
                if not text:
                    raise ModelError("the model returned empty prose", model=getattr(self.model, "name", "model"))
                # the offline grammar tells only what it is given; a language model is checked
                problems = (
                    []
                    if response.model == "offline"
                    else check_prose(text, inp, {pid: name for pid, (name, _) in down.items()})
                )
                if problems:
                    self.fallbacks.append(NarrationFallback(turn, "ungrounded: " + "; ".join(problems[:5])))
                    text = narrate(inp, self._stream(turn))
            except ModelError as err:
                self.fallbacks.append(NarrationFallback(turn, f"{type(err).__name__}: {err}"))
                text = narrate(inp, self._stream(turn))
        self._chapters[turn] = text
        self._down[turn] = self._down_after(down, inp, characters)
        if untold is None:
            self._standing[turn] = advance(kept, inp, characters, turn, highlights)
        else:
            seen = [*highlights, *untold.notable]
            self._standing[turn] = advance(kept, inp, characters, turn, seen, untold.acted)
        self._beats[turn] = beats
        score = impact if impact is not None else (lambda e: e.intensity)
        main = sorted(range(len(highlights)), key=lambda i: (-float(score(highlights[i])), highlights[i].id))[:2]
        self._recaps[turn] = recap(
            inp, [highlights[i] for i in sorted(main)], RandomStreams(self.seed).stream(turn, "chronicler", "recap")
        )
        for memory in (self._down, self._beats, self._recaps, self._standing):
            for old in [t for t in memory if t < turn - 1]:
                del memory[old]
        return text

    def _repeats(self, turn: int, told: Sequence[Event]) -> tuple[dict[str, int], dict[str, int]]:
        """The beats told this turn (actor|action|target -> chapters in a row), and the events whose
        beat was told in the chapters just before (event id -> chapters in a row, this one included).
        Talk is summed up only from its third telling: what is said changes more than blows do."""
        prev = self._beats.get(turn - 1, {})
        beats: dict[str, int] = {}
        repeats: dict[str, int] = {}
        for e in told:
            if e.kind != "action" or not e.actor:
                continue
            action = getattr(e.action_type, "value", e.action_type)
            key = f"{e.actor}|{action}|{e.target or e.location}"
            n = beats[key] = prev.get(key, 0) + 1
            if n >= (3 if action in ("speak", "persuade") else 2):
                repeats[e.id] = n
        return beats, repeats

    def _standing_before(self, turn: int) -> dict[str, Kept]:
        earlier = [t for t in self._standing if t < turn]
        return self._standing[max(earlier)] if earlier else {}

    def _down_before(self, turn: int) -> dict[str, tuple[str, str]]:
        earlier = [t for t in self._down if t < turn]
        return dict(self._down[max(earlier)]) if earlier else {}

    @staticmethod
    def _down_after(
        down: dict[str, tuple[str, str]], inp: NarrationInput, characters: Mapping[str, PersonaState | CharacterSketch]
    ) -> dict[str, tuple[str, str]]:
        """Who is down after the turn: those down before, less those now up, plus those fallen."""
        out = dict(down)
        for pid, sketch in inp.characters.items():
            if sketch.status == "incapacitated":
                c = characters.get(pid)
                lid = c.location if isinstance(c, PersonaState) else None
                out[pid] = (sketch.name, inp.locations.get(lid or "", ("", ""))[0])
            else:
                out.pop(pid, None)
        return dict(sorted(out.items()))

    def _stream(self, turn: int):
        # the very stream the offline model narrates from, so a fallback reads like offline prose
        return RandomStreams(self.seed).stream(turn, "chronicler", "narrate")

    def _narration_input(
        self,
        events: list[Event],
        omitted: int,
        characters: Mapping[str, PersonaState | CharacterSketch],
        ctx: WorldContext,
        down: Mapping[str, tuple[str, str]] = {},
    ) -> NarrationInput:
        people, places = mentioned(events)
        sketches = {pid: character_sketch(characters[pid]) for pid in people if pid in characters}
        locations = {
            lid: (ctx.locations[lid].name, ctx.locations[lid].description) for lid in places if lid in ctx.locations
        }
        tension = ctx.tension if isinstance(ctx.tension, (int, float)) and not math.isnan(ctx.tension) else 0.0
        return NarrationInput(
            turn=ctx.turn,
            title=self.title or ctx.title,
            style=self.style,
            verbosity=self.verbosity,
            focus=self.focus_areas,
            events=tuple(events),
            characters=sketches,
            locations=locations,
            tension=min(1.0, max(0.0, tension)),
            omitted=omitted,
            before=self.before(ctx.turn),
            conditions=tuple(
                f"{name} lies fallen at {place}" if place else f"{name} lies fallen"
                for name, place in list(down.values())[:8]
            ),
        )

    def before(self, turn: int) -> str:
        """The text of the twenty chapters before ``turn``, what the prose should not say again
        (read from the chapters themselves, so a restored chronicler writes on exactly as an
        uninterrupted one; twenty, so a long story's turn does not search the whole story)."""
        return "\n\n".join(self._chapters[t] for t in range(turn - 20, turn) if t in self._chapters)

    # --- the story --------------------------------------------------------------------------------

    def chapters(self) -> list[tuple[int, str]]:
        """Every chapter as (turn, prose), in turn order."""
        return sorted(self._chapters.items())

    def set_chapter_title(self, turn: int, title: str | None) -> None:
        """Give a turn's chapter a title for the Markdown export (None restores ``Turn N``)."""
        if title:
            self._chapter_titles[turn] = title
        else:
            self._chapter_titles.pop(turn, None)

    def narrative(self) -> str:
        """The whole story so far, chapter after chapter, separated by blank lines."""
        return "\n\n".join(text for _, text in self.chapters())

    def export_markdown(self) -> str:
        """The story as Markdown: ``# Title``, then one ``## Turn N`` (or chapter title) section per turn."""
        parts = [f"# {self.title or 'Untitled'}"]
        for turn, text in self.chapters():
            parts.append(f"## {self._chapter_titles.get(turn) or f'Turn {turn}'}")
            parts.append(text)
        return "\n\n".join(parts) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The chronicler's settings and chapters as a JSON-friendly dict (see :meth:`from_dict`)."""
        return {
            "v": _STATE_VERSION,
            "style": self.style,
            "verbosity": self.verbosity,
            "focus_areas": list(self.focus_areas),
            "seed": self.seed,
            "highlight_limit": self.highlight_limit,
            "title": self.title,
            "chapters": [{"turn": t, "text": s, "title": self._chapter_titles.get(t)} for t, s in self.chapters()],
            "fallbacks": [{"turn": f.turn, "error": f.error} for f in self.fallbacks],
            "down": {str(t): {pid: list(v) for pid, v in d.items()} for t, d in self._down.items()},
            "beats": {str(t): dict(b) for t, b in self._beats.items()},
            "recaps": {str(t): r for t, r in self._recaps.items()},
            "standing": {str(t): kept_to_dict(k) for t, k in self._standing.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], model: LanguageModel) -> ChroniclerAgent:
        """Rebuild a chronicler written by :meth:`to_dict`, narrating through ``model``.

        Raises:
            ConfigError: the settings in ``d`` are invalid.
            NovelEngineError: ``d`` is not a chronicler state.
        """
        try:
            agent = cls(
                model,
                style=d.get("style", "epic_fantasy"),
                verbosity=d.get("verbosity", 0.6),
                focus_areas=tuple(d.get("focus_areas", FOCUS_AREAS)),
                seed=d.get("seed", 0),
                highlight_limit=d.get("highlight_limit", 12),
                title=d.get("title", ""),
            )
            for ch in d.get("chapters", ()):
                agent._chapters[int(ch["turn"])] = str(ch["text"])
                if ch.get("title"):
                    agent._chapter_titles[int(ch["turn"])] = str(ch["title"])
            agent.fallbacks = [NarrationFallback(int(f["turn"]), str(f["error"])) for f in d.get("fallbacks", ())]
            agent._down = {
                int(t): {pid: (str(v[0]), str(v[1])) for pid, v in down.items()}
                for t, down in (d.get("down") or {}).items()
            }
            agent._beats = {int(t): {str(k): int(n) for k, n in b.items()} for t, b in (d.get("beats") or {}).items()}
            agent._recaps = {int(t): str(r) for t, r in (d.get("recaps") or {}).items()}
            agent._standing = {int(t): kept_from_dict(k) for t, k in (d.get("standing") or {}).items()}
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise NovelEngineError(f"not a chronicler state: {err}", error=str(err)) from None
        return agent
