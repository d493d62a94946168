"""Sharded resolution (agents/regional.py): the same story for any resolver shard count, regions
isolated from each other, cross-region writes settled in event-id order (in process; Ray in
integration/test_ray_resolvers.py)."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.agents import regional
from novel_engine.agents.regional import LoggedFacts, RegionOutcome
from novel_engine.config import SessionSettings
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.local import LocalRuntime
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def play(scenario, turns, **settings):
    rt = LocalRuntime(scenario, SessionSettings(seed=3, **settings), OfflineModel())

    async def go():
        reports = [await rt.step() for _ in range(turns)]
        return [[e.to_dict() for e in r.events] for r in reports], rt.narrator.chronicler.narrative(), rt

    return asyncio.run(go())


@pytest.fixture(scope="module")
def synthetic_whole():
    return play(synthetic(300, seed=3), 8)


@pytest.mark.parametrize("shards", [2, 4, 8])
def test_any_resolver_shard_count_tells_the_same_story(synthetic_whole, shards):
    events, prose, _ = play(synthetic(300, seed=3), 8, resolver_shards=shards)
    assert events == synthetic_whole[0]
    assert prose == synthetic_whole[1]


def test_regions_are_settled_in_isolation_so_their_order_does_not_matter(monkeypatch):
    # the regions of a turn run one after another in process: settled back to front (as another
    # shard assignment could) the story must not change. Without the isolation (each region on its
    # own copy of the facts, seeing other regions' hidden people as phase B began) this cast's
    # story changes on turn 12, when a region reads what another wrote earlier in the same turn.
    sc = synthetic(300, seed=5)
    forward = play(sc, 13)
    real = regional.assign_regions
    backwards = lambda w, n: tuple(reversed([tuple(reversed(s)) for s in real(w, 1)]))  # noqa: E731
    monkeypatch.setattr(regional, "assign_regions", backwards)
    events, prose, rt = play(sc, 13)
    assert events == forward[0] and prose == forward[1]
    acts = [e for r in events for e in r if e["kind"] == "action"]
    assert len(rt.pipeline.director.regions_for([(e["id"], e["actor"], None) for e in acts[:300]])) > 1


def test_a_built_in_story_is_one_region_and_unchanged_by_shards():
    whole = play(load_scenario("noir_city"), 10)
    split = play(load_scenario("noir_city"), 10, resolver_shards=4)
    assert split[0] == whole[0] and split[1] == whole[1]


def test_logged_facts_remember_the_last_event_that_wrote_each_key():
    facts = LoggedFacts({"a": 1, "b": 2})
    facts.event_id = "e0001.000003"
    facts["c"] = 3
    facts.pop("a")
    facts.event_id = "e0001.000009"
    facts["c"] = 4
    del facts["b"]
    facts.pop("nothing", None)
    writes = {k: (eid, v) for eid, k, v in facts.writes()}
    assert writes["c"] == ("e0001.000009", 4)
    assert writes["a"][0] == "e0001.000003" and writes["a"][1] is regional._GONE
    assert writes["b"][0] == "e0001.000009" and writes["b"][1] is regional._GONE


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_cross_region_fact_writes_are_applied_in_event_id_order(order):
    # two regions write the same key (a secret kept in one, confided in the other): the later event wins,
    # whichever region's outcome comes back first
    rt = LocalRuntime(load_scenario("noir_city"), SessionSettings(seed=1), OfflineModel())
    director = rt.pipeline.director
    early, late = RegionOutcome(), RegionOutcome()
    early.facts = [("e0001.000004", "uncovered:x", "alice"), ("e0001.000005", "k", 1)]
    late.facts = [("e0001.000007", "uncovered:x", "bob"), ("e0001.000002", "k", regional._GONE)]
    director.world.facts["k"] = 0
    parts = [early, late]
    director.merge([parts[i] for i in order])
    assert director.world.facts["uncovered:x"] == "bob"
    assert director.world.facts["k"] == 1  # set at 000005, after the deletion at 000002


def test_the_deleted_fact_marker_survives_pickling_to_and_from_a_shard():
    import pickle

    assert pickle.loads(pickle.dumps(regional._GONE)) is regional._GONE
