"""Turn a validated :class:`~novel_engine.core.scenario.Scenario` into the runtime world.

:func:`build_world` is the one bridge from the scenario format (pydantic, validated once at the
edge) to the runtime records (slotted dataclasses owned by the director). It trusts its input:
validation happened in :func:`~novel_engine.core.scenario.validate_scenario` (or the scenario was
generated valid by construction), so nothing here re-checks it. That keeps a hundred-thousand-
persona world buildable in about a second.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from novel_engine.core.events import ActionType, InformationFragment, SourceType, Visibility
from novel_engine.core.scenario import FragmentSpec, GoalSpec, LocationSpec, PersonaSpec, Scenario
from novel_engine.core.world import Goal, Location, PersonaState, Relationship, WorldState

__all__ = ["build_world", "symmetric_neighbours", "gc_paused"]

#: Fragments present when the story starts belong to turn 0 (before the first turn completes).
INITIAL_TURN = 0


@contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of a ``with`` block.

    Building a world allocates millions of small, acyclic objects at once. Each allocation burst
    makes the collector walk the ever-growing heap again, which made a 100,000-persona build two to
    four times slower while freeing nothing (reference counting frees acyclic objects anyway). The
    previous state is restored on exit, so nesting and an already-disabled collector are both fine.

    ``freeze``: on exit, first move every object the collector tracks to its permanent generation
    (``gc.freeze``), so no later collection walks them again. A session's state is long-lived and
    acyclic: without this, the first collection after a 100,000-persona turn walked the turn's
    survivors for 1.1 s, and every full one the whole world. Cyclic garbage that exists at that
    moment is never freed; a turn makes none (a test guards this).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def symmetric_neighbours(locations: Iterable[LocationSpec]) -> dict[str, tuple[str, ...]]:
    """Return each location's neighbours with every link made two-way.

    A scenario author who writes ``tavern: [square]`` almost always means the square also leads
    to the tavern; movement and perception would otherwise be one-way by accident.

    Args:
        locations: the scenario's location specs (ids assumed unique and valid).

    Returns:
        A mapping from location id to its neighbour ids: first the ones the location lists itself,
        in their written order, then the ones that list it, in scenario order. No duplicates, no
        self-links.
    """
    # dicts as ordered sets: membership is O(1) and the author's order is kept, which keeps
    # downstream iteration (and therefore every seeded story) stable
    adjacency: dict[str, dict[str, None]] = {}
    specs = list(locations)
    for loc in specs:
        adjacency[loc.id] = dict.fromkeys(n for n in loc.neighbours if n != loc.id)
    for loc in specs:
        for n in loc.neighbours:
            back = adjacency.get(n)
            if back is not None and n != loc.id and loc.id not in back:
                back[loc.id] = None
    return {loc_id: tuple(ns) for loc_id, ns in adjacency.items()}


def _goal(g: GoalSpec) -> Goal:
    action = g.action
    # a scenario made with model_construct may carry the plain string; the runtime wants the enum
    if action is not None and not isinstance(action, ActionType):
        action = ActionType(action)
    return Goal(g.text, action, g.target, g.location, g.priority, g.secret)


def _persona(p: PersonaSpec) -> PersonaState:
    # copies, not the spec's own containers: the world mutates its personas during the story and
    # the scenario must stay what it was (it can be built into another world, or exported)
    # positional: keyword passing is measurably slower at 100,000 personas (field order as in
    # PersonaState: id, name, location, traits, description, goals, relationships, controlled_by,
    # biases, voice, health, hidden, kind)
    return PersonaState(
        p.id,
        p.name,
        p.location,
        dict(p.traits),
        p.description,
        tuple([_goal(g) for g in p.goals]),
        {r.target: Relationship(r.trust, r.affinity) for r in p.relationships},
        p.controlled_by,
        dict(p.biases),
        tuple(p.voice),
        p.health,
        False,
        p.kind,
    )


def _fragment(f: FragmentSpec) -> InformationFragment:
    source_type = f.source_type if isinstance(f.source_type, SourceType) else SourceType(f.source_type)
    visibility = f.visibility if isinstance(f.visibility, Visibility) else Visibility(f.visibility)
    return InformationFragment(
        id=f.id,
        content=f.content,
        source_type=source_type,
        reliability=f.reliability,
        location=f.location,
        turn=INITIAL_TURN,
        subjects=tuple(f.subjects),
        visibility=visibility,
        origin=f.origin,
        key=f.key,
        value=f.value,
        valence=f.valence,
        salience=f.salience,
        reach=f.reach,
    )


def build_world(scenario: Scenario) -> tuple[WorldState, list[InformationFragment]]:
    """Build the runtime world and the initial information fragments from a scenario.

    The function is pure: it reads the scenario and returns new objects that share no mutable
    state with it. It does not validate; pass a scenario from
    :func:`~novel_engine.core.scenario.validate_scenario` or a generator that is valid by
    construction (such as :func:`novel_engine.scenarios.synthetic`).

    Args:
        scenario: a validated scenario.

    Returns:
        ``(world, fragments)``: the :class:`WorldState` at turn 0 (locations with two-way neighbour
        links, personas with their goals, relationships keyed by target, biases, voice, health and
        controller, the scenario's facts, and the location index), and the scenario's fragments as
        :class:`InformationFragment` records of turn 0, in scenario order, with the scenario's ids.
    """
    with gc_paused():
        neighbours = symmetric_neighbours(scenario.locations)
        locations = {
            loc.id: Location(loc.id, loc.name, loc.description, neighbours[loc.id], loc.visibility)
            for loc in scenario.locations
        }
        personas = {p.id: _persona(p) for p in scenario.personas}
        world = WorldState(locations, personas, facts=dict(scenario.facts), turn=INITIAL_TURN)
        fragments = [_fragment(f) for f in scenario.fragments]
    return world, fragments
