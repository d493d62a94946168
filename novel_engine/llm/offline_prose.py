"""The offline model's prose: a turn's events told as a short chapter from per-style grammars.

:func:`narrate` fills templates from ``grammars/<style>.yaml`` (see :mod:`.prose_grammar`). Every
choice about the events (which template, which adverb, whether to add a clause or a line of
dialogue) is drawn from the ``random.Random`` passed in, which the caller seeds from (seed, turn,
"chronicler", "narrate"); chapter-level lines (opening, atmosphere, closing) step through their
pools turn by turn instead, so consecutive chapters never open alike. Nothing else varies: the
same input and the same stream give byte-identical prose.

Shape of a chapter: an opening line chosen by the tension band and a few atmosphere lines, then
the events grouped by place into short paragraphs joined by transitions, then a line for the deeds
left out and a closing line. ``verbosity`` scales everything optional (at 0: one sentence per
event, nothing else); ``focus`` decides what is dwelt on.
"""

from __future__ import annotations

import random
from functools import lru_cache

from novel_engine.core.rng import stable_hash
from novel_engine.llm.port import NarrationInput
from novel_engine.llm.prose_events import LOCATION_TARGETED, TERSE, EventWriter, Slots
from novel_engine.llm.prose_grammar import (Template, cap, decap, first_sentence, load_grammar, number_words, ordinal,
                                            strip_end)

__all__ = ["narrate", "tension_band"]

_PARAGRAPH_EVENTS = 4


def tension_band(tension: float) -> str:
    """``calm`` below 0.35, ``rising`` below 0.7, else ``high``."""
    return "calm" if tension < 0.35 else "rising" if tension < 0.7 else "high"


def narrate(inp: NarrationInput, rng: random.Random) -> str:
    """Write one turn's prose from its events (Markdown-friendly paragraphs, no headings).

    Args:
        inp: the turn's events and what is known of the characters and places they mention.
        rng: the only source of variation, seeded by the caller.

    Returns:
        Paragraphs separated by blank lines; a short quiet-turn passage when there are no events.

    Raises:
        ConfigError: ``inp.style`` is not a known style.
    """
    return _Writer(inp, rng, load_grammar(inp.style)).write()


