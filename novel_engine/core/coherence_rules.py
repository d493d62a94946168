"""The violations a turn can have, and the rules that find them in an event alone.

:data:`SEVERITY` weighs each :data:`ViolationKind` (see :mod:`novel_engine.core.coherence` for the
table); a :class:`Violation` is one found, a :class:`CoherenceReport` a turn's. A
:class:`CharacterArc` is what the checks know of a character (where it is, whether it can act,
its traits, whom it has cause to act against). ``_out_of_character`` and ``_uncaused`` judge an
event from the arcs and the history alone; :mod:`.turn_check` adds the checks against the world.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Mapping
from dataclasses import dataclass, field
from typing import Literal

from novel_engine.core.events import Event
from novel_engine.core.world import PersonaState, WorldState

__all__ = ["CharacterArc", "Violation", "ViolationKind", "CoherenceReport", "character_arcs", "SEVERITY"]

ViolationKind = Literal[
    "absent_actor",
    "incapacitated_actor",
    "location_contradiction",
    "out_of_character",
    "uncaused_effect",
    "repetition",
    "absent_target",
    "impossible_move",
    "unperceived_knowledge",
    "captive_acting",
    "no_fire",
]
SEVERITY: Mapping[str, float] = {
    "absent_actor": 1.0,
    "incapacitated_actor": 1.0,
    "location_contradiction": 1.0,
    "uncaused_effect": 1.0,
    "absent_target": 1.0,
    "impossible_move": 1.0,
    "unperceived_knowledge": 1.0,
    "captive_acting": 1.0,
    "no_fire": 1.0,
    "out_of_character": 0.6,
    "repetition": 0.3,
}
_MOVES = frozenset({"move", "flee"})
_HARD = 1.0  # the severity of every hard violation (see SEVERITY)
_HOSTILE_TRUST = -0.3  # at or below this trust, a persona has cause to act against someone


@dataclass(frozen=True, slots=True)
class CharacterArc:
    """Where a character stands this turn, as coherence sees it.

    Args:
        persona_id: the persona.
        location: where the persona is at the start of the turn.
        status: ``active``, ``wounded`` or ``incapacitated``.
        traits: the persona's traits.
        hostile_toward: persona ids it has cause to act against (it was provoked, or distrusts them):
            a frozenset, or any container that answers ``in`` (e.g. a view of the relationships).
    """

    persona_id: str
    location: str
    status: str
    traits: Mapping[str, float]
    hostile_toward: Container[str] = frozenset()

    @classmethod
    def from_persona(cls, persona: PersonaState, provoked_by: Collection[str] = ()) -> CharacterArc:
        """Build an arc from a persona: hostile toward whoever provoked it and whoever it trusts <= -0.3."""
        distrusted = {k for k, r in persona.relationships.items() if r.trust <= _HOSTILE_TRUST}
        return cls(
            persona.id, persona.location, persona.status, persona.traits, frozenset(distrusted.union(provoked_by))
        )


def character_arcs(
    world: WorldState, provocations: Mapping[str, Collection[str]] | None = None
) -> dict[str, CharacterArc]:
    """Arcs for every persona of ``world``; ``provocations[persona]`` lists who provoked it (e.g. attacked it lately)."""
    provocations = provocations or {}
    return {pid: CharacterArc.from_persona(p, provocations.get(pid, ())) for pid, p in world.personas.items()}


@dataclass(frozen=True, slots=True)
class Violation:
    """One coherence problem with one proposed event.

    Args:
        kind: what is wrong (see the module table).
        event_id: the proposed event.
        detail: the problem in words.
        severity: 1.0 for hard violations, 0.6 out of character, 0.3 repetition.
    """

    kind: ViolationKind
    event_id: str
    detail: str
    severity: float


@dataclass(frozen=True, slots=True)
class CoherenceReport:
    """The verdict on a turn's proposal: a score in [0, 1] and every violation found, in proposal order."""

    score: float
    violations: tuple[Violation, ...] = field(default=())

    def rejected_ids(self, threshold: float = 1.0) -> set[str]:
        """Ids of the events with a violation at least ``threshold`` severe (by default: a hard violation)."""
        return {v.event_id for v in self.violations if v.severity >= threshold}

    def by_event(self) -> dict[str, list[Violation]]:
        """The violations grouped by event id (events in the order first seen)."""
        out: dict[str, list[Violation]] = {}
        for v in self.violations:
            out.setdefault(v.event_id, []).append(v)
        return out


def _trait(arc: CharacterArc, name: str) -> float:
    return arc.traits.get(name, 0.5)


def _out_of_character(event: Event, actor: str, arc: CharacterArc, kind: str) -> Violation | None:
    """An unprovoked attack by a gentle soul or unprovoked help from a brute, else None."""
    if (
        kind == "attack"
        and _trait(arc, "compassion") >= 0.75
        and _trait(arc, "aggressiveness") <= 0.25
        and event.target not in arc.hostile_toward
    ):
        return Violation(
            "out_of_character",
            event.id,
            f"gentle {actor} attacks {event.target} unprovoked",
            SEVERITY["out_of_character"],
        )
    if kind == "help" and _trait(arc, "aggressiveness") >= 0.8 and _trait(arc, "compassion") <= 0.15:
        return Violation(
            "out_of_character",
            event.id,
            f"callous {actor} helps {event.target} for no reason",
            SEVERITY["out_of_character"],
        )
    return None


def _uncaused(event: Event, seen_ids: set[str], known: Container[str]) -> list[Violation]:
    """A causal or reaction event's missing causes: none at all, or causes nobody knows."""
    if not event.causes:
        return [Violation("uncaused_effect", event.id, f"a {event.kind} event with no cause", _HARD)]
    return [
        Violation("uncaused_effect", event.id, f"cause {cause!r} is not a known event", _HARD)
        for cause in event.causes
        if cause not in seen_ids and cause not in known
    ]
