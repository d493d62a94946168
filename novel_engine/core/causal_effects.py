"""Causal rules and the effects they schedule: which events match a rule, what comes due, and when it fires.

Causal rules (:class:`RuleIndex` finds the ones an event matches) and explicit relationships
schedule effects some turns after their cause (:class:`PendingEffect`); when the turn comes,
:func:`condition_holds` decides for each condition whether the effect fires (a :class:`DueEffect`
the director turns into an event) or lapses.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from novel_engine.core.events import Event
from novel_engine.core.scenario import CausalRuleSpec, ComplicationSpec, Condition
from novel_engine.core.world import WorldState
from novel_engine.errors import NovelEngineError

__all__ = [
    "DueEffect",
    "PendingEffect",
    "RuleIndex",
    "condition_holds",
    "to_condition",
    "check_strength",
    "checked_relationship",
]

_KEY_FIELDS = ("actor", "target", "location", "outcome")


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
        return (
            persona is not None
            and condition.status in (None, persona.status)
            and condition.at in (None, persona.location)
        )
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


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    order: int  # registration order: matched rules fire in it
    rule: CausalRuleSpec
    checks: tuple[tuple[str, Any], ...]  # pattern fields left to compare after the bucket lookup


def _field(event: Event, name: str) -> Any:
    return event.outcome.value if name == "outcome" else getattr(event, name)


class RuleIndex:
    """Causal rules, indexed so that finding the rules an event matches costs a few dict lookups.

    Rules are kept by (kind, action_type, key field, key value), the key field being the first of
    actor/target/location/outcome the pattern names; an event probes one bucket per rule *shape*
    in use, whatever the rule count. While every rule names an action type, an event of any other
    type (most events) is turned away with one set lookup.
    """

    __slots__ = ("rules", "_buckets", "_shapes", "_typed")

    def __init__(self) -> None:
        self.rules: dict[str, CausalRuleSpec] = {}  #: every rule by id, in registration order
        self._buckets: dict[tuple[Any, ...], list[_CompiledRule]] = {}
        self._shapes: list[tuple[bool, bool, str | None]] = []
        self._typed: set[str] | None = set()  # the action types rules name; None once a rule names none

    def add(self, rule: CausalRuleSpec) -> None:
        """Index ``rule``; rule ids must be unique (:meth:`CausalGraph.add_rule` makes sure)."""
        when = rule.when
        at = when.action_type.value if when.action_type is not None else None
        given = [(f, getattr(when, f)) for f in _KEY_FIELDS if getattr(when, f) is not None]
        key_field, key_value = given[0] if given else (None, None)
        shape = (when.kind is not None, at is not None, key_field)
        if shape not in self._shapes:
            self._shapes.append(shape)
        if at is None:
            self._typed = None
        elif self._typed is not None:
            self._typed.add(at)
        compiled = _CompiledRule(len(self.rules), rule, tuple(given[1:]))
        self.rules[rule.id] = rule
        self._buckets.setdefault((when.kind, at, key_field, key_value), []).append(compiled)

    def matching(self, event: Event) -> list[CausalRuleSpec]:
        """The rules whose pattern ``event`` matches in every given field, in registration order."""
        at = event.action_type
        if at is not None and type(at) is not str:
            at = getattr(at, "value", at)  # tolerate an ActionType where a plain string is expected
        if self._typed is not None and at not in self._typed:
            return []
        buckets = self._buckets
        candidates: list[_CompiledRule] = []
        for has_kind, has_at, field in self._shapes:
            key = (
                event.kind if has_kind else None,
                at if has_at else None,
                field,
                _field(event, field) if field else None,
            )
            found = buckets.get(key)
            if found:
                candidates.extend(found)
        if len(candidates) > 1:
            candidates.sort(key=lambda c: c.order)
        return [c.rule for c in candidates if not any(_field(event, f) != value for f, value in c.checks)]


def checked_relationship(
    cause: str,
    effect: str | ComplicationSpec,
    strength: Any,
    delay_turns: Any,
    conditions: Sequence[Condition | str],
    recorded: Container[str],
) -> tuple[float, str | ComplicationSpec, tuple[Condition, ...]]:
    """A cause -> effect relationship checked (``CausalGraph.add_relationship``): its strength, its
    effect (a ``recorded`` event id, else a :class:`ComplicationSpec`) and its conditions.

    Raises:
        NovelEngineError: unknown cause, a self-link, strength outside [0, 1], negative delay, or
            an invalid condition or effect description.
    """
    if cause not in recorded:
        raise NovelEngineError(f"unknown cause event {cause!r}", event=cause)
    strength = check_strength(strength, f"relationship {cause!r}")
    if not isinstance(delay_turns, int) or delay_turns < 0:
        raise NovelEngineError("delay_turns must be a non-negative integer", delay_turns=delay_turns)
    try:
        conds = tuple(to_condition(c) for c in conditions)
        if isinstance(effect, str) and effect not in recorded:
            effect = ComplicationSpec(description=effect)
    except ValidationError as exc:
        raise NovelEngineError(
            f"invalid causal relationship from {cause!r}: {exc.errors()[0]['msg']}", event=cause
        ) from None
    if isinstance(effect, str) and effect == cause:
        raise NovelEngineError("an event cannot cause itself", event=cause)
    return strength, effect, conds
