"""Fog of war: each routing rule, and route == filter_information on random worlds."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from novel_engine.core.events import InformationFragment, SourceType, Visibility
from novel_engine.core.fog_of_war import FogOfWarService
from novel_engine.core.perception import Perception, Via
from novel_engine.core.world import Location, PersonaState, Relationship, WorldState
from novel_engine.errors import ConfigError, NovelEngineError

PUBLIC, LOCAL, PRIVATE = Visibility.PUBLIC, Visibility.LOCAL, Visibility.PRIVATE


def frag(fid, visibility=LOCAL, location="a", reach=0, reliability=0.9, salience=0.5, origin="world"):
    return InformationFragment(
        id=fid,
        content=fid,
        source_type=SourceType.DIRECT_OBSERVATION,
        reliability=reliability,
        location=location,
        turn=1,
        visibility=visibility,
        origin=origin,
        key=f"k:{fid}",
        value=True,
        salience=salience,
        reach=reach,
    )


def persona(pid, location, health=1.0, trusts=None):
    rels = {t: Relationship(trust=v) for t, v in (trusts or {}).items()}
    return PersonaState(id=pid, name=pid, location=location, traits={}, relationships=rels, health=health)


def line_world(*people, visibility=1.0):
    """a - b - c - d, each linked both ways."""
    order = ["a", "b", "c", "d"]
    locs = {}
    for i, lid in enumerate(order):
        nb = tuple(x for x in (order[i - 1] if i else None, order[i + 1] if i < 3 else None) if x)
        locs[lid] = Location(lid, lid, neighbours=nb, visibility=visibility)
    return WorldState(locs, {p.id: p for p in people})


def check_same(svc, frags, world):
    routed = svc.route(frags, world)
    for pid in world.personas:
        assert routed[pid] == svc.filter_information(frags, pid, world)
    return routed


# ---------------------------------------------------------------- direct rules


def test_public_reaches_everyone_who_can_act():
    world = line_world(persona("x", "a"), persona("y", "d"), persona("z", "b", health=0.0))
    f = frag("f", PUBLIC, location=None, reliability=0.8)
    out = check_same(FogOfWarService(), [f], world)
    assert out["x"] == [Perception(f, 0.8, Via.BROADCAST)]
    assert out["y"] == [Perception(f, 0.8, Via.BROADCAST)]
    assert out["z"] == []


def test_private_only_for_its_origin_and_never_told():
    world = line_world(persona("x", "a", trusts={"y": 1.0}), persona("y", "a", trusts={"x": 1.0}))
    f = frag("f", PRIVATE, origin="x")
    out = check_same(FogOfWarService(), [f], world)
    assert out["x"] == [Perception(f, 0.9, Via.PRIVATE)]
    assert out["y"] == []


def test_local_here_and_nearby_decay_with_distance():
    world = line_world(persona("h", "a"), persona("n1", "b"), persona("n2", "c"), persona("far", "d"), visibility=0.5)
    f = frag("f", location="a", reach=2, reliability=0.8)
    svc = FogOfWarService(nearby_factor=0.7, max_hops=0)
    out = check_same(svc, [f], world)
    assert out["h"] == [Perception(f, 0.8, Via.HERE)]
    assert out["n1"][0].via == Via.NEARBY and out["n1"][0].reliability == pytest.approx(0.8 * 0.35)
    assert out["n2"][0].reliability == pytest.approx(0.8 * 0.35**2)
    assert out["far"] == []  # distance 3 > reach 2


def test_each_fragment_keeps_its_own_reach_at_a_shared_place():
    world = line_world(persona("n1", "b"), persona("n2", "c"))
    frags = [frag("short", location="a", reach=1), frag("long", location="a", reach=2)]
    out = check_same(FogOfWarService(max_hops=0), frags, world)
    assert sorted(p.fragment.id for p in out["n1"]) == ["long", "short"]
    assert [p.fragment.id for p in out["n2"]] == ["long"]


def test_reach_zero_and_zero_visibility_and_placeless_local():
    world = line_world(persona("h", "a"), persona("n", "b"), visibility=0.0)
    svc = FogOfWarService()
    frags = [frag("wide", location="a", reach=3), frag("nowhere", location=None, reach=3)]
    out = check_same(svc, frags, world)
    assert [p.fragment.id for p in out["h"]] == ["wide"]
    assert out["n"] == []  # visibility 0 makes the factor 0


def test_nearby_follows_neighbour_direction():
    # b lists a as a neighbour, a lists nobody: someone at b can see a, someone at a cannot see b
    locs = {
        "a": Location("a", "a", neighbours=(), visibility=1.0),
        "b": Location("b", "b", neighbours=("a",), visibility=1.0),
    }
    world = WorldState(locs, {"x": persona("x", "a"), "y": persona("y", "b")})
    svc = FogOfWarService(max_hops=0)
    out = check_same(svc, [frag("at_a", location="a", reach=1), frag("at_b", location="b", reach=1)], world)
    assert sorted(p.fragment.id for p in out["y"]) == ["at_a", "at_b"]
    assert [p.fragment.id for p in out["x"]] == ["at_a"]


def test_attention_cap_and_order():
    world = line_world(persona("x", "a"))
    frags = [frag(f"f{i}", salience=i / 10) for i in range(10)] + [frag("tie", salience=0.9)]
    out = check_same(FogOfWarService(attention=3), frags, world)
    assert [p.fragment.id for p in out["x"]] == ["f9", "tie", "f8"]


def test_duplicate_ids_first_occurrence_wins():
    world = line_world(persona("x", "a"))
    first, second = frag("f", reliability=0.2), frag("f", reliability=0.9)
    out = check_same(FogOfWarService(), [first, second], world)
    assert out["x"] == [Perception(first, 0.2, Via.HERE)]


def test_single_fragment_and_unknown_agent():
    world = line_world(persona("x", "a"))
    svc = FogOfWarService()
    assert svc.filter_information(frag("f"), "x", world)[0].via == Via.HERE
    with pytest.raises(NovelEngineError):
        svc.filter_information([], "nobody", world)
    with pytest.raises(NovelEngineError):
        svc.route([], world, ["nobody"])


def test_route_subset_returns_only_requested():
    world = line_world(persona("x", "a"), persona("y", "a"), persona("z", "b", health=0.0))
    out = FogOfWarService().route([frag("f")], world, agents=["y", "z"])
    assert set(out) == {"y", "z"} and out["z"] == []


def test_a_subset_hears_news_that_took_every_hop_to_reach_it():
    # w alone sees the news; it goes w -> v -> u -> x: routed for x alone, the spread must still
    # start at w, three tellers away (a shard's spread keeps only who can reach its personas)
    world = line_world(
        persona("w", "d", trusts={"v": 1.0}),
        persona("v", "c", trusts={"u": 1.0}),
        persona("u", "b", trusts={"x": 1.0}),
        persona("x", "a"),
        persona("bystander", "a", trusts={"w": 1.0}),
    )
    news = [frag("n", location="d")]
    for hops, heard in ((3, [("n", 3, "u")]), (2, [])):
        svc = FogOfWarService(max_hops=hops)
        alone = svc.route(news, world, ["x"])["x"]
        assert alone == svc.route(news, world)["x"] == svc.filter_information(news, "x", world)
        assert [(p.fragment.id, p.hops, p.told_by) for p in alone] == heard


@pytest.mark.parametrize(
    "kwargs",
    [
        {"hearsay_decay": 1.5},
        {"nearby_factor": -0.1},
        {"attention": -1},
        {"max_hops": 1.5},
        {"gossip": -2},
        {"trust_threshold": 2.0},
    ],
)
def test_bad_settings_raise(kwargs):
    with pytest.raises(ConfigError):
        FogOfWarService(**kwargs)


# ---------------------------------------------------------------- hearsay


def test_hearsay_needs_trust_and_decays_per_hop():
    # x sees f at a; x trusts y; y trusts z; z trusts w; w is 3 hops away (max_hops 2)
    world = line_world(
        persona("x", "a", trusts={"y": 0.5, "q": 0.39}),
        persona("y", "d", trusts={"z": 0.9}),
        persona("z", "d", trusts={"w": 0.9}),
        persona("w", "d"),
        persona("q", "d"),
    )
    f = frag("f", reliability=1.0)
    out = check_same(FogOfWarService(trust_threshold=0.4, hearsay_decay=0.5, max_hops=2), [f], world)
    assert out["y"] == [Perception(f, 0.5, Via.HEARSAY, 1, "x")]
    assert out["z"] == [Perception(f, 0.25, Via.HEARSAY, 2, "y")]
    assert out["w"] == [] and out["q"] == []


def test_hearsay_only_here_or_nearby_items_and_gossip_limit():
    world = line_world(persona("x", "a", trusts={"y": 1.0}), persona("y", "d"))
    frags = [
        frag("pub", PUBLIC, location=None, salience=1.0),
        frag("own", PRIVATE, origin="x", salience=1.0),
        frag("l1", salience=0.9),
        frag("l2", salience=0.8),
        frag("l3", salience=0.7),
    ]
    out = check_same(FogOfWarService(gossip=2), frags, world)
    told = sorted(p.fragment.id for p in out["y"] if p.via == Via.HEARSAY)
    assert told == ["l1", "l2"]


def test_nobody_tells_themselves():
    # x trusts itself: had it told itself f1, f1 would fill its one gossip slot at hop 2 instead of f2
    world = line_world(
        persona("x", "a", trusts={"x": 1.0, "y": 1.0}), persona("z", "b", trusts={"x": 1.0}), persona("y", "d")
    )
    f1, f2 = frag("f1", location="a", salience=1.0), frag("f2", location="b", salience=0.2)
    out = check_same(FogOfWarService(gossip=1, max_hops=2, hearsay_decay=0.5), [f1, f2], world)
    assert {(p.fragment.id, p.hops, p.told_by) for p in out["y"]} == {("f1", 1, "x"), ("f2", 2, "x")}
    assert all(p.told_by != "x" for p in out["x"])


def test_incapacitated_neither_speak_nor_listen():
    world = line_world(
        persona("x", "a", trusts={"y": 1.0}, health=0.0),
        persona("v", "a", trusts={"u": 1.0}),
        persona("y", "d"),
        persona("u", "d", health=0.0),
    )
    out = check_same(FogOfWarService(), [frag("f")], world)
    assert out["y"] == [] and out["u"] == [] and out["x"] == []


def test_final_keeps_best_copy_of_a_fragment():
    # y sees f directly from afar (weak) and hears it from x (strong): the stronger copy wins
    world = line_world(persona("x", "a", trusts={"y": 1.0}), persona("y", "c"), visibility=0.1)
    f = frag("f", location="a", reach=2, reliability=1.0)
    out = check_same(FogOfWarService(hearsay_decay=0.9), [f], world)
    assert out["y"] == [Perception(f, 0.9, Via.HEARSAY, 1, "x")]


# ---------------------------------------------------------------- properties on random worlds


@st.composite
def worlds(draw):
    n_loc = draw(st.integers(1, 5))
    loc_ids = [f"L{i}" for i in range(n_loc)]
    places = st.sampled_from(loc_ids + ["Lx"])  # Lx: a place missing from the world
    locations = {}
    for lid in loc_ids:
        nb = tuple(draw(st.lists(places, max_size=3)))
        vis = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]) | st.floats(0.0, 1.0))
        locations[lid] = Location(lid, lid, neighbours=nb, visibility=vis)
    pids = [f"p{i}" for i in range(draw(st.integers(1, 7)))]
    trust = st.sampled_from([-1.0, 0.0, 0.39, 0.4, 1.0]) | st.floats(-1.0, 1.0)
    personas = {}
    for pid in pids:
        rels = draw(st.dictionaries(st.sampled_from(pids + ["ghost"]), trust, max_size=4))
        personas[pid] = persona(
            pid, draw(st.sampled_from(loc_ids)), health=draw(st.sampled_from([0.0, 0.5, 1.0])), trusts=rels
        )
    frags = []
    for i in range(draw(st.integers(0, 10))):
        fid = draw(st.sampled_from([f"f{i}", "dup"]))
        frags.append(
            frag(
                fid,
                visibility=draw(st.sampled_from(list(Visibility))),
                location=draw(st.none() | places),
                reach=draw(st.integers(0, 3)),
                reliability=draw(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 1.0)),
                salience=draw(st.sampled_from([0.0, 0.5, 1.0]) | st.floats(0.0, 1.0)),
                origin=draw(st.sampled_from(pids + ["world"])),
            )
        )
    svc = FogOfWarService(
        trust_threshold=draw(st.sampled_from([0.0, 0.4, 0.9])),
        hearsay_decay=draw(st.sampled_from([0.0, 0.6, 1.0])),
        max_hops=draw(st.integers(0, 3)),
        nearby_factor=draw(st.sampled_from([0.0, 0.7, 1.0])),
        attention=draw(st.integers(0, 6)),
        gossip=draw(st.integers(0, 3)),
    )
    return svc, WorldState(locations, personas), frags


def distances(world, start, limit):
    dist, frontier = {start: 0}, [start]
    for d in range(1, limit + 1):
        frontier = [n for node in frontier for n in world.neighbours(node) if n not in dist and not dist.update({n: d})]
    return dist


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_route_matches_reference_and_respects_fog(case):
    svc, world, frags = case
    routed = svc.route(frags, world)
    assert set(routed) == set(world.personas)
    for pid, got in routed.items():
        assert got == svc.filter_information(frags, pid, world)
        me = world.personas[pid]
        assert len(got) <= svc.attention
        assert len({p.fragment.id for p in got}) == len(got)
        if not me.can_act:
            assert got == []
        for p in got:
            f = p.fragment
            assert p.reliability <= f.reliability
            if f.visibility is PRIVATE:
                assert f.origin == pid and p.via == Via.PRIVATE
            if p.via in (Via.HERE, Via.NEARBY):
                assert f.visibility is LOCAL
                d = distances(world, me.location, f.reach).get(f.location)
                assert d is not None and d <= f.reach
                if d:
                    assert _vis(world, f.location) > 0 and svc.nearby_factor > 0
                assert p.via == (Via.HERE if d == 0 else Via.NEARBY)
            elif p.via == Via.HEARSAY:
                assert f.visibility is LOCAL and 1 <= p.hops <= svc.max_hops and p.told_by != pid
                assert world.personas[p.told_by].relationships[pid].trust >= svc.trust_threshold
                assert pid in _trust_walk(world, svc, f, p.hops)


def _vis(world, place):
    loc = world.locations.get(place)
    return loc.visibility if loc else 0.0


def _trust_walk(world, svc, f, hops):
    """Personas reachable by a walk of exactly ``hops`` trusted edges from a direct local perceiver."""
    acting = {pid for pid, p in world.personas.items() if p.can_act}
    nodes = set()
    for pid in acting:
        p = world.personas[pid]
        d = distances(world, p.location, f.reach).get(f.location)
        if d == 0 or (d is not None and d <= f.reach and svc.nearby_factor * _vis(world, f.location) > 0):
            nodes.add(pid)
    for _ in range(hops):
        nodes = {
            x
            for y in nodes
            for x, r in world.personas[y].relationships.items()
            if x in acting and x != y and r.trust >= svc.trust_threshold
        }
    return nodes


@settings(max_examples=400, deadline=None)
@given(worlds(), st.data())
def test_route_subset_equals_full(case, data):
    # a subset's hearsay is spread only from those whose telling can reach it (a persona shard's
    # personas): the same lists as the spread through everyone
    svc, world, frags = case
    subset = data.draw(st.lists(st.sampled_from(sorted(world.personas)), unique=True))
    full = svc.route(frags, world)
    assert svc.route(frags, world, subset) == {a: full[a] for a in subset}
