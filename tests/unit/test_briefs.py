"""TurnBriefFactory: personal, fog-respecting and bounded whatever the size of the world."""

from __future__ import annotations

from novel_engine.core.beliefs import BeliefModel
from novel_engine.core.briefs import BriefLimits, TurnBriefFactory
from novel_engine.core.events import ActionType, Event, InformationFragment, Outcome, SourceType
from novel_engine.core.perception import Perception
from novel_engine.core.setup import build_world
from novel_engine.core.world import Goal
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def frag(i: int, loc: str, key: str | None = None, value=True, salience=0.5) -> InformationFragment:
    return InformationFragment(
        id=f"f{i:05d}",
        content=f"fact {i}",
        source_type=SourceType.DIRECT_OBSERVATION,
        reliability=0.9,
        location=loc,
        turn=1,
        key=key or f"k{i}",
        value=value,
        salience=salience,
    )


def test_brief_holds_surroundings_goals_and_actions():
    world, _ = build_world(load_scenario("fantasy_world"))
    pid = "hero_001"
    me = world.personas[pid]
    b = TurnBriefFactory().create_personalized_brief(pid, world)
    assert b.agent_id == pid and b.location == me.location and b.turn == world.turn + 1
    present = {p.id for p in b.present}
    assert present == world.present_at(me.location) - {pid} - {p for p in present if world.personas[p].hidden}
    assert {n for n, _ in b.neighbours} == set(world.neighbours(me.location))
    assert set(b.available_actions["move"]) == set(world.neighbours(me.location))
    assert b.available_actions["rest"] == ()
    assert b.goals == me.goals


def test_hidden_people_are_not_seen():
    world, _ = build_world(load_scenario("fantasy_world"))
    me = world.personas["scholar"]
    others = sorted(world.present_at(me.location) - {"scholar"})
    assert others
    assert others[0] in {p.id for p in TurnBriefFactory().create_personalized_brief("scholar", world).present}
    world.personas[others[0]].hidden = True
    b = TurnBriefFactory().create_personalized_brief("scholar", world)
    assert others[0] not in {p.id for p in b.present}
    assert others[0] not in b.available_actions.get("attack", ())


def test_brief_size_is_bounded_whatever_the_world():
    lim = BriefLimits()
    world, _ = build_world(synthetic(personas=3000, locations=3, seed=4))  # ~1,000 people per place
    pid = sorted(world.personas)[0]
    beliefs = BeliefModel(pid)
    for i in range(200):
        beliefs.update_belief(f"k{i}", i, reliability=0.8, turn=1)
    here = world.personas[pid].location
    perceptions = [Perception(frag(i, here), 0.9, "here") for i in range(500)]
    memories = [
        Event(id=f"e{i}", turn=1, kind="action", summary="x", actor=pid, outcome=Outcome.SUCCESS) for i in range(50)
    ]
    b = TurnBriefFactory().create_personalized_brief(pid, world, memories, perceptions=perceptions, beliefs=beliefs)
    assert len(b.present) == lim.present and len(b.perceived) == lim.perceived
    assert len(b.beliefs) == lim.beliefs and len(b.memories) == lim.memories
    assert b.size() <= lim.present + lim.neighbours + lim.perceived + lim.beliefs + lim.memories + 2 * len(b.goals)
    # the most salient perceptions are the ones kept
    loud = [Perception(frag(9000 + i, here, salience=1.0), 0.9, "here") for i in range(3)]
    b2 = TurnBriefFactory().create_personalized_brief(pid, world, perceptions=perceptions + loud)
    assert {pf.fragment.id for pf in b2.perceived} >= {f"f0900{i}" for i in range(3)}


def test_paths_lead_toward_believed_places_only():
    world, _ = build_world(load_scenario("fantasy_world"))
    pid = "hero_001"
    me = world.personas[pid]
    world.personas[pid].goals = (Goal("find the dragon", action=ActionType.ATTACK, target="dragon"),)
    factory = TurnBriefFactory()
    assert factory.create_personalized_brief(pid, world).paths == {}  # no belief, no peeking at the truth
    beliefs = BeliefModel(pid)
    beliefs.update_belief("location_of:dragon", "eastern_tower", reliability=0.9, turn=1)
    b = factory.create_personalized_brief(pid, world, beliefs=beliefs)
    hop = b.paths["eastern_tower"]
    assert hop in world.neighbours(me.location)
    # following the hops reaches the tower
    here, steps = me.location, 0
    while here != "eastern_tower" and steps < 10:
        here, steps = factory.next_hop(world, here, "eastern_tower"), steps + 1
    assert here == "eastern_tower"


