"""The causal graph in graph shard actors on Ray: the in-process story, explanations walked across
the shards, and a shard lost between turns rebuilt to the same story."""

from __future__ import annotations

import asyncio

import pytest

from novel_engine.config import SessionSettings
from novel_engine.llm.offline import OfflineModel
from novel_engine.runtime.checkpoint import decode
from novel_engine.runtime.local import LocalRuntime
from novel_engine.scenarios import load_scenario


def _play(rt, turns):
    async def go():
        reports = [await rt.step() for _ in range(turns)]
        caused = [e.id for r in reports for e in r.events if e.causes][-10:]
        explained = {eid: await rt.explain(eid) for eid in caused}
        graph = decode(await rt.checkpoint())["director"]["causal_graph"]
        return [[e.to_dict() for e in r.events] for r in reports], explained, await rt.causal_graph(), graph

    return asyncio.run(go())


@pytest.mark.parametrize(
    "name,shards",
    [("space_station", 3), ("noir_city", 1), ("noir_city", 2), ("fantasy_world", 4), ("space_station", 8)],
)
def test_graph_shards_on_ray_tell_and_explain_the_in_process_story(ray_session, name, shards):
    import ray

    from novel_engine.runtime.ray.runtime import RayRuntime

    sc = load_scenario(name)
    local = _play(LocalRuntime(sc, SessionSettings(seed=7), OfflineModel()), 8)
    settings = SessionSettings(seed=7, personas_per_actor=3, graph_shards=shards)
    rt = RayRuntime.create(f"graph-{name}", sc, settings, OfflineModel())
    try:
        on_ray = _play(rt, 8)
        held = ray.get([ray.get_actor(n, namespace="novel_engine").dump.remote() for n in rt.names if ":graph:" in n])
    finally:
        rt.close()
    assert len(held) == shards and sum(len(h["nodes"]) for h in held) == len(local[3]["nodes"])
    assert on_ray[0] == local[0]  # every event
    assert local[1] and any(len(chain) > 1 for chain in local[1].values())
    assert on_ray[1] == local[1]  # explanations, walked hop by hop across the shard actors
    assert on_ray[2] == local[2] and on_ray[3] == local[3]  # the export and the checkpoint's graph


def _shard(session_id: str, i: int):
    import ray

    return ray.get_actor(f"ne:{session_id}:graph:{i}", namespace="novel_engine")


def test_a_graph_shard_lost_between_turns_is_rebuilt_to_the_same_story(story_after_a_fault):
    import ray

    # the restarted, empty shard refuses turn 3
    story_after_a_fault("graph-lost", lambda sid: ray.kill(_shard(sid, 1), no_restart=False), graph_shards=2)


def test_a_graph_shard_killed_mid_turn_is_rebuilt_to_the_same_story(story_after_a_fault):
    import ray

    story_after_a_fault(
        "graph-dies",
        lambda sid: ray.get(_shard(sid, 0).fail_during.remote(3)),  # it exits during turn 3's exchange
        check=lambda sid: ray.get(_shard(sid, 0).was_restarted.remote()) or pytest.fail("no restart"),
        graph_shards=2,
    )
