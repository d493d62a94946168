"""One turn's coherence check, event by event, against the story so far and the world as it stands.

:class:`TurnCheck` is what :meth:`~novel_engine.core.coherence.NarrativeCoherenceEngine.begin_turn`
returns: the director checks each event as it resolves it, and the check remembers the violations
for the turn's :class:`~novel_engine.core.coherence.CoherenceReport`. :func:`_against_world` holds
the checks against the world at that moment (an absent target, a move to a place not next door,
knowledge without a perception path, a captive acting, a fire fought where none burns).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from typing import TYPE_CHECKING

from novel_engine.core.coherence_rules import (
    _HARD,
    _MOVES,
    CharacterArc,
    CoherenceReport,
    Violation,
    _uncaused,
)
from novel_engine.core.events import Event
from novel_engine.core.world import CAPTIVE, FIRE_AT, WorldState

if TYPE_CHECKING:
    from novel_engine.core.coherence import NarrativeCoherenceEngine

__all__ = ["TurnCheck"]


class TurnCheck:
    """The coherence check of one turn, event by event (see :meth:`NarrativeCoherenceEngine.begin_turn`).

    ``check`` returns the violations of one event (None when it has none) and remembers them for
    :meth:`report`. With a world, it checks the event against the world as it stands at that
    moment of the turn: an absent or incapacitated target of an interaction (``absent_target``), a
    move to a place that is not next door (``impossible_move``), something found that is not kept
    where it was found (``unperceived_knowledge``).
    """

    __slots__ = (
        "engine",
        "previous",
        "known",
        "world",
        "kept",
        "done",
        "seen_ids",
        "violations",
        "total",
        "count",
        "first_place",
    )

    def __init__(
        self,
        engine: NarrativeCoherenceEngine,
        previous: Sequence[Event],
        known: Container[str],
        world: WorldState | None,
        kept: Mapping[str, str | None],
    ) -> None:
        self.engine, self.previous, self.known, self.world, self.kept = engine, previous, known, world, kept
        window = engine.repetition_window
        # what each actor did, as (actor, turn, action type, target): repetition looks rows up here
        # (an ActionType member is a str that hashes and compares as its value: no need to convert)
        self.done: set[tuple[str, int, str | None, str | None]] = set()
        if window:
            self.done = {
                (e.actor, e.turn, e.action_type, e.target)
                for e in previous
                if e.kind == "action" and e.actor is not None
            }
        self.seen_ids: set[str] | None = None  # built on first need: few turns propose causal events
        self.violations: list[Violation] = []
        self.total = 0.0
        self.count = 0
        self.first_place: dict[tuple[str, int], str | None] = {}

    def check(self, event: Event, arc: CharacterArc | None, proposed: Sequence[Event] = ()) -> list[Violation] | None:
        """The violations of one proposed event (None when it is coherent)."""
        self.count += 1
        kind = event.kind
        found: list[Violation] | None = None
        if kind == "action":
            actor = event.actor
            if actor is None:
                return None
            if arc is None:
                found = [Violation("absent_actor", event.id, f"{actor} is not in the story", _HARD)]
            else:
                # the common case, a plain coherent action, costs a handful of comparisons and no allocation
                found = self.engine._check_action(
                    event, actor, arc, self.done, self.engine.repetition_window, self.first_place
                )
                if self.world is not None:
                    more = _against_world(event, actor, self.world, self.kept)
                    if more:
                        found = (found or []) + more
        elif kind == "causal" or kind == "reaction":
            if self.seen_ids is None:
                self.seen_ids = {e.id for e in self.previous}
                self.seen_ids.update(e.id for e in proposed)
            found = _uncaused(event, self.seen_ids, self.known) or None
        if found:
            self.violations.extend(found)
            self.total += min(1.0, sum(v.severity for v in found))
        return found

    def note(self, event_id: str) -> None:
        """Count an event told this turn that needed no check (a world event): causes may name it."""
        if self.seen_ids is not None:
            self.seen_ids.add(event_id)

    def report(self) -> CoherenceReport:
        """The turn's score and every violation found so far."""
        score = 1.0 - self.total / self.count if self.count else 1.0
        return CoherenceReport(score=max(0.0, score), violations=tuple(self.violations))


_INTERACTIONS = frozenset({"attack", "help", "persuade", "speak", "capture"})
_CAPTIVE_ACTS = frozenset({"speak", "persuade", "observe", "rest", "flee"})  # all a captive may do


def _against_world(
    event: Event, actor: str, world: WorldState, kept: Mapping[str, str | None]
) -> list[Violation] | None:
    """An action's problems with the world as it stands when it takes effect."""
    kind = event.action_type
    found: list[Violation] | None = None
    data = event.data
    me = world.personas.get(actor)
    if kind in _INTERACTIONS and event.target is not None and not data.get("missing"):
        t = world.personas.get(event.target)
        if t is None or me is None or t.location != me.location:
            found = [Violation("absent_target", event.id, f"{event.target} is not where {actor} is", _HARD)]
        elif t.health <= 0.0 and kind != "help" and kind != "capture":
            found = [Violation("absent_target", event.id, f"{event.target} is down: only help reaches them", _HARD)]
    elif kind in _MOVES and event.target is not None and me is not None:
        start = data.get("from", me.location)
        if event.target != start and event.target not in world.neighbours(start):
            found = [Violation("impossible_move", event.id, f"{event.target} is not next to {start}", _HARD)]
    if (
        (kind not in _CAPTIVE_ACTS or (kind == "flee" and not data.get("escaped") and not data.get("held")))
        and event.outcome.value != "blocked"
        and CAPTIVE + actor in world.facts
    ):
        found = found or []
        found.append(Violation("captive_acting", event.id, f"{actor} is held captive: words only", _HARD))
    if kind == "fight_fire" and event.outcome.value != "blocked" and FIRE_AT + str(event.location) not in world.facts:
        found = found or []
        found.append(
            Violation("no_fire", event.id, f"{actor} fights a fire at {event.location}, but none burns", _HARD)
        )
    items = data.get("found")
    if items:
        for item in items:
            where = kept.get(item, "") if not item.startswith("clue:") else item.split(":")[1]
            if where != event.location:
                found = found or []
                found.append(
                    Violation(
                        "unperceived_knowledge",
                        event.id,
                        f"{actor} learns {item} at {event.location}, but it is kept at {where}",
                        _HARD,
                    )
                )
    return found
