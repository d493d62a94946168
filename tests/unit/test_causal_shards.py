"""The causal graph in shards (``graph_shards``): the same stories, checkpoints, exports and
explanations as the graph held whole, for any shard count (in process; Ray in integration/)."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.config import SessionSettings
from novel_engine.core.causal_graph import CausalGraph
from novel_engine.core.causal_shards import ShardedCausalGraph, merge_parts, split_graph
from novel_engine.errors import NovelEngineError
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.checkpoint import decode
from novel_engine.runtime.local import LocalRuntime
from novel_engine.scenarios import load_scenario
from novel_engine.scenarios.synthetic import synthetic


def play(scenario, turns, **settings):
    rt = LocalRuntime(scenario, SessionSettings(seed=7, **settings), OfflineModel())

    async def go():
        reports = [await rt.step() for _ in range(turns)]
        events = [e for r in reports for e in r.events]
        caused = [e.id for e in events if e.causes][-12:]
        explained = {eid: await rt.explain(eid) for eid in caused}
        graph = decode(await rt.checkpoint())["director"]["causal_graph"]
        return reports, rt.narrator.chronicler.narrative(), explained, await rt.causal_graph(), graph, rt

    return asyncio.run(go())


@pytest.mark.parametrize("name", ["noir_city", "fantasy_world"])
@pytest.mark.parametrize("shards", [1, 2, 3, 4, 8])
def test_a_sharded_graph_tells_the_same_story_and_explains_it_the_same(name, shards):
    whole = play(load_scenario(name), 12)
    split = play(load_scenario(name), 12, graph_shards=shards)
    assert split[1] == whole[1]  # the prose
    assert [[e.to_dict() for e in r.events] for r in split[0]] == [[e.to_dict() for e in r.events] for r in whole[0]]
    assert whole[2] and any(len(chain) > 1 for chain in whole[2].values())  # something to explain, over hops
    assert split[2] == whole[2]  # explanations walked across the shards
    assert split[3] == whole[3]  # the node-link export
    assert split[4] == whole[4]  # the checkpoint's graph, in the single graph's layout
    held = [len(part.nodes) for part in split[5].pipeline.graph.parts.parts]
    assert sum(held) == len(whole[4]["nodes"]) and sum(1 for n in held if n) == shards  # the shards hold it


def test_causal_rules_fire_the_same_from_shards():
    sc = load_scenario("space_station")
    assert sc.causal_rules  # the scenario schedules effects: due effects come from the shards' frontier
    whole, split = play(sc, 12), play(sc, 12, graph_shards=4)
    assert any(e.kind == "causal" for r in whole[0] for e in r.events)
    assert [[e.to_dict() for e in r.events] for r in split[0]] == [[e.to_dict() for e in r.events] for r in whole[0]]
    assert split[4]["pending"] == whole[4]["pending"] and split[4]["spent"] == whole[4]["spent"]


def test_a_checkpoint_continues_across_shard_counts_and_runtimes_layouts():
    sc = synthetic(personas=120, seed=5)
    ten = play(sc, 10)
    _, _, _, _, _, sharded = play(sc, 5, graph_shards=3)
    whole = LocalRuntime(sc, SessionSettings(seed=7), OfflineModel())

    async def go():
        state = decode(await sharded.checkpoint())
        await whole.restore(state)  # a sharded graph's checkpoint goes on in a whole graph
        back = LocalRuntime(sc, SessionSettings(seed=7, graph_shards=2), OfflineModel())
        await back.restore(decode(await whole.checkpoint()))  # and back into two shards
        return [await back.step() for _ in range(5)]

    tail = asyncio.run(go())
    assert [[e.to_dict() for e in r.events] for r in tail] == [[e.to_dict() for e in r.events] for r in ten[0][5:]]


def test_split_and_merge_give_back_the_graph():
    reports, _, _, _, data, _ = play(load_scenario("space_station"), 8)
    for shards in (1, 2, 5):
        parts, preds = split_graph(data, shards)
        assert sum(len(p["nodes"]) for p in parts) == len(data["nodes"])
        assert merge_parts(parts, {"rules": data["rules"], "spent": data["spent"], "lapsed": data["lapsed"]}) == data
        assert CausalGraph.from_dict(data).to_dict() == data


def test_the_directors_side_refuses_what_it_cannot_know():
    graph = ShardedCausalGraph(2)
    with pytest.raises(NovelEngineError, match="no frontier"):
        graph.due_effects(1, None)  # type: ignore[arg-type]
    with pytest.raises(NovelEngineError, match="gathered"):
        graph.to_dict()
    with pytest.raises(NovelEngineError, match="unknown cause"):
        graph.add_relationship("e0001.000001", "later")
    with pytest.raises(NovelEngineError, match="at least one shard"):
        ShardedCausalGraph(0)
