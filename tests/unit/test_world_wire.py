"""A world crosses processes whole: pickled by its constructors (``WorldState.__reduce__``) and
packed once by ``runtime.wire.pack`` for a Ray session's setup."""

from __future__ import annotations

import copy
import pickle

from novel_engine.core.events import ActionType
from novel_engine.core.setup import build_world
from novel_engine.core.world import Goal, Location, PersonaState, Relationship, WorldState
from novel_engine.runtime import wire
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def _same(a: WorldState, b: WorldState) -> None:
    assert a.to_dict() == b.to_dict()
    assert a.occupants == b.occupants
    assert list(a.personas) == list(b.personas)  # iteration order is part of every seeded story
    assert list(a.locations) == list(b.locations)


def test_a_world_round_trips_through_pickle_with_its_index_and_order():
    world, _ = build_world(synthetic(personas=300, seed=4))
    world.move(next(iter(world.personas)), next(reversed(world.locations)))
    world.personas[sorted(world.personas)[5]].health = 0.0
    world.facts["fallen:x"] = "hall"
    world.turn = 7
    back = pickle.loads(pickle.dumps(world, protocol=5))
    _same(world, back)
    assert back.turn == 7 and back.facts["fallen:x"] == "hall"


def test_the_records_unpickle_equal_and_independent():
    p = PersonaState(
        "ann",
        "Ann",
        "hall",
        {"courage": 0.5},
        "a knight",
        (Goal("win", ActionType.ATTACK, "bob", "hall", 0.7),),
        {"bob": Relationship(0.2, -0.3)},
        "player",
        {"recency": 0.4},
        ("Aye.",),
        0.5,
        True,
        "beast",
    )
    q = pickle.loads(pickle.dumps(p))
    assert q == p and q.goals[0].action is ActionType.ATTACK
    q.relationships["bob"].shift(0.5)
    assert p.relationships["bob"].trust == 0.2  # a copy, not the sender's objects
    loc = Location("hall", "Hall", "big", ("yard",), 0.3)
    assert pickle.loads(pickle.dumps(loc)) == loc
    assert copy.deepcopy(p) == p and copy.deepcopy(p).relationships["bob"] is not p.relationships["bob"]


def test_pack_and_unpack_give_the_same_world():
    world, _ = build_world(load_scenario("fantasy_world"))
    data = wire.pack(world)
    assert isinstance(data, bytes)
    _same(world, wire.unpack(data))


def test_a_report_packed_with_its_events_packed_already_unpacks_whole():
    # a large cast's events are packed once, for the shards' memories, and the report takes
    # those bytes instead of pickling the events again
    from novel_engine.api import Engine

    with Engine("local") as engine:
        session = engine.create_session("noir_city", seed=3)
        report = session.step()
    assert len(report.events) > 1
    events = wire.pack(list(report.events))
    whole = wire.unpack(wire.pack_report(report, events))
    assert whole == report and isinstance(whole.events, tuple) and whole.prose == report.prose
    assert whole.calls == report.calls and whole.timings == report.timings  # fields outside equality too
    assert wire.unpack(wire.pack_report(report)) == report


def test_packed_events_read_back_as_the_events_and_cross_as_a_tuple():
    # a Ray director keeps its history's events packed (wire.PackedEvents): reads, the hub's
    # numbering and pickling see the events as they were
    import dataclasses
    import pickle

    from novel_engine.api import Engine
    from novel_engine.runtime.event_log import hub_window

    with Engine("local") as engine:
        session = engine.create_session("noir_city", seed=3)
        reports = session.run(3)
    kept = [dataclasses.replace(r, events=wire.PackedEvents(wire.pack(list(r.events)), len(r.events))) for r in reports]
    for plain, packed in zip(reports, kept):
        assert len(packed.events) == len(plain.events) > 1
        assert list(packed.events) == list(plain.events) and packed.events[-1] == plain.events[-1]
        assert packed == plain and packed.to_dict() == plain.to_dict()
        back = pickle.loads(pickle.dumps(packed))
        assert isinstance(back.events, tuple) and back == plain
        assert wire.unpack(wire.pack(packed)).events == plain.events
    assert hub_window(kept, 7) == hub_window(reports, 7)
