"""Narrative coherence: does a turn's proposed events fit the story so far and the characters in it?

The :class:`NarrativeCoherenceEngine` checks every proposed event against the characters' arcs
(where each one is, whether they can act, what kind of person they are, whom they have cause to
act against) and against the recent history, and reports each problem as a :class:`Violation`:

========================  ========  ==========================================================
kind                      severity  when
========================  ========  ==========================================================
absent_actor              1.0       an action's actor has no arc (not in the story)
incapacitated_actor       1.0       an action's actor is incapacitated
location_contradiction    1.0       an action happens away from its actor (a move or flee must
                                    start, ``data["from"]``, where the actor is), or one actor
                                    acts in two places in one turn
uncaused_effect           1.0       a ``causal`` or ``reaction`` event has no cause, or a cause
                                    that is in neither the history nor the proposal
out_of_character          0.6       an unprovoked attack by a gentle soul (compassion >= 0.75,
                                    aggressiveness <= 0.25), or unprovoked help from a brute
                                    (aggressiveness >= 0.8, compassion <= 0.15)
repetition                0.3       an actor does the same thing (type and target) again, as it
                                    did in each of the last ``repetition_window`` turns
========================  ========  ==========================================================

The score is 1 minus the mean, over the proposed events, of each event's summed severity capped
at 1: 1.0 is a flawless turn. The director rejects events with a hard violation (severity 1.0)
and revises the rest when the score is below :attr:`NarrativeCoherenceEngine.threshold`.
Everything is one pass over the history and one over the proposal, with dict lookups.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Collection, Container, Literal, Mapping, Sequence

from novel_engine.core.events import Event
from novel_engine.core.world import INCAPACITATED, PersonaState, WorldState
from novel_engine.errors import NovelEngineError

__all__ = ["CharacterArc", "Violation", "ViolationKind", "CoherenceReport", "NarrativeCoherenceEngine",
           "character_arcs", "SEVERITY"]

ViolationKind = Literal["absent_actor", "incapacitated_actor", "location_contradiction", "out_of_character",
                        "uncaused_effect", "repetition"]
SEVERITY: Mapping[str, float] = {
    "absent_actor": 1.0, "incapacitated_actor": 1.0, "location_contradiction": 1.0, "uncaused_effect": 1.0,
    "out_of_character": 0.6, "repetition": 0.3,
}
_MOVES = frozenset({"move", "flee"})
_HOSTILE_TRUST = -0.3  # at or below this trust, a persona has cause to act against someone


@dataclass(frozen=True, slots=True)
class CharacterArc:
    """Where a character stands this turn, as coherence sees it.

    Args:
        persona_id: the persona.
        location: where the persona is at the start of the turn.
        status: ``active``, ``wounded`` or ``incapacitated``.
        traits: the persona's traits.
        hostile_toward: persona ids it has cause to act against (it was provoked, or distrusts them).
    """

    persona_id: str
    location: str
    status: str
    traits: Mapping[str, float]
    hostile_toward: frozenset[str] = frozenset()

    @classmethod
    def from_persona(cls, persona: PersonaState, provoked_by: Collection[str] = ()) -> "CharacterArc":
        """Build an arc from a persona: hostile toward whoever provoked it and whoever it trusts <= -0.3."""
        distrusted = {k for k, r in persona.relationships.items() if r.trust <= _HOSTILE_TRUST}
        return cls(persona.id, persona.location, persona.status, persona.traits,
                   frozenset(distrusted.union(provoked_by)))


def character_arcs(world: WorldState, provocations: Mapping[str, Collection[str]] | None = None) -> dict[str, CharacterArc]:
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


def _type(event: Event) -> str | None:
    # an ActionType member hashes unlike its string value, so compare plain strings
    return getattr(event.action_type, "value", event.action_type)


def _acting_place(event: Event) -> str | None:
    # a move starts where the actor was; every other action happens where the event is
    if _type(event) in _MOVES:
        return event.data.get("from", event.location)
    return event.location


class NarrativeCoherenceEngine:
    """Checks proposed events for coherence with the story and its characters.

    Args:
        threshold: the score under which the director revises the proposal, in [0, 1].
        repetition_window: how many past turns an action must repeat to count as repetition (0: never).
    Raises:
        NovelEngineError: threshold outside [0, 1] or a negative window.
    """

    __slots__ = ("threshold", "repetition_window")

    def __init__(self, *, threshold: float = 0.7, repetition_window: int = 2) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise NovelEngineError("coherence threshold must be between 0 and 1", threshold=threshold)
        if repetition_window < 0:
            raise NovelEngineError("repetition_window must not be negative", repetition_window=repetition_window)
        self.threshold = float(threshold)
        self.repetition_window = int(repetition_window)

    def acceptable(self, report: CoherenceReport) -> bool:
        """Whether a report's score reaches :attr:`threshold` (no revision needed)."""
        return report.score >= self.threshold

    def evaluate_coherence(self, previous_events: Sequence[Event], proposed_events: Sequence[Event],
                           character_arcs: Mapping[str, CharacterArc], *,
                           known_event_ids: Container[str] = frozenset()) -> CoherenceReport:
        """Check the proposed events and score the proposal.

        Args:
            previous_events: recent history (at least the last ``repetition_window`` turns).
            proposed_events: this turn's candidate events.
            character_arcs: every character's arc, keyed by persona id.
            known_event_ids: more ids a cause may refer to (e.g. the causal graph, which supports
                ``in``), for causes older than ``previous_events``.
        Returns:
            The report; its score is 1.0 when nothing is proposed.
        """
        window = self.repetition_window
        done: dict[tuple[str, int], set[tuple[str | None, str | None]]] = {}
        seen_ids: set[str] = set()
        for e in previous_events:
            seen_ids.add(e.id)
            if window and e.kind == "action" and e.actor is not None:
                done.setdefault((e.actor, e.turn), set()).add((_type(e), e.target))
        seen_ids.update(e.id for e in proposed_events)

        violations: list[Violation] = []
        first_place: dict[tuple[str, int], str | None] = {}
        total = 0.0
        for event in proposed_events:
            found = self._check(event, character_arcs, done, seen_ids, known_event_ids, first_place)
            violations.extend(found)
            total += min(1.0, sum(v.severity for v in found))
        score = 1.0 - total / len(proposed_events) if proposed_events else 1.0
        return CoherenceReport(score=max(0.0, score), violations=tuple(violations))

    def _check(self, event: Event, arcs: Mapping[str, CharacterArc],
               done: Mapping[tuple[str, int], set[tuple[str | None, str | None]]], seen_ids: set[str],
               known: Container[str], first_place: dict[tuple[str, int], str | None]) -> list[Violation]:
        found: list[Violation] = []

        def flag(kind: ViolationKind, detail: str) -> None:
            found.append(Violation(kind, event.id, detail, SEVERITY[kind]))

        if event.kind in ("causal", "reaction"):
            if not event.causes:
                flag("uncaused_effect", f"a {event.kind} event with no cause")
            for cause in event.causes:
                if cause not in seen_ids and cause not in known:
                    flag("uncaused_effect", f"cause {cause!r} is not a known event")
        actor = event.actor
        if event.kind != "action" or actor is None:
            return found
        arc = arcs.get(actor)
        if arc is None:
            flag("absent_actor", f"{actor} is not in the story")
            return found
        if arc.status == INCAPACITATED:
            flag("incapacitated_actor", f"{actor} is incapacitated and cannot act")
        place = _acting_place(event)
        if place is not None and place != arc.location:
            flag("location_contradiction", f"{actor} is at {arc.location}, not at {place}")
        key = (actor, event.turn)
        if key in first_place:
            if place != first_place[key]:
                flag("location_contradiction", f"{actor} acts at both {first_place[key]} and {place} in one turn")
        else:
            first_place[key] = place
        if not event.causes:
            kind = _type(event)
            if (kind == "attack" and _trait(arc, "compassion") >= 0.75 and _trait(arc, "aggressiveness") <= 0.25
                    and event.target not in arc.hostile_toward):
                flag("out_of_character", f"gentle {actor} attacks {event.target} unprovoked")
            elif kind == "help" and _trait(arc, "aggressiveness") >= 0.8 and _trait(arc, "compassion") <= 0.15:
                flag("out_of_character", f"callous {actor} helps {event.target} for no reason")
        window = self.repetition_window
        signature = (_type(event), event.target)
        if window and all(signature in done.get((actor, event.turn - k), ()) for k in range(1, window + 1)):
            what = " ".join(x for x in signature if x)
            flag("repetition", f"{actor} does the same ({what}) for {window + 1} turns running")
        return found
