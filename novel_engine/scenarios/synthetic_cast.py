"""The cast of a synthetic world: every persona's traits, relationships, goals and biases.

:func:`make_cast` is the generator's per-persona step (it runs once per persona, a hundred
thousand times for the largest worlds), kept apart from the places, fragments and rules that
:mod:`novel_engine.scenarios.synthetic` draws around it. It draws only from the ``rand`` it is
given, in a fixed order, so the same stream gives the same cast.
"""

from __future__ import annotations

from collections.abc import Callable

from novel_engine.core.events import ActionType
from novel_engine.core.scenario import GoalSpec, PersonaSpec, RelationshipSpec
from novel_engine.core.world import CORE_TRAITS
from novel_engine.scenarios.synthetic_words import _BIASES, _MOODS, _SIGNED, _UNIT

__all__ = ["Places", "make_cast"]


class Places:
    """The generated places: ids, names and adjacency (lists of indices), side by side.

    Args:
        ids: the location ids.
        names: their names, in the same order.
        adj: each place's neighbours, as indices into ``ids``.
    """

    __slots__ = ("ids", "names", "adj")

    def __init__(self, ids: list[str], names: list[str], adj: list[list[int]]) -> None:
        self.ids, self.names, self.adj = ids, names, adj


def make_cast(
    rand: Callable[[], float],
    ids: list[str],
    names: list[str],
    home: list[int],
    places: Places,
    roles: tuple[str, ...],
) -> list[PersonaSpec]:
    """Make every persona: traits, relationships (mostly near home), goals that fit them, biases.

    Args:
        rand: the generator's one random stream (only ``random()`` draws).
        ids: the persona ids.
        names: their names, in the same order.
        home: each persona's place, as an index into ``places``.
        places: the generated places.
        roles: the style's roles, for descriptions.

    Returns:
        One :class:`PersonaSpec` per id, built without validation.
    """
    n = len(ids)
    loc_ids, loc_names, adj = places.ids, places.names, places.adj
    buckets: list[list[int]] = [[] for _ in loc_ids]
    for i, at in enumerate(home):
        buckets[at].append(i)
    # hoisted: the loop body runs a hundred thousand times, and each global or enum-class attribute
    # lookup in it is paid every time
    c0, c1, c2, c3, c4 = CORE_TRAITS
    unit, signed, biases_names, moods = _UNIT, _SIGNED, _BIASES, _MOODS
    attack, help_, persuade, move, investigate = (
        ActionType.ATTACK,
        ActionType.HELP,
        ActionType.PERSUADE,
        ActionType.MOVE,
        ActionType.INVESTIGATE,
    )
    # one shared fields-set per class instead of a new set per instance: every field is always
    # given, so pydantic never adds to it (it only adds names of fields being set), and at 100,000
    # personas the per-instance sets were 40% of the scenario's memory
    persona_fs, goal_fs, rel_fs = (
        set(PersonaSpec.model_fields),
        set(GoalSpec.model_fields),
        set(RelationshipSpec.model_fields),
    )
    make_persona, make_goal, make_rel = (
        PersonaSpec.model_construct,
        GoalSpec.model_construct,
        RelationshipSpec.model_construct,
    )
    n_roles, n_moods = len(roles), len(moods)
    out = []
    for i in range(n):
        at = home[i]
        here, near = buckets[at], adj[at]
        traits = {
            c0: unit[int(rand() * 101)],
            c1: unit[int(rand() * 101)],
            c2: unit[int(rand() * 101)],
            c3: unit[int(rand() * 101)],
            c4: unit[int(rand() * 101)],
        }
        rels: list[RelationshipSpec] = []
        known: list[int] = []
        worst = best = -1  # the acquaintances liked least and most: targets for attack and help
        worst_a = best_a = 0  # their affinities (read only once worst / best are set)
        if n > 1:
            for _ in range(2 + int(rand() * 3)):
                # someone near: same place mostly, else next door, else anyone at all
                r = rand()
                pool = here if r < 0.6 else buckets[near[int(rand() * len(near))]] if r < 0.85 and near else None
                j = pool[int(rand() * len(pool))] if pool else int(rand() * n)
                if j == i or j in known:
                    continue  # a duplicate draw just means one fewer relationship
                t = int(rand() * 201)  # index into _SIGNED; affinity leans the same way as trust
                a = t // 2 + int(rand() * 101)  # 0.5 * trust + U[-0.5, 0.5], on the same grid
                if worst < 0 or a < worst_a:
                    worst, worst_a = j, a
                if best < 0 or a > best_a:
                    best, best_a = j, a
                known.append(j)
                rels.append(make_rel(rel_fs, target=ids[j], trust=signed[t], affinity=signed[a]))
        goals: list[GoalSpec] = []
        for _ in range(1 + (rand() < 0.5)):
            kind = int(rand() * 5)
            priority = unit[30 + int(rand() * 71)]
            if kind < 3 and known:
                j, action, text = (
                    (worst, attack, "Confront {}")
                    if kind == 0
                    else (best, help_, "Stand by {}")
                    if kind == 1
                    else (known[0], persuade, "Win {} over")
                )
                goals.append(
                    make_goal(
                        goal_fs,
                        text=text.format(names[j]),
                        action=action,
                        target=ids[j],
                        location=None,
                        priority=priority,
                    )
                )
            elif kind == 3 and near:
                dest = near[int(rand() * len(near))]
                goals.append(
                    make_goal(
                        goal_fs,
                        text=f"Get to {loc_names[dest]}",
                        action=move,
                        target=loc_ids[dest],
                        location=loc_ids[dest],
                        priority=priority,
                    )
                )
            else:
                goals.append(
                    make_goal(
                        goal_fs,
                        text=f"Find out what is hidden at {loc_names[at]}",
                        action=investigate,
                        target=loc_ids[at],
                        location=loc_ids[at],
                        priority=priority,
                    )
                )
        biases: dict[str, float] = {}
        if rand() < 0.4:
            for _ in range(1 + (rand() < 0.4)):
                biases[biases_names[int(rand() * 4)]] = unit[10 + int(rand() * 71)]
        out.append(
            make_persona(
                persona_fs,
                id=ids[i],
                name=names[i],
                description=f"A {moods[int(rand() * n_moods)]} {roles[int(rand() * n_roles)]} from {loc_names[at]}.",
                traits=traits,
                goals=goals,
                location=loc_ids[at],
                relationships=rels,
                controlled_by=None,
                biases=biases,
                voice=[],
                health=1.0,
                kind="human",
            )
        )
    return out
