"""Point-of-view chapters: a turn told as one persona saw it, from its perceptions and beliefs only.

Every persona holds its own beliefs, so the story can be retold through one pair of eyes. For each
turn, :class:`PointOfView` keeps:

- what the persona witnessed: the events it took part in, those at the place where it stood when
  they happened (followed through its own moves in the order events happened), someone leaving or
  arriving where it stood, and placeless world events (which reach everyone); a successful hide by
  someone else is never seen;
- what reached it as news: the belief evidence it absorbed that turn (hearsay, sights from a
  neighbouring place, broadcasts), told as the persona holds it, so a misconception reads as
  truth, because to the persona it is;
- whom and what it knows: itself, the people it has relationships with, everyone it has seen or
  heard of, the places it has stood at and their neighbours, places its beliefs name.

Events are told by the offline grammar (:func:`~novel_engine.llm.offline_prose.narrate`) after
removing what the persona could not know: another's finding, the place someone came from when the
persona does not know it. Only known people and places are given to the grammar, so no other name
can be written. The chapter is deterministic: it draws from its own stream (seed, turn,
``pov:<id>``, ``narrate``), whatever model narrates the main story.

Beliefs come from the persona's belief model as it is now, whose evidence records carry the turn
they were absorbed; a model keeps the latest few records per key, so very old news may be gone.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from novel_engine.core.events import Event
from novel_engine.core.rng import RandomStreams
from novel_engine.core.world import Location, PersonaState
from novel_engine.llm.offline_prose import narrate
from novel_engine.llm.port import CharacterSketch, NarrationInput

__all__ = ["PointOfView", "PovChapter", "pov_chapters"]

_MOVES = frozenset({"move", "flee"})
_NEWS_PER_TURN = 3
_NOTHING = object()
# what a piece of news claims, by the kind of claim (key prefix): {x} is its subject, {y} its value
_CLAIMS = {
    "location_of": "{x} was at {y}",
    "status_of": "{x} had fallen",
    "hostile": "{x} had turned on {y}",
    "ally": "{x} had come to {y}'s aid",
}
# how it reached the persona ({who}); the evidence does not say whether it was seen across or heard
_HEARD = (
    "Word reached {who} that {claim}.",
    "{who} heard that {claim}.",
    "As far as {who} knew, {claim}.",
    "{who} came to believe that {claim}.",
)
_EVENT_NEWS = ("News reached {who}: {text}", "{who} heard the news: {text}")


@dataclass(frozen=True, slots=True)
class PovChapter:
    """One turn as a persona saw it.

    Args:
        turn: the turn.
        text: the chapter's prose.
        witnessed: ids of the events the persona perceived (in the order they happened).
        people: ids of everyone the persona knew of by the end of the turn.
        places: ids of every place the persona knew of by the end of the turn.
    """

    turn: int
    text: str
    witnessed: tuple[str, ...]
    people: frozenset[str]
    places: frozenset[str]


class PointOfView:
    """Follows one persona through the story, turn after turn (call :meth:`chapter` in turn order).

    Args:
        persona_id: whose eyes.
        start: where the persona stood before the first turn.
        personas: every persona by id (for names, descriptions and the persona's relationships).
        locations: every place by id.
        evidence: the persona's belief model as ``BeliefModel.to_dict()`` (None: no news is told).
        title, style, verbosity, focus, seed, highlight_limit: as the session's chronicler.
    """

    def __init__(
        self,
        persona_id: str,
        start: str,
        personas: Mapping[str, PersonaState],
        locations: Mapping[str, Location],
        evidence: Mapping[str, Any] | None,
        *,
        title: str,
        style: str,
        verbosity: float,
        focus: Sequence[str],
        seed: int,
        highlight_limit: int = 12,
    ) -> None:
        self.pid, self.loc = persona_id, start
        self.personas, self.locations = personas, locations
        self.title, self.style, self.verbosity, self.focus = title, style, verbosity, tuple(focus)
        self.streams, self.limit = RandomStreams(seed), highlight_limit
        me = personas.get(persona_id)
        self.people: set[str] = {persona_id, *(me.relationships if me is not None else ())}
        self.places: set[str] = set()
        self._know_place(start)
        self.told: dict[str, Any] = {}  # the last value told (seen or heard) of each claim: not told again
        self.news = _news_by_turn(evidence or {})
        self.texts: list[str] = []  # the chapters told so far: what not to say again
        self.seen_news: set[str] = set()

    def _know_place(self, lid: str | None) -> None:
        loc = self.locations.get(lid or "")
        if loc is not None:
            self.places.add(loc.id)
            self.places.update(n for n in loc.neighbours if n in self.locations)

    def chapter(self, turn: int, events: Sequence[Event], tension: float = 0.0) -> PovChapter:
        """The chapter of ``turn``, from that turn's events (all of them, in the order they happened)."""
        rng = self.streams.stream(turn, f"pov:{self.pid}", "narrate")
        news = self._news(turn, rng)
        seen = self._witness(events)
        inp = NarrationInput(
            turn=turn,
            title=self.title,
            style=self.style,
            verbosity=self.verbosity,
            focus=self.focus,
            events=tuple(seen[: self.limit]),
            characters=self._sketches(),
            tension=min(1.0, max(0.0, float(tension))),
            locations={lid: (self.locations[lid].name, self.locations[lid].description) for lid in sorted(self.places)},
            omitted=max(0, len(seen) - self.limit),
            before="\n\n".join(self.texts[-20:]),
        )
        text = narrate(inp, rng)
        if news:  # after the chapter's opening: the news of the night, then the day's deeds
            head, sep, rest = text.partition("\n\n")
            text = f"{head}\n\n{' '.join(news)}{sep}{rest}"
        self.texts.append(text)
        return PovChapter(turn, text, tuple(e.id for e in seen), frozenset(self.people), frozenset(self.places))

    # --- what was perceived ------------------------------------------------------------------------

    def _witness(self, events: Sequence[Event]) -> list[Event]:
        """The events the persona perceived, cleaned of what it could not know, in order."""
        me, out = self.pid, []
        for e in events:
            action = getattr(e.action_type, "value", e.action_type)
            data = e.data or {}
            # the target of a deed done where it was not (data["missing"]) knows nothing of it
            involved = me == e.actor or not data.get("missing") and (me == e.target or me in e.participants)
            if involved:
                seen = True
            elif e.kind != "action":
                seen = e.location is None or e.location == self.loc or e.location in self._near()
            elif action == "hide" and getattr(e.outcome, "value", e.outcome) == "success":
                seen = False
            else:
                seen = e.location == self.loc or (action in _MOVES and data.get("from") == self.loc)
            if (
                me == e.actor
                and e.kind == "action"
                and e.location
                and not (action in _MOVES and getattr(e.outcome, "value", e.outcome) in ("failure", "blocked"))
            ):
                self.loc = e.location  # where it acts is where it stands (after a move, its arrival)
                self._know_place(e.location)
            if not seen:
                continue
            for pid in _people_of(e):
                if pid in self.personas:
                    self.people.add(pid)
            self._claims(e, action)
            out.append(self._clean(e))
        return out

    def _near(self) -> tuple[str, ...]:
        loc = self.locations.get(self.loc)
        return loc.neighbours if loc is not None else ()

    def _clean(self, e: Event) -> Event:
        data = dict(e.data or {})
        if e.actor != self.pid:
            data.pop("finding", None)  # watching a search does not tell what it found
            if e.target != self.pid:
                data.pop("tells", None)  # nor does a word overheard tell the persona its content
        if data.get("from") not in self.places:
            data.pop("from", None)
        return replace(e, data=data) if data != e.data else e

    def _claims(self, e: Event, action: str | None) -> None:
        """What seeing ``e`` tells the persona, so the same news is not told again as hearsay."""
        told = self.told
        if e.kind != "action":
            self.seen_news.add(e.summary)  # the news of it, heard later, is no news
        if action in _MOVES and e.actor:
            told[f"location_of:{e.actor}"] = e.location
        elif action == "attack" and e.actor:
            told[f"hostile:{e.actor}"] = e.target
        elif action == "help" and e.actor:
            told[f"ally:{e.actor}"] = e.target
        for victim in (e.data or {}).get("incapacitated") or ():
            told[f"status_of:{victim}"] = "incapacitated"

    # --- what was heard ----------------------------------------------------------------------------

    def _news(self, turn: int, rng: random.Random) -> list[str]:
        """Up to three sentences of what the persona came to believe this turn without seeing it."""
        out: list[str] = []
        who = self._name(self.pid)
        for key, value, _source in self.news.get(turn, ()):
            kind, _, subject = key.partition(":")
            if len(out) >= _NEWS_PER_TURN or self.told.get(key, _NOTHING) == value or subject == self.pid:
                continue
            if kind == "event":
                if not isinstance(value, str) or value in self.seen_news:
                    continue
                self.seen_news.add(value)
                line = _EVENT_NEWS[rng.randrange(len(_EVENT_NEWS))].format(who=who, text=_sentence(value))
            else:
                claim = _CLAIMS.get(kind)
                if claim is None or subject not in self.personas:
                    continue
                if (
                    kind == "location_of"
                    and value not in self.locations
                    or kind in ("hostile", "ally")
                    and value not in self.personas
                ):
                    continue
                self.people.add(subject)
                if value in self.personas:
                    self.people.add(value)
                elif kind == "location_of":
                    self.places.add(value)
                claim = claim.format(x=self._name(subject), y=self._name(value))
                line = _HEARD[rng.randrange(len(_HEARD))].format(who=who, claim=claim)
            self.told[key] = value
            out.append(line[0].upper() + line[1:])
        return out

    def _name(self, ident: Any) -> str:
        p = self.personas.get(ident) if isinstance(ident, str) else None
        if p is not None:
            return p.name
        loc = self.locations.get(ident) if isinstance(ident, str) else None
        if loc is not None:
            return "the" + loc.name[3:] if loc.name.startswith("The ") else loc.name
        return str(ident)

    def _sketches(self) -> dict[str, CharacterSketch]:
        out = {}
        for pid in sorted(self.people):
            p = self.personas.get(pid)
            if p is not None:
                # its state as the story stands now would tell a past chapter the future
                out[pid] = CharacterSketch(
                    id=p.id,
                    name=p.name,
                    description=p.description,
                    voice=tuple(p.voice),
                    traits=dict(p.traits),
                    kind=p.kind,
                )
        return out


def _people_of(e: Event) -> Iterable[str]:
    data = e.data or {}
    yield from (p for p in (e.actor, e.target, *e.participants) if p)
    for key in ("wounded", "incapacitated", "counter_by"):
        yield from (p for p in data.get(key) or () if isinstance(p, str))
    for stance in data.get("stances") or ():
        if isinstance(stance, dict) and isinstance(stance.get("agent"), str):
            yield stance["agent"]


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _news_by_turn(model: Mapping[str, Any]) -> dict[int, list[tuple[str, Any, str]]]:
    """(key, value, source) of every evidence record by the turn it was absorbed, strongest first.

    Records the persona made itself (``self``) are its own doings, told by the events instead."""
    by_turn: dict[int, list[tuple[float, str, Any, str]]] = {}
    for entry in model.get("keys") or ():
        key = entry.get("key")
        for record in entry.get("evidence") or ():
            source, value, _reliability, weight, turn = record[:5]
            if source == "self" or not isinstance(key, str):
                continue
            by_turn.setdefault(int(turn), []).append((-float(weight), key, value, str(source)))
    return {
        t: [(k, v, s) for _, k, v, s in sorted(rows, key=lambda r: (r[0], r[1], str(r[2]), r[3]))]
        for t, rows in by_turn.items()
    }


def pov_chapters(
    persona_id: str,
    start: str,
    turns: Iterable[tuple[int, Sequence[Event], float]],
    personas: Mapping[str, PersonaState],
    locations: Mapping[str, Location],
    evidence: Mapping[str, Any] | None,
    **settings: Any,
) -> list[PovChapter]:
    """Every chapter of a story as ``persona_id`` saw it.

    Args:
        persona_id: whose eyes.
        start: where the persona stood before the first turn.
        turns: (turn, its events in order, tension after it) for every turn from the first.
        personas, locations, evidence, settings: as :class:`PointOfView`.
    """
    pov = PointOfView(persona_id, start, personas, locations, evidence, **settings)
    return [pov.chapter(turn, events, tension) for turn, events, tension in turns]
