"""The world of a story: locations, personas, relationships and the mutable world state.

The world state is owned by the director. It is plain slotted dataclasses (no pydantic on the hot
path) with a location index (``occupants``) kept in step with every move, so "who is here" costs
the number of people here, not the size of the world.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from novel_engine.core.events import ActionType
from novel_engine.errors import NovelEngineError

__all__ = [
    "CORE_TRAITS",
    "Goal",
    "Relationship",
    "Location",
    "PersonaState",
    "WorldState",
    "ACTIVE",
    "WOUNDED",
    "INCAPACITATED",
    "FALLEN",
    "GOALS_DONE",
    "DANGER_AT",
    "SEARCHED_OUT",
    "SUSPECTS",
    "MUSTER_AT",
    "CLOSED",
    "FIRE_AT",
    "FIRE_FACT",
    "CAPTIVE",
    "HELD_SINCE",
    "goal_met",
]

CORE_TRAITS = ("courage", "intelligence", "compassion", "aggressiveness", "social_tendency")
ACTIVE, WOUNDED, INCAPACITATED = "active", "wounded", "incapacitated"
_WOUNDED_BELOW = 0.6
# world facts that keep consequences standing (read by briefs, set by the director)
FALLEN = "fallen:"  # fallen:<persona> = where they lie incapacitated, until helped up
GOALS_DONE = "goals_done:"  # goals_done:<persona> = "0,2": indices of the goals it has reached
DANGER_AT = "danger_at:"  # danger_at:<place> = the turn a fire, raid or storm struck there
SEARCHED_OUT = "searched_out:"  # searched_out:<place> = True: nothing left to find there
SUSPECTS = "suspects:"  # suspects:<persona> = whom what it found points to (to confront)
MUSTER_AT = "muster_at"  # the place an order sends everyone to (an evacuation)
CLOSED = "closed:"  # closed:<place> = the turn it was sealed (bulkheads, a barred gate): nobody gets in
FIRE_AT = "fire_at:"  # fire_at:<place> = the effort still needed to put out the fire burning there
FIRE_FACT = "fire_fact:"  # fire_fact:<place> = the scenario's fact that says it burns (false once out)
CAPTIVE = "captive:"  # captive:<persona> = who holds them: they only talk, watch and rest until freed
HELD_SINCE = "held_since:"  # held_since:<persona> = the turn they were taken


@dataclass(frozen=True, slots=True)
class Goal:
    """Something a persona wants. ``action``/``target``/``location`` make it legible to the offline model;
    ``secret``: pursued behind everyone's back, never said aloud (a theft to hide, a witness to silence)."""

    text: str
    action: ActionType | None = None
    target: str | None = None
    location: str | None = None
    priority: float = 1.0
    secret: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {
            "text": self.text,
            "action": self.action.value if self.action else None,
            "target": self.target,
            "location": self.location,
            "priority": self.priority,
        }
        if self.secret:  # only then: the checkpoints of scenarios without secrets stay as they were
            d["secret"] = True
        return d

    def __reduce__(self) -> tuple:
        # a constructor call: the slotted default goes through a state dict per object (see WorldState)
        return (Goal, (self.text, self.action, self.target, self.location, self.priority, self.secret))


@dataclass(slots=True)
class Relationship:
    """How one persona regards another: trust and affinity, each in [-1, 1]."""

    trust: float = 0.0
    affinity: float = 0.0

    def shift(self, trust: float = 0.0, affinity: float = 0.0) -> None:
        """Move trust and affinity by the given amounts, clamped to [-1, 1]."""
        self.trust = max(-1.0, min(1.0, self.trust + trust))
        self.affinity = max(-1.0, min(1.0, self.affinity + affinity))

    def __reduce__(self) -> tuple:
        return (Relationship, (self.trust, self.affinity))


@dataclass(frozen=True, slots=True)
class Location:
    """A place. ``visibility`` in [0, 1] says how well it can be seen from and into neighbouring places."""

    id: str
    name: str
    description: str = ""
    neighbours: tuple[str, ...] = ()
    visibility: float = 0.5

    def __reduce__(self) -> tuple:
        return (Location, (self.id, self.name, self.description, self.neighbours, self.visibility))


