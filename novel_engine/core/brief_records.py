"""The records of a turn brief: what a persona decides from, and the memories it keeps.

:class:`TurnBrief` holds everything one persona may use to choose its action (perceptions with
their credence, leading beliefs, memories, where it stands, who it sees, where it can go, the
actions open to it and its goals), each part cut to :class:`BriefLimits`. :func:`memory_from_event`
turns an event into the :class:`MemoryItem` a persona keeps, and :func:`made_progress` says whether
an act moved its plan on. :class:`~novel_engine.core.briefs.TurnBriefFactory` builds the briefs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from novel_engine.core.events import Event
from novel_engine.core.perception import BeliefSummary, PerceivedFragment
from novel_engine.core.records import fast_constructor
from novel_engine.core.world import Goal

__all__ = ["TurnBrief", "PresentPersona", "MemoryItem", "BriefLimits", "memory_from_event", "made_progress"]


@dataclass(frozen=True, slots=True)
class PresentPersona:
    """Someone the persona can see where it stands, and how it regards them."""

    id: str
    name: str
    status: str
    trust: float = 0.0
    affinity: float = 0.0


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """A remembered event the persona took part in or witnessed."""

    turn: int
    event_id: str
    summary: str
    role: str  # "actor", "target" or "witness"
    action_type: str | None = None
    other: str | None = None  # the other party (target if actor, actor if target)
    outcome: str = "none"
    place: str | None = None  # where the actor stood when it acted (a move's starting place)
    progress: bool = False  # the act moved a plan on (found something, wounded, healed, won over...)


@dataclass(frozen=True, slots=True)
class BriefLimits:
    """The size bounds of a brief (each part is top-k by salience)."""

    perceived: int = 8
    beliefs: int = 8
    memories: int = 5
    present: int = 8
    neighbours: int = 6
    voice: int = 4


@dataclass(frozen=True, slots=True)
class TurnBrief:
    """A persona's bounded, personal view of one turn.

    ``available_actions`` maps each action type the persona may take to its possible targets
    (persona ids for speak/persuade/help/attack, place ids for move/flee, empty for the rest).
    ``paths`` maps a place the persona wants to reach to the neighbouring place on its way.
    """

    agent_id: str
    name: str
    turn: int
    location: str
    location_name: str
    health: float
    status: str
    traits: dict[str, float]
    goals: tuple[Goal, ...]
    present: tuple[PresentPersona, ...]
    neighbours: tuple[tuple[str, str], ...]
    perceived: tuple[PerceivedFragment, ...]
    beliefs: tuple[BeliefSummary, ...]
    memories: tuple[MemoryItem, ...]
    available_actions: dict[str, tuple[str, ...]]
    paths: dict[str, str] = field(default_factory=dict)
    voice: tuple[str, ...] = ()
    description: str = ""
    conditions: tuple[str, ...] = ()  # standing conditions here: "danger", "searched_out"

    def belief_value(self, key: str) -> tuple[Any, float] | None:
        """The leading value and credence the persona holds for ``key``, if it is in the brief."""
        for b in self.beliefs:
            if b.key == key:
                return b.value, b.credence
        return None

    def size(self) -> int:
        """Number of items in the brief's variable parts (bounded by :class:`BriefLimits`)."""
        return (
            len(self.present)
            + len(self.neighbours)
            + len(self.perceived)
            + len(self.beliefs)
            + len(self.memories)
            + len(self.paths)
            + len(self.goals)
        )


# the constructors of what every brief holds, per persona per turn (see novel_engine.core.records)
_present_persona = fast_constructor(PresentPersona)
_memory = fast_constructor(MemoryItem)
_brief = fast_constructor(TurnBrief)


def memory_from_event(agent_id: str, event: Event) -> MemoryItem:
    """Turn an event into the memory ``agent_id`` keeps of it."""
    if event.actor == agent_id:
        role, other = "actor", event.target
    elif event.target == agent_id:
        role, other = "target", event.actor
    else:
        role, other = "witness", event.actor
    data = event.data
    place = data.get("from", event.location) if data else event.location
    return _memory(
        event.turn,
        event.id,
        event.summary,
        role,
        event.action_type,
        other,
        event.outcome.value,
        place,
        made_progress(event),
    )


_PROGRESS_MARKS = ("found", "damage", "healed", "confided", "confronted", "incapacitated", "captured", "freed")


def made_progress(event: Event) -> bool:
    """Whether an act moved its plan on: a search that found something, a blow that wounded, help
    or rest that healed, a secret confided, a suspect confronted, a persuasion won, a move made."""
    data = event.data
    if data:
        for mark in _PROGRESS_MARKS:
            if mark in data:
                return True
    kind = event.action_type
    if kind == "persuade":
        return event.outcome.value == "success"
    if kind == "fight_fire":  # each effort brings the fire nearer its end
        return event.outcome.value in ("success", "partial")
    return (kind == "move" or kind == "flee") and event.outcome.value != "blocked"