def test_perceived_credence_reflects_beliefs():
    world, _ = build_world(load_scenario("fantasy_world"))
    pid = "hero_001"
    here = world.personas[pid].location
    beliefs = BeliefModel(pid)
    for _ in range(3):
        beliefs.update_belief("location_of:dragon", "eastern_tower", reliability=0.9, turn=1)
    agreeing = Perception(frag(1, here, "location_of:dragon", "eastern_tower"), 0.6, "here")
    contrary = Perception(frag(2, here, "location_of:dragon", "cellar"), 0.6, "here")
    b = TurnBriefFactory().create_personalized_brief(pid, world, perceptions=[agreeing, contrary], beliefs=beliefs)
    cred = {pf.fragment.id: pf.credence for pf in b.perceived}
    assert cred["f00001"] > 0.9 > 0.1 > cred["f00002"]


def _full_bfs_hops(world, dest):
    """The reference: a complete BFS tree from ``dest``, neighbours scanned in sorted order."""
    from collections import deque

    parent, queue = {dest: None}, deque([dest])
    while queue:
        node = queue.popleft()
        for n in sorted(world.neighbours(node)):
            if n not in parent:
                parent[n] = node
                queue.append(n)
    return parent


def test_next_hops_grown_on_demand_match_a_full_shortest_path_tree_in_any_query_order():
    import random

    world, _ = build_world(synthetic(personas=200, locations=60, seed=3))
    places = sorted(world.locations)
    rng = random.Random(5)
    factory = TurnBriefFactory()
    queries = [(rng.choice(places), rng.choice(places)) for _ in range(600)]
    trees = {}
    for here, dest in queries:
        tree = trees.setdefault(dest, _full_bfs_hops(world, dest))
        expected = None if here == dest else tree.get(here)
        assert factory.next_hop(world, here, dest) == expected, (here, dest)


def _present_reference(world, pid: str, limit: int) -> list[tuple]:
    """Who a persona sees, written plainly: relationships first (strongest, then id), then by id."""
    me = world.personas[pid]
    visible = sorted(o for o in world.present_at(me.location) if not world.personas[o].hidden)
    rels = me.relationships
    known = sorted((o for o in rels if o in visible), key=lambda o: (-(abs(rels[o].trust) + abs(rels[o].affinity)), o))[
        :limit
    ]
    rest = [o for o in visible if o != pid and o not in known][: limit - len(known)]
    out = []
    for o in known + rest:
        r, p = rels.get(o), world.personas[o]
        out.append((o, p.name, p.status, r.trust if r else 0.0, r.affinity if r else 0.0))
    return out


def test_who_is_present_follows_relationships_then_ids_and_strangers_share_one_record():
    world, _ = build_world(synthetic(personas=400, locations=8, seed=5))  # ~50 people per place
    factory, limit = TurnBriefFactory(), BriefLimits().present
    here = world.personas[sorted(world.personas)[0]].location
    crowd = sorted(world.present_at(here))
    for pid in crowd[:12]:
        b = factory.create_personalized_brief(pid, world)
        assert [(p.id, p.name, p.status, p.trust, p.affinity) for p in b.present] == _present_reference(
            world, pid, limit
        )
    a, b = (factory.create_personalized_brief(pid, world) for pid in crowd[-2:])
    shared = {p.id for p in a.present} & {p.id for p in b.present}
    strangers = [
        o
        for o in shared
        if o not in world.personas[crowd[-2]].relationships and o not in world.personas[crowd[-1]].relationships
    ]
    assert strangers and all(
        next(p for p in a.present if p.id == o) is next(p for p in b.present if p.id == o) for o in strangers
    )


def test_a_new_turn_sees_who_moved_hid_or_was_wounded():
    world, _ = build_world(synthetic(personas=400, locations=8, seed=5))
    factory = TurnBriefFactory()
    pid = sorted(world.personas)[0]
    first = factory.create_personalized_brief(pid, world)
    gone, hurt = first.present[0].id, first.present[1].id
    world.personas[gone].hidden = True
    world.personas[hurt].health = 0.3
    world.turn += 1  # the per-turn caches go with the turn
    second = factory.create_personalized_brief(pid, world)
    assert gone not in {p.id for p in second.present}
    assert next(p for p in second.present if p.id == hurt).status == "wounded"
    assert [(p.id, p.name, p.status, p.trust, p.affinity) for p in second.present] == _present_reference(
        world, pid, BriefLimits().present
    )