@dataclass(slots=True)
class PersonaState:
    """A persona as the world sees it (its objective state, not its beliefs)."""

    id: str
    name: str
    location: str
    traits: dict[str, float]
    description: str = ""
    goals: tuple[Goal, ...] = ()
    relationships: dict[str, Relationship] = field(default_factory=dict)
    controlled_by: str | None = None
    biases: dict[str, float] = field(default_factory=dict)
    voice: tuple[str, ...] = ()
    health: float = 1.0
    hidden: bool = False
    kind: str = "human"  # what it is (see KINDS): the narration's verbs fit it

    @property
    def status(self) -> str:
        """``active``, ``wounded`` or ``incapacitated``, from health."""
        if self.health <= 0.0:
            return INCAPACITATED
        return WOUNDED if self.health < _WOUNDED_BELOW else ACTIVE

    @property
    def can_act(self) -> bool:
        """Whether the persona can take an action this turn."""
        return self.health > 0.0

    def __reduce__(self) -> tuple:
        # positional, in field order (see WorldState.__reduce__)
        return (
            PersonaState,
            (
                self.id,
                self.name,
                self.location,
                self.traits,
                self.description,
                self.goals,
                self.relationships,
                self.controlled_by,
                self.biases,
                self.voice,
                self.health,
                self.hidden,
                self.kind,
            ),
        )

    def set_relationships(self, rels: Iterable[tuple[str, float, float]]) -> list[str]:
        """Set ``(other, trust, affinity)`` for each of ``rels`` (a patch from another process);
        return the others this persona had no relationship with before."""
        relationships, added = self.relationships, []
        for other, trust, affinity in rels:
            r = relationships.get(other)
            if r is None:
                relationships[other] = Relationship(trust, affinity)
                added.append(other)
            else:
                r.trust, r.affinity = trust, affinity
        return added

    def trait(self, name: str, default: float = 0.5) -> float:
        """Return a trait value, ``default`` when the persona does not define it."""
        return self.traits.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "location": self.location,
            "traits": dict(self.traits),
            "description": self.description,
            "goals": [g.to_dict() for g in self.goals],
            "relationships": {k: {"trust": r.trust, "affinity": r.affinity} for k, r in self.relationships.items()},
            "controlled_by": self.controlled_by,
            "biases": dict(self.biases),
            "voice": list(self.voice),
            "health": self.health,
            "hidden": self.hidden,
            "status": self.status,
            "kind": self.kind,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PersonaState:
        goals = tuple(
            Goal(
                text=g["text"],
                action=ActionType(g["action"]) if g.get("action") else None,
                target=g.get("target"),
                location=g.get("location"),
                priority=g.get("priority", 1.0),
                secret=bool(g.get("secret", False)),
            )
            for g in d.get("goals", ())
        )
        rels = {k: Relationship(v["trust"], v["affinity"]) for k, v in d.get("relationships", {}).items()}
        return cls(
            id=d["id"],
            name=d["name"],
            location=d["location"],
            traits=dict(d["traits"]),
            description=d.get("description", ""),
            goals=goals,
            relationships=rels,
            controlled_by=d.get("controlled_by"),
            biases=dict(d.get("biases", {})),
            voice=tuple(d.get("voice", ())),
            health=d.get("health", 1.0),
            hidden=d.get("hidden", False),
            kind=d.get("kind", "human"),
        )


