"""What a resolver shard holds: a world replica and the per-action rules, to settle whole regions.

A :class:`RegionSettler` settles regions exactly as the director does in process (the same
:meth:`~novel_engine.agents.regional.Regional.resolve_region`, the same per-action helpers, which
it borrows from the director rather than copying), over a replica of the world that the director
keeps in step with patches. It answers with each region's outcome and the new state of the people
in its regions (:func:`changes`), which the director writes into its own world with
:func:`take_changes` before merging the outcomes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from novel_engine.agents.director import DirectorAgent
from novel_engine.agents.discoveries import Discoveries
from novel_engine.agents.happenings import Happenings
from novel_engine.agents.regional import Regional, RegionOutcome, RegionWork
from novel_engine.agents.resolution import ActionResolver
from novel_engine.core.coherence import NarrativeCoherenceEngine
from novel_engine.core.rng import RandomStreams
from novel_engine.core.scenario import FragmentSpec
from novel_engine.core.world import WorldState

__all__ = ["Prior", "RegionSettler", "changes", "take_changes", "priors"]

# (id, location, health, hidden, ((other, trust, affinity), ...)): a person's state after the regions
Change = tuple[str, str, float, bool, tuple[tuple[str, float, float], ...]]


class Prior(NamedTuple):
    """The parts of a past action event the coherence check reads (repetition), small to send."""

    id: str
    kind: str
    actor: str | None
    turn: int
    action_type: str | None
    target: str | None


def priors(events: Iterable[Any]) -> list[Prior]:
    """The :class:`Prior` of each event."""
    return [Prior(e.id, e.kind, e.actor, e.turn, e.action_type, e.target) for e in events]


def _signature(p) -> tuple:
    return (p.health, p.hidden, tuple((k, r.trust, r.affinity) for k, r in p.relationships.items()))


class RegionSettler(Regional):
    """Settles regions over a world replica (a resolver shard's core).

    Args:
        world: the replica, as the director's world stood when it was sent.
        fragments: the scenario's fragments (what can be found where).
        seed: the session seed (every roll is keyed by seed, turn, persona and purpose).
        difficulty: the session's difficulty.
        fans: the director's index of who has a relationship to whom.
        recent: the director's recent action events.
    """

    # the director's per-action helpers, shared rather than copied: they read only ``world``,
    # ``resolver``, ``coherence`` and each other
    _sanitise = DirectorAgent._sanitise
    _incapable = DirectorAgent._incapable
    _revise = DirectorAgent._revise
    _apply = DirectorAgent._apply
    _goals_met = Happenings._goals_met
    _mark_fallen = Happenings._mark_fallen

    def __init__(
        self,
        world: WorldState,
        fragments: Sequence[FragmentSpec],
        seed: int,
        difficulty: float,
        fans: Mapping[str, Iterable[str]],
        recent: Sequence[Prior],
    ) -> None:
        self.world = world
        self.discoveries = Discoveries(fragments)
        self.kept = self.discoveries.where()
        self.resolver = ActionResolver(world, RandomStreams(seed), difficulty, self.discoveries)
        self.resolver.fans = {k: set(v) for k, v in fans.items()}
        self.coherence = NarrativeCoherenceEngine()
        self.recent: list[Prior] = list(recent)
        self.causal_graph = frozenset()  # action events never look causes up
        self.resolver_shards = 1

    def follow(self, new_relationships: Iterable[tuple[str, str]], recent: Sequence[Prior], turn: int) -> None:
        """After a patch: index the relationships it created (``(who, whom)``) as the director's
        ``_apply`` did, and take last turn's action events into the recent window."""
        fans = self.resolver.fans
        for who, whom in new_relationships:
            fans.setdefault(whom, set()).add(who)
        window = self.coherence.repetition_window
        self.recent = [e for e in self.recent if e.turn > turn - 1 - window]
        self.recent.extend(recent)

    def settle(
        self, work: Sequence[RegionWork], turn: int, known: set[str], hidden: frozenset[str]
    ) -> tuple[list[RegionOutcome], list[Change]]:
        """Settle ``work`` (whole regions, each on its own copy of the facts), and the new state
        of everyone standing in those regions whom it changed."""
        personas, occupants = self.world.personas, self.world.occupants
        here = sorted(pid for w in work for place in w.places for pid in occupants.get(place, ()))
        before = {pid: _signature(personas[pid]) for pid in here}
        out = [self.resolve_region(w, turn, known, hidden) for w in work]
        return out, changes(personas, before)


def changes(personas: Mapping[str, Any], before: Mapping[str, tuple]) -> list[Change]:
    """The state of each person in ``before`` whose health, visibility or relationships changed."""
    out: list[Change] = []
    for pid, old in before.items():
        p = personas[pid]
        new = _signature(p)
        if new != old:
            out.append((pid, p.location, p.health, p.hidden, new[2]))
    return out


def take_changes(world: WorldState, fans: dict[str, set[str]], changed: Iterable[Change]) -> list[tuple[str, str]]:
    """Write a shard's :func:`changes` into ``world``; index new relationships in ``fans`` as
    ``_apply`` does. Returns the new relationships, ``(who, whom)``."""
    personas = world.personas
    new: list[tuple[str, str]] = []
    for pid, _location, health, hidden, rels in changed:
        p = personas[pid]
        p.health, p.hidden = health, hidden
        for other in p.set_relationships(rels):
            fans.setdefault(other, set()).add(pid)
            new.append((pid, other))
    return new