class _Writer(EventWriter):
    """Writes one chapter around the event sentences: opening, paragraphs by place, closing."""

    def rotate(self, key: str, slots: dict[str, str], absent: frozenset[str] | set[str] = frozenset(),
               lane: int = 0, lanes: int = 1) -> str:
        """A chapter-level line (opening, atmosphere, closing...). These step through their pool
        turn by turn, from an offset given by the story's title, so a pool of n lines gives n
        chapters in a row that do not open or close alike (random draws would repeat within a few)."""
        return cap(self.rotated(key, absent, lane, lanes, slots).render(slots))

    def rotated(self, key: str, absent: frozenset[str] | set[str] = frozenset(), lane: int = 0,
                lanes: int = 1, slots: dict[str, str] | None = None) -> Template:
        """The template :meth:`rotate` fills (for callers that need to know how it opens): the
        turn's place in the pool, or the next one on whose text the chapters before are silent."""
        pool = self.g.pools[key]
        if absent:
            pool = tuple(t for t in pool if not t.fields & absent) or pool
        step = self.inp.turn * lanes + lane
        start = _offset(self.inp.title, self.g.style, key) + step
        choice = pool[start % len(pool)]
        if self.before and slots is not None:
            for k in range(len(pool)):
                candidate = pool[(start + k) % len(pool)]
                if strip_end(candidate.render(slots)) not in self.before:
                    choice = candidate
                    break
        self.used.add(choice.text)
        return choice

    # --- the chapter ----------------------------------------------------------------------------

    def write(self) -> str:
        """The whole chapter."""
        inp, v = self.inp, self.v
        base = Slots(self, "move", nth=ordinal(inp.turn))
        absent = set() if inp.title else {"title"}
        if inp.title:
            base["title"] = inp.title
        if not inp.events:
            lines = [self.rotate("quiet", base, absent)]
            if v >= 0.3 or self.f_atmos and v > 0:
                lines.extend(self.atmosphere(1))
            return " ".join(lines)
        paragraphs = []
        head = [self.rotate(f"opening.{tension_band(inp.tension)}", base, absent)] if v >= TERSE else []
        count = 0 if v <= 0 else (0 if v < 0.3 else 1 if v < 0.7 else 2) + (1 if self.f_atmos else 0)
        head.extend(self.atmosphere(count))
        if head:
            paragraphs.append(" ".join(head))
        for index, (loc, chunk, first_here) in enumerate(self.chunks()):
            paragraphs.append(" ".join(self.paragraph(loc, chunk, index, first_here)))
        tail = []
        if inp.omitted > 0:
            key = "omitted.one" if inp.omitted == 1 else "omitted.many"
            tail.append(self.say(key, Slots(self, "move", n=number_words(inp.omitted))))
        if v >= TERSE:
            tail.append(self.rotate(f"closing.{tension_band(inp.tension)}", base, absent))
        if tail:
            paragraphs.append(" ".join(tail))
        return "\n\n".join(paragraphs)

    def atmosphere(self, count: int) -> list[str]:
        """Up to three scene-setting lines: weather, light and sound, in a drawn order."""
        kinds = ["weather", "light", "sound"]
        self.rng.shuffle(kinds)
        return [self.rotate(f"atmosphere.{k}", {}) for k in kinds[:min(count, 3)]]

    def chunks(self) -> list[tuple[str | None, list, bool]]:
        """Events grouped by place (in order of first appearance), cut into short paragraphs."""
        groups: dict[str | None, list] = {}
        for e in self.inp.events:
            groups.setdefault(e.location, []).append(e)
        out = []
        size = _PARAGRAPH_EVENTS - (self.v >= 0.5)  # richer telling, fewer events per paragraph
        for loc, events in groups.items():
            parts = -(-len(events) // size)
            # even cuts (2 + 2, not 3 + 1) so no paragraph is a lone afterthought
            bounds = [len(events) * k // parts for k in range(parts + 1)]
            for k in range(parts):
                out.append((loc, events[bounds[k]:bounds[k + 1]], k == 0))
        return out

    def paragraph(self, loc: str | None, events: list, index: int, first_here: bool) -> list[str]:
        """The sentences of one paragraph: a scene line perhaps, then each event's sentences."""
        sentences: list[str] = []
        started = False
        if (self.f_atmos and self.v > 0 and first_here and loc and self.scenes < 2
                and self.rng.random() < 0.5 + 0.3 * self.v):
            slots = Slots(self, "move", place=self.place(loc))
            t = self.rotated("scene", lane=self.scenes, lanes=2, slots=slots)
            self.scenes += 1
            line = t.render(slots)
            prefix = self.prefix(index, first_here, loc, names_place=True)
            if prefix and not t.text.startswith("{"):  # a template's own capital, never a name's
                line = decap(line)
            sentences.append(cap(f"{prefix} {line}") if prefix else cap(line))
            started = True
        for j, event in enumerate(events):
            sentences.extend(self.event(event, index if not started and j == 0 else None, first_here, j > 0))
            # a place is described when someone arrives there, or when the story opens there
            arrived = getattr(event.action_type, "value", event.action_type) in LOCATION_TARGETED
            if (j == 0 and first_here and loc and self.v >= 0.7 and loc not in self.described
                    and (arrived or self.inp.turn <= 1)):
                self.described.add(loc)
                entry = self.inp.locations.get(loc)
                desc = first_sentence(entry[1]) if entry and entry[1] else None
                if desc and self.rng.random() < 0.6:
                    sentences.append(desc)
        return sentences

    def prefix(self, index: int, first_here: bool, loc: str | None, names_place: bool) -> str:
        """What may open a paragraph: a place opener, a transition, a beat, or nothing."""
        rng, v = self.rng, self.v
        if index == 0:
            if loc and not names_place and v > 0 and rng.random() < 0.5:
                return self.say("opener.place", Slots(self, "move", place=self.place(loc)))
            return ""
        if not first_here:
            return self.word("beat") if rng.random() < 0.5 else ""
        key = "transition.plain" if names_place or not loc else "transition.place"
        return self.say(key, Slots(self, "move", place=self.place(loc)))


@lru_cache(maxsize=4096)
def _offset(title: str, style: str, key: str) -> int:
    return stable_hash(f"{title}|{style}|{key}")
