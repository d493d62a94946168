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
absent_target             1.0       (against the world) an interaction's target is not where the
                                    actor is when the interaction takes effect
impossible_move           1.0       (against the world) a move to a place that is not next door
unperceived_knowledge     1.0       (against the world) something found that is not kept where
                                    it was found (knowledge without a perception path)
captive_acting            1.0       (against the world) a captive does more than talk, watch
                                    or rest (walks away, strikes, searches) before being freed
no_fire                   1.0       (against the world) a fire fought where none burns
========================  ========  ==========================================================

The director checks each action as it takes effect (:meth:`NarrativeCoherenceEngine.begin_turn`),
against the world as the turn's earlier actions left it, and drops or repairs what fails.

The score is 1 minus the mean, over the proposed events, of each event's summed severity capped
at 1: 1.0 is a flawless turn. The director rejects events with a hard violation (severity 1.0)
and revises the rest when the score is below :attr:`NarrativeCoherenceEngine.threshold`.
Everything is one pass over the history and one over the proposal, with set and dict lookups;
a coherent action allocates nothing but its place record.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence

from novel_engine.core.coherence_rules import (
    _HARD,
    _MOVES,
    SEVERITY,
    CharacterArc,
    CoherenceReport,
    Violation,
    ViolationKind,
    _out_of_character,
    character_arcs,
)
from novel_engine.core.events import Event
from novel_engine.core.turn_check import TurnCheck
from novel_engine.core.world import INCAPACITATED, WorldState
from novel_engine.errors import NovelEngineError

__all__ = [
    "CharacterArc",
    "Violation",
    "ViolationKind",
    "CoherenceReport",
    "NarrativeCoherenceEngine",
    "character_arcs",
    "SEVERITY",
]


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

    def evaluate_coherence(
        self,
        previous_events: Sequence[Event],
        proposed_events: Sequence[Event],
        character_arcs: Mapping[str, CharacterArc],
        *,
        known_event_ids: Container[str] = frozenset(),
    ) -> CoherenceReport:
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
        check = self.begin_turn(previous_events, known_event_ids)
        for event in proposed_events:
            check.check(
                event, character_arcs.get(event.actor) if event.actor is not None else None, proposed=proposed_events
            )
        return check.report()

    def begin_turn(
        self,
        previous_events: Sequence[Event],
        known_event_ids: Container[str] = frozenset(),
        world: WorldState | None = None,
        kept: Mapping[str, str | None] | None = None,
    ) -> TurnCheck:
        """A check of one turn's events, one at a time, as the director resolves them.

        Args:
            previous_events: recent history (for repetition and causes).
            known_event_ids: more ids a cause may refer to.
            world: the world as it stands when each event is checked (moves already made, effects of
                earlier events applied): with it, targets must be present, moves must go next door,
                and what is found must be kept where it is found.
            kept: fragment id -> the place it is kept (what investigating may find, and where).
        """
        return TurnCheck(self, previous_events, known_event_ids, world, kept or {})

    def _check_action(
        self,
        event: Event,
        actor: str,
        arc: CharacterArc,
        done: set[tuple[str, int, str | None, str | None]],
        window: int,
        first_place: dict[tuple[str, int], str | None],
    ) -> list[Violation] | None:
        """The violations of one action event whose actor has an arc (None when it has none)."""
        found: list[Violation] | None = None
        eid, turn = event.id, event.turn
        if arc.status == INCAPACITATED:
            found = [Violation("incapacitated_actor", eid, f"{actor} is incapacitated and cannot act", _HARD)]
        kind = event.action_type
        if kind is not None and type(kind) is not str:
            kind = getattr(kind, "value", kind)  # a plain string, for the messages
        # a move starts where the actor was; every other action happens where the event is
        place = event.data.get("from", event.location) if kind in _MOVES else event.location
        if place is not None and place != arc.location:
            found = found or []
            found.append(
                Violation("location_contradiction", eid, f"{actor} is at {arc.location}, not at {place}", _HARD)
            )
        key = (actor, turn)
        first = first_place.setdefault(key, place)
        if first != place:
            found = found or []
            found.append(
                Violation("location_contradiction", eid, f"{actor} acts at both {first} and {place} in one turn", _HARD)
            )
        if (kind == "attack" or kind == "help") and not event.causes:
            odd = _out_of_character(event, actor, arc, kind)
            if odd is not None:
                found = found or []
                found.append(odd)
        target = event.target
        # repetition needs the same act in each of the last ``window`` turns: test the last one first
        if (
            window
            and (actor, turn - 1, kind, target) in done
            and all((actor, turn - k, kind, target) in done for k in range(2, window + 1))
        ):
            what = " ".join(x for x in (kind, target) if x)
            found = found or []
            found.append(
                Violation(
                    "repetition",
                    eid,
                    f"{actor} does the same ({what}) for {window + 1} turns running",
                    SEVERITY["repetition"],
                )
            )
        return found
