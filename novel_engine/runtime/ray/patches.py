"""World replicas kept in step with the director's world by a patch per turn.

Persona shards and resolver shards hold a replica of the world. :class:`ReplicaTracker` (the
director's side) makes, each turn, a patch of what changed since the last one; :func:`apply_patch`
(the shard's side) applies it. A patch carries a persona whose place, health, visibility or
relationships changed as an update of those fields, and one the replicas have not seen in that
form (new, or whose traits changed) whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from novel_engine.core.world import PersonaState, WorldState

__all__ = ["ReplicaTracker", "apply_patch"]


def _signature(p) -> tuple:
    return (p.location, p.health, p.hidden, tuple((k, r.trust, r.affinity) for k, r in p.relationships.items()))


def _update(pid: str, old: tuple | None, new: tuple) -> tuple | None:
    """``(id, location, health, hidden, relationships changed or added)`` turning signature ``old``
    into ``new``; None when the persona must travel whole (no ``old``, or relationships removed or
    reordered, which an update cannot express). Most of a large cast changes every turn, and a
    whole persona costs several times more to pickle, unpickle and rebuild in every shard."""
    if old is None:
        return None
    before, after = old[3], new[3]
    if len(after) < len(before) or any(a[0] != b[0] for a, b in zip(after, before)):
        return None
    rels = tuple(r for i, r in enumerate(after) if i >= len(before) or r != before[i])
    return (pid, new[0], new[1], new[2], rels)


class ReplicaTracker:
    """What the replicas of one set of shards hold, and the patch that brings them up to a world.

    Args:
        world: the world the replicas start from.
    """

    def __init__(self, world: WorldState) -> None:
        self.track(world)

    def forget(self, persona_id: str) -> None:
        """A persona changed beyond what updates carry (its traits): the next patch carries it whole."""
        self._signatures.pop(persona_id, None)

    def track(self, world: WorldState) -> None:
        """Take ``world`` as what the replicas hold now."""
        self._signatures = {pid: _signature(p) for pid, p in world.personas.items()}
        self._facts = dict(world.facts)

    def patch(self, world: WorldState, only: Iterable[str] | None = None) -> dict[str, Any]:
        """The personas (and facts) that changed since the last patch, for the shards' replicas.

        A persona whose place, health, visibility or relationships changed travels as an update of
        those fields (``updates``, see :func:`_update`); one the shards have not seen in this form
        (new, or whose traits changed) travels whole (``personas``). ``only``: look at these
        personas alone (the others are known not to have changed since the last patch).
        """
        changed, updates = [], []
        sigs = self._signatures
        personas = world.personas
        for pid, p in personas.items() if only is None else ((pid, personas[pid]) for pid in sorted(only)):
            sig = _signature(p)
            old = sigs.get(pid)
            if old != sig:
                sigs[pid] = sig
                update = _update(pid, old, sig)
                if update is None:
                    changed.append(p.to_dict())
                else:
                    updates.append(update)
        patch: dict[str, Any] = {"turn": world.turn, "personas": changed, "updates": updates}
        facts, old = world.facts, self._facts
        if facts != old:
            # only what changed: consequences keep a fact per persona or place (goals reached,
            # places searched out), too many to resend whole every turn in a large cast
            patch["facts_set"] = {k: v for k, v in facts.items() if k not in old or old[k] != v}
            removed = [k for k in old if k not in facts]
            if removed:
                patch["facts_removed"] = removed
            self._facts = dict(facts)
        return patch


def apply_patch(world: WorldState, patch: Mapping[str, Any]) -> None:
    """Bring a world replica in step with the director's: changed personas (whole, or updates of
    their place, health, visibility and relationships), facts and the turn."""
    for d in patch.get("personas", ()):
        p = PersonaState.from_dict(d)
        old = world.personas.get(p.id)
        if old is not None and old.location != p.location:
            world.occupants[old.location].discard(p.id)
        world.personas[p.id] = p
        world.occupants.setdefault(p.location, set()).add(p.id)
    occupants = world.occupants
    for pid, location, health, hidden, rels in patch.get("updates", ()):
        p = world.personas[pid]
        if p.location != location:
            occupants[p.location].discard(pid)
            occupants.setdefault(location, set()).add(pid)
            p.location = location
        p.health, p.hidden = health, hidden
        p.set_relationships(rels)
    if "facts" in patch:
        world.facts = dict(patch["facts"])
    for key, value in patch.get("facts_set", {}).items():
        world.facts[key] = value
    for key in patch.get("facts_removed", ()):
        world.facts.pop(key, None)
    world.turn = patch.get("turn", world.turn)
