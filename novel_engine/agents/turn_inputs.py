"""What goes into a turn, and what is done with an act that no longer fits it.

- :func:`validate_action`: a player's action checked against the world (and bound to its actor);
- :func:`event_matches`: whether an event matches a scenario's event pattern (narrative goals);
- :class:`Repairs`, a mixin of :class:`~novel_engine.agents.director.DirectorAgent`: a persona's
  decision that no longer fits the world becomes watching, an act by someone who cannot act is
  recorded as such, an out-of-character act is toned down;
- ``_Grudges``: whom a persona has cause to act against, as the coherence check asks.
"""

from __future__ import annotations

from collections.abc import Mapping

from novel_engine.agents.resolution import ActionResolver, Resolution
from novel_engine.core.events import (
    LOCATION_TARGETED,
    PERSONA_TARGETED,
    Action,
    ActionType,
    Decision,
    Event,
    Outcome,
)
from novel_engine.core.scenario import EventPattern
from novel_engine.core.world import CAPTIVE, Relationship, WorldState
from novel_engine.errors import InvalidActionError

__all__ = ["validate_action", "event_matches", "Repairs"]

_CAPTIVE_ACTS = frozenset({"speak", "persuade", "observe", "rest", "flee"})  # all a captive may do


def validate_action(world: WorldState, actor: str, decision: Decision) -> Action:
    """Check a player's action against the world and bind it; raise ``InvalidActionError`` saying why."""
    p = world.personas.get(actor)
    if p is None:
        raise InvalidActionError(f"agent_actions.{actor}: unknown agent {actor!r}", field=f"agent_actions.{actor}")
    if not p.can_act:
        raise InvalidActionError(
            f"agent_actions.{actor}: {p.name} is incapacitated and cannot act", field=f"agent_actions.{actor}"
        )
    kind = decision.action_type
    where = f"agent_actions.{actor}.target"
    if CAPTIVE + actor in world.facts and kind.value not in _CAPTIVE_ACTS:
        raise InvalidActionError(
            f"agent_actions.{actor}: {p.name} is held captive and can only "
            f"{', '.join(sorted(_CAPTIVE_ACTS))} (flee: try to slip away)",
            field=f"agent_actions.{actor}",
        )
    if kind in PERSONA_TARGETED:
        t = world.personas.get(decision.target or "")
        if t is None:
            raise InvalidActionError(
                f"{where}: {kind.value} needs a persona id as target, got {decision.target!r}", field=where
            )
        if t.id == actor:
            raise InvalidActionError(f"{where}: a persona cannot {kind.value} itself", field=where)
        if t.location != p.location:
            raise InvalidActionError(f"{where}: {t.name} is not at {world.locations[p.location].name}", field=where)
    elif kind in LOCATION_TARGETED:
        if decision.target not in world.neighbours(p.location):
            raise InvalidActionError(
                f"{where}: {kind.value} needs a neighbouring place; from {p.location!r} "
                f"choose one of {list(world.neighbours(p.location))}",
                field=where,
            )
    elif decision.target not in (None, "", p.location):
        raise InvalidActionError(f"{where}: {kind.value} takes no target", field=where)
    return Action.from_decision(actor, decision, origin="player")


def event_matches(pattern: EventPattern, ev: Event) -> bool:
    """Whether ``ev`` matches every field given in ``pattern``."""
    return (
        (pattern.kind is None or pattern.kind == ev.kind)
        and (pattern.action_type is None or pattern.action_type.value == ev.action_type)
        and (pattern.actor is None or pattern.actor == ev.actor)
        and (pattern.target is None or pattern.target == ev.target)
        and (pattern.location is None or pattern.location == ev.location)
        and (pattern.outcome is None or pattern.outcome == ev.outcome.value)
    )


class _Grudges:
    """Whom a persona has cause to act against: those it distrusts (trust < -0.2) or dislikes (affinity < -0.3).

    A view of the persona's relationships for its :class:`CharacterArc`, read only when coherence
    asks (when a gentle soul attacks someone): building a set per actor per turn would cost more
    than all the questions. Coherence asks before the turn's effects are applied, so the view
    answers as a snapshot taken when the arc was built would.
    """

    __slots__ = ("_relationships",)

    def __init__(self, relationships: Mapping[str, Relationship]) -> None:
        self._relationships = relationships

    def __contains__(self, persona_id: object) -> bool:
        r = self._relationships.get(persona_id)  # type: ignore[call-overload]
        return r is not None and (r.trust < -0.2 or r.affinity < -0.3)


class Repairs:
    """Acts that no longer fit the world. A mixin of ``DirectorAgent``: it reads the director's
    ``world`` and ``resolver``."""

    world: WorldState
    resolver: ActionResolver

    def _sanitise(self, action: Action) -> Action:
        """A persona decision that no longer fits the world becomes watching (flagged ``invalid``)."""
        kind = action.action_type
        if kind in PERSONA_TARGETED:
            ok = action.target in self.world.personas
        elif kind in LOCATION_TARGETED:
            ok = action.target in self.world.neighbours(self.world.personas[action.actor].location)
        else:
            ok = True
        if ok:
            return action
        return Action(
            actor=action.actor,
            action_type=ActionType.OBSERVE,
            rationale=action.rationale,
            origin=action.origin,
            flags=(*action.flags, "invalid"),
        )

    def _incapable(self, action: Action, event_id: str, turn: int) -> Resolution:
        p = self.world.personas[action.actor]
        ev = Event(
            id=event_id,
            turn=turn,
            kind="action",
            summary=f"{p.name} tries to act but cannot",
            actor=p.id,
            action_type=action.action_type.value,
            target=action.target,
            location=p.location,
            outcome=Outcome.BLOCKED,
            flags=action.flags,
        )
        return Resolution(event=ev)

    def _revise(self, r: Resolution, turn: int) -> Resolution:
        """An out-of-character act without cause is toned down: the actor confronts with words."""
        ev = r.event
        kind = "speak" if ev.target in self.world.personas else "observe"
        action = Action(
            actor=ev.actor or "",
            action_type=ActionType(kind),
            target=ev.target if kind == "speak" else None,
            dialogue=ev.dialogue,
            flags=(*ev.flags, "revised"),
        )
        res, _ = self.resolver.resolve(action, ev.id, turn)
        return res