class WorldState:
    """Locations, personas, facts and the turn counter, with a location index.

    Args:
        locations: every place, keyed by id.
        personas: every persona, keyed by id.
        facts: named world facts (``dragon_asleep: true``), changed by events and causal rules.
        turn: the last completed turn (0 before the first).
    """

    __slots__ = ("locations", "personas", "facts", "turn", "occupants")

    def __init__(
        self,
        locations: dict[str, Location],
        personas: dict[str, PersonaState],
        facts: dict[str, Any] | None = None,
        turn: int = 0,
    ) -> None:
        self.locations = locations
        self.personas = personas
        self.facts: dict[str, Any] = dict(facts or {})
        self.turn = turn
        self.occupants: dict[str, set[str]] = {loc: set() for loc in locations}
        for p in personas.values():
            self.occupants.setdefault(p.location, set()).add(p.id)

    def __reduce__(self) -> tuple:
        """Pickle as a constructor call over the locations, personas, facts and turn (the location
        index is rebuilt on the way in).

        A Ray session sends its world to every actor once, at setup. Slotted dataclasses pickle by
        default through a state dict built per object and a ``setattr`` loop on the way in; as
        constructor calls a 100,000-persona world pickles and unpickles several times faster than
        that, and faster than going through :meth:`to_dict` / :meth:`from_dict`.
        """
        return (WorldState, (self.locations, self.personas, self.facts, self.turn))

    def persona(self, persona_id: str) -> PersonaState:
        """Return a persona; raise ``NovelEngineError`` naming the unknown id."""
        try:
            return self.personas[persona_id]
        except KeyError:
            raise NovelEngineError(f"unknown persona {persona_id!r}", persona=persona_id) from None

    def present_at(self, location: str) -> set[str]:
        """Ids of the personas at ``location`` (the live index; do not mutate)."""
        return self.occupants.get(location, _EMPTY)

    def neighbours(self, location: str) -> tuple[str, ...]:
        """Ids of the places next to ``location``."""
        loc = self.locations.get(location)
        return loc.neighbours if loc else ()

    def move(self, persona_id: str, location: str) -> None:
        """Move a persona, keeping the location index in step."""
        p = self.personas[persona_id]
        if location not in self.locations:
            raise NovelEngineError(f"unknown location {location!r}", location=location)
        self.occupants[p.location].discard(persona_id)
        self.occupants[location].add(persona_id)
        p.location = location

    def sorted_persona_ids(self) -> list[str]:
        """Persona ids in a stable order (the order every phase iterates in, for determinism)."""
        return sorted(self.personas)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly snapshot (used for checkpoints and exports)."""
        return {
            "turn": self.turn,
            "facts": dict(self.facts),
            "locations": [
                {
                    "id": l.id,
                    "name": l.name,
                    "description": l.description,
                    "neighbours": list(l.neighbours),
                    "visibility": l.visibility,
                }
                for l in self.locations.values()
            ],
            "personas": [p.to_dict() for p in self.personas.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WorldState:
        """Rebuild a world from :meth:`to_dict`."""
        locations = {
            l["id"]: Location(
                l["id"], l["name"], l.get("description", ""), tuple(l["neighbours"]), l.get("visibility", 0.5)
            )
            for l in d["locations"]
        }
        personas = {p["id"]: PersonaState.from_dict(p) for p in d["personas"]}
        return cls(locations, personas, facts=d.get("facts", {}), turn=d.get("turn", 0))

    def copy(self) -> WorldState:
        """A deep copy that shares no mutable state with this one."""
        return WorldState.from_dict(self.to_dict())


_EMPTY: set[str] = set()


def goal_met(goal: Goal, ev: Any, actor: PersonaState, world: WorldState) -> bool:
    """Whether the act ``ev`` (already applied to ``world``) fulfils ``goal`` of its actor."""
    act = goal.action.value if goal.action is not None else None
    kind, out = ev.action_type, ev.outcome.value
    if act is None:
        return False
    if act == "move":
        return (kind == "move" or kind == "flee") and actor.location == (goal.location or goal.target)
    if act in ("persuade", "speak"):
        return (
            kind in ("persuade", "speak")
            and ev.target == goal.target
            and (out == "success" or (act == "speak" and out == "partial"))
        )
    if act == "help":
        t = world.personas.get(goal.target or "")
        return kind == "help" and ev.target == goal.target and t is not None and t.health >= _WOUNDED_BELOW
    if act == "attack":
        return kind == "attack" and goal.target in (ev.data.get("incapacitated") or ())
    if act == "investigate":
        place = goal.location or goal.target
        return kind == "investigate" and bool(world.facts.get(SEARCHED_OUT + (place or actor.location)))
    return kind == act and out == "success" and (goal.location in (None, actor.location))
