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
from novel_engine.llm.prose_events import LOCATION_TARGETED, PERSONA_TARGETED, TERSE, EventWriter, Slots
from novel_engine.llm.prose_grammar import (
    Template,
    cap,
    decap,
    first_sentence,
    join_names,
    load_grammar,
    number_words,
    ordinal,
    strip_end,
)
from novel_engine.llm.prose_standing import StandingWriter

__all__ = ["narrate", "recap", "tension_band"]

_PARAGRAPH_EVENTS = 4
# how the untold deeds of a large cast are counted (singular, plural)
_KIND_NOUNS = {
    "attack": ("fight", "fights"),
    "help": ("rescue", "rescues"),
    "move": ("journey", "journeys"),
    "flee": ("flight", "flights"),
    "investigate": ("search", "searches"),
    "persuade": ("plea", "pleas"),
    "speak": ("conversation", "conversations"),
    "observe": ("watch kept", "watches kept"),
    "hide": ("disappearance", "disappearances"),
    "rest": ("rest", "rests"),
    "capture": ("capture", "captures"),
    "fight_fire": ("fight against a fire", "fights against fires"),
}


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


class _Writer(StandingWriter, EventWriter):
    """Writes one chapter around the event sentences: opening, paragraphs by place, closing."""

    def rotate(
        self,
        key: str,
        slots: dict[str, str],
        absent: frozenset[str] | set[str] = frozenset(),
        lane: int = 0,
        lanes: int = 1,
        optional: bool = False,
    ) -> str:
        """A chapter-level line (opening, atmosphere, closing...). These step through their pool
        turn by turn, from an offset given by the story's title, so a pool of n lines gives n
        chapters in a row that do not open or close alike (random draws would repeat within a few).
        An ``optional`` line whose every form the chapters before have used is left out ('')."""
        t = self.rotated(key, absent, lane, lanes, slots, optional)
        return cap(t.render(slots)) if t is not None else ""

    def rotated(
        self,
        key: str,
        absent: frozenset[str] | set[str] = frozenset(),
        lane: int = 0,
        lanes: int = 1,
        slots: dict[str, str] | None = None,
        optional: bool = False,
    ) -> Template | None:
        """The template :meth:`rotate` fills (for callers that need to know how it opens): the
        turn's place in the pool, or the next one on whose text the chapters before are silent
        (None for an ``optional`` line when there is none)."""
        pool = self.g.pools[key]
        if absent:
            pool = tuple(t for t in pool if not t.fields & absent) or pool
        step = self.inp.turn * lanes + lane
        start = _offset(self.inp.title, self.g.style, key) + step
        choice = pool[start % len(pool)]
        if self.before and slots is not None:
            for k in range(len(pool)):
                candidate = pool[(start + k) % len(pool)]
                if candidate.text in self.used:  # twice in one chapter (two places set alike) reads as a stutter
                    continue
                # a form with a number in it ("The twelfth night. Too many people...") reads new
                # every turn: its mark says whether the last few chapters used it
                if candidate.mark and candidate.mark in self.before[-_RECENT_CHARS:]:
                    continue
                if strip_end(candidate.render(slots)) not in self.before:
                    choice = candidate
                    break
            else:
                if optional:
                    return None
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
        self.threats, struck = self.threat_places()
        band = tension_band(inp.tension)
        if band == "calm" and (self.threats or struck or inp.peril):
            band = "rising"  # no peaceful dawn over a burning village
        chunks = self.chunks()
        remote = self.place_standing({e.location for _, evs, _ in chunks for e in evs if e.location})
        if not inp.events:
            lines = [self.rotate("quiet" if band == "calm" else "opening.rising", base, absent)]
            if v >= 0.3 or self.f_atmos and v > 0:
                lines.extend(self.atmosphere(1))
            lines.extend(self.standing_lines(remote))
            return " ".join(line for line in lines if line)
        paragraphs = []
        head = [self.rotate(f"opening.{band}", base, absent, optional=inp.turn > 1)] if v >= TERSE else []
        count = 0 if v <= 0 else (0 if v < 0.3 else 1 if v < 0.7 else 2) + (1 if self.f_atmos else 0)
        if (
            inp.previously and v >= TERSE and inp.previously not in self.before
        ):  # what came before, in one line, in place of some weather
            head.append(self.rotate("previously", {"summary": inp.previously}))
            count = max(0, count - 1)
        head.extend(self.atmosphere(count))
        # a danger the atmosphere named is told: its note would say it twice
        remote = [n for n in remote if not (n.kind == "danger" and n.place == self.threat_told)]
        head.extend(self.standing_lines(remote))  # far from the chapter's places, said once
        head = [h for h in head if h]
        if head:
            paragraphs.append(" ".join(head))
        for index, (loc, chunk, first_here) in enumerate(chunks):
            said = self.paragraph(loc, chunk, index, first_here)
            if said:  # a beat summed up in the chapters before may leave nothing new to say
                paragraphs.append(" ".join(said))
        tail = [line for notes in self.bound.values() for line in self.standing_lines(notes)]  # none told there
        if self.fallen_later:  # a battle's many falls, told once at its end
            names = join_names([self.name(pid) for pid in self.fallen_later])
            key = "fall.many" if len(self.fallen_later) > 1 else "fall.one"
            tail.append(self.say(key, Slots(self, "attack", names=names, victim=names)))
        if inp.omitted > 0:
            key = "omitted.one" if inp.omitted == 1 else "omitted.many"
            tail.append(self.say(key, Slots(self, "move", n=number_words(inp.omitted))))
            kinds = [
                f"{number_words(n)} {_KIND_NOUNS[a][n != 1]}" for a, n in inp.omitted_kinds[:3] if a in _KIND_NOUNS
            ]
            if len(kinds) > 1 and v >= TERSE:
                tail.append(self.say("omitted.kinds", {"names": join_names(kinds)}))
        if v >= TERSE and not inp.ending:
            tail.append(self.rotate(f"closing.{band}", base, absent, optional=True))
        tail = [t for t in tail if t]
        if tail:
            paragraphs.append(" ".join(tail))
        if inp.ending:
            closed = [strip_end(_clause(c)) for c in inp.closed[-3:] if c.strip()]
            ending = self.rotate("epilogue", {"title": inp.title or "this story"})
            if closed:  # the threads that closed, by name: not only "and so it ended"
                ending = f"{self.say('epilogue_threads', {'summary': '; '.join(closed)})} {ending}"
            paragraphs.append(ending)
        return "\n\n".join(paragraphs)

    def atmosphere(self, count: int) -> list[str]:
        """Up to three scene-setting lines: weather, light and sound, in a drawn order. While a
        danger stands (struck in the turns before) the weather gives way to it; the chapter in
        which it strikes has no weather (the event tells what the sky does)."""
        kinds = ["weather", "light", "sound"]
        self.rng.shuffle(kinds)
        if self.threats or self.struck:
            kinds = [k for k in kinds if k != "weather"]
            if self.threats:
                kinds.insert(0, "threat")
        lines = []
        for k in kinds[: min(count, 3)]:
            if k == "threat":  # the danger that struck longest ago
                place = min(self.threats, key=lambda p: (self.threats[p][1], p))
                line = self.rotate("atmosphere.threat", {"place": self.threats[place][0]}, optional=True)
                self.threat_told = place if line else ""
            else:
                line = self.rotate(f"atmosphere.{k}", {}, optional=True)
            lines.append(line)
        return lines

    def chunks(self) -> list[tuple[str | None, list, bool]]:
        """Events grouped by storyline (in order of first appearance), cut into short paragraphs.

        A storyline is the events that share people (directly or through one another): a knight
        who rides to the tower and fights there is one thread, whatever the places; two strangers
        in one square are two. A world event joins the thread of the first event at its place.
        Each group's place is where its first event happened."""
        events = [e for e in self.inp.events if not self.untold(e)]
        parent: dict[str, str] = {}

        def root(x: str) -> str:
            while parent.get(x, x) != x:
                parent[x] = parent.get(parent[x], parent[x])
                x = parent[x]
            return x

        for e in events:
            action = getattr(e.action_type, "value", e.action_type)
            target = e.target if action in PERSONA_TARGETED else None
            people = [p for p in (e.actor, target, *e.participants) if p]
            for p in people[1:]:
                a, b = root(people[0]), root(p)
                if a != b:
                    parent[max(a, b)] = min(a, b)  # ids order the union: the same whatever the event order
        groups: dict[str, list] = {}
        place_thread: dict[str | None, str] = {}
        for i, e in enumerate(events):
            person = e.actor or next((p for p in e.participants if p), None)
            key = root(person) if person else place_thread.get(e.location, f"@{e.location}:{i}")
            place_thread.setdefault(e.location, key)
            groups.setdefault(key, []).append(e)
        out = []
        size = _PARAGRAPH_EVENTS - (self.v >= 0.5)  # richer telling, fewer events per paragraph
        for events in groups.values():
            loc = events[0].location
            parts = -(-len(events) // size)
            # even cuts (2 + 2, not 3 + 1) so no paragraph is a lone afterthought
            bounds = [len(events) * k // parts for k in range(parts + 1)]
            for k in range(parts):
                out.append((loc, events[bounds[k] : bounds[k + 1]], k == 0))
        return out

    def paragraph(self, loc: str | None, events: list, index: int, first_here: bool) -> list[str]:
        """The sentences of one paragraph: a scene line perhaps, then each event's sentences."""
        sentences: list[str] = []
        started = False
        danger = next((n for n in self.bound.get(loc or "", ()) if n.kind == "danger"), None) if first_here else None
        t = None
        if danger is not None:  # a place still in danger is set by its danger, not by its weather
            self.bound[loc].remove(danger)  # type: ignore[index]
            slots = Slots(self, "move", place=self.place(loc))
            t = self.fresh("standing.danger", slots)[0]
        elif (
            self.f_atmos
            and self.v > 0
            and first_here
            and loc
            and loc not in self.told_at  # a place is set once a chapter, by its first storyline there
            and loc not in self.threats
            and self.scenes < 2
            and self.rng.random() < 0.5 + 0.3 * self.v
        ):
            slots = Slots(self, "move", place=self.place(loc))
            t = self.rotated("scene", lane=self.scenes, lanes=2, slots=slots, optional=True)
            self.scenes += 1
        if t is not None:
            line = t.render(slots)
            prefix = self.prefix(index, first_here, loc, names_place=True)
            if prefix and not t.text.startswith("{"):  # a template's own capital, never a name's
                line = decap(line)
            sentences.append(cap(f"{prefix} {line}") if prefix else cap(line))
            started = True
        at = loc
        for j, event in enumerate(events):
            action = getattr(event.action_type, "value", event.action_type)
            # a storyline that moves on to another place says so (moves name where they go)
            where = (
                self.place(event.location)
                if j > 0 and event.actor and event.location and event.location != at and action not in LOCATION_TARGETED
                else ""
            )
            sentences.extend(self.event(event, index if not started and j == 0 else None, first_here, j > 0, where))
            sentences.extend(self.standing_here(event.location))
            sentences.extend(self.wound_of(event))
            at = event.location or at
            # a place is described when someone arrives there, or when the story opens there
            arrived = getattr(event.action_type, "value", event.action_type) in LOCATION_TARGETED
            if (
                j == 0
                and first_here
                and loc
                and self.v >= 0.7
                and loc not in self.described
                and (arrived or self.inp.turn <= 1)
            ):
                self.described.add(loc)
                entry = self.inp.locations.get(loc)
                desc = first_sentence(entry[1]) if entry and entry[1] else None
                if desc and self.rng.random() < 0.6:
                    sentences.append(desc)
        # every place the paragraph told of (a move ends somewhere): a later one there is not "elsewhere"
        self.told_at.update(e.location for e in events if e.location)
        if loc:
            self.told_at.add(loc)
        return sentences

    def prefix(self, index: int, first_here: bool, loc: str | None, names_place: bool) -> str:
        """What may open a paragraph: a place opener, a transition, a beat, or nothing."""
        rng, v = self.rng, self.v
        if index == 0:
            if loc and not names_place and v > 0 and rng.random() < 0.5:
                return self.say("opener.place", Slots(self, "move", place=self.place(loc)))
            return ""
        if not first_here or loc in self.told_at:  # the same place: another storyline there is no "elsewhere"
            return self.beat() if rng.random() < 0.5 else ""
        key = "transition.plain" if names_place or not loc else "transition.place"
        slots = Slots(self, "move", place=self.place(loc))
        # the two pools share their openings ("Meanwhile, down at the docks," and "Meanwhile,"):
        # one chapter does not move on the same way twice (read back to back, it stutters)
        for _ in range(3):
            text = self.fresh(key, slots)[1]
            opening = _opening(text)
            if opening not in self.moved_on:
                break
        self.moved_on.add(opening)
        return cap(text)


@lru_cache(maxsize=4096)
def _offset(title: str, style: str, key: str) -> int:
    return stable_hash(f"{title}|{style}|{key}")


_RECENT_CHARS = 6000  # about the last three chapters: a chapter-level line is not used again within them
_COMMON_OPENERS = frozenset({"The", "A", "An", "Someone", "Somebody", "Two", "Three", "Every", "No", "Nobody"})


def _opening(transition: str) -> str:
    """How a transition opens: its words before the first comma or colon, lower-cased."""
    return transition.split(",", 1)[0].split(":", 1)[0].strip().lower()


def _clause(sentence: str) -> str:
    """A scenario's sentence as a clause mid-sentence: its opening word lower-cased unless a name."""
    first = sentence.split(" ", 1)[0]
    return sentence[:1].lower() + sentence[1:] if first in _COMMON_OPENERS else sentence


_RECAPS = frozenset({"attack", "help", "persuade", "speak", "move", "flee", "investigate", "capture", "fight_fire"})


def recap(inp: NarrationInput, events, rng: random.Random) -> str:
    """What ``events`` (a chapter's main deeds, from ``inp``'s chapter) come to, in one clause for
    the next chapter's "previously" line: "Ser Aldric fought Vharuth, and Wren Ashby fell"."""
    w = _Writer(inp, rng, load_grammar(inp.style))
    clauses: list[str] = []
    for e in events:
        action = getattr(e.action_type, "value", e.action_type)
        outcome = getattr(e.outcome, "value", e.outcome)
        if e.kind != "action" or not e.actor or (e.data or {}).get("missing") or outcome in ("failure", "blocked"):
            continue  # what came of nothing is not worth recalling
        key = w.beastly(f"recap.{action if action in _RECAPS else 'quiet'}", e)
        target = w.name(e.target) if action in PERSONA_TARGETED and e.target else ""
        slots = Slots(w, "move", actor=w.name(e.actor), target=target, place=w.place(e.location or e.target))
        t = w.pick(key)
        if t is not None and (target or "target" not in t.fields):
            clauses.append(t.render(slots))
        for victim in (e.data or {}).get("incapacitated") or ():
            t = w.pick("recap.fall")
            if t is not None and isinstance(victim, str):
                clauses.append(t.render(Slots(w, "move", victim=w.name(victim))))
    return join_names(list(dict.fromkeys(clauses))[:3])
