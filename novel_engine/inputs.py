"""A turn's inputs from outside the story (player actions, world events), validated before the
turn starts: a bad one is rejected with a clear error and changes nothing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from novel_engine.agents.director import validate_action
from novel_engine.core.events import Action, Decision, WorldEventSpec
from novel_engine.core.world import WorldState
from novel_engine.errors import InvalidActionError

__all__ = ["parse_inputs"]


def _problem(exc: ValidationError) -> tuple[str, str]:
    e = exc.errors()[0]
    return ".".join(map(str, e["loc"])), e["msg"]


def parse_inputs(
    world: WorldState | None, agent_actions: Mapping[str, Any] | None, world_events: Sequence[Any] | None
) -> tuple[dict[str, Action], list[WorldEventSpec]]:
    """Validate a turn's player actions and world events against ``world``.

    Raises:
        InvalidActionError: naming the action or event and the field that is wrong.
    """
    actions: dict[str, Action] = {}
    for agent, raw in (agent_actions or {}).items():
        try:
            decision = raw if isinstance(raw, Decision) else Decision.model_validate(raw)
        except ValidationError as exc:
            where, msg = _problem(exc)
            raise InvalidActionError(
                f"agent_actions.{agent}.{where}: {msg}", field=f"agent_actions.{agent}.{where}"
            ) from None
        actions[agent] = validate_action(world, agent, decision)
    events: list[WorldEventSpec] = []
    for i, raw in enumerate(world_events or ()):
        try:
            spec = raw if isinstance(raw, WorldEventSpec) else WorldEventSpec.model_validate(raw)
        except ValidationError as exc:
            where, msg = _problem(exc)
            raise InvalidActionError(f"world_events[{i}].{where}: {msg}", field=f"world_events[{i}].{where}") from None
        if spec.location is not None and spec.location not in world.locations:
            raise InvalidActionError(
                f"world_events[{i}].location: unknown location {spec.location!r}", field=f"world_events[{i}].location"
            )
        events.append(spec)
    return actions, events
