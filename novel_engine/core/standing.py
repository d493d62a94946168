"""Standing consequences in a persona's goals: what is done is dropped, what happened adds goals.

The world keeps consequences as facts (see :mod:`novel_engine.core.world`): who lies fallen and
where, which goals a persona has reached, which places are searched out, whom a finding points to,
where an order sends everyone. :func:`standing_goals` turns them into the goals a persona's brief
shows, so the offline policy and a language model both act on them:

- a goal reached (``goals_done``), a search of a place with nothing left, or an act on someone who
  is down (other than helping them) is dropped: the persona moves on;
- a fallen ally (affinity >= 0.3) the persona knows of (it believes them down, or sees them) adds
  "help them", where they lie, first of all;
- a finding that points at someone adds "confront them" (until the confrontation happens);
- an order to muster somewhere (an evacuation) adds "go there";
- an ally held captive, whom the persona sees or knows to be held, adds "free them" (help).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from novel_engine.core.events import ActionType
from novel_engine.core.perception import BeliefSummary
from novel_engine.core.world import (
    DANGER_AT,
    FALLEN,
    GOALS_DONE,
    MUSTER_AT,
    SEARCHED_OUT,
    SUSPECTS,
    Goal,
    PersonaState,
    WorldState,
)

__all__ = ["standing_goals", "goal_open", "StandingCondition", "standing_conditions"]

_HELP, _PERSUADE, _MOVE = ActionType.HELP, ActionType.PERSUADE, ActionType.MOVE
ALLY_AFFINITY = 0.3  # at or above this affinity, a fallen persona is an ally to go and help


def goal_open(goal: Goal, world: WorldState) -> bool:
    """Whether a goal can still be pursued: its place is not searched out, its target not down
    (helping someone down is still open: that is when it matters most)."""
    act = goal.action
    if act is None:
        return True
    if act is ActionType.INVESTIGATE:
        place = goal.location or goal.target
        return not (place and world.facts.get(SEARCHED_OUT + place))
    if goal.target is not None and act is not _HELP:
        t = world.personas.get(goal.target)
        return t is None or t.health > 0.0
    return True


def standing_goals(
    me: PersonaState,
    world: WorldState,
    beliefs: Sequence[BeliefSummary],
    fallen: Mapping[str, Any],
    captive: Mapping[str, Any] | None = None,
) -> tuple[Goal, ...]:
    """The goals ``me`` pursues now: its open authored goals, after the goals consequences add.

    Args:
        me: the persona.
        world: the world (its facts hold the standing consequences).
        beliefs: the persona's leading beliefs (what it knows of who has fallen).
        fallen: persona id -> where they lie, for everyone down this turn.
        captive: persona id -> their captor, for everyone held this turn.
    """
    facts = world.facts
    goals = me.goals
    if goals:
        done = facts.get(GOALS_DONE + me.id)
        skip = set(done.split(",")) if done else None
        keep = [g for i, g in enumerate(goals) if (skip is None or str(i) not in skip) and goal_open(g, world)]
        if len(keep) != len(goals):
            goals = tuple(keep)
    extra: list[Goal] | None = None
    personas = world.personas
    if fallen:
        for other, rel in me.relationships.items():
            where = fallen.get(other)
            if where is None or rel.affinity < ALLY_AFFINITY or other == me.id:
                continue
            if me.location == where or any(
                b.key == "status_of:" + other and b.value == "incapacitated" for b in beliefs
            ):
                extra = extra or []
                extra.append(Goal(f"Help {personas[other].name}, who has fallen", _HELP, other, where, 1.0))
    if captive:
        for other, rel in me.relationships.items():
            captor = captive.get(other)
            if captor is None or captor == me.id or rel.affinity < ALLY_AFFINITY or other in (fallen or {}):
                continue
            p = personas[other]
            if me.location == p.location or any(
                b.key == "status_of:" + other and b.value == "captive" for b in beliefs
            ):
                extra = extra or []
                extra.append(Goal(f"Free {p.name}, who is held captive", _HELP, other, p.location, 0.95))
    suspect = facts.get(SUSPECTS + me.id) if facts else None
    if suspect is not None and suspect in personas and personas[suspect].health > 0.0:
        extra = extra or []
        extra.append(Goal(f"Confront {personas[suspect].name} with what was found", _PERSUADE, suspect, None, 0.95))
    muster = facts.get(MUSTER_AT) if facts else None
    if isinstance(muster, str) and muster in world.locations and me.location != muster:
        extra = extra or []
        extra.append(Goal(f"Go to {world.locations[muster].name}, as ordered", _MOVE, muster, muster, 0.85))
    return (*extra, *goals) if extra else goals


@dataclass(frozen=True, slots=True)
class StandingCondition:
    """A consequence that still holds, for whoever tells the story ("Ser Aldric still lies on the
    tower stairs"): ``kind`` is ``fallen``, ``danger`` or ``muster``; ``subject`` a persona id (fallen)
    or None; ``place`` where it holds."""

    kind: str
    subject: str | None
    place: str | None


def standing_conditions(world: WorldState) -> tuple[StandingCondition, ...]:
    """What still holds in ``world`` after its last turn: who lies fallen where, which places are in
    danger, where an order sends everyone; sorted, so every runtime tells them alike."""
    out = []
    for key, value in world.facts.items():
        if key.startswith(FALLEN):
            out.append(StandingCondition("fallen", key[len(FALLEN) :], value if isinstance(value, str) else None))
        elif key.startswith(DANGER_AT):
            out.append(StandingCondition("danger", None, key[len(DANGER_AT) :]))
        elif key == MUSTER_AT and isinstance(value, str):
            out.append(StandingCondition("muster", None, value))
    return tuple(sorted(out, key=lambda c: (c.kind, c.subject or "", c.place or "")))
