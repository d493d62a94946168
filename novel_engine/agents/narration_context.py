"""What the chronicler tells the narrator about the world: a turn's context, the people and places
its events mention, and a sketch of each character.

A chapter's :class:`~novel_engine.llm.port.NarrationInput` carries only who and what the told
events name (:func:`mentioned`), each person as a :class:`~novel_engine.llm.port.CharacterSketch`
(:func:`character_sketch`: public face, goals that are not secret, bonds) and each place by name and
description from the :class:`WorldContext`; so the prose may name exactly those.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from novel_engine.core.events import LOCATION_TARGETED, Event
from novel_engine.core.world import Location, PersonaState
from novel_engine.errors import NovelEngineError
from novel_engine.llm.port import CharacterSketch

__all__ = ["WorldContext", "mentioned", "character_sketch"]

_LOCATION_ACTIONS = frozenset(a.value for a in LOCATION_TARGETED)


@dataclass(frozen=True, slots=True)
class WorldContext:
    """What the chronicler needs to know of the world for one turn.

    Args:
        title: the story's title.
        turn: the turn being narrated.
        locations: every place by id (only those the events mention are passed on).
        tension: the story's tension after this turn, in [0, 1].
        ending: the turn reached the last of the story's main goals (its chapter gets an epilogue).
        peril: the premise's standing threat still holds (the scenario's ``peril`` fact is true).
        closed: at the ending, the threads that closed (the narrative goals reached), in order.
    """

    title: str
    turn: int
    locations: Mapping[str, Location]
    tension: float
    ending: bool = False  # the story's main goals are reached this turn: the chapter ends it
    peril: bool = False
    closed: tuple[str, ...] = ()


def character_sketch(c: PersonaState | CharacterSketch) -> CharacterSketch:
    """A character as the narrator sees it (a sketch is returned as it is).

    Raises:
        NovelEngineError: ``c`` is neither a PersonaState nor a CharacterSketch.
    """
    if isinstance(c, CharacterSketch):
        return c
    if isinstance(c, PersonaState):
        # what a character says it wants: never a secret goal (stable: the scenario's order breaks ties)
        goals = sorted((g for g in c.goals if not g.secret), key=lambda g: -g.priority)
        aims: dict[str, str] = {}
        for g in goals:
            if g.target and g.target != c.id:
                aims.setdefault(g.target, g.text)
        return CharacterSketch(
            id=c.id,
            name=c.name,
            description=c.description,
            voice=tuple(c.voice),
            traits=dict(c.traits),
            status=c.status,
            kind=c.kind,
            goal=goals[0].text if goals else "",
            aims=aims,
            bonds={k: r.affinity for k, r in c.relationships.items()},
        )
    raise NovelEngineError(
        f"a character must be a PersonaState or a CharacterSketch, not {type(c).__name__}", got=type(c).__name__
    )


def mentioned(events: Sequence[Event]) -> tuple[list[str], list[str]]:
    """Ids of the people and places the events mention, in order of first mention."""
    people: dict[str, None] = {}
    places: dict[str, None] = {}
    for e in events:
        data = e.data or {}
        for pid in (e.actor, *e.participants):
            if pid:
                people[pid] = None
        if e.target:
            action = getattr(e.action_type, "value", e.action_type)
            (places if action in _LOCATION_ACTIONS else people)[e.target] = None
        for key in ("wounded", "incapacitated", "counter_by"):
            for pid in data.get(key) or ():
                if isinstance(pid, str):
                    people[pid] = None
        for stance in data.get("stances") or ():
            if isinstance(stance, dict) and isinstance(stance.get("agent"), str):
                people[stance["agent"]] = None
        told = data.get("tells")
        if isinstance(told, dict) and isinstance(told.get("key"), str):
            # whom and where a told fact names (the line said is made from it): kept if they exist
            subject, value = told["key"].partition(":")[2], told.get("value")
            if subject:
                people[subject] = None
            if isinstance(value, str) and value:
                people[value] = None
                places[value] = None
        for lid in (e.location, data.get("from"), data.get("muster_at")):
            if isinstance(lid, str) and lid:
                places[lid] = None
    return list(people), list(places)
