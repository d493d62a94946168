"""Pending effects of a causal graph: what comes due, and whether its conditions still hold then.

Causal rules and explicit relationships schedule effects some turns after their cause
(:class:`PendingEffect`); when the turn comes, :func:`condition_holds` decides for each condition
whether the effect fires (a :class:`DueEffect` the director turns into an event) or lapses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from novel_engine.core.scenario import ComplicationSpec, Condition
from novel_engine.core.world import WorldState
from novel_engine.errors import NovelEngineError

__all__ = ["DueEffect", "PendingEffect", "condition_holds", "to_condition", "check_strength"]


@dataclass(frozen=True, slots=True)
class DueEffect:
    """A pending effect whose time has come and whose conditions hold: the director turns it into an event.

    Args:
        cause: id of the event that caused it (use it as the new event's ``causes``).
        spec: what happens.
        strength: strength of the cause -> effect link (pass it on as ``data["cause_strength"]``).
        rule_id: the causal rule that scheduled it, None for an explicit relationship.
        due_turn: the turn it was due.
    """

    cause: str
    spec: ComplicationSpec
    strength: float
    rule_id: str | None
    due_turn: int


@dataclass(frozen=True, slots=True)
class PendingEffect:
    """An effect scheduled for ``due_turn`` that fires only if all its ``conditions`` hold then."""

    cause: str
    spec: ComplicationSpec
    strength: float
    rule_id: str | None
    due_turn: int
    conditions: tuple[Condition, ...]


def condition_holds(condition: Condition, world: WorldState) -> bool:
    """Whether one condition holds in ``world``.

    A ``fact`` condition compares ``world.facts[fact]`` with ``equals``; ``equals=True`` / ``False``
    mean truthy / falsy (a missing fact is falsy). A ``persona`` condition requires the persona to
    exist and, when given, to have that ``status`` and be ``at`` that location. All given parts
    must hold; an empty condition holds.
    """
    if condition.fact is not None:
        value, expected = world.facts.get(condition.fact), condition.equals
        if (bool(value) is not expected) if isinstance(expected, bool) else value != expected:
            return False
    if condition.persona is not None:
        persona = world.personas.get(condition.persona)
        return persona is not None and condition.status in (None, persona.status) \
            and condition.at in (None, persona.location)
    return True


def to_condition(raw: Condition | str | Mapping[str, Any]) -> Condition:
    """A condition from a :class:`Condition`, a mapping, or the shorthand ``"fact"`` / ``"!fact"``."""
    if isinstance(raw, Condition):
        return raw
    if isinstance(raw, str):
        # the scenario format's shorthand: "fact" is truthy, "!fact" is falsy
        return Condition(fact=raw[1:], equals=False) if raw.startswith("!") else Condition(fact=raw, equals=True)
    return Condition.model_validate(dict(raw))


def check_strength(strength: Any, where: str) -> float:
    """``strength`` as a float in [0, 1]; raise ``NovelEngineError`` naming ``where`` otherwise."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        raise NovelEngineError(f"{where}: strength must be a number", strength=repr(strength)) from None
    if not 0.0 <= value <= 1.0:
        raise NovelEngineError(f"{where}: strength must be between 0 and 1", strength=value)
    return value
